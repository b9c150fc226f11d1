"""Compiled ops of vision_sparse, each with a pure-PyTorch reference.

One folder per op, ``ops/<op>/``:

* ``<op>.py``: the public function (and, where there is one, its autograd
  Function and module), which runs the compiled kernel when it is built for the
  inputs' device and the reference otherwise;
* ``reference.py``: the pure-PyTorch reference and the input checks that both
  paths share;
* ``<op>.h`` / ``<op>.cpp`` / ``<op>_cpu.cpp`` / ``<op>_cuda.cu``: declarations,
  schema, CPU and CUDA kernels; headers shared by several ops live in ``ops/csrc/``
  (``rotated_geometry.h``: the rotated-box geometry of box_iou_rotated and
  nms_rotated).

The extension ``vision_sparse._C`` is loaded lazily (see :mod:`._ext`); without it
every op runs its reference.

Attributes:
    HAS_EXT (bool): whether ``vision_sparse._C`` is loaded (CPU kernels at least);
        computed on access, as :func:`has_ext`.
    HAS_CUDA_EXT (bool): whether it was compiled with its CUDA kernels; computed on
        access, as :func:`has_cuda_ext`.
"""
from ._ext import ext_status, has_cuda_ext, has_ext
from .box_iou_rotated import box_iou_rotated, box_iou_rotated_reference
from .depth_projection import depth_projection_reference, project_depth
from .ms_deform_attn import (MSDeformAttnFunction, MSDeformAttnSampler, ms_deform_attn,
                             ms_deform_attn_reference)
from .nms_rotated import (NMS_MIN_THRESHOLD, batched_nms_rotated,
                          batched_nms_rotated_reference, nms_rotated, nms_rotated_reference)
from .roi_align_rotated import RoIAlignRotated, roi_align_rotated, roi_align_rotated_reference
from .voxel_render import (DEFAULT_DENSITY_SHIFT, MAX_SAMPLES_PER_RAY, VoxelRender,
                           VoxelRenderFunction, voxel_render, voxel_render_reference)
from .voxelize import (Voxelization, bev_scatter, bev_scatter_reference, voxelize,
                       voxelize_reference)

__all__ = [
    'ext_status', 'has_ext', 'has_cuda_ext', 'HAS_EXT', 'HAS_CUDA_EXT',
    'box_iou_rotated', 'box_iou_rotated_reference', 'nms_rotated', 'batched_nms_rotated',
    'nms_rotated_reference', 'batched_nms_rotated_reference', 'NMS_MIN_THRESHOLD',
    'roi_align_rotated', 'roi_align_rotated_reference', 'RoIAlignRotated',
    'voxel_render', 'voxel_render_reference', 'VoxelRender', 'VoxelRenderFunction',
    'DEFAULT_DENSITY_SHIFT', 'MAX_SAMPLES_PER_RAY',
    'project_depth', 'depth_projection_reference',
    'ms_deform_attn', 'ms_deform_attn_reference', 'MSDeformAttnFunction', 'MSDeformAttnSampler',
    'voxelize', 'voxelize_reference', 'bev_scatter', 'bev_scatter_reference', 'Voxelization'
]


def __getattr__(name):
    if name == 'HAS_EXT':
        return has_ext()
    if name == 'HAS_CUDA_EXT':
        return has_cuda_ext()
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
