"""Detectors: PointOBB (oriented pseudo boxes from points) with its view transforms, and the
oriented one-stage detector (rotated FCOS), and SparseFusion (LiDAR branch so far).

Registered on first use of a registry (``LOCATIONS`` in :mod:`vision_sparse.registry`):
``RotatedFCOS`` subclasses mmdet's ``SingleStageDetector``, and a plain ``import
vision_sparse`` does not import ``mmdet.models``.
"""
from .pointobb import PointOBB, current_iter
from .pointobb_views import flip_view, resize_view, rotate_view, wrap_angle
from .rotated_fcos import RotatedFCOS
from .sparse_fusion import MODALITIES, SparseFusion

__all__ = ['PointOBB', 'current_iter', 'flip_view', 'resize_view', 'rotate_view', 'wrap_angle',
           'RotatedFCOS', 'SparseFusion', 'MODALITIES']
