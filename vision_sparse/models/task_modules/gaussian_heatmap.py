"""Gaussian heatmap targets (CenterNet / CenterPoint style), shared by the 3-D heads.

An object centre is drawn on a class heatmap as a 2-D Gaussian peak of value 1, of
radius :func:`gaussian_radius` (the largest centre shift that keeps a box IoU of
``min_overlap`` with the shifted box, over three corner cases), ``sigma = (2 r + 1) / 6``;
overlapping peaks are merged by their maximum. The LiDAR head draws BEV centres, the
camera head projected image centres.

The radius follows the formula of the official CenterPoint / TransFusion code (each of
the three quadratic roots halved, not divided by ``2 a``), which is what SparseFusion
trains with; mmdet's ``gaussian_radius`` is the corrected CornerNet one and gives other
numbers.
"""
import math
from typing import Sequence, Tuple

import torch
from torch import Tensor

__all__ = ['gaussian_radius', 'gaussian_2d', 'draw_gaussian']


def gaussian_radius(size: Tuple[float, float], min_overlap: float = 0.5) -> float:
    """Gaussian radius of a box of ``size = (height, width)`` (cells).

    Args:
        size (tuple[float, float]): box extent ``(h, w)`` in heatmap cells, >= 0.
        min_overlap (float): the IoU to keep, in (0, 1).

    Returns:
        float: ``min(r1, r2, r3)`` of the three overlap cases, >= 0.
    """
    h, w = float(size[0]), float(size[1])
    if not 0 < min_overlap < 1:
        raise ValueError(f'min_overlap must be in (0, 1), got {min_overlap!r}')
    if h < 0 or w < 0 or not (math.isfinite(h) and math.isfinite(w)):
        raise ValueError(f'size must be two finite numbers >= 0, got {size!r}')
    # case 1: both corners move outward
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    # case 2: both corners move inward
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * 4 * c2)) / 2
    # case 3: one corner in, one out
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def gaussian_2d(radius: int, sigma: float = None, dtype=torch.float32,
                device=None) -> Tensor:
    """A ``(2 r + 1, 2 r + 1)`` Gaussian ``exp(-(dx^2 + dy^2) / (2 sigma^2))``, peak 1.

    Args:
        radius (int): r >= 0.
        sigma (float, optional): default ``(2 r + 1) / 6``.

    Returns:
        Tensor: (2 r + 1, 2 r + 1); values below ``eps * peak`` are set to 0.
    """
    radius = int(radius)
    if radius < 0:
        raise ValueError(f'radius must be >= 0, got {radius}')
    sigma = (2 * radius + 1) / 6 if sigma is None else float(sigma)
    d = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    g = torch.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma * sigma))
    g[g < torch.finfo(dtype).eps * g.max()] = 0
    return g


def draw_gaussian(heatmap: Tensor, center: Sequence[float], radius: int,
                  k: float = 1.0) -> Tensor:
    """Max-merge a Gaussian peak into ``heatmap`` in place.

    Args:
        heatmap (Tensor): (H, W) floating point.
        center (Sequence[float]): ``(x, y)`` in cells (column, row); truncated to the
            integer cell holding the peak; a centre outside the map draws
            nothing.
        radius (int): Gaussian radius r >= 0 (cells).
        k (float): peak value.

    Returns:
        Tensor: ``heatmap`` (modified in place).
    """
    if not isinstance(heatmap, Tensor) or heatmap.dim() != 2:
        raise ValueError('heatmap must be a (H, W) tensor')
    radius = int(radius)
    g = gaussian_2d(radius, dtype=heatmap.dtype, device=heatmap.device) * k
    x, y = int(center[0]), int(center[1])
    h, w = heatmap.shape
    if not (0 <= x < w and 0 <= y < h):
        return heatmap
    left, right = min(x, radius), min(w - x, radius + 1)
    top, bottom = min(y, radius), min(h - y, radius + 1)
    region = heatmap[y - top:y + bottom, x - left:x + right]
    patch = g[radius - top:radius + bottom, radius - left:radius + right]
    torch.maximum(region, patch, out=region)
    return heatmap
