"""The voxel rendering op: compiled forward / backward (autograd Function), the
dispatching function and the module."""
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from ...registry import MODELS
from ...utils.config import merge_conf
from .._ext import use_ext
from .reference import DEFAULT_DENSITY_SHIFT, _check_inputs, _geometry64, _reference

__all__ = ['voxel_render', 'VoxelRender', 'VoxelRenderFunction']


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
            softplus), float32 or float64, finite; every G >= 2 (FaVoR: 3).
        features (Tensor): (L, C, Gx, Gy, Gz) finite feature grids, dtype of
            ``density``.
        box_min (Tensor): (L, 3) lower corner of each landmark's box, world units.
        box_max (Tensor): (L, 3) upper corner, ``box_max > box_min`` on every axis.
        rays_o (Tensor): (R, 3) ray origins, world units.
        rays_d (Tensor): (R, 3) ray directions, normalised inside: any
            length whose square is a positive finite float64 (~1e-154 to ~1e154).
        ray_ids (Tensor): (R,) int64 (or int32) landmark of each ray, in [0, L).
        step_ratio (float): sample step as a fraction of the voxel size
            ``cbrt(box volume / (Gx Gy Gz))``; also the alpha interval (voxel
            units).  At most :data:`MAX_SAMPLES_PER_RAY` steps may fit along any
            box diagonal.
        density_shift (float): added to the raw density before softplus
            (default: FaVoR's, alpha_init = 0.01).
        bg (float): background value, added with the last transmittance.

    Returns:
        tuple[Tensor, Tensor]: ``feat`` (R, C) = sum_i w_i f_i + T_last * bg (not
        clamped) and ``T_last`` (R,) in (0, 1], dtype of ``density``.  Rays that
        miss their box give ``feat = bg``, ``T_last = 1``.  Differentiable with
        respect to ``density`` and ``features`` (not rays or boxes).

    Raises:
        ValueError: a shape, dtype, device or value outside the ranges above; NaN
            or inf in any tensor; a ``step_ratio`` that lets a ray take more
            than :data:`MAX_SAMPLES_PER_RAY` samples in some box (the box
            diagonal over the step), checked before any allocation.
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
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
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
