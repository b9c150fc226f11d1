"""DOTA-style mAP of oriented detections as a registered mmengine metric."""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from vision_sparse.registry import METRICS
from ..functional.rotated_map import BOX_DIMS, _as_numpy, eval_rotated_map
from .pose_metric import _fmt_table

__all__ = ['DOTAMetric']

_VARIANTS = ('07', 'area')


@METRICS.register_module()
class DOTAMetric(BaseMetric):
    """Per-class AP and mAP of oriented boxes, DOTA devkit protocol.

    Matching and AP are those of
    :func:`vision_sparse.evaluation.functional.eval_rotated_map` (difficult
    ground truths ignored, VOC07 11-point or area-under-curve AP).

    Each data sample is a dict (or an object with ``to_dict``, e.g. an mmdet
    ``DetDataSample``) in one of two layouts:

    * flat: ``pred_boxes`` (K, 5) ``(cx, cy, w, h, theta)`` radians (or (K, 8)
      polygons with ``box_type='poly'``, which also takes (K, 5) boxes as their
      corner polygons), ``pred_scores`` (K,), ``pred_labels``
      (K,), ``gt_boxes`` (G, 5 or 8), ``gt_labels`` (G,) and optional
      ``gt_difficult`` (G,) bool;
    * mmdet: ``pred_instances`` and ``gt_instances`` (dicts or ``InstanceData``
      with ``bboxes``, ``labels``, and ``scores`` for predictions); an optional
      ``ignored_instances`` (``bboxes``, ``labels``) counts as difficult ground
      truth, as does an optional ``gt_instances.difficult`` / ``ignore_flags``.

    Labels are class indices into ``classes`` (or ``dataset_meta['classes']``)
    or class names.  Boxes may be numpy arrays, tensors or ``RotatedBoxes``.

    ``compute_metrics`` returns (prefixed ``dota/`` by mmengine):

    * ``mAP`` and ``AP_<class>`` (fractions in [0, 1]) for the main variant
      (``use_07_metric``);
    * with ``report_both``: also ``mAP_07``, ``mAP_area``, ``AP07_<class>``,
      ``AParea_<class>``.

    A class without non-difficult ground truth has no ``AP_<class>`` entry and
    is left out of the mean.  A per-class table (ground truths, detections,
    recall, AP) is logged.

    Args:
        classes (Sequence[str], optional): class names; default
            ``dataset_meta['classes']``, else inferred from the labels.
        iou_thr (float): IoU threshold (DOTA: 0.5).
        use_07_metric (bool): main variant: VOC07 11-point (True, DOTA devkit's
            default) or area under the curve.
        report_both (bool): also report both variants under their own names.
        box_type (str): ``'rbox'`` or ``'poly'``.
        collect_device (str): mmengine's ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): prefix of the metric names (default ``'dota'``).
    """

    default_prefix: Optional[str] = 'dota'

    def __init__(self, classes: Optional[Sequence[str]] = None, iou_thr: float = 0.5,
                 use_07_metric: bool = True, report_both: bool = True, box_type: str = 'rbox',
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if box_type not in BOX_DIMS:
            raise ValueError(f"box_type must be 'rbox' or 'poly', got {box_type!r}")
        if not (np.isfinite(iou_thr) and 0.0 < float(iou_thr) <= 1.0):
            raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
        self.classes = None if classes is None else [str(c) for c in classes]
        self.iou_thr = float(iou_thr)
        self.use_07_metric = bool(use_07_metric)
        self.report_both = bool(report_both)
        self.box_type = box_type

    # ------------------------------------------------------------------
    def parse_sample(self, sample: Any, index: int = 0) -> Dict[str, Dict[str, np.ndarray]]:
        """Predictions and ground truth of one image as numpy arrays.

        Args:
            sample (dict): see the class docstring.
            index (int): position in the batch (error messages only).

        Returns:
            dict: ``det`` (``boxes``, ``scores``, ``labels``) and ``gt``
            (``boxes``, ``labels``, ``difficult``).

        Raises:
            ValueError: a sample that is not a dict or lacks predictions / ground truth.
        """
        if hasattr(sample, 'to_dict'):
            sample = sample.to_dict()
        if not isinstance(sample, dict):
            raise ValueError(f'data sample {index} must be a dict, got {type(sample).__name__}')
        dim = BOX_DIMS[self.box_type]
        empty = np.zeros((0, dim))
        if 'pred_instances' in sample or 'gt_instances' in sample:
            pred = _fields(sample.get('pred_instances'), f'data sample {index} pred_instances')
            gt = _fields(sample.get('gt_instances'), f'data sample {index} gt_instances')
            ign = _fields(sample.get('ignored_instances', {}), f'data sample {index} ignored_instances')
            det = dict(boxes=pred.get('bboxes', empty), scores=pred.get('scores', np.zeros(0)),
                       labels=pred.get('labels', np.zeros(0, np.int64)))
            g_boxes = _as_numpy(gt.get('bboxes', empty))
            g_boxes = empty if g_boxes.size == 0 else g_boxes
            g_labels = _as_numpy(gt.get('labels', np.zeros(0, np.int64))).reshape(-1)
            flag = gt.get('difficult', gt.get('ignore_flags'))
            g_diff = (np.zeros(len(g_boxes), bool) if flag is None
                      else _as_numpy(flag).astype(bool).reshape(-1))
            i_boxes = _as_numpy(ign.get('bboxes', empty))
            if i_boxes.size:
                i_labels = _as_numpy(ign.get('labels')).reshape(-1)
                if len(g_boxes) == 0:
                    g_boxes = g_boxes.reshape(0, i_boxes.shape[-1])
                g_boxes = np.concatenate([g_boxes, i_boxes])
                g_labels = np.concatenate([g_labels, i_labels])
                g_diff = np.concatenate([g_diff, np.ones(len(i_labels), bool)])
            gt_out = dict(boxes=g_boxes, labels=g_labels, difficult=g_diff)
        else:
            for key in ('pred_boxes', 'gt_boxes'):
                if key not in sample:
                    raise ValueError(f'data sample {index} has no {key!r}: it needs pred_boxes, '
                                     'pred_scores, pred_labels, gt_boxes, gt_labels (or mmdet-style '
                                     'pred_instances / gt_instances)')
            det = dict(boxes=sample['pred_boxes'], scores=sample.get('pred_scores'),
                       labels=sample.get('pred_labels'))
            gt_out = dict(boxes=sample['gt_boxes'], labels=sample.get('gt_labels'),
                          difficult=sample.get('gt_difficult'))
        det = {k: _as_numpy(v) for k, v in det.items() if v is not None}
        gt_out = {k: _as_numpy(v) for k, v in gt_out.items() if v is not None}
        return dict(det=det, gt=gt_out)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep the boxes, scores and labels of each image (numpy).

        Args:
            data_batch: the loader batch (unused).
            data_samples (Sequence[dict]): one per image, see the class docstring.
        """
        for i, sample in enumerate(data_samples):
            self.results.append(self.parse_sample(sample, i))

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        """Per-class AP and mAP; logs a table.

        Args:
            results (list[dict]): outputs of :meth:`parse_sample`.

        Returns:
            dict[str, float]: see the class docstring.
        """
        classes = self.classes
        if classes is None and self.dataset_meta and self.dataset_meta.get('classes'):
            classes = [str(c) for c in self.dataset_meta['classes']]
        dets = [r['det'] for r in results]
        gts = [r['gt'] for r in results]
        variants = _VARIANTS if self.report_both else (('07',) if self.use_07_metric else ('area',))
        evals = {v: eval_rotated_map(dets, gts, iou_thr=self.iou_thr, use_07_metric=v == '07',
                                     box_type=self.box_type, classes=classes) for v in variants}
        main = evals['07' if self.use_07_metric else 'area']
        metrics: Dict[str, float] = OrderedDict(mAP=main['mAP'])
        for r in main['per_class']:
            if r['num_gts'] > 0:
                metrics[f"AP_{r['class']}"] = r['ap']
        if self.report_both:
            for v in variants:
                metrics[f'mAP_{v}'] = evals[v]['mAP']
                for r in evals[v]['per_class']:
                    if r['num_gts'] > 0:
                        metrics[f"AP{v}_{r['class']}"] = r['ap']
        header = ['class', 'gts', 'difficult', 'dets', 'recall'] + [f'AP{v}' for v in variants]
        rows = []
        for k, r in enumerate(main['per_class']):
            rec = '-' if not r['num_gts'] else f"{(r['recall'][-1] if len(r['recall']) else 0.0):.3f}"
            aps = [('-' if not r['num_gts'] else f"{evals[v]['per_class'][k]['ap']:.4f}")
                   for v in variants]
            rows.append([r['class'], str(r['num_gts']), str(r['num_difficult']), str(r['num_dets']),
                         rec] + aps)
        rows.append(['mAP', '', '', '', ''] + [f"{evals[v]['mAP']:.4f}" for v in variants])
        MMLogger.get_current_instance().info(
            f'DOTA-style rotated mAP@{self.iou_thr:g} ({self.box_type}):\n' + _fmt_table(header, rows))
        return dict(metrics)


def _fields(obj: Any, what: str) -> Dict[str, Any]:
    if obj is None:
        raise ValueError(f'{what} is missing')
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, 'to_dict'):
        return obj.to_dict()
    if hasattr(obj, 'all_items'):
        return dict(obj.all_items())
    raise ValueError(f'{what} must be a dict or InstanceData, got {type(obj).__name__}')
