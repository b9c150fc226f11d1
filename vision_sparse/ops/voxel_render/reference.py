"""Pure-PyTorch, autograd-differentiable reference of the voxel rendering op, and the
input contract (checks, float64 geometry) that the compiled path shares.

Conventions: see :mod:`vision_sparse.ops.voxel_render`.
"""
import math
import numbers
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import all_finite

__all__ = ['voxel_render_reference', 'DEFAULT_DENSITY_SHIFT', 'MAX_SAMPLES_PER_RAY']

#: FaVoR's ``act_shift = log(1 / (1 - alpha_init) - 1)`` with ``alpha_init = 1e-2``
#: (configs/default_base.py): a zero raw density has alpha 0.01 over one voxel.
DEFAULT_DENSITY_SHIFT = math.log(1.0 / (1.0 - 1e-2) - 1.0)

#: Largest number of samples a ray may take through its box.  The bound is checked
#: on the boxes before any allocation or kernel launch (every path): the box
#: diagonal divided by the step, ``|box_max - box_min| / (step_ratio * v)``, must
#: not exceed it.  FaVoR's setting (3x3x3 grids in cubes, ``step_ratio = 0.1``)
#: takes at most 52 samples; the bound admits a 64^3 grid at 0.05 (2,217).
MAX_SAMPLES_PER_RAY = 4096

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
        for name in ('box_min', 'box_max'):
            if not all_finite(named[name]):
                raise ValueError(f'{name} must be finite (no NaN or inf)')
        if not bool((box_max > box_min).all()):
            raise ValueError('every box must have box_max > box_min on all 3 axes')
        _check_samples_per_ray((gx, gy, gz), box_min, box_max, step_ratio)
    # NaN / inf in the grids would give NaN features (and the paths would disagree
    # on which rays): refused
    for name in ('density', 'features'):
        if not all_finite(named[name]):
            raise ValueError(f'{name} must be finite (no NaN or inf)')
    if R > 0:
        if L == 0:
            raise ValueError(f'ray_ids index landmarks but there are none (L = 0, R = {R})')
        lo, hi = int(ray_ids.min()), int(ray_ids.max())
        if lo < 0 or hi >= L:
            raise ValueError(f'ray_ids must lie in [0, L) = [0, {L}), got values in [{lo}, {hi}]')
        for name in ('rays_o', 'rays_d'):
            if not all_finite(named[name]):
                raise ValueError(f'{name} must be finite (no NaN or inf)')
        # |d|^2 in float64, as the paths normalise: 0 (underflow) or inf (overflow,
        # |d| > ~1e154) would turn the ray into a silent miss
        d64 = rays_d.detach().double()
        sq = (d64 * d64).sum(-1)
        if not bool(((sq > 0) & (sq < math.inf)).all()):
            raise ValueError('every rays_d must have a non-zero length whose square is finite '
                             'in float64 (|d| between ~1e-154 and ~1e154)')


def _check_samples_per_ray(grid_size, box_min: Tensor, box_max: Tensor,
                           step_ratio: float) -> None:
    """ValueError when a ray could take more than MAX_SAMPLES_PER_RAY samples in a box
    (its diagonal over the step; L values, float64, as the step of ``_ray_setup``)."""
    size = box_max.detach().double() - box_min.detach().double()
    g = float(grid_size[0] * grid_size[1] * grid_size[2])
    step = step_ratio * torch.pow(size.prod(-1) / g, 1.0 / 3.0)
    worst = size.norm(dim=-1) / step  # NaN / inf (overflow, underflow) fail below
    if not bool((worst <= MAX_SAMPLES_PER_RAY).all()):
        bad = worst.nan_to_num(math.inf).argmax()
        raise ValueError(
            f'step_ratio={step_ratio!r} is too small for box {int(bad)} '
            f'(box_min {box_min[bad].tolist()}, box_max {box_max[bad].tolist()}, grid '
            f'{tuple(grid_size)}): a ray along its diagonal would take {float(worst[bad]):.4g} '
            f'samples, more than MAX_SAMPLES_PER_RAY = {MAX_SAMPLES_PER_RAY}; raise step_ratio '
            'or use boxes closer to cubes')


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
    """Pure-PyTorch, autograd-differentiable :func:`~vision_sparse.ops.voxel_render`
    (same arguments and result).

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
