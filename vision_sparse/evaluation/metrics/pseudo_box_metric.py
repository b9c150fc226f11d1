"""Quality of PointOBB pseudo boxes against the true boxes.

Each prediction row belongs to the annotated point of the same row (the model
returns one box per given point, in order), so pseudo box ``i`` is compared with
true box ``i`` of the same image:

* **IoU**: rotated IoU of the pair; ``mIoU`` is the mean over all objects (an
  object whose point was invalid, all-zero pseudo box, counts with IoU 0).
* **Angle error** (degrees): the orientation of the *long* side of each box is
  compared (a box ``(w, h, t)`` equals ``(h, w, t + 90 deg)``), wrapped to the
  180-degree period, so the error lies in [0, 90]. For near-square true boxes
  (long / short side < ``square_ratio``) only the 90-degree period is meaningful
  and the error is wrapped to it (in [0, 45]). Objects of ``angle_agnostic_classes``
  (e.g. storage tanks, roundabouts) are left out; ``angle_err_deg`` is the median.

Images whose metainfo says ``has_gt_boxes=False`` (point-only labels) are skipped.
"""
import math
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from vision_sparse.ops import box_iou_rotated
from vision_sparse.registry import METRICS
from ..functional.rotated_map import _as_numpy
from .pose_metric import _fmt_table
from .rotated_map_metric import _fields

__all__ = ['PseudoBoxMetric', 'long_side_angle_error']


def long_side_angle_error(pred: np.ndarray, gt: np.ndarray, square_ratio: float = 1.1) -> np.ndarray:
    """Orientation error of the long sides, degrees.

    Args:
        pred (np.ndarray): (N, 5) rotated boxes, radians.
        gt (np.ndarray): (N, 5) rotated boxes.
        square_ratio (float): true boxes with long / short < this are near-square:
            error wrapped to 90 degrees instead of 180.

    Returns:
        np.ndarray: (N,) errors in [0, 90] degrees ([0, 45] for near-square boxes).
    """
    def long_angle(b):
        return np.where(b[:, 2] >= b[:, 3], b[:, 4], b[:, 4] + math.pi / 2)

    d = long_angle(pred) - long_angle(gt)
    ratio = np.maximum(gt[:, 2], gt[:, 3]) / np.maximum(np.minimum(gt[:, 2], gt[:, 3]), 1e-9)
    period = np.where(ratio < square_ratio, math.pi / 2, math.pi)
    d = np.mod(d, period)
    d = np.minimum(d, period - d)
    return np.degrees(d)


