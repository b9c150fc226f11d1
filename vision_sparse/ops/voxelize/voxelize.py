"""Point-cloud voxelisation and the BEV scatter: the public functions and module.

Run the compiled kernels when they are built for the inputs' device, otherwise
the references of :mod:`.reference` (see there for the semantics); both paths
refuse the same inputs with the same ValueError.
"""
from typing import Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from vision_sparse.registry import MODELS
from .._ext import use_ext
from .reference import (bev_scatter_reference, check_bev_inputs, check_voxelize_inputs,
                        grid_cells, voxelize_reference)

__all__ = ['voxelize', 'bev_scatter', 'Voxelization', 'BevScatterFunction']

#: dtypes the kernels compute in; other floating types go through float32.
_KERNEL_DTYPES = (torch.float32, torch.float64)


def voxelize(points: Tensor, voxel_size: Sequence[float], point_cloud_range: Sequence[float],
             max_points: int = 35, max_voxels: int = 20000, deterministic: bool = True):
    """Voxelise a point cloud with mmcv's ``Voxelization`` semantics (deterministic).

    A point lies in cell ``floor((xyz - range_min) / voxel_size)`` (points' dtype);
    points outside ``point_cloud_range`` or with a NaN / inf coordinate are dropped.

    Args:
        points (Tensor): (N, C >= 3) floating point, columns x, y, z (metres, the
            LiDAR frame), then per-point features (intensity, ...).
        voxel_size (Sequence[float]): (3,) voxel sides (dx, dy, dz), metres, > 0.
        point_cloud_range (Sequence[float]): (6,) ``[x0, y0, z0, x1, y1, z1]``, metres.
        max_points (int): points kept per voxel (hard voxelisation); -1 selects
            dynamic voxelisation.
        max_voxels (int): voxels kept (the first ones by their first point); -1
            selects dynamic voxelisation.
        deterministic (bool): accepted for mmcv compatibility; every path here is
            deterministic.

    Returns:
        Hard: ``voxels`` (M, max_points, C) in the dtype of ``points`` (unused slots
        0), ``coors`` (M, 3) int32 ``(z, y, x)``, ``num_points_per_voxel`` (M,)
        int32; voxels in the order of their first point, points in input order.
        Dynamic: ``coors`` (N, 3) int32 ``(z, y, x)`` per point, ``-1`` rows for
        dropped points. Not differentiable (outputs are copies of the points).

    Raises:
        ValueError: see :func:`~.reference.check_voxelize_inputs`.
    """
    vg = check_voxelize_inputs(points, voxel_size, point_cloud_range, max_points, max_voxels)
    if points.dtype not in _KERNEL_DTYPES:  # float16 / bfloat16: computed in float32
        out = voxelize(points.float(), voxel_size, point_cloud_range, max_points, max_voxels)
        return out if vg.dynamic else (out[0].to(points.dtype), out[1], out[2])
    if not use_ext(points):
        return voxelize_reference(points, voxel_size, point_cloud_range, max_points,
                                  max_voxels)
    points = points.detach()
    args = (list(vg.voxel_size), list(vg.range_min), list(vg.grid))
    if vg.dynamic:
        return torch.ops.vision_sparse.dynamic_voxelize(points, *args)
    return torch.ops.vision_sparse.hard_voxelize(points, *args, vg.max_points, vg.max_voxels)


class BevScatterFunction(torch.autograd.Function):
    """Compiled BEV scatter (CPU or CUDA), differentiable w.r.t. the features.

    Takes checked float32 / float64 inputs; use :func:`bev_scatter`.
    """

    @staticmethod
    def forward(ctx, features: Tensor, coors: Tensor, batch_size: int, nx: int,
                ny: int) -> Tensor:
        out, won = torch.ops.vision_sparse.bev_scatter_forward(features, coors, batch_size,
                                                               nx, ny)
        ctx.save_for_backward(coors, won)
        ctx.mark_non_differentiable(won)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        coors, won = ctx.saved_tensors
        grad = None
        if ctx.needs_input_grad[0]:
            grad = torch.ops.vision_sparse.bev_scatter_backward(grad_out, coors, won)
        return grad, None, None, None, None


