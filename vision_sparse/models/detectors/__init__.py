"""Detectors: the oriented one-stage detector (rotated FCOS)."""
from .rotated_fcos import RotatedFCOS

__all__ = ['RotatedFCOS']
