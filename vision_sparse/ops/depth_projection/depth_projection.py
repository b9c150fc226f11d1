"""Projection of LiDAR points into camera images as sparse depth maps: the public
function.

Runs the compiled kernel when it is built for the points' device, otherwise
:func:`~.reference.depth_projection_reference` (see there for the semantics:
pixel convention, skipped points, ties). Not differentiable.
"""
import math
from typing import Tuple, Union

import torch
from torch import Tensor

from .._ext import use_ext
from .reference import ImageSize, check_inputs, depth_projection_reference

__all__ = ['project_depth']

#: dtypes the kernels compute in; others (float16, bfloat16) go through float32.
_KERNEL_DTYPES = (torch.float32, torch.float64)


def project_depth(points: Tensor, lidar2img: Tensor, image_size: ImageSize,
                  min_depth: float = 1e-3, max_depth: float = math.inf,
                  return_index: bool = False) -> Union[Tensor, Tuple[Tensor, Tensor]]:
    """Sparse depth maps: the nearest LiDAR point on every pixel of every view.

    Args:
        points (Tensor): (N, >=3) x, y, z first (further columns, e.g. intensity,
            are ignored), LiDAR frame, metres. NaN / inf points are skipped.
        lidar2img (Tensor): (V, 4, 4) (or (V, 3, 4)) LiDAR -> image projection
            per view, mmdet3d's ``lidar2img`` = ``cam2img @ lidar2cam``; finite;
            converted to the points' dtype and device.
        image_size (tuple[int, int] | list[tuple[int, int]]): (H, W) of the
            images, pixels; one pair for all views, or one per view (all equal:
            views of different sizes raise).
        min_depth (float): points with depth ``<= min_depth`` (behind or too
            close to the camera) are skipped, metres, finite ``>= 0``.
        max_depth (float): points with depth ``> max_depth`` are skipped, metres
            (``> min_depth``; inf keeps all).
        return_index (bool): also return, per pixel, the index (into ``points``)
            of the point whose depth was kept: for gathering point features.

    Returns:
        Tensor | tuple[Tensor, Tensor]: ``depth`` (V, H, W), dtype of points
        (float16 / bfloat16 computed in float32), 0 where no point lands;
        with ``return_index``, ``index`` (V, H, W) int64, -1 where no point
        lands, the smallest index among the points of the kept depth. Point n
        lands on pixel ``(floor(v), floor(u))`` (pixel centres at +0.5, see
        :mod:`.reference`). No gradient flows to the points.

    Raises:
        TypeError: points or lidar2img not tensors.
        ValueError: see :func:`~.reference.check_inputs` (raised before any kernel).
    """
    pts, mats, height, width, lo, hi = check_inputs(points, lidar2img, image_size, min_depth,
                                                    max_depth)
    if pts.dtype not in _KERNEL_DTYPES:
        out = project_depth(pts.float(), mats.float(), (height, width), lo, hi, return_index)
        if return_index:
            return out[0].to(pts.dtype), out[1]
        return out.to(pts.dtype)
    if not use_ext(pts):
        return depth_projection_reference(pts, mats, (height, width), lo, hi, return_index)
    depth, index = torch.ops.vision_sparse.depth_projection(pts, mats, height, width, lo, hi,
                                                            bool(return_index))
    return (depth, index) if return_index else depth
