"""Dense heads: per-pixel predictions on FPN levels (PointOBB's PSC angle head)."""
from .pointobb_angle_head import PointOBBAngleHead

__all__ = ['PointOBBAngleHead']
