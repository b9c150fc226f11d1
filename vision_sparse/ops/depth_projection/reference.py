"""Pure-PyTorch reference of the LiDAR -> camera depth projection, and the input
checks that the compiled path shares.

Semantics (the kernels follow them bit for bit, ``depth_projection.h``):

* ``lidar2img`` ``(V, 4, 4)`` (or ``(V, 3, 4)``) maps homogeneous LiDAR points
  to ``(u z, v z, z)`` in rows 0..2, as mmdet3d's ``lidar2img`` =
  ``cam2img @ lidar2cam``. Each row is evaluated as
  ``((m0 x + m1 y) + m2 z) + m3`` in the points' dtype (written out, not a
  matmul, whose summation order and fused multiply-adds would move points that
  lie on a pixel border); ``u = (u z) / z``, ``v = (v z) / z``, depth ``= z``.
* A point is kept in a view when ``x, y, z`` are finite (NaN / inf points are
  skipped), ``min_depth < z <= max_depth``, ``z`` is finite, ``0 <= u < W`` and
  ``0 <= v < H``. Its pixel is ``(row, col) = (floor(v), floor(u))``: pixel
  ``(i, j)`` covers ``[j, j + 1) x [i, i + 1)``, i.e. its centre is at
  ``(j + 0.5, i + 0.5)`` (BEVFusion / SparseFusion truncate the same way).
  :mod:`vision_sparse.structures.cameras` puts pixel centres at integer
  coordinates (``scale_intrinsics``); to pick the pixel whose centre is nearest
  in that convention, add 0.5 to the principal point (``lidar2img[:, :2] +=
  0.5 * lidar2img[:, 2:3]``) before calling.
* Every pixel gets the smallest depth of its points (0 = no point); with
  ``return_index`` the index of that point, the smallest index among points of
  equal depth (-1 = no point). The result is the same on every path and for
  every number of threads.
* Not differentiable: a depth map is an input (e.g. to the geometric transfer),
  the output carries no gradient.

:func:`vision_sparse.structures.cameras.project_points` is not reused here: it
takes a ``(3, 3)`` intrinsic matrix of camera-frame points and projects with a
matmul, whose rounding differs from the kernels'.
"""
import math
import numbers
from typing import Sequence, Tuple, Union

import torch
from torch import Tensor

from .._checks import all_finite, finite_number

__all__ = ['depth_projection_reference']

ImageSize = Union[Tuple[int, int], Sequence[Tuple[int, int]]]


def _positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _image_size(image_size, views: int) -> Tuple[int, int]:
    """``(H, W)`` from one pair or one pair per view (all equal)."""
    if (isinstance(image_size, Sequence) and len(image_size) == 2
            and all(_positive_int(s) for s in image_size)):
        return int(image_size[0]), int(image_size[1])
    if (isinstance(image_size, Sequence) and len(image_size) == views and views > 0
            and all(isinstance(s, Sequence) and len(s) == 2 and all(_positive_int(x) for x in s)
                    for s in image_size)):
        sizes = {(int(s[0]), int(s[1])) for s in image_size}
        if len(sizes) > 1:
            raise ValueError('image_size: images of different sizes across views '
                             f'({sorted(sizes)}) are not supported: the depth maps are one '
                             '(V, H, W) tensor; project each size group separately or pad '
                             'the images (and keep lidar2img) to a common size')
        return sizes.pop()
    raise ValueError('image_size must be (H, W) with positive ints, or one such pair per '
                     f'view, got {image_size!r}')


