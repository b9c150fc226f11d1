"""Volume rendering of many small voxel grids along rays (FaVoR landmarks).

Every landmark ``l`` owns an axis-aligned box ``[box_min[l], box_max[l]]``
(world units) and a grid of ``Gx x Gy x Gz`` nodes holding a raw density and a
``C``-dim feature.  Ray ``r`` is rendered through the box of landmark
``ray_ids[r]`` only::

    feat[r]   = sum_i w_i f_i + T_last[r] * bg        (no clamp: the caller clamps)
    T_last[r] = prod_i (1 - alpha_i)
    alpha_i   = 1 - exp(-softplus(sigma_i + density_shift) * step_ratio)
    w_i       = alpha_i * prod_{j<i} (1 - alpha_j)

Conventions (shared by the reference below and the compiled kernels):

* Grid: node ``(i, j, k)`` of ``density[l]`` / ``features[l, :]`` lies at
  ``box_min + (i, j, k) / (G - 1) * (box_max - box_min)`` -- the align-corners
  convention of FaVoR's ``grid_sample(..., align_corners=True)``: the outer nodes
  lie on the box faces.  ``i`` runs along world x, ``j`` along y, ``k`` along z.
  ``sigma_i`` / ``f_i`` are trilinear interpolations of the 8 nodes around the sample.
* Rays: ``rays_d`` need not be unit; it is normalised inside, so distances along
  rays are world units.  The slab test gives ``[t_enter, t_exit]``; sampling
  starts at ``t_near = max(t_enter, 0)`` (a ray starting inside a box starts at
  its origin; FaVoR starts at 0.2 instead, see docs/voxel_render.md).
* Samples: ``t_i = t_near + i * step`` for ``i < N``, with ``step = step_ratio * v``,
  ``v = cbrt(box volume / (Gx Gy Gz))`` (FaVoR's voxel size: box side / 3 for a
  3x3x3 grid in a cube) and ``N = ceil((t_exit - t_near) / step - 1e-6)`` (so a
  path of exactly k steps gives k samples despite the rounding of ``step``); all
  samples are inside the box.  ``N = 0`` when the ray misses: ``feat = bg``,
  ``T_last = 1``, zero gradients.
* ``step_ratio`` is also the alpha interval (voxel units, as in FaVoR/DVGO where
  ``interval = stepsize * voxel_size_ratio = 0.1``): with a constant density
  ``s``, ``T_last = exp(-softplus(s + shift) * N * step_ratio)``, i.e. the
  optical depth is softplus times the path length in voxels.
* ``softplus(x) = x`` for ``x > 20`` and ``log(1 + exp(x))`` otherwise (torch's).
* Geometry (rays, boxes, sample positions, trilinear weights) is computed in
  float64.  Density, alpha and transmittance: float64 in the CPU kernel, the
  grids' dtype in the reference and the CUDA kernel; channel sums in the grids'
  dtype.
* Gradients flow to ``density`` and ``features`` only; rays and boxes are
  constants (the sample positions are not differentiated).

:func:`voxel_render` runs the compiled kernels (``vision_sparse._C``, CPU or CUDA,
hand-written backward) when they are available for the inputs' device, and
:func:`voxel_render_reference` (pure PyTorch, autograd) otherwise.
"""
import math
import numbers
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ...registry import MODELS
from .._ext import use_ext

__all__ = [
    'voxel_render', 'voxel_render_reference', 'VoxelRender', 'VoxelRenderFunction',
    'DEFAULT_DENSITY_SHIFT'
]

#: FaVoR's ``act_shift = log(1 / (1 - alpha_init) - 1)`` with ``alpha_init = 1e-2``
#: (configs/default_base.py): a zero raw density has alpha 0.01 over one voxel.
DEFAULT_DENSITY_SHIFT = math.log(1.0 / (1.0 - 1e-2) - 1.0)

# Tolerance of the sample count, in steps (same constant as voxel_render.h).
_COUNT_TOL = 1e-6
# Corner c = (c >> 2, (c >> 1) & 1, c & 1) of a cell, as in voxel_render.h.
_CORNERS = tuple((c >> 2, (c >> 1) & 1, c & 1) for c in range(8))


