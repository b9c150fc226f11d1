"""Compiled ops of vision_sparse, each with a pure-PyTorch reference.

The extension ``vision_sparse._C`` is loaded lazily (see :mod:`._ext`); without it
every op runs its reference.  ``HAS_EXT`` / ``HAS_CUDA_EXT`` are computed on access.
"""
from ._ext import ext_status, has_cuda_ext, has_ext
from .box_iou_rotated import box_iou_rotated, box_iou_rotated_reference
from .nms_rotated import (batched_nms_rotated, batched_nms_rotated_reference, nms_rotated,
                          nms_rotated_reference)
from .voxel_render import (DEFAULT_DENSITY_SHIFT, VoxelRender, voxel_render,
                           voxel_render_reference)

__all__ = [
    'ext_status', 'has_ext', 'has_cuda_ext', 'HAS_EXT', 'HAS_CUDA_EXT',
    'box_iou_rotated', 'box_iou_rotated_reference', 'nms_rotated', 'batched_nms_rotated',
    'nms_rotated_reference', 'batched_nms_rotated_reference'
]


def __getattr__(name):
    if name == 'HAS_EXT':
        return has_ext()
    if name == 'HAS_CUDA_EXT':
        return has_cuda_ext()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
