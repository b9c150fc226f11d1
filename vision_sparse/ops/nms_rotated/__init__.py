"""Greedy non-maximum suppression of rotated boxes.

Boxes are ``(N, 5)`` tensors ``(cx, cy, w, h, theta)`` (see
:mod:`vision_sparse.ops.box_iou_rotated`).  A box is suppressed by a kept box of
higher score when their IoU is strictly greater than ``iou_threshold``; equal
scores are ordered by index (stable).  :func:`batched_nms_rotated` is class-aware:
boxes of different ``idxs`` never suppress each other.  Boxes, scores and the
threshold must be finite (ValueError otherwise); thresholds in ``[0, 1e-9)`` act as
``NMS_MIN_THRESHOLD = 1e-9`` (the IoU of touching boxes is rounding noise, which
would otherwise decide, differently on each path).

The compiled kernels (CPU / CUDA) are used when available, else the references.
Both compute the IoUs in float64, so that their keep lists agree.
"""
from .nms_rotated import batched_nms_rotated, nms_rotated
from .reference import NMS_MIN_THRESHOLD, batched_nms_rotated_reference, nms_rotated_reference

__all__ = ['nms_rotated', 'batched_nms_rotated', 'nms_rotated_reference',
           'batched_nms_rotated_reference', 'NMS_MIN_THRESHOLD']