# --------------------------------------------------------------------------- checks
def _check_inputs(density, features, box_min, box_max, rays_o, rays_d, ray_ids,
                  step_ratio, density_shift, bg) -> None:
    """ValueError / TypeError naming the argument for anything malformed."""
    named = dict(density=density, features=features, box_min=box_min, box_max=box_max,
                 rays_o=rays_o, rays_d=rays_d, ray_ids=ray_ids)
    for name, t in named.items():
        if not isinstance(t, Tensor):
            raise TypeError(f'{name} must be a torch.Tensor, got {type(t).__name__}')
    if density.dtype not in (torch.float32, torch.float64):
        raise ValueError(f'density must be float32 or float64, got {density.dtype}')
    if features.dtype != density.dtype:
        raise ValueError(f'features must have the dtype of density ({density.dtype}), '
                         f'got {features.dtype}')
    if density.dim() != 4 or min(density.shape[1:], default=0) < 2:
        raise ValueError('density must have shape (L, Gx, Gy, Gz) with every G >= 2, got '
                         f'{tuple(density.shape)}')
    L, gx, gy, gz = density.shape
    if features.dim() != 5 or features.shape[0] != L or tuple(features.shape[2:]) != (gx, gy, gz):
        raise ValueError(f'features must have shape (L, C, Gx, Gy, Gz) = ({L}, C, {gx}, {gy}, '
                         f'{gz}) to match density, got {tuple(features.shape)}')
    for name in ('box_min', 'box_max'):
        t = named[name]
        if t.dim() != 2 or tuple(t.shape) != (L, 3):
            raise ValueError(f'{name} must have shape (L, 3) = ({L}, 3), got {tuple(t.shape)}')
    if rays_o.dim() != 2 or rays_o.shape[-1] != 3:
        raise ValueError(f'rays_o must have shape (R, 3), got {tuple(rays_o.shape)}')
    R = rays_o.shape[0]
    if tuple(rays_d.shape) != (R, 3):
        raise ValueError(f'rays_d must have shape (R, 3) = ({R}, 3), got {tuple(rays_d.shape)}')
    if tuple(ray_ids.shape) != (R,):
        raise ValueError(f'ray_ids must have shape (R,) = ({R},), got {tuple(ray_ids.shape)}')
    for name in ('box_min', 'box_max', 'rays_o', 'rays_d'):
        if not named[name].is_floating_point():
            raise ValueError(f'{name} must be a floating-point tensor, got {named[name].dtype}')
    if ray_ids.dtype not in (torch.int64, torch.int32):
        raise ValueError(f'ray_ids must be int64 (or int32), got {ray_ids.dtype}')
    for name, t in named.items():
        if t.device != density.device:
            raise ValueError(f'{name} is on {t.device} but density is on {density.device}: '
                             'all inputs must be on one device')
    for name, v in (('step_ratio', step_ratio), ('density_shift', density_shift), ('bg', bg)):
        if not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f'{name} must be a finite number, got {v!r}')
    if step_ratio <= 0:
        raise ValueError(f'step_ratio must be > 0 (a fraction of the voxel size), got {step_ratio}')
    if L > 0:
        if not bool(torch.isfinite(box_min).all() and torch.isfinite(box_max).all()):
            raise ValueError('box_min and box_max must be finite')
        if not bool((box_max > box_min).all()):
            raise ValueError('every box must have box_max > box_min on all 3 axes')
    if R > 0:
        if L == 0:
            raise ValueError(f'ray_ids index landmarks but there are none (L = 0, R = {R})')
        lo, hi = int(ray_ids.min()), int(ray_ids.max())
        if lo < 0 or hi >= L:
            raise ValueError(f'ray_ids must lie in [0, L) = [0, {L}), got values in [{lo}, {hi}]')
        if not bool(torch.isfinite(rays_o).all() and torch.isfinite(rays_d).all()):
            raise ValueError('rays_o and rays_d must be finite')
        if not bool((rays_d.double().norm(dim=-1) > 0).all()):
            raise ValueError('every rays_d must have a non-zero length')


def _geometry64(box_min, box_max, rays_o, rays_d, ray_ids):
    return (box_min.detach().double().contiguous(), box_max.detach().double().contiguous(),
            rays_o.detach().double().contiguous(), rays_d.detach().double().contiguous(),
            ray_ids.long().contiguous())


