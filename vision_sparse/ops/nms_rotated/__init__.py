"""Greedy non-maximum suppression of rotated boxes.

Boxes are ``(N, 5)`` tensors ``(cx, cy, w, h, theta)`` (see
:mod:`vision_sparse.ops.box_iou_rotated`).  A box is suppressed by a kept box of
higher score when their IoU is strictly greater than ``iou_threshold``; equal
scores are ordered by index (stable).  :func:`batched_nms_rotated` is class-aware:
boxes of different ``idxs`` never suppress each other.

The compiled kernels (CPU / CUDA) are used when available, else the references.
Both compute the IoUs in float64, so that their keep lists agree.
"""
from typing import Optional

import torch
from torch import Tensor

from .._ext import use_ext
from ..box_iou_rotated import _iou_pairs

__all__ = ['nms_rotated', 'batched_nms_rotated', 'nms_rotated_reference',
           'batched_nms_rotated_reference']

_NMS_EPS = 1e-6  # same as kNmsIoUEps of the kernels


def _check(boxes, scores, idxs=None) -> None:
    if not isinstance(boxes, Tensor):
        raise TypeError(f'boxes must be a torch.Tensor, got {type(boxes).__name__}')
    if boxes.dim() != 2 or boxes.shape[-1] != 5:
        raise ValueError('boxes must have shape (N, 5) = (cx, cy, w, h, theta), '
                         f'got {tuple(boxes.shape)}')
    n = boxes.shape[0]
    if not isinstance(scores, Tensor):
        raise TypeError(f'scores must be a torch.Tensor, got {type(scores).__name__}')
    if scores.dim() != 1 or scores.shape[0] != n:
        raise ValueError(f'scores must have shape (N,) = ({n},), got {tuple(scores.shape)}')
    if scores.device != boxes.device:
        raise ValueError(f'scores must be on the device of boxes ({boxes.device}), '
                         f'got {scores.device}')
    if idxs is not None:
        if not isinstance(idxs, Tensor):
            raise TypeError(f'idxs must be a torch.Tensor, got {type(idxs).__name__}')
        if idxs.dim() != 1 or idxs.shape[0] != n:
            raise ValueError(f'idxs must have shape (N,) = ({n},), got {tuple(idxs.shape)}')
        if idxs.device != boxes.device:
            raise ValueError(f'idxs must be on the device of boxes ({boxes.device}), '
                             f'got {idxs.device}')
        if idxs.dtype.is_floating_point or idxs.dtype.is_complex:
            raise ValueError(f'idxs must be an integer tensor, got {idxs.dtype}')


def _prepare(boxes: Tensor, scores: Tensor):
    boxes = boxes.detach()
    if boxes.dtype not in (torch.float32, torch.float64):
        boxes = boxes.float()
    scores = scores.detach()
    if scores.dtype not in (torch.float32, torch.float64):
        scores = scores.float()
    return boxes.contiguous(), scores.contiguous()


def _nms(boxes, scores, iou_threshold, idxs):
    if boxes.shape[0] == 0:
        return torch.empty((0,), dtype=torch.long, device=boxes.device)
    boxes, scores = _prepare(boxes, scores)
    if use_ext(boxes):
        labels = None if idxs is None else idxs.detach().long().contiguous()
        return torch.ops.vision_sparse.nms_rotated(boxes, scores, float(iou_threshold),
                                                   labels)
    return _nms_reference(boxes, scores, iou_threshold, idxs)


def nms_rotated(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy NMS of rotated boxes.

    Args:
        boxes (Tensor): (N, 5) boxes (cx, cy, w, h, theta).
        scores (Tensor): (N,) scores.
        iou_threshold (float): a box is discarded when its IoU with a kept box of
            higher score is > iou_threshold.

    Returns:
        Tensor: int64 indices of the kept boxes, by decreasing score (ties by
        index), on the device of ``boxes``.
    """
    _check(boxes, scores)
    return _nms(boxes, scores, iou_threshold, None)


def batched_nms_rotated(boxes: Tensor, scores: Tensor, idxs: Tensor,
                        iou_threshold: float) -> Tensor:
    """Class-aware :func:`nms_rotated`: boxes whose ``idxs`` (N,) differ never
    suppress each other.  Returns int64 indices by decreasing score."""
    _check(boxes, scores, idxs)
    return _nms(boxes, scores, iou_threshold, idxs)


def nms_rotated_reference(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Pure-PyTorch :func:`nms_rotated` (greedy loop, IoUs in float64)."""
    _check(boxes, scores)
    if boxes.shape[0] == 0:
        return torch.empty((0,), dtype=torch.long, device=boxes.device)
    boxes, scores = _prepare(boxes, scores)
    return _nms_reference(boxes, scores, iou_threshold, None)


def batched_nms_rotated_reference(boxes: Tensor, scores: Tensor, idxs: Tensor,
                                  iou_threshold: float) -> Tensor:
    """Pure-PyTorch :func:`batched_nms_rotated`."""
    _check(boxes, scores, idxs)
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
