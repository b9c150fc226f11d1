"""Detectors: PointOBB (oriented pseudo boxes from points) and its view transforms."""
from .pointobb import PointOBB, current_iter
from .pointobb_views import flip_view, resize_view, rotate_view, wrap_angle

__all__ = ['PointOBB', 'current_iter', 'flip_view', 'resize_view', 'rotate_view', 'wrap_angle']
