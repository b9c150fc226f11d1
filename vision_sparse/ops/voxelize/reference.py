"""Pure-PyTorch reference of point-cloud voxelisation and the BEV scatter, and the
input checks that the compiled path shares.

Semantics (mmcv's ``Voxelization``, made deterministic on every path):

* A point ``p`` (the first three columns: x, y, z, metres) lies in cell
  ``c = floor((p - range_min) / voxel_size)``, computed in the points' dtype
  (``voxel_size`` and ``range_min`` are rounded to it first), and is *inside*
  when ``0 <= c < grid`` on all three axes, where
  ``grid = round((range_max - range_min) / voxel_size)`` in float32 (as mmcv's
  ``Voxelization.grid_size``).  Everything else is dropped: points outside the
  range, however far, and points with a NaN / inf coordinate (a non-finite
  coordinate never lands in a cell; the other columns are copied as they are).
* Cell coordinates are returned as ``(z, y, x)`` int32 (mmcv's order).
* Dynamic voxelisation (``max_points == -1`` or ``max_voxels == -1``): one row
  of ``coors`` per point, ``-1`` in all three columns for a dropped point.
* Hard voxelisation: voxels are numbered by the first point that falls in them
  (input order); each keeps its first ``max_points`` points in input order
  (later ones are dropped); only the first ``max_voxels`` voxels are created
  (points of later voxels are dropped, points of earlier voxels are still
  added).  This is mmcv's CPU (and "deterministic" CUDA) order, on every path
  here whatever ``deterministic`` says.
* BEV scatter: row ``i`` of ``features`` goes to ``out[b, :, y, x]`` for its
  ``coors[i] = (b, z, y, x)`` (``z`` is ignored: the pillars' grid is flat).
  When several rows share a cell, the **last** one (largest row index) wins;
  the others receive no gradient.  Rows with a negative batch / y / x (the
  ``-1`` rows of dynamic voxelisation) are skipped.
"""
import functools
from dataclasses import dataclass
from typing import Sequence, Tuple

import torch
from torch import Tensor

from .._checks import finite_number

__all__ = ['voxelize_reference', 'bev_scatter_reference', 'VoxelGrid', 'check_voxelize_inputs',
           'check_bev_inputs']

#: Largest number of cells on one axis (coordinates are int32).
MAX_AXIS_CELLS = 2 ** 31 - 1
#: Largest number of cells of the whole grid (cell keys are int64).
MAX_GRID_CELLS = 2 ** 62


@dataclass(frozen=True)
class VoxelGrid:
    """A checked voxelisation setting.

    Attributes:
        voxel_size (tuple[float, float, float]): (dx, dy, dz) metres, > 0.
        range_min (tuple[float, float, float]): (x0, y0, z0) metres.
        grid (tuple[int, int, int]): cells (nx, ny, nz), each >= 1.
        max_points (int): points per voxel (hard) or -1 (dynamic).
        max_voxels (int): voxels (hard) or -1 (dynamic).
    """
    voxel_size: Tuple[float, float, float]
    range_min: Tuple[float, float, float]
    grid: Tuple[int, int, int]
    max_points: int
    max_voxels: int

    @property
    def dynamic(self) -> bool:
        """Whether this is dynamic voxelisation (one cell per point)."""
        return self.max_points == -1 or self.max_voxels == -1


