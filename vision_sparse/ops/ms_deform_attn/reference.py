"""Pure-PyTorch reference of multi-scale deformable attention sampling, and the
input contract that the compiled path shares.

Layout (mmcv's ``MultiScaleDeformableAttnFunction``):

* ``value`` (bs, num_keys, num_heads, head_dim): the ``L`` feature maps of every
  head flattened row-major and concatenated, level ``l`` occupying keys
  ``level_start_index[l] .. + H_l * W_l``;
* ``spatial_shapes`` (L, 2) integer ``(H_l, W_l)``; ``level_start_index`` (L,)
  its exclusive cumulative sum of ``H_l * W_l`` (``sum H_l W_l == num_keys``);
* ``sampling_locations`` (bs, num_queries, num_heads, L, P, 2): ``(x, y)``
  normalised to the level, ``(0, 0)`` the top-left corner of the top-left pixel
  and ``(1, 1)`` the bottom-right corner of the bottom-right pixel;
* ``attention_weights`` (bs, num_queries, num_heads, L, P).

Output ``(bs, num_queries, num_heads * head_dim)``::

    out[b, q, h*D:(h+1)*D] = sum_{l, p} a[b, q, h, l, p] * bilinear(V_l[b, :, :, h], x, y)

with the pixel position ``x = loc_x * W_l - 0.5``, ``y = loc_y * H_l - 0.5`` (the
``align_corners=False`` convention: pixel centres at integer + 0.5 in normalised
units) and zero padding: each of the 4 bilinear corners outside the map
contributes 0 (exactly ``F.grid_sample(..., mode='bilinear', padding_mode='zeros',
align_corners=False)`` on ``2 * loc - 1``, which is what mmcv's
``multi_scale_deformable_attn_pytorch`` computes).

Non-finite locations (NaN / inf) contribute 0 and get zero gradients (as in
mmcv's CUDA kernel, whose range test is false for NaN); they are not an error, so
that no device synchronisation is needed to look for them.  NaN in ``value`` or
``attention_weights`` propagates as usual.  A level with ``H_l * W_l == 0``
contributes 0.

The op is differentiable w.r.t. ``value``, ``sampling_locations`` and
``attention_weights``; the reference through ordinary autograd (the location
gradient is grid_sample's: piecewise, with the corners chosen by ``floor``).
"""
from typing import List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['ms_deform_attn_reference', 'check_ms_deform_attn_inputs']


def _check_index(t, name: str, shape: Tuple[int, ...], device: torch.device) -> None:
    if not isinstance(t, Tensor):
        raise ValueError(f'{name} must be a tensor, got {type(t).__name__}')
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise ValueError(f'{name} must be an integer tensor (int64), got {t.dtype}')
    if tuple(t.shape) != shape:
        raise ValueError(f'{name} must have shape {shape}, got {tuple(t.shape)}')
    if t.device != device:
        raise ValueError(f'{name} must be on the device of value ({device}), got {t.device}')