# ------------------------------------------------------------------------ reference
@torch.no_grad()
def _ray_setup(grid_size, box_min, box_max, rays_o, rays_d, ray_ids, step_ratio):
    """Slab test and sample count per ray, float64 (mirrors ``make_ray`` in voxel_render.h).

    Returns:
        dict: ``q0`` (R, 3) grid coordinates of the first sample, ``dq`` (R, 3)
        grid coordinates between samples, ``t_near`` (R,) world units along the
        unit direction, ``step`` (R,) world units, ``n`` (R,) int64 sample
        counts (0: the ray misses its box).
    """
    lo, hi = box_min[ray_ids], box_max[ray_ids]
    size = hi - lo
    g = torch.tensor(grid_size, dtype=torch.float64, device=lo.device)
    o = rays_o
    u = rays_d / torch.sqrt((rays_d * rays_d).sum(-1, keepdim=True))
    par = u == 0
    safe_u = torch.where(par, torch.ones_like(u), u)
    a = (lo - o) / safe_u
    b = (hi - o) / safe_u
    inf = torch.full_like(a, math.inf)
    t_enter = torch.where(par, -inf, torch.minimum(a, b)).amax(-1)
    t_exit = torch.where(par, inf, torch.maximum(a, b)).amin(-1)
    inside_par = (~par | ((o >= lo) & (o <= hi))).all(-1)
    t_near = t_enter.clamp(min=0.0)
    step = step_ratio * torch.pow(size.prod(-1) / g.prod(), 1.0 / 3.0)
    hit = inside_par & (t_exit > t_near)
    cnt = torch.ceil((t_exit - t_near) / step - _COUNT_TOL).clamp(min=0)
    n = torch.where(hit, cnt, torch.zeros_like(cnt)).long()
    t_near = torch.where(n > 0, t_near, torch.zeros_like(t_near))
    scale = (g - 1) / size
    q0 = (o + u * t_near[:, None] - lo) * scale
    dq = u * step[:, None] * scale
    return dict(q0=q0, dq=dq, t_near=t_near, step=step, n=n)


def voxel_render_reference(density: Tensor, features: Tensor, box_min: Tensor,
                           box_max: Tensor, rays_o: Tensor, rays_d: Tensor, ray_ids: Tensor,
                           step_ratio: float = 0.1,
                           density_shift: float = DEFAULT_DENSITY_SHIFT,
                           bg: float = 1.0) -> Tuple[Tensor, Tensor]:
    """Pure-PyTorch, autograd-differentiable :func:`voxel_render` (same arguments).

    Vectorised over rays: the samples of every ray are padded to the largest
    count and masked.  Memory is O(R * N_max * 8) for the density part; the
    features are reduced with ``embedding_bag`` over, per ray, either the 8
    corners of every sample or the dense per-node weights ``sum_i w_i tri_i``
    (whichever is smaller), so no (R, N_max, C) tensor is built.
    """
    _check_inputs(density, features, box_min, box_max, rays_o, rays_d, ray_ids,
                  step_ratio, density_shift, bg)
    return _reference(density, features, box_min, box_max, rays_o, rays_d, ray_ids,
                      step_ratio, density_shift, bg)


def _reference(density, features, box_min, box_max, rays_o, rays_d, ray_ids, step_ratio,
               density_shift, bg):
    """:func:`voxel_render_reference` on checked inputs."""
    L, C = features.shape[:2]
    gx, gy, gz = density.shape[1:]
    gn = gx * gy * gz
    R = rays_o.shape[0]
    dtype, device = density.dtype, density.device
    if R == 0:
        # connected to the inputs so that a loss on the empty output still backpropagates
        zero = density.sum() * 0 + features.sum() * 0
        return density.new_zeros((0, C)) + zero, density.new_ones((0,)) + zero
    box_min, box_max, rays_o, rays_d, ray_ids = _geometry64(box_min, box_max, rays_o, rays_d,
                                                            ray_ids)
    with torch.no_grad():
        rs = _ray_setup((gx, gy, gz), box_min, box_max, rays_o, rays_d, ray_ids, step_ratio)
        n_max = max(int(rs['n'].max()), 1)  # >= 1 keeps all-miss batches in the graph
        steps = torch.arange(n_max, dtype=torch.float64, device=device)
        mask = steps[None, :] < rs['n'][:, None]                                 # (R, N)
        # grid coordinates of the samples (node n of an axis at coordinate n)
        q = rs['q0'][:, None, :] + steps[None, :, None] * rs['dq'][:, None, :]   # (R, N, 3)
        gmax = torch.tensor([gx - 1, gy - 1, gz - 1], dtype=torch.float64, device=device)
        q = torch.minimum(q.clamp(min=0.0), gmax)
        q = torch.where(mask[..., None], q, torch.zeros_like(q))  # padded samples: node 0
        cell = torch.minimum(q.floor(), gmax - 1)
        frac = q - cell
        cell = cell.long()
        base = (cell[..., 0] * gy + cell[..., 1]) * gz + cell[..., 2]            # (R, N)
        off = torch.tensor([(a * gy + b) * gz + c for a, b, c in _CORNERS], device=device)
        node = base[..., None] + off                                             # (R, N, 8)
        # trilinear weights of the corners c = (a, b, c): fx[a] * fy[b] * fz[c]
        fx, fy, fz = (torch.stack([1.0 - frac[..., k], frac[..., k]], -1) for k in range(3))
        tri = (fx[..., :, None, None] * fy[..., None, :, None] * fz[..., None, None, :])
        tri = tri.reshape(R, n_max, 8).to(dtype)                                 # (R, N, 8)
        maskf = mask.to(dtype)
        flat_node = node + (ray_ids * gn)[:, None, None]  # index into the (L * G^3) nodes
    sigma = (density.reshape(-1)[flat_node] * tri).sum(-1)                   # (R, N)
    s = F.softplus(sigma + density_shift) * maskf
    # T_i = prod_{j<i} (1 - alpha_j) = exp(-interval * sum_{j<i} s_j)
    s_cum = torch.cumsum(s, dim=1)
    s_excl = torch.cat([s.new_zeros((R, 1)), s_cum[:, :-1]], dim=1)
    trans = torch.exp(-step_ratio * s_excl)
    w = trans * -torch.expm1(-step_ratio * s)                                 # (R, N)
    t_last = torch.exp(-step_ratio * s_cum[:, -1])
    table = features.reshape(L, C, gn).transpose(1, 2).reshape(L * gn, C)
    corner_w = w[..., None] * tri                                              # (R, N, 8)
    if n_max * 8 <= gn:
        bags = flat_node.reshape(R, -1)
        bag_w = corner_w.reshape(R, -1)
    else:  # dense per-node weights, sum_i w_i tri_i
        bag_w = corner_w.new_zeros((R, gn)).scatter_add(1, node.reshape(R, -1),
                                                        corner_w.reshape(R, -1))
        bags = (ray_ids * gn)[:, None] + torch.arange(gn, device=device)
    feat = F.embedding_bag(bags, table, per_sample_weights=bag_w, mode='sum')
    feat = feat + t_last[:, None] * bg
    return feat, t_last


