"""Rotated RoIAlign (mmcv semantics): features of rotated boxes ``(batch_idx, cx, cy,
w, h, theta)`` pooled to a fixed grid by bilinear sampling.

The compiled kernels (CPU / CUDA) are used when available, else the reference.
"""
from .reference import roi_align_rotated_reference
from .roi_align_rotated import (RoIAlignRotated, RoIAlignRotatedFunction, roi_align_rotated,
                                roi_align_rotated_features_grad)

__all__ = ['roi_align_rotated', 'roi_align_rotated_reference', 'RoIAlignRotated',
           'RoIAlignRotatedFunction', 'roi_align_rotated_features_grad']
