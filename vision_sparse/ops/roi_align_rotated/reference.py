"""Pure-PyTorch reference of rotated RoIAlign, and the input contract that the
compiled path shares.

Semantics are those of mmcv's ``roi_align_rotated`` (mmcv 1.x / 2.x):

* ``rois`` is ``(N, 6)``: ``(batch_idx, cx, cy, w, h, theta)`` in input-image
  pixels, ``theta`` in radians; ``spatial_scale`` maps them onto the feature map.
* ``aligned=True`` shifts the box by -0.5 feature pixel (pixel centres at
  integer + 0.5); ``aligned=False`` keeps it and makes ``w``, ``h`` at least one
  feature pixel.
* ``clockwise=False``: the box's width axis is ``(cos theta, -sin theta)`` in
  image coordinates (x right, y down), i.e. ``theta`` turns counter-clockwise on
  screen; ``clockwise=True`` negates ``theta``, which is the convention of
  :class:`~vision_sparse.structures.RotatedBoxes` (width axis
  ``(cos theta, sin theta)``).
* Each of the ``out_h x out_w`` bins averages ``grid_h x grid_w`` bilinear
  samples at the bin's sub-cell centres; ``sampling_ratio > 0`` fixes
  ``grid_h = grid_w = sampling_ratio``, ``0`` uses ``ceil(roi_h / out_h)`` by
  ``ceil(roi_w / out_w)`` (per RoI; a RoI with a zero side then has no samples
  and pools to 0, as in mmcv and torchvision).
* A sample farther than one pixel outside the feature map (``y < -1``, ``y > H``,
  same for x) contributes 0; closer ones are clamped to the border.

The reference is differentiable (w.r.t. the features) through ordinary
autograd; gradients w.r.t. the rois are not defined (as in mmcv).
"""
import math
from typing import Sequence, Tuple, Union

import torch
from torch import Tensor

from .._checks import all_finite, finite_number

__all__ = ['roi_align_rotated_reference']


def _pair(output_size, name: str = 'output_size') -> Tuple[int, int]:
    """``output_size`` as ``(out_h, out_w)`` of positive ints."""
    if isinstance(output_size, bool):
        raise ValueError(f'{name} must be a positive int or a pair of them, got {output_size!r}')
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    if (not isinstance(output_size, Sequence) or len(output_size) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                       for v in output_size)):
        raise ValueError(f'{name} must be a positive int or a pair of them, got {output_size!r}')
    return int(output_size[0]), int(output_size[1])


def _check_inputs(features: Tensor, rois: Tensor, output_size, spatial_scale, sampling_ratio):
    """Validate the inputs of both paths; return ``(out_h, out_w, scale, ratio)``.

    Raises:
        ValueError: features not (B, C, H, W) floating point; rois not (N, 6) of
            the features' dtype and device, with NaN / inf, a batch index that is
            not an integer in [0, B), or a negative width / height; a bad
            ``output_size``, ``spatial_scale`` (> 0) or ``sampling_ratio`` (int >= 0).
    """
    if not isinstance(features, Tensor) or not isinstance(rois, Tensor):
        raise TypeError('features and rois must be torch.Tensor')
    if features.dim() != 4 or not features.is_floating_point():
        raise ValueError('features must be a floating-point (B, C, H, W) tensor, got '
                         f'{features.dtype} {tuple(features.shape)}')
    if rois.dim() != 2 or rois.shape[1] != 6:
        raise ValueError('rois must have shape (N, 6) = (batch_idx, cx, cy, w, h, theta), '
                         f'got {tuple(rois.shape)}')
    if rois.dtype != features.dtype:
        raise ValueError(f'rois must have the dtype of features ({features.dtype}), '
                         f'got {rois.dtype}')
    if rois.device != features.device:
        raise ValueError(f'rois must be on the device of features ({features.device}), '
                         f'got {rois.device}')
    out_h, out_w = _pair(output_size)
    scale = finite_number(spatial_scale, 'spatial_scale')
    if scale <= 0:
        raise ValueError(f'spatial_scale must be > 0, got {spatial_scale!r}')
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, int) or sampling_ratio < 0:
        raise ValueError(f'sampling_ratio must be an int >= 0, got {sampling_ratio!r}')
    if rois.shape[0]:
        r = rois.detach()
        if not all_finite(r):
            raise ValueError('rois must be finite (no NaN or inf)')
        b = r[:, 0]
        if bool(((b != torch.round(b)) | (b < 0) | (b >= features.shape[0])).any()):
            raise ValueError(f'rois[:, 0] (batch index) must be integers in '
                             f'[0, {features.shape[0]}), got values in '
                             f'[{float(b.min())}, {float(b.max())}]')
        if bool((r[:, 3:5] < 0).any()):
            raise ValueError('rois widths and heights (rois[:, 3:5]) must be >= 0')
    return out_h, out_w, scale, sampling_ratio


