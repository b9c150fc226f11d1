"""The rotated-box NMS ops: dispatch between the compiled kernel and the reference."""
import torch
from torch import Tensor

from .._ext import use_ext
from .reference import _check, _check_threshold, _prepare, _reference

__all__ = ['nms_rotated', 'batched_nms_rotated']


def _nms(boxes, scores, iou_threshold, idxs):
    """Kept indices of checked inputs: the compiled kernel when it runs on the boxes'
    device, the reference otherwise."""
    if boxes.shape[0] == 0 or not use_ext(boxes):
        return _reference(boxes, scores, iou_threshold, idxs)
    boxes, scores = _prepare(boxes, scores)
    labels = None if idxs is None else idxs.detach().long().contiguous()
    return torch.ops.vision_sparse.nms_rotated(boxes, scores, float(iou_threshold), labels)


def nms_rotated(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS of rotated boxes.

    Args:
        boxes (Tensor): (N, 5) boxes (cx, cy, w, h, theta).
        scores (Tensor): (N,) scores.
        iou_threshold (float): a box is discarded when its IoU with a kept box of
            higher score is > iou_threshold; a finite number (< 0: only the
            highest-scoring box, of each class for batched NMS, is kept; values
            in [0, 1e-9) act as :data:`NMS_MIN_THRESHOLD` = 1e-9, so that
            touching boxes, whose IoU is rounding noise, are never suppressed).

    Returns:
        Tensor: int64 indices of the kept boxes, by decreasing score (ties by
        index), on the device of ``boxes``.

    Raises:
        ValueError: wrong shapes or devices, NaN / inf in ``boxes`` or ``scores``,
            a non-finite ``iou_threshold``.
    """
    _check(boxes, scores)
    iou_threshold = _check_threshold(iou_threshold)
    return _nms(boxes, scores, iou_threshold, None)


def batched_nms_rotated(boxes: Tensor, scores: Tensor, idxs: Tensor,
                        iou_threshold: float) -> Tensor:
    """Class-aware :func:`nms_rotated`: boxes of different classes never suppress
    each other.

    Args:
        boxes (Tensor): (N, 5) boxes (cx, cy, w, h, theta).
        scores (Tensor): (N,) scores.
        idxs (Tensor): (N,) integer class of each box.
        iou_threshold (float): as in :func:`nms_rotated`.

    Returns:
        Tensor: int64 indices of the kept boxes, by decreasing score (ties by
        index), on the device of ``boxes``.

    Raises:
        ValueError: as :func:`nms_rotated`, and non-integer ``idxs``.
    """
    _check(boxes, scores, idxs)
    iou_threshold = _check_threshold(iou_threshold)
    return _nms(boxes, scores, iou_threshold, idxs)