# ------------------------------------------------------------------------- compiled
class VoxelRenderFunction(torch.autograd.Function):
    """Compiled forward and hand-written backward (CPU or CUDA kernels).

    Takes the geometry already in float64 and ``ray_ids`` in int64; use
    :func:`voxel_render`, which checks and converts.  Saves the inputs and the
    two outputs; the backward recomputes the per-sample values.
    """

    @staticmethod
    def forward(ctx, density: Tensor, features: Tensor, box_min: Tensor, box_max: Tensor,
                rays_o: Tensor, rays_d: Tensor, ray_ids: Tensor, step_ratio: float,
                density_shift: float, bg: float) -> Tuple[Tensor, Tensor]:
        feat, t_last = torch.ops.vision_sparse.voxel_render_forward(
            density, features, box_min, box_max, rays_o, rays_d, ray_ids,
            float(step_ratio), float(density_shift), float(bg))
        ctx.save_for_backward(density, features, box_min, box_max, rays_o, rays_d, ray_ids,
                              feat, t_last)
        ctx.params = (float(step_ratio), float(density_shift), float(bg))
        return feat, t_last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_feat: Optional[Tensor], grad_t_last: Optional[Tensor]):
        density, features, box_min, box_max, rays_o, rays_d, ray_ids, feat, t_last = \
            ctx.saved_tensors
        if grad_feat is None:
            grad_feat = torch.zeros_like(feat)
        if grad_t_last is None:
            grad_t_last = torch.zeros_like(t_last)
        grad_density, grad_features = torch.ops.vision_sparse.voxel_render_backward(
            grad_feat.contiguous(), grad_t_last.contiguous(), feat, t_last, density, features,
            box_min, box_max, rays_o, rays_d, ray_ids, *ctx.params)
        return (grad_density if ctx.needs_input_grad[0] else None,
                grad_features if ctx.needs_input_grad[1] else None,
                None, None, None, None, None, None, None, None)