def _bilinear_gather(flat: Tensor, batch: Tensor, y: Tensor, x: Tensor, height: int,
                     width: int) -> Tensor:
    """mmcv's bilinear sampling of ``flat`` ((B*H*W, C)) at ``(y, x)`` (any shape S).

    Returns (S..., C); samples outside ``[-1, H] x [-1, W]`` give 0.
    """
    valid = (y >= -1.0) & (y <= height) & (x >= -1.0) & (x <= width)
    y = y.clamp(min=0)
    x = x.clamp(min=0)
    y0 = y.floor().clamp(max=height - 1)
    x0 = x.floor().clamp(max=width - 1)
    y = torch.where(y0 >= height - 1, y0, y)
    x = torch.where(x0 >= width - 1, x0, x)
    y1 = (y0 + 1).clamp(max=height - 1)
    x1 = (x0 + 1).clamp(max=width - 1)
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    base = batch * (height * width)
    y0l, y1l, x0l, x1l = y0.long(), y1.long(), x0.long(), x1.long()
    out = 0
    for yy, xx, wgt in ((y0l, x0l, hy * hx), (y0l, x1l, hy * lx), (y1l, x0l, ly * hx),
                        (y1l, x1l, ly * lx)):
        idx = (base + yy * width + xx).reshape(-1)
        vals = flat.index_select(0, idx).reshape(*y.shape, flat.shape[1])
        out = out + vals * (wgt * valid).unsqueeze(-1)
    return out


def roi_align_rotated_reference(features: Tensor, rois: Tensor,
                                output_size: Union[int, Tuple[int, int]],
                                spatial_scale: float = 1.0, sampling_ratio: int = 0,
                                aligned: bool = True, clockwise: bool = False) -> Tensor:
    """Rotated RoIAlign in pure PyTorch (mmcv semantics, see the module docstring).

    Args:
        features (Tensor): (B, C, H, W) floating point.
        rois (Tensor): (N, 6) ``(batch_idx, cx, cy, w, h, theta)``, theta in radians.
        output_size (int | tuple[int, int]): ``(out_h, out_w)``.
        spatial_scale (float): feature-map size / image size (e.g. 1/8).
        sampling_ratio (int): samples per bin side; 0 = adaptive.
        aligned (bool): half-pixel alignment.
        clockwise (bool): theta turns clockwise on screen (our RotatedBoxes).

    Returns:
        Tensor: (N, C, out_h, out_w), dtype and device of ``features``.
    """
    out_h, out_w, scale, ratio = _check_inputs(features, rois, output_size, spatial_scale,
                                               sampling_ratio)
    n = rois.shape[0]
    bsz, chans, height, width = features.shape
    out = features.new_zeros((n, chans, out_h, out_w))
    if n == 0 or chans == 0 or height == 0 or width == 0:
        return out
    rois = rois.detach()
    offset = 0.5 if aligned else 0.0
    cx = rois[:, 1] * scale - offset
    cy = rois[:, 2] * scale - offset
    rw = rois[:, 3] * scale
    rh = rois[:, 4] * scale
    theta = -rois[:, 5] if clockwise else rois[:, 5]
    if not aligned:
        rw = rw.clamp(min=1.0)
        rh = rh.clamp(min=1.0)
    if ratio > 0:
        grid_h = torch.full((n,), ratio, dtype=torch.long, device=rois.device)
        grid_w = grid_h
    else:
        # a zero-sized side gives a zero grid and an all-zero output, as in mmcv
        # and torchvision (the bin is averaged over max(grid_h * grid_w, 1) samples)
        grid_h = torch.ceil(rh / out_h).long()
        grid_w = torch.ceil(rw / out_w).long()
    flat = features.permute(0, 2, 3, 1).reshape(-1, chans)
    cos, sin = torch.cos(theta), torch.sin(theta)
    grids = torch.stack([grid_h, grid_w], 1)
    for gh, gw in torch.unique(grids, dim=0).tolist():
        if gh * gw == 0:
            continue  # no samples: the rows of out stay 0
        sel = torch.nonzero((grid_h == gh) & (grid_w == gw)).flatten()
        bin_h = (rh[sel] / out_h)[:, None, None, None, None]
        bin_w = (rw[sel] / out_w)[:, None, None, None, None]
        dev, dt = rois.device, rois.dtype
        ph = torch.arange(out_h, device=dev, dtype=dt)[None, :, None, None, None]
        pw = torch.arange(out_w, device=dev, dtype=dt)[None, None, :, None, None]
        iy = torch.arange(gh, device=dev, dtype=dt)[None, None, None, :, None]
        ix = torch.arange(gw, device=dev, dtype=dt)[None, None, None, None, :]
        yy = -rh[sel, None, None, None, None] / 2 + ph * bin_h + (iy + 0.5) * bin_h / gh
        xx = -rw[sel, None, None, None, None] / 2 + pw * bin_w + (ix + 0.5) * bin_w / gw
        c = cos[sel, None, None, None, None]
        s = sin[sel, None, None, None, None]
        x = yy * s + xx * c + cx[sel, None, None, None, None]
        y = yy * c - xx * s + cy[sel, None, None, None, None]
        batch = rois[sel, 0].long()[:, None, None, None, None]
        vals = _bilinear_gather(flat, batch, y, x, height, width)  # (n, oh, ow, gh, gw, C)
        pooled = vals.sum(dim=(3, 4)) / float(max(gh * gw, 1))
        out = out.index_copy(0, sel, pooled.permute(0, 3, 1, 2).to(out.dtype))
    return out
