"""Dense heads: per-pixel predictions on FPN levels (the rotated FCOS head, PointOBB's PSC
angle head), the TransFusion-L BEV head and the sparse camera head of SparseFusion.

Registered on first use of a registry (``LOCATIONS`` in :mod:`vision_sparse.registry`):
the rotated FCOS head subclasses mmdet's ``FCOSHead``, and a plain ``import
vision_sparse`` does not import ``mmdet.models``.
"""
from .pointobb_angle_head import PointOBBAngleHead
from .rotated_fcos_head import RotatedFCOSHead, distance2rbox, rbox2distance
from .sparse_camera_head import SparseCameraHead
from .transfusion_head import QueryBoxHead, TransFusionLiDARHead, gt_from_samples, valid_gt

__all__ = ['PointOBBAngleHead', 'RotatedFCOSHead', 'distance2rbox', 'rbox2distance',
           'QueryBoxHead', 'TransFusionLiDARHead', 'gt_from_samples', 'valid_gt', 'SparseCameraHead']