@METRICS.register_module()
class PseudoBoxMetric(BaseMetric):
    """Mean IoU and median angle error of pseudo boxes (one per true box, same order).

    Args:
        angle_agnostic_classes (list[str], optional): class names left out of the angle
            error; default ``dataset_meta['angle_agnostic_classes']`` (our oriented
            datasets list them), else none.
        square_ratio (float): see :func:`long_side_angle_error` (1.1).
        classes (list[str], optional): class names; default ``dataset_meta['classes']``.
        collect_device (str): mmengine collect device.
        prefix (str, optional): metric name prefix (default 'pseudo').

    Result keys: ``mIoU``, ``angle_err_deg`` (NaN without an oriented object),
    ``mean_angle_err_deg``, ``num_objects``, and ``IoU_<class>`` per class present.
    """

    default_prefix: Optional[str] = 'pseudo'

    def __init__(self, angle_agnostic_classes: Optional[Sequence[str]] = None, square_ratio: float = 1.1,
                 classes: Optional[Sequence[str]] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not square_ratio >= 1:
            raise ValueError(f'square_ratio must be >= 1, got {square_ratio}')
        self._agnostic = (None if angle_agnostic_classes is None
                          else [str(c) for c in angle_agnostic_classes])
        self.square_ratio = float(square_ratio)
        self.classes = None if classes is None else [str(c) for c in classes]

    @property
    def angle_agnostic_classes(self) -> List[str]:
        """The classes left out of the angle error (given, else the dataset's)."""
        if self._agnostic is not None:
            return self._agnostic
        meta = self.dataset_meta or {}
        return [str(c) for c in meta.get('angle_agnostic_classes', ())]

    @staticmethod
    def parse_sample(sample: Any, index: int = 0) -> Optional[Dict[str, np.ndarray]]:
        """Pairs of one image: ``pred`` (N, 5), ``gt`` (N, 5), ``labels`` (N,), or None."""
        get = sample.get if isinstance(sample, dict) else (lambda k, d=None: getattr(sample, k, d))
        meta = get('metainfo', None) or {}
        if not isinstance(sample, dict) and hasattr(sample, 'metainfo'):
            meta = sample.metainfo
        if (meta.get('has_gt_boxes', get('has_gt_boxes', True))) is False:
            return None
        pred = _fields(get('pred_instances'), f'data_samples[{index}].pred_instances')
        gt = _fields(get('gt_instances'), f'data_samples[{index}].gt_instances')
        gt_boxes = _as_numpy(gt.get('bboxes', np.zeros((0, 5)))).reshape(-1, 5).astype(np.float64)
        pred_boxes = _as_numpy(pred.get('bboxes', np.zeros((0, 5)))).reshape(-1, 5).astype(np.float64)
        if pred_boxes.shape[0] != gt_boxes.shape[0]:
            raise ValueError(f'data_samples[{index}].pred_instances.bboxes must have one row per true '
                             f'box ({gt_boxes.shape[0]}), got {pred_boxes.shape[0]}')
        labels = _as_numpy(gt.get('labels', np.zeros(0, np.int64))).reshape(-1).astype(np.int64)
        return dict(pred=pred_boxes, gt=gt_boxes, labels=labels)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep the (pseudo, true) pairs of each image."""
        for i, sample in enumerate(data_samples):
            parsed = self.parse_sample(sample, i)
            if parsed is not None:
                self.results.append(parsed)

    def compute_metrics(self, results: List[Dict[str, np.ndarray]]) -> Dict[str, float]:
        """mIoU, angle errors and per-class IoU; logs a per-class table."""
        classes = self.classes
        if classes is None and self.dataset_meta and self.dataset_meta.get('classes'):
            classes = [str(c) for c in self.dataset_meta['classes']]
        pred = np.concatenate([r['pred'] for r in results]) if results else np.zeros((0, 5))
        gt = np.concatenate([r['gt'] for r in results]) if results else np.zeros((0, 5))
        labels = np.concatenate([r['labels'] for r in results]) if results else np.zeros(0, np.int64)
        keep = (gt[:, 2] > 0) & (gt[:, 3] > 0)
        pred, gt, labels = pred[keep], gt[keep], labels[keep]
        if len(gt):
            ious = box_iou_rotated(torch.from_numpy(pred).float(), torch.from_numpy(gt).float(),
                                   aligned=True).double().numpy()
        else:
            ious = np.zeros(0)
        err = long_side_angle_error(pred, gt, self.square_ratio)
        names = [classes[k] if classes and 0 <= k < len(classes) else str(k) for k in labels]
        oriented = np.array([n not in self.angle_agnostic_classes for n in names], dtype=bool)
        nan = float('nan')
        metrics: Dict[str, float] = OrderedDict(
            mIoU=float(ious.mean()) if len(ious) else nan,
            angle_err_deg=float(np.median(err[oriented])) if oriented.any() else nan,
            mean_angle_err_deg=float(err[oriented].mean()) if oriented.any() else nan,
            num_objects=float(len(gt)))
        rows = []
        for name in sorted(set(names), key=lambda n: (classes.index(n) if classes and n in classes else 1e9, n)):
            m = np.array([n == name for n in names])
            metrics[f'IoU_{name}'] = float(ious[m].mean())
            ang = f'{np.median(err[m]):.2f}' if name not in self.angle_agnostic_classes else '-'
            rows.append([name, str(int(m.sum())), f'{ious[m].mean():.4f}', ang])
        rows.append(['all', str(len(gt)), f'{metrics["mIoU"]:.4f}', f'{metrics["angle_err_deg"]:.2f}'])
        MMLogger.get_current_instance().info(
            'Pseudo-box quality:\n' + _fmt_table(['class', 'objects', 'mIoU', 'median angle err (deg)'], rows))
        return dict(metrics)