def bev_scatter(features: Tensor, coors: Tensor, batch_size: int,
                grid: Tuple[int, int]) -> Tensor:
    """Scatter pillar (voxel) features to a dense bird's-eye-view map.

    Args:
        features (Tensor): (M, F) floating point, one row per pillar.
        coors (Tensor): (M, 4) int32 / int64 ``(batch, z, y, x)`` (the voxel coors
            with a batch column in front); ``z`` is ignored. Rows with a negative
            batch / y / x (e.g. the ``-1`` rows of dynamic voxelisation) are skipped.
        batch_size (int): B >= 1.
        grid (tuple[int, int]): ``(nx, ny)`` cells of the map.

    Returns:
        Tensor: (B, F, ny, nx), dtype of ``features``; empty cells 0. When several
        rows share a cell the **last** row (largest index) is written, on every
        path and device, and only it receives a gradient. Differentiable w.r.t.
        ``features``.

    Raises:
        ValueError: see :func:`~.reference.check_bev_inputs` (a coordinate at or
            beyond ``batch_size`` / ``ny`` / ``nx`` included).
    """
    nx, ny = check_bev_inputs(features, coors, batch_size, grid)
    if features.dtype not in _KERNEL_DTYPES:
        return bev_scatter(features.float(), coors, batch_size, grid).to(features.dtype)
    if not use_ext(features):
        return bev_scatter_reference(features, coors, batch_size, grid)
    coors = coors.detach()
    if torch.is_grad_enabled() and features.requires_grad:
        return BevScatterFunction.apply(features, coors, batch_size, nx, ny)
    return torch.ops.vision_sparse.bev_scatter_forward(features, coors, batch_size, nx, ny)[0]


@MODELS.register_module()
class Voxelization(nn.Module):
    """Module form of :func:`voxelize` (mmcv's ``Voxelization`` arguments).

    Args:
        voxel_size (Sequence[float]): (3,) voxel sides, metres.
        point_cloud_range (Sequence[float]): (6,) ``[x0, y0, z0, x1, y1, z1]``.
        max_num_points (int): points per voxel; -1 for dynamic voxelisation.
        max_voxels (int | tuple[int, int]): voxels kept in (training, testing).
        deterministic (bool): accepted for mmcv compatibility (always deterministic).

    Attributes:
        grid_size (Tensor): (3,) int64 cells ``(nx, ny, nz)``.
        pcd_shape (list[int]): ``[1, ny, nx]`` (mmcv's BEV shape).
    """

    def __init__(self, voxel_size: Sequence[float], point_cloud_range: Sequence[float],
                 max_num_points: int, max_voxels: Union[int, Tuple[int, int]] = 20000,
                 deterministic: bool = True):
        super().__init__()
        if isinstance(max_voxels, (tuple, list)):
            if len(max_voxels) != 2:
                raise ValueError('max_voxels must be an int or a (train, test) pair, got '
                                 f'{max_voxels!r}')
            max_voxels = tuple(max_voxels)
        else:
            max_voxels = (max_voxels, max_voxels)
        size, lo, grid = grid_cells(voxel_size, point_cloud_range)
        # checks max_num_points / max_voxels now rather than at the first call
        for mv in max_voxels:
            check_voxelize_inputs(torch.zeros(0, 3), size, list(point_cloud_range),
                                  max_num_points, mv)
        self.voxel_size = [float(v) for v in size]
        self.point_cloud_range = [float(v) for v in point_cloud_range]
        self.max_num_points = int(max_num_points)
        self.max_voxels = tuple(int(v) for v in max_voxels)
        self.deterministic = bool(deterministic)
        self.grid_size = torch.tensor(grid, dtype=torch.long)
        self.pcd_shape = [1, grid[1], grid[0]]

    def forward(self, points: Tensor):
        """Voxelise ``points`` (N, C >= 3); see :func:`voxelize` for the outputs."""
        max_voxels = self.max_voxels[0] if self.training else self.max_voxels[1]
        return voxelize(points, self.voxel_size, self.point_cloud_range, self.max_num_points,
                        max_voxels, self.deterministic)

    def extra_repr(self) -> str:
        return (f'voxel_size={self.voxel_size}, point_cloud_range={self.point_cloud_range}, '
                f'max_num_points={self.max_num_points}, max_voxels={self.max_voxels}, '
                f'deterministic={self.deterministic}')
