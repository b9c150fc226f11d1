"""Dense (one-stage) detection heads: the rotated FCOS head."""
from .rotated_fcos_head import RotatedFCOSHead, distance2rbox, rbox2distance

__all__ = ['RotatedFCOSHead', 'distance2rbox', 'rbox2distance']
