"""Assigners of predictions to ground truth."""
from .hungarian_assigner_3d import HungarianAssigner3D, focal_cost

__all__ = ['HungarianAssigner3D', 'focal_cost']
