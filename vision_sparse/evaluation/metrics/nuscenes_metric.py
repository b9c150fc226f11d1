"""nuScenes detection metric (mAP, NDS, TP errors) as a registered mmengine metric."""
import math
from collections import OrderedDict
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from vision_sparse.registry import METRICS
from ..functional.nuscenes_detection import (NUSCENES_CLASS_RANGE, TP_METRICS, _check_sample,
                                             nuscenes_detection_eval)
from ..functional.rotated_map import _as_numpy
from .pose_metric import _fmt_table
from .rotated_map_metric import _fields

__all__ = ['NuScenesDetMetric']

#: Short names of the TP errors (keys of the returned dict).
_TP_SHORT = OrderedDict(trans_err='ATE', scale_err='ASE', orient_err='AOE', vel_err='AVE', attr_err='AAE')
_PRED_KEYS = ('bboxes_3d', 'scores_3d', 'labels_3d', 'attr_labels')
_GT_KEYS = ('bboxes_3d', 'labels_3d', 'attr_labels', 'num_pts')


@METRICS.register_module()
class NuScenesDetMetric(BaseMetric):
    """nuScenes detection score of 3D box predictions, without the nuScenes database.

    The numbers are those of
    :func:`vision_sparse.evaluation.functional.nuscenes_detection_eval` (the
    devkit's matching, AP, TP errors and NDS; equal to the devkit to 1e-9 on the
    same boxes).  Boxes are taken in the frame they come in (the LiDAR frame
    for our pipeline) and ``class_range`` radii are measured from that frame's
    origin (the devkit measures them from the ego-vehicle origin).

    Each data sample (a dict or an mmdet ``DetDataSample``) holds
    ``pred_instances_3d`` (``bboxes_3d`` (K, 9) ``(x, y, z, l, w, h, yaw, vx,
    vy)`` or (K, 7), tensor / array / ``LiDARBoxes3D``; ``scores_3d`` (K,);
    ``labels_3d`` (K,); optional ``attr_labels`` (K,)) and ``gt_instances_3d``
    (``bboxes_3d``, ``labels_3d`` (-1 = not a detection class, dropped),
    optional ``attr_labels`` (indices into
    :data:`~vision_sparse.evaluation.functional.NUSCENES_ATTRIBUTES`, -1 / 8 =
    none) and ``num_pts`` (boxes with 0 points are dropped)).

    Predictions without ``attr_labels`` get mmdet3d's class / speed default
    attribute (``fill_attributes``).  Ground truth without ``attr_labels`` makes
    every defined attribute error 1 (the devkit's rule for annotations without
    attributes), so ``mAAE`` is 1 and NDS loses up to 0.1: a warning says so.

    ``compute_metrics`` returns (prefixed ``nuscenes/`` by mmengine): ``mAP``,
    ``NDS``, ``mATE``, ``mASE``, ``mAOE``, ``mAVE``, ``mAAE`` (class means, NaN
    where undefined for every class), and per class ``AP/<class>`` (mean over
    thresholds), ``AP/<class>@<d>`` (d in m), ``ATE/<class>`` ... ``AAE/<class>``
    (NaN where the devkit leaves them undefined: traffic_cone orientation /
    velocity / attribute, barrier velocity / attribute).  A per-class table is
    logged.  Without predictions or ground truth the APs are 0 and the TP errors
    1 (the devkit's values), never an exception.

    Args:
        classes (Sequence[str], optional): class names; default
            ``dataset_meta['classes']``.
        class_range (Mapping | float | None): evaluation radius (m) per class
            name (default: the devkit's 50 / 40 / 30 m), one radius, or None.
        dist_ths (Sequence[float]): AP match thresholds (m).
        dist_th_tp (float): threshold of the TP errors (one of ``dist_ths``).
        min_recall (float): devkit ``min_recall``.
        min_precision (float): devkit ``min_precision``.
        max_boxes_per_sample (int, optional): highest-scoring predictions kept per sample.
        mean_ap_weight (float): weight of mAP in NDS.
        fill_attributes (bool): default attributes for predictions without them.
        collect_device (str): mmengine's ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): prefix of the metric names (default ``'nuscenes'``).
    """

    default_prefix: Optional[str] = 'nuscenes'

    def __init__(self, classes: Optional[Sequence[str]] = None, class_range: Any = NUSCENES_CLASS_RANGE,
                 dist_ths: Sequence[float] = (0.5, 1.0, 2.0, 4.0), dist_th_tp: float = 2.0,
                 min_recall: float = 0.1, min_precision: float = 0.1,
                 max_boxes_per_sample: Optional[int] = 500, mean_ap_weight: float = 5.0,
                 fill_attributes: bool = True, collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        dist_ths = [float(d) for d in dist_ths]
        if float(dist_th_tp) not in dist_ths:
            raise ValueError(f'dist_th_tp ({dist_th_tp}) must be one of dist_ths {dist_ths}')
        if not (0.0 <= min_recall <= 1.0 and 0.0 <= min_precision < 1.0):
            raise ValueError(f'min_recall must be in [0, 1] and min_precision in [0, 1), '
                             f'got {min_recall}, {min_precision}')
        self.classes = None if classes is None else [str(c) for c in classes]
        self.eval_kwargs = dict(class_range=class_range, dist_ths=dist_ths, dist_th_tp=float(dist_th_tp),
                                min_recall=float(min_recall), min_precision=float(min_precision),
                                max_boxes_per_sample=max_boxes_per_sample,
                                mean_ap_weight=float(mean_ap_weight), fill_attributes=bool(fill_attributes))

    @property
    def class_names(self) -> List[str]:
        """Class names from the config, else ``dataset_meta['classes']``."""
        if self.classes is not None:
            return self.classes
        if self.dataset_meta and self.dataset_meta.get('classes'):
            return [str(c) for c in self.dataset_meta['classes']]
        raise ValueError('NuScenesDetMetric needs classes (config) or dataset_meta["classes"]')

    def parse_sample(self, sample: Any, index: int = 0) -> Dict[str, Dict[str, np.ndarray]]:
        """Predictions and ground truth of one sample as checked numpy arrays.

        Args:
            sample (dict | DetDataSample): see the class docstring.
            index (int): position in the batch (error messages only).

        Returns:
            dict: ``pred`` and ``gt``, dicts of numpy arrays keyed like the inputs.

        Raises:
            ValueError: a missing field, misshapen or non-finite boxes, scores not
                matching the boxes, labels out of range.
        """
        if hasattr(sample, 'to_dict'):
            sample = sample.to_dict()
        if not isinstance(sample, Mapping):
            raise ValueError(f'data sample {index} must be a dict or DetDataSample, got {type(sample).__name__}')
        out = {}
        for kind, keys in (('pred', _PRED_KEYS), ('gt', _GT_KEYS)):
            field = f'{kind}_instances_3d'
            inst = _fields(sample.get(field), f'data sample {index} {field}')
            arrays = {k: _as_numpy(inst[k]) for k in keys if inst.get(k) is not None}
            _check_sample(arrays, index, f'data sample {field}', len(self.class_names),
                          with_scores=kind == 'pred')
            out[kind] = arrays
        return out

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep the checked predictions and ground truth of each sample (numpy).

        Args:
            data_batch: the loader batch (unused).
            data_samples (Sequence): one per sample, see the class docstring.
        """
        self.results.extend(self.parse_sample(s, i) for i, s in enumerate(data_samples))

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        """mAP, NDS, mean and per-class TP errors; logs a per-class table.

        Args:
            results (list[dict]): :meth:`parse_sample` outputs of all samples.

        Returns:
            dict[str, float]: the keys listed in the class docstring.
        """
        names = self.class_names
        logger = MMLogger.get_current_instance()
        if any(len(r['gt']['bboxes_3d']) and 'attr_labels' not in r['gt'] for r in results):
            logger.warning('NuScenesDetMetric: ground truth without attr_labels: every attribute error is 1 '
                           '(mAAE = 1), as the nuScenes devkit scores annotations without attributes')
        res = nuscenes_detection_eval([r['gt'] for r in results], [r['pred'] for r in results], names,
                                      **self.eval_kwargs)
        dist_ths = res['dist_ths']
        metrics: Dict[str, float] = OrderedDict(mAP=res['mAP'], NDS=res['NDS'])
        for m, short in _TP_SHORT.items():
            metrics[f'm{short}'] = res['tp_errors'][m]
        header = ['class', 'GTs', 'preds'] + [f'AP@{d:g}' for d in dist_ths] + ['AP'] + list(_TP_SHORT.values())
        rows = []
        for name in names:
            row = res['per_class'][name]
            metrics[f'AP/{name}'] = row['AP']
            for d in dist_ths:
                metrics[f'AP/{name}@{d:g}'] = row[f'AP@{d:g}']
            for m, short in _TP_SHORT.items():
                metrics[f'{short}/{name}'] = row[m]
            rows.append([name, str(row['num_gts']), str(row['num_preds'])]
                        + [f"{row[f'AP@{d:g}']:.4f}" for d in dist_ths] + [f"{row['AP']:.4f}"]
                        + [_fmt(row[m]) for m in TP_METRICS])
        rows.append(['mean', '', ''] + [''] * len(dist_ths) + [f"{res['mAP']:.4f}"]
                    + [_fmt(res['tp_errors'][m]) for m in TP_METRICS])
        summary = ', '.join(f'{k} {_fmt(v)}' for k, v in list(metrics.items())[:7])
        logger.info(f'nuScenes detection ({len(results)} samples; ranges from the box-frame origin):\n'
                    + _fmt_table(header, rows) + '\n' + summary)
        return dict(metrics)


def _fmt(v: float) -> str:
    return 'nan' if math.isnan(v) else f'{v:.4f}'