def voxel_render(density: Tensor, features: Tensor, box_min: Tensor, box_max: Tensor,
                 rays_o: Tensor, rays_d: Tensor, ray_ids: Tensor, step_ratio: float = 0.1,
                 density_shift: float = DEFAULT_DENSITY_SHIFT,
                 bg: float = 1.0) -> Tuple[Tensor, Tensor]:
    """Render one feature per ray through the voxel grid of its landmark.

    Args:
        density (Tensor): (L, Gx, Gy, Gz) raw densities (before the shifted
            softplus), float32 or float64; every G >= 2 (FaVoR: 3).
        features (Tensor): (L, C, Gx, Gy, Gz) feature grids, dtype of ``density``.
        box_min (Tensor): (L, 3) lower corner of each landmark's box, world units.
        box_max (Tensor): (L, 3) upper corner, ``box_max > box_min`` on every axis.
        rays_o (Tensor): (R, 3) ray origins, world units.
        rays_d (Tensor): (R, 3) ray directions, any non-zero length (normalised inside).
        ray_ids (Tensor): (R,) int64 (or int32) landmark of each ray, in [0, L).
        step_ratio (float): sample step as a fraction of the voxel size
            ``cbrt(box volume / (Gx Gy Gz))``; also the alpha interval (voxel units).
        density_shift (float): added to the raw density before softplus
            (default: FaVoR's, alpha_init = 0.01).
        bg (float): background value, added with the last transmittance.

    Returns:
        tuple[Tensor, Tensor]: ``feat`` (R, C) = sum_i w_i f_i + T_last * bg (not
        clamped) and ``T_last`` (R,) in (0, 1], dtype of ``density``.  Rays that
        miss their box give ``feat = bg``, ``T_last = 1``.  Differentiable with
        respect to ``density`` and ``features`` (not rays or boxes).

    Raises:
        ValueError: a shape, dtype, device or value outside the ranges above.
    """
    _check_inputs(density, features, box_min, box_max, rays_o, rays_d, ray_ids,
                  step_ratio, density_shift, bg)
    if not use_ext(density):
        return _reference(density, features, box_min, box_max, rays_o, rays_d, ray_ids,
                          step_ratio, density_shift, bg)
    geo = _geometry64(box_min, box_max, rays_o, rays_d, ray_ids)
    args = (float(step_ratio), float(density_shift), float(bg))
    if torch.is_grad_enabled() and (density.requires_grad or features.requires_grad):
        return VoxelRenderFunction.apply(density, features, *geo, *args)
    return torch.ops.vision_sparse.voxel_render_forward(density, features, *geo, *args)


# --------------------------------------------------------------------------- module
@MODELS.register_module()
class VoxelRender(nn.Module):
    """:func:`voxel_render` as a module with a ``default_conf`` (dict in, dict out).

    Args:
        **conf: overrides of :attr:`default_conf`: ``step_ratio``,
            ``density_shift``, ``bg`` (see :func:`voxel_render`) and ``clamp``
            (``None`` or ``(lo, hi)``: clamp of the rendered feature, FaVoR
            uses ``(-1, 1)``; applied to ``'feat'`` only).
    """

    default_conf = dict(step_ratio=0.1, density_shift=DEFAULT_DENSITY_SHIFT, bg=1.0,
                        clamp=None)

    def __init__(self, **conf) -> None:
        super().__init__()
        unknown = set(conf) - set(self.default_conf)
        if unknown:
            raise ValueError(f'unknown VoxelRender options {sorted(unknown)}; '
                             f'expected a subset of {sorted(self.default_conf)}')
        self.conf = {**self.default_conf, **conf}
        clamp = self.conf['clamp']
        if clamp is not None and (len(clamp) != 2 or not clamp[0] < clamp[1]):
            raise ValueError(f'clamp must be None or (lo, hi) with lo < hi, got {clamp!r}')

    def forward(self, data: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Render the rays of ``data``.

        Args:
            data (dict): ``'density'`` (L, Gx, Gy, Gz), ``'features'``
                (L, C, Gx, Gy, Gz), ``'box_min'`` (L, 3), ``'box_max'`` (L, 3)
                world units, ``'rays_o'`` (R, 3), ``'rays_d'`` (R, 3) world frame,
                ``'ray_ids'`` (R,) int64 in [0, L).

        Returns:
            dict: ``'feat'`` (R, C) rendered feature (clamped if ``clamp``),
            ``'T_last'`` (R,) transmittance left after the box (1 for a miss).
        """
        missing = [k for k in ('density', 'features', 'box_min', 'box_max', 'rays_o', 'rays_d',
                               'ray_ids') if k not in data]
        if missing:
            raise ValueError(f'VoxelRender input is missing keys {missing}')
        c = self.conf
        feat, t_last = voxel_render(data['density'], data['features'], data['box_min'],
                                    data['box_max'], data['rays_o'], data['rays_d'],
                                    data['ray_ids'], c['step_ratio'], c['density_shift'], c['bg'])
        if c['clamp'] is not None:
            feat = feat.clamp(min=c['clamp'][0], max=c['clamp'][1])
        return {'feat': feat, 'T_last': t_last}

    def extra_repr(self) -> str:
        return ', '.join(f'{k}={v}' for k, v in self.conf.items())
