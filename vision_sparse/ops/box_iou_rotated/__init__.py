"""IoU of rotated boxes.

Boxes are ``(N, 5)`` tensors ``(cx, cy, w, h, theta)``: centre, size, and the angle
in radians from the +x axis toward the +y axis (clockwise on screen for images,
whose y axis points down).  Corners are ``centre + R(theta) @ (+-w/2, +-h/2)``.
Boxes with ``w <= 0`` or ``h <= 0`` have zero area: their IoU with anything is 0,
for every ``eps >= 0`` (``eps = 0`` included).  Boxes must be finite, with
``|cx|, |cy|, w, h <= sqrt(max of the compute dtype) / 64``, and ``eps`` a finite
number >= 0 (ValueError otherwise, on every path).

:func:`box_iou_rotated` runs the compiled kernel (``vision_sparse._C``, CPU or
CUDA) when it is available and no gradient is needed, and the pure-PyTorch,
differentiable :func:`box_iou_rotated_reference` otherwise.
"""
from .box_iou_rotated import box_iou_rotated
from .reference import box_iou_rotated_reference

__all__ = ['box_iou_rotated', 'box_iou_rotated_reference']
