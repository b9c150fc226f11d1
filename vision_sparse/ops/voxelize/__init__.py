"""Point-cloud voxelisation (mmcv ``Voxelization`` semantics, deterministic): hard
(max points per voxel, max voxels) and dynamic (a cell per point), and the pillar
scatter to a dense bird's-eye-view map.

The compiled kernels (CPU / CUDA) are used when available, else the reference.
"""
from .reference import bev_scatter_reference, voxelize_reference
from .voxelize import BevScatterFunction, Voxelization, bev_scatter, voxelize

__all__ = ['voxelize', 'voxelize_reference', 'bev_scatter', 'bev_scatter_reference',
           'Voxelization', 'BevScatterFunction']