def _floats(value, n: int, name: str) -> Tuple[float, ...]:
    """``value`` (a sequence or tensor of ``n`` real numbers) as finite floats."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().reshape(-1).tolist()
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != n:
        raise ValueError(f'{name} must be a sequence of {n} numbers, got {value!r}')
    return tuple(finite_number(v, f'{name}[{i}]') for i, v in enumerate(value))


def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (value < minimum
                                                                 and value != -1):
        raise ValueError(f'{name} must be an int >= {minimum} (or -1 for dynamic '
                         f'voxelisation), got {value!r}')
    return int(value)


def grid_cells(voxel_size, point_cloud_range) -> Tuple[Tuple[float, ...], Tuple[float, ...],
                                                         Tuple[int, int, int]]:
    """Checked ``(voxel_size, range_min, grid)`` of a setting.

    Args:
        voxel_size (Sequence[float] | Tensor): (3,) voxel sides (dx, dy, dz), metres, > 0.
        point_cloud_range (Sequence[float] | Tensor): (6,) ``[x0, y0, z0, x1, y1, z1]``
            with ``x1 > x0`` etc.

    Returns:
        tuple: voxel_size (3 floats), range_min (3 floats), grid ``(nx, ny, nz)``
        = ``round((range_max - range_min) / voxel_size)`` in float32.

    Raises:
        ValueError: wrong lengths, non-finite values, a side <= 0, an empty range,
            a voxel larger than twice its range (no cell) or a grid too large.
    """
    return _grid_cells(_floats(voxel_size, 3, 'voxel_size'),
                       _floats(point_cloud_range, 6, 'point_cloud_range'))


@functools.lru_cache(maxsize=64)
def _grid_cells(size: Tuple[float, ...], rng: Tuple[float, ...]):
    """:func:`grid_cells` of checked floats (cached: a model calls it with one setting)."""
    if min(size) <= 0:
        raise ValueError(f'voxel_size must be > 0 on every axis, got {size}')
    for j, axis in enumerate('xyz'):
        if not rng[j + 3] > rng[j]:
            raise ValueError(f'point_cloud_range must have {axis}1 > {axis}0 '
                             f'([x0, y0, z0, x1, y1, z1]), got {rng}')
    lo = torch.tensor(rng[:3], dtype=torch.float32)
    hi = torch.tensor(rng[3:], dtype=torch.float32)
    cells = torch.round((hi - lo) / torch.tensor(size, dtype=torch.float32))
    if not bool(torch.isfinite(cells).all()) or bool((cells > MAX_AXIS_CELLS).any()):
        raise ValueError(f'voxel_size {size} is too small for point_cloud_range {rng}: more '
                         f'than {MAX_AXIS_CELLS} cells on an axis')
    grid = tuple(int(v) for v in cells.tolist())
    if min(grid) < 1:
        raise ValueError(f'voxel_size {size} is larger than point_cloud_range {rng} '
                         f'(grid {grid} has no cell on an axis)')
    if grid[0] * grid[1] * grid[2] > MAX_GRID_CELLS:
        raise ValueError(f'the grid {grid} has more than 2**62 cells')
    return size, rng[:3], grid


def check_voxelize_inputs(points: Tensor, voxel_size, point_cloud_range, max_points: int,
                          max_voxels: int) -> VoxelGrid:
    """Validate the inputs of both paths.

    Raises:
        ValueError: ``points`` not a floating-point (N, C >= 3) tensor; a bad
            setting (see :func:`grid_cells`); ``max_points`` not -1 or an int >= 1;
            ``max_voxels`` not -1 or an int >= 0.
    """
    if not isinstance(points, Tensor):
        raise ValueError(f'points must be a torch.Tensor, got {type(points).__name__}')
    if points.dim() != 2 or points.shape[1] < 3 or not points.is_floating_point():
        raise ValueError('points must be a floating-point (N, C) tensor with C >= 3 '
                         f'(x, y, z, features...), got {points.dtype} {tuple(points.shape)}')
    size, lo, grid = grid_cells(voxel_size, point_cloud_range)
    max_points = _int(max_points, 'max_points', 1)
    max_voxels = _int(max_voxels, 'max_voxels', 0)
    return VoxelGrid(size, lo, grid, max_points, max_voxels)


def point_cells(points: Tensor, vg: VoxelGrid) -> Tuple[Tensor, Tensor]:
    """Cell ``(x, y, z)`` (N, 3) int64 of every point (-1 rows when dropped) and the
    (N,) bool mask of the points inside the grid."""
    opts = dict(dtype=points.dtype, device=points.device)
    xyz = points[:, :3].detach()
    cell = torch.floor((xyz - torch.tensor(vg.range_min, **opts))
                       / torch.tensor(vg.voxel_size, **opts))
    inside = ((cell >= 0) & (cell < torch.tensor(vg.grid, **opts))).all(1)  # NaN: False
    cell = torch.where(inside[:, None], cell, torch.full_like(cell, -1))
    return cell.long(), inside


def voxelize_reference(points: Tensor, voxel_size, point_cloud_range, max_points: int = 35,
                       max_voxels: int = 20000, deterministic: bool = True):
    """Voxelisation in pure PyTorch (see the module docstring for the semantics).

    Args:
        points (Tensor): (N, C >= 3) floating point, columns x, y, z (metres), then
            any per-point features.
        voxel_size (Sequence[float]): (3,) voxel sides, metres.
        point_cloud_range (Sequence[float]): (6,) ``[x0, y0, z0, x1, y1, z1]``.
        max_points (int): points kept per voxel; -1 for dynamic voxelisation.
        max_voxels (int): voxels kept; -1 for dynamic voxelisation.
        deterministic (bool): accepted for mmcv compatibility; every path is.

    Returns:
        Hard: ``(voxels (M, max_points, C), coors (M, 3) int32 (z, y, x),
        num_points_per_voxel (M,) int32)``, empty point slots zero.
        Dynamic: ``coors (N, 3)`` int32 (z, y, x), -1 rows for dropped points.
    """
    vg = check_voxelize_inputs(points, voxel_size, point_cloud_range, max_points, max_voxels)
    cell, inside = point_cells(points, vg)
    if vg.dynamic:
        return cell.flip(1).int()
    n, chans = points.shape
    dev = points.device
    idx = torch.nonzero(inside).flatten()
    c = cell[idx]
    nx, ny, _ = vg.grid
    key = (c[:, 2] * ny + c[:, 1]) * nx + c[:, 0]
    uniq, inv = torch.unique(key, return_inverse=True)
    nvox = uniq.numel()
    # voxels numbered by their first point
    first = torch.full((nvox,), n, dtype=torch.long, device=dev).scatter_reduce(
        0, inv, idx, 'amin')
    order = torch.argsort(first)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(nvox, device=dev)
    vid = rank[inv]
    # slot of each point in its voxel: its rank among the voxel's points (input order)
    sorted_vid, perm = torch.sort(vid, stable=True)
    counts = torch.bincount(vid, minlength=nvox)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.empty_like(vid)
    slot[perm] = torch.arange(vid.numel(), device=dev) - starts[sorted_vid]
    m = min(nvox, vg.max_voxels)
    keep = (vid < m) & (slot < vg.max_points)
    voxels = points.new_zeros((m, vg.max_points, chans))
    voxels[vid[keep], slot[keep]] = points[idx[keep]]
    coors = torch.zeros((m, 3), dtype=torch.int32, device=dev)
    heads = keep & (slot == 0)
    coors[vid[heads]] = c[heads].flip(1).int()
    num = counts[:m].clamp(max=vg.max_points).int()
    return voxels, coors, num


def _pair_ints(grid, name: str = 'grid') -> Tuple[int, int]:
    if (isinstance(grid, (str, bytes)) or not isinstance(grid, Sequence) or len(grid) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                       for v in grid)):
        raise ValueError(f'{name} must be a pair of ints (nx, ny) >= 1, got {grid!r}')
    return int(grid[0]), int(grid[1])


def check_bev_inputs(features: Tensor, coors: Tensor, batch_size: int,
                     grid) -> Tuple[int, int]:
    """Validate the inputs of both BEV-scatter paths; return ``(nx, ny)``.

    Raises:
        ValueError: ``features`` not floating-point (M, F); ``coors`` not an integer
            (M, 4) tensor on the features' device; ``batch_size`` not an int >= 1;
            ``grid`` not (nx, ny) ints >= 1; a coordinate beyond ``batch_size`` /
            ``ny`` / ``nx`` (negative ones mark skipped rows).
    """
    if not isinstance(features, Tensor) or not isinstance(coors, Tensor):
        raise ValueError('features and coors must be torch.Tensor')
    if features.dim() != 2 or not features.is_floating_point():
        raise ValueError('features must be a floating-point (M, F) tensor, got '
                         f'{features.dtype} {tuple(features.shape)}')
    if (coors.dim() != 2 or coors.shape[1] != 4 or coors.shape[0] != features.shape[0]
            or coors.dtype not in (torch.int32, torch.int64) or coors.device != features.device):
        raise ValueError(f'coors must be an int32 / int64 (M, 4) = (batch, z, y, x) tensor '
                         f'with M = {features.shape[0]} on {features.device}, got '
                         f'{coors.dtype} {tuple(coors.shape)} on {coors.device}')
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'batch_size must be an int >= 1, got {batch_size!r}')
    nx, ny = _pair_ints(grid)
    if coors.shape[0]:
        top = coors[:, (0, 2, 3)].amax(0).tolist()
        for val, lim, what in zip(top, (batch_size, ny, nx), ('batch', 'y', 'x')):
            if val >= lim:
                raise ValueError(f'coors {what} index {val} is out of range [0, {lim}) '
                                 f'(batch_size={batch_size}, grid=(nx, ny)=({nx}, {ny}))')
    return nx, ny


def bev_cells(coors: Tensor, batch_size: int, nx: int, ny: int) -> Tuple[Tensor, Tensor]:
    """Flat cell ``(b * ny + y) * nx + x`` of every row and the mask of kept rows."""
    c = coors.long()
    keep = (c[:, (0, 2, 3)] >= 0).all(1)
    return (c[:, 0] * ny + c[:, 2]) * nx + c[:, 3], keep


def bev_scatter_reference(features: Tensor, coors: Tensor, batch_size: int, grid) -> Tensor:
    """Scatter pillar features to a dense BEV map, in pure PyTorch.

    Args:
        features (Tensor): (M, F) floating point.
        coors (Tensor): (M, 4) int ``(batch, z, y, x)``; ``z`` is ignored, rows with a
            negative batch / y / x are skipped.
        batch_size (int): B.
        grid (tuple[int, int]): ``(nx, ny)`` cells.

    Returns:
        Tensor: (B, F, ny, nx); a cell shared by several rows holds the last one's
        features (largest row index); empty cells are 0. Differentiable w.r.t.
        ``features``.
    """
    nx, ny = check_bev_inputs(features, coors, batch_size, grid)
    cell, keep = bev_cells(coors, batch_size, nx, ny)
    ncell = batch_size * ny * nx
    rows = torch.arange(coors.shape[0], device=features.device)
    winner = torch.full((ncell,), -1, dtype=torch.long, device=features.device).scatter_reduce(
        0, cell[keep], rows[keep], 'amax')
    has = (winner >= 0)[:, None]
    flat = features.index_select(0, winner.clamp(min=0)) if features.shape[0] else \
        features.new_zeros((ncell, features.shape[1]))
    flat = torch.where(has, flat, flat.new_zeros(()))
    return flat.view(batch_size, ny, nx, -1).permute(0, 3, 1, 2).contiguous()