def check_inputs(points: Tensor, lidar2img: Tensor, image_size: ImageSize, min_depth: float,
                 max_depth: float) -> Tuple[Tensor, Tensor, int, int, float, float]:
    """Validate the inputs of both paths.

    Returns:
        tuple: ``(points, lidar2img, H, W, min_depth, max_depth)``, ``lidar2img``
        converted to the points' dtype and device.

    Raises:
        TypeError: points or lidar2img not a tensor.
        ValueError: points not floating-point ``(N, >=3)``; lidar2img not
            ``(V, 4, 4)`` / ``(V, 3, 4)`` or not finite; a bad ``image_size``
            (see :func:`_image_size`); ``min_depth`` not finite ``>= 0``;
            ``max_depth`` not ``> min_depth`` (inf allowed).
    """
    if not isinstance(points, Tensor) or not isinstance(lidar2img, Tensor):
        raise TypeError('points and lidar2img must be torch.Tensor, got '
                        f'{type(points).__name__} and {type(lidar2img).__name__}')
    if points.dim() != 2 or points.shape[1] < 3 or not points.is_floating_point():
        raise ValueError('points must be a floating-point (N, >=3) tensor (x, y, z first, '
                         f'LiDAR frame), got {points.dtype} {tuple(points.shape)}')
    if (lidar2img.dim() != 3 or tuple(lidar2img.shape[1:]) not in ((4, 4), (3, 4))
            or not (lidar2img.is_floating_point() or lidar2img.dtype in (torch.int32, torch.int64))):
        raise ValueError('lidar2img must be a (V, 4, 4) (or (V, 3, 4)) real matrix per view, '
                         f'got {lidar2img.dtype} {tuple(lidar2img.shape)}')
    if not all_finite(lidar2img):
        raise ValueError('lidar2img must be finite (no NaN or inf)')
    height, width = _image_size(image_size, lidar2img.shape[0])
    lo = finite_number(min_depth, 'min_depth', minimum=0.0)
    hi = math.nan
    if isinstance(max_depth, (numbers.Real, Tensor)) and not isinstance(max_depth, bool):
        if not isinstance(max_depth, Tensor) or max_depth.numel() == 1:
            hi = float(max_depth)
    if not hi > lo:  # NaN refused
        raise ValueError(f'max_depth must be a number > min_depth ({lo}) (inf allowed), '
                         f'got {max_depth!r}')
    lidar2img = lidar2img.detach().to(device=points.device, dtype=points.dtype)
    return points.detach(), lidar2img, height, width, lo, hi


def depth_projection_reference(points: Tensor, lidar2img: Tensor, image_size: ImageSize,
                               min_depth: float = 1e-3, max_depth: float = math.inf,
                               return_index: bool = False
                               ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Sparse depth maps of LiDAR points in pure PyTorch (semantics: module docstring).

    Args:
        points (Tensor): (N, >=3) x, y, z (then any features), LiDAR frame, metres.
        lidar2img (Tensor): (V, 4, 4) LiDAR -> image projection per view.
        image_size (tuple[int, int] | list[tuple[int, int]]): (H, W) of every view.
        min_depth (float): points with depth <= min_depth are skipped, metres.
        max_depth (float): points with depth > max_depth are skipped, metres.
        return_index (bool): also return the winning point index per pixel.

    Returns:
        Tensor | tuple[Tensor, Tensor]: depth (V, H, W), dtype of points (float16
        / bfloat16 computed in float32), 0 where empty; and with ``return_index`` index (V, H, W) int64, -1 where empty.
    """
    points, mats, height, width, lo, hi = check_inputs(points, lidar2img, image_size,
                                                       min_depth, max_depth)
    if points.dtype not in (torch.float32, torch.float64):  # float16 / bfloat16
        out = depth_projection_reference(points.float(), mats.float(), (height, width), lo,
                                         hi, return_index)
        if return_index:
            return out[0].to(points.dtype), out[1]
        return out.to(points.dtype)
    views, npts = mats.shape[0], points.shape[0]
    hw = height * width
    if views == 0 or npts == 0:
        depth = points.new_zeros((views, height, width))
        index = torch.full((views, height, width), -1, dtype=torch.long, device=points.device)
        return (depth, index) if return_index else depth
    x, y, z = points[:, 0], points[:, 1], points[:, 2]

    def row(r: int) -> Tensor:  # (V, N), in the order of the kernels
        m = mats[:, r, :, None]
        return ((m[:, 0] * x + m[:, 1] * y) + m[:, 2] * z) + m[:, 3]

    d = row(2)
    u = row(0) / d
    v = row(1) / d
    lo_t = torch.tensor(lo, dtype=d.dtype, device=d.device)
    hi_t = torch.tensor(hi, dtype=d.dtype, device=d.device)
    finite = (torch.isfinite(x) & torch.isfinite(y) & torch.isfinite(z))[None]
    keep = (finite & (d > lo_t) & (d <= hi_t) & torch.isfinite(d)
            & (u >= 0) & (u < width) & (v >= 0) & (v < height))
    view_id, point_id = keep.nonzero(as_tuple=True)
    pix = view_id * hw + v[keep].long() * width + u[keep].long()  # u, v >= 0: trunc = floor
    dk = d[keep]
    flat = torch.full((views * hw,), math.inf, dtype=d.dtype, device=d.device)
    flat.scatter_reduce_(0, pix, dk, 'amin')
    index = None
    if return_index:
        win = dk == flat[pix]
        flat_index = torch.full((views * hw,), npts, dtype=torch.long, device=d.device)
        flat_index.scatter_reduce_(0, pix[win], point_id[win], 'amin')
        flat_index[flat_index == npts] = -1
        index = flat_index.view(views, height, width)
    depth = flat.masked_fill_(torch.isinf(flat), 0).view(views, height, width)
    return (depth, index) if return_index else depth
