"""Projection of LiDAR points into camera images as sparse depth maps (nearest
depth per pixel, deterministic ties, optional winning-point index).

The compiled kernels (CPU / CUDA) are used when available, else the reference.
"""
from .depth_projection import project_depth
from .reference import depth_projection_reference

__all__ = ['project_depth', 'depth_projection_reference']