def check_ms_deform_attn_inputs(value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                                sampling_locations: Tensor,
                                attention_weights: Tensor) -> List[Tuple[int, int]]:
    """Validate the inputs of both paths; return the level sizes ``[(H_l, W_l), ...]``.

    Raises:
        ValueError: ``value`` not a floating-point (bs, num_keys, num_heads,
            head_dim) tensor; ``sampling_locations`` not (bs, num_queries,
            num_heads, L, P, 2) or ``attention_weights`` not (bs, num_queries,
            num_heads, L, P), either not of the dtype and device of ``value``;
            ``spatial_shapes`` not an integer (L, 2) tensor of sizes >= 0 or
            ``level_start_index`` not an integer (L,) tensor, on the device of
            ``value``; ``sum H_l W_l != num_keys``; ``level_start_index`` not the
            exclusive cumulative sum of ``H_l W_l``.
    """
    if not isinstance(value, Tensor) or value.dim() != 4 or not value.is_floating_point():
        raise ValueError('value must be a floating-point (bs, num_keys, num_heads, head_dim) '
                         f'tensor, got {getattr(value, "dtype", type(value).__name__)} '
                         f'{tuple(getattr(value, "shape", ()))}')
    bs, num_keys, num_heads, _ = value.shape
    loc, attn = sampling_locations, attention_weights
    if not isinstance(loc, Tensor) or loc.dim() != 6 or loc.shape[-1] != 2:
        raise ValueError('sampling_locations must have shape (bs, num_queries, num_heads, '
                         f'num_levels, num_points, 2), got {tuple(getattr(loc, "shape", ()))}')
    if loc.shape[0] != bs or loc.shape[2] != num_heads:
        raise ValueError(f'sampling_locations must have the bs ({bs}) and num_heads '
                         f'({num_heads}) of value, got {tuple(loc.shape)}')
    if not isinstance(attn, Tensor) or tuple(attn.shape) != tuple(loc.shape[:-1]):
        raise ValueError(f'attention_weights must have shape {tuple(loc.shape[:-1])} '
                         '(bs, num_queries, num_heads, num_levels, num_points), got '
                         f'{tuple(getattr(attn, "shape", ()))}')
    for name, t in (('sampling_locations', loc), ('attention_weights', attn)):
        if t.dtype != value.dtype:
            raise ValueError(f'{name} must have the dtype of value ({value.dtype}), got {t.dtype}')
        if t.device != value.device:
            raise ValueError(f'{name} must be on the device of value ({value.device}), '
                             f'got {t.device}')
    num_levels = loc.shape[3]
    _check_index(spatial_shapes, 'spatial_shapes', (num_levels, 2), value.device)
    _check_index(level_start_index, 'level_start_index', (num_levels,), value.device)
    sizes = [(int(h), int(w)) for h, w in spatial_shapes.tolist()]
    if any(h < 0 or w < 0 for h, w in sizes):
        raise ValueError(f'spatial_shapes must be >= 0, got {sizes}')
    starts, total = [], 0
    for h, w in sizes:
        starts.append(total)
        total += h * w
    if total != num_keys:
        raise ValueError(f'spatial_shapes (H, W) = {sizes} give sum H * W = {total} keys, '
                         f'but value has num_keys = {num_keys}')
    if level_start_index.tolist() != starts:
        raise ValueError(f'level_start_index must be {starts} (the exclusive cumulative sum '
                         f'of H * W), got {level_start_index.tolist()}')
    return sizes


def ms_deform_attn_reference(value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                             sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
    """Multi-scale deformable attention sampling with ``F.grid_sample`` (see the
    module docstring for the semantics).

    Args:
        value (Tensor): (bs, num_keys, num_heads, head_dim) floating point.
        spatial_shapes (Tensor): (L, 2) int64 ``(H, W)`` per level.
        level_start_index (Tensor): (L,) int64, first key of every level.
        sampling_locations (Tensor): (bs, num_queries, num_heads, L, P, 2)
            normalised ``(x, y)``; dtype and device of ``value``.
        attention_weights (Tensor): (bs, num_queries, num_heads, L, P).

    Returns:
        Tensor: (bs, num_queries, num_heads * head_dim), differentiable w.r.t.
        value, sampling_locations and attention_weights.
    """
    sizes = check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index,
                                        sampling_locations, attention_weights)
    bs, _, num_heads, head_dim = value.shape
    num_queries, num_points = sampling_locations.shape[1], sampling_locations.shape[4]
    out = value.new_zeros((bs, num_heads, head_dim, num_queries))
    if out.numel() == 0 or num_points == 0:
        return out.permute(0, 3, 1, 2).reshape(bs, num_queries, num_heads * head_dim)
    # non-finite locations -> far outside every map (zero value, zero gradient)
    finite = torch.isfinite(sampling_locations).all(-1, keepdim=True)
    loc = torch.where(finite, sampling_locations, torch.full_like(sampling_locations, -4.0))
    grid = (2 * loc - 1).permute(0, 2, 1, 3, 4, 5)  # (bs, nh, nq, L, P, 2)
    attn = attention_weights.permute(0, 2, 1, 3, 4)  # (bs, nh, nq, L, P)
    start = 0
    for lvl, (height, width) in enumerate(sizes):
        keys = height * width
        if keys == 0:
            continue
        v = value[:, start:start + keys]  # (bs, HW, nh, D)
        start += keys
        v = v.permute(0, 2, 3, 1).reshape(bs * num_heads, head_dim, height, width)
        g = grid[:, :, :, lvl].reshape(bs * num_heads, num_queries, num_points, 2)
        sampled = F.grid_sample(v, g, mode='bilinear', padding_mode='zeros',
                                align_corners=False)  # (bs nh, D, nq, P)
        sampled = sampled.reshape(bs, num_heads, head_dim, num_queries, num_points)
        out = out + torch.einsum('bhdqp,bhqp->bhdq', sampled, attn[:, :, :, lvl])
    return out.permute(0, 3, 1, 2).reshape(bs, num_queries, num_heads * head_dim)
