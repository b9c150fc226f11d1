"""Pure-PyTorch reference of the rotated-box NMS ops, and the input contract
(checks, dtype preparation) that the compiled path shares.

The IoUs are computed in float64 (as in the kernels), so that the keep lists agree.
"""
from typing import Optional

import torch
from torch import Tensor

from .._checks import all_finite, finite_number
from ..box_iou_rotated.reference import _check_boxes, _check_scale, _iou_pairs

__all__ = ['nms_rotated_reference', 'batched_nms_rotated_reference', 'NMS_MIN_THRESHOLD']

_NMS_EPS = 1e-6  # same as kNmsIoUEps of the kernels
#: Smallest non-negative IoU threshold used: touching boxes have an IoU of rounding
#: noise (up to ~1e-13 in float64, in the kernels and in the reference, each its
#: own), so a threshold of 0 would make their suppression depend on the path.
#: Thresholds in [0, NMS_MIN_THRESHOLD) act as NMS_MIN_THRESHOLD.
NMS_MIN_THRESHOLD = 1e-9


def _check_per_box(t, name: str, boxes: Tensor) -> None:
    """One value per box: a (N,) tensor on the device of ``boxes``."""
    n = boxes.shape[0]
    if not isinstance(t, Tensor):
        raise TypeError(f'{name} must be a torch.Tensor, got {type(t).__name__}')
    if t.dim() != 1 or t.shape[0] != n:
        raise ValueError(f'{name} must have shape (N,) = ({n},), got {tuple(t.shape)}')
    if t.device != boxes.device:
        raise ValueError(f'{name} must be on the device of boxes ({boxes.device}), '
                         f'got {t.device}')


def _check_threshold(iou_threshold) -> float:
    """The threshold the paths compare the IoUs with: a finite number (NaN compares
    False with every IoU: nothing would be suppressed), raised to NMS_MIN_THRESHOLD
    when it lies in [0, NMS_MIN_THRESHOLD).  A negative threshold is kept (every
    box of the class of a kept box is suppressed)."""
    thr = finite_number(iou_threshold, 'iou_threshold')
    return NMS_MIN_THRESHOLD if 0.0 <= thr < NMS_MIN_THRESHOLD else thr


def _check(boxes, scores, idxs=None) -> None:
    """Shapes, devices, finite boxes (see _check_boxes) and finite scores."""
    _check_boxes(boxes, 'boxes', 'N')
    _check_scale(boxes, 'boxes', torch.float64)  # IoUs in float64 on every path
    _check_per_box(scores, 'scores', boxes)
    # a NaN score sorts first (descending) and would suppress real boxes
    if not all_finite(scores):
        raise ValueError('scores must be finite (no NaN or inf)')
    if idxs is not None:
        _check_per_box(idxs, 'idxs', boxes)
        if idxs.dtype.is_floating_point or idxs.dtype.is_complex:
            raise ValueError(f'idxs must be an integer tensor, got {idxs.dtype}')


def _prepare(boxes: Tensor, scores: Tensor):
    """Detached, contiguous float32 / float64 copies (other dtypes become float32)."""
    boxes = boxes.detach()
    if boxes.dtype not in (torch.float32, torch.float64):
        boxes = boxes.float()
    scores = scores.detach()
    if scores.dtype not in (torch.float32, torch.float64):
        scores = scores.float()
    return boxes.contiguous(), scores.contiguous()


def nms_rotated_reference(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Pure-PyTorch :func:`~vision_sparse.ops.nms_rotated` (greedy loop, IoUs in float64).

    Same arguments, checks and result as the compiled op.
    """
    _check(boxes, scores)
    iou_threshold = _check_threshold(iou_threshold)
    return _reference(boxes, scores, iou_threshold, None)


def batched_nms_rotated_reference(boxes: Tensor, scores: Tensor, idxs: Tensor,
                                  iou_threshold: float) -> Tensor:
    """Pure-PyTorch :func:`~vision_sparse.ops.batched_nms_rotated` (same arguments)."""
    _check(boxes, scores, idxs)
    iou_threshold = _check_threshold(iou_threshold)
    return _reference(boxes, scores, iou_threshold, idxs)


def _reference(boxes: Tensor, scores: Tensor, iou_threshold: float,
               idxs: Optional[Tensor]) -> Tensor:
    """The reference on checked inputs (also the compiled ops' fallback)."""
    if boxes.shape[0] == 0:
        return torch.empty((0,), dtype=torch.long, device=boxes.device)
    boxes, scores = _prepare(boxes, scores)
    return _nms_reference(boxes, scores, iou_threshold, idxs)


def _nms_reference(boxes: Tensor, scores: Tensor, iou_threshold: float,
                   idxs: Optional[Tensor]) -> Tensor:
    """Greedy loop over the boxes by decreasing score: the IoUs of each kept box
    with the remaining candidates are computed at once (no N x N matrix), only
    for the candidates whose bounding circles meet its own (the others have IoU
    0) and, for batched NMS, of its class."""
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes.index_select(0, order).double()
    n = b.shape[0]
    lab = None if idxs is None else idxs.index_select(0, order)
    thr = float(iou_threshold)
    cull = thr >= 0  # IoU 0 > thr suppresses when thr < 0: no culling then
    rad = 0.5 * torch.sqrt(b[:, 2].clamp(min=0) ** 2 + b[:, 3].clamp(min=0) ** 2)
    # remaining candidates (positions in `b`), and their centres / radii / labels
    rem = torch.arange(n, device=b.device)
    rx, ry, rr = b[:, 0], b[:, 1], rad
    rl = lab
    keep = []
    while rem.numel() > 0:
        keep.append(rem[:1])
        if rem.numel() == 1:
            break
        cand = torch.ones(rem.numel() - 1, dtype=torch.bool, device=b.device)
        if cull:
            d2 = (rx[1:] - rx[0]) ** 2 + (ry[1:] - ry[0]) ** 2
            cand &= d2 < (rr[1:] + rr[0]) ** 2
        if rl is not None:
            cand &= rl[1:] == rl[0]
        pos = cand.nonzero().squeeze(1)
        suppress = torch.zeros_like(cand)
        if pos.numel() > 0:
            other = b.index_select(0, rem[1:].index_select(0, pos))
            iou = _iou_pairs(b[rem[0]].expand_as(other), other, 'iou', _NMS_EPS)
            suppress[pos] = iou > thr
        alive = ~suppress
        rem = rem[1:][alive]
        rx, ry, rr = rx[1:][alive], ry[1:][alive], rr[1:][alive]
        if rl is not None:
            rl = rl[1:][alive]
    return order.index_select(0, torch.cat(keep))
