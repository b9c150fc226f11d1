"""Multi-scale deformable attention sampling: the public function, its autograd
Function and a module form.

Runs the compiled kernel when it is built for the inputs' device, otherwise
:func:`~.reference.ms_deform_attn_reference` (see there for the semantics).
"""
from typing import Tuple

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from vision_sparse.registry import MODELS
from .._ext import use_ext
from .reference import check_ms_deform_attn_inputs, ms_deform_attn_reference

__all__ = ['ms_deform_attn', 'ms_deform_attn_grads', 'MSDeformAttnFunction', 'MSDeformAttnSampler']

#: dtypes the kernels compute in; others (float16, bfloat16) go through float32.
_KERNEL_DTYPES = (torch.float32, torch.float64)


class MSDeformAttnFunction(torch.autograd.Function):
    """Compiled forward and backward (CPU or CUDA kernels) w.r.t. value,
    sampling_locations and attention_weights.

    Takes checked float32 / float64 inputs with int64 ``spatial_shapes`` /
    ``level_start_index``; use :func:`ms_deform_attn`, which checks and converts.
    """

    @staticmethod
    def forward(ctx, value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
        ctx.save_for_backward(value, spatial_shapes, level_start_index, sampling_locations,
                              attention_weights)
        return torch.ops.vision_sparse.ms_deform_attn_forward(
            value, spatial_shapes, level_start_index, sampling_locations, attention_weights)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        value, shapes, starts, loc, attn = ctx.saved_tensors
        grad_value, grad_loc, grad_attn = torch.ops.vision_sparse.ms_deform_attn_backward(
            grad_out.contiguous(), value, shapes, starts, loc, attn)
        need = ctx.needs_input_grad
        return (grad_value if need[0] else None, None, None, grad_loc if need[3] else None,
                grad_attn if need[4] else None)


def _as_index(t: Tensor) -> Tensor:
    return t if t.dtype == torch.int64 else t.long()


def ms_deform_attn(value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                   sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
    """Multi-scale deformable attention sampling (mmcv's
    ``MultiScaleDeformableAttnFunction`` layout and semantics).

    Args:
        value (Tensor): (bs, num_keys, num_heads, head_dim) floating point.
        spatial_shapes (Tensor): (L, 2) integer ``(H, W)`` per level, on the
            device of ``value``; ``sum H * W == num_keys``.
        level_start_index (Tensor): (L,) integer, the exclusive cumulative sum
            of ``H * W``.
        sampling_locations (Tensor): (bs, num_queries, num_heads, L, P, 2)
            normalised ``(x, y)`` (0..1 across the level; outside: zero padding;
            NaN / inf: contributes 0); dtype and device of ``value``.
        attention_weights (Tensor): (bs, num_queries, num_heads, L, P).

    Returns:
        Tensor: (bs, num_queries, num_heads * head_dim), dtype of ``value``
        (float16 / bfloat16 are computed in float32). Differentiable w.r.t.
        value, sampling_locations and attention_weights.

    Raises:
        ValueError: see :func:`~.reference.check_ms_deform_attn_inputs`.
    """
    check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index, sampling_locations,
                                attention_weights)
    if value.dtype not in _KERNEL_DTYPES:  # float16 / bfloat16: computed in float32
        return ms_deform_attn(value.float(), spatial_shapes, level_start_index,
                              sampling_locations.float(),
                              attention_weights.float()).to(value.dtype)
    if not use_ext(value):
        return ms_deform_attn_reference(value, spatial_shapes, level_start_index,
                                        sampling_locations, attention_weights)
    args = (value, _as_index(spatial_shapes), _as_index(level_start_index), sampling_locations,
            attention_weights)
    if torch.is_grad_enabled() and any(t.requires_grad for t in
                                       (value, sampling_locations, attention_weights)):
        return MSDeformAttnFunction.apply(*args)
    return torch.ops.vision_sparse.ms_deform_attn_forward(*args)


def ms_deform_attn_grads(grad_out: Tensor, value: Tensor, spatial_shapes: Tensor,
                         level_start_index: Tensor, sampling_locations: Tensor,
                         attention_weights: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The gradients of :func:`ms_deform_attn` on their own (mmcv's
    ``ms_deform_attn_backward``).

    Args:
        grad_out (Tensor): (bs, num_queries, num_heads * head_dim), dtype and
            device of ``value``.
        value, spatial_shapes, level_start_index, sampling_locations,
        attention_weights: as :func:`ms_deform_attn`.

    Returns:
        tuple[Tensor, Tensor, Tensor]: the gradients w.r.t. value,
        sampling_locations and attention_weights (their shapes and dtype).

    Raises:
        ValueError: bad inputs (as :func:`ms_deform_attn`), or ``grad_out`` not of
            the output's shape, dtype and device.
    """
    check_ms_deform_attn_inputs(value, spatial_shapes, level_start_index, sampling_locations,
                                attention_weights)
    bs, _, num_heads, head_dim = value.shape
    shape = (bs, sampling_locations.shape[1], num_heads * head_dim)
    if (not isinstance(grad_out, Tensor) or tuple(grad_out.shape) != shape
            or grad_out.dtype != value.dtype or grad_out.device != value.device):
        raise ValueError(f'grad_out must be a {value.dtype} tensor of shape {shape} on '
                         f'{value.device}, got {getattr(grad_out, "dtype", None)} '
                         f'{tuple(getattr(grad_out, "shape", ()))}')
    if value.dtype in _KERNEL_DTYPES and use_ext(value):
        return torch.ops.vision_sparse.ms_deform_attn_backward(
            grad_out, value.detach(), _as_index(spatial_shapes), _as_index(level_start_index),
            sampling_locations.detach(), attention_weights.detach())
    inputs = [t.detach().requires_grad_(True)
              for t in (value, sampling_locations, attention_weights)]
    with torch.enable_grad():
        out = ms_deform_attn(inputs[0], spatial_shapes, level_start_index, inputs[1], inputs[2])
        grads = torch.autograd.grad(out, inputs, grad_out, allow_unused=True)
    return tuple(torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads))


@MODELS.register_module()
class MSDeformAttnSampler(nn.Module):
    """Module form of :func:`ms_deform_attn` (no parameters): the sampling core of
    a deformable attention layer, for configs that build it by name."""

    def forward(self, value: Tensor, spatial_shapes: Tensor, level_start_index: Tensor,
                sampling_locations: Tensor, attention_weights: Tensor) -> Tensor:
        """(bs, num_keys, num_heads, head_dim) values sampled and weighted ->
        (bs, num_queries, num_heads * head_dim); see :func:`ms_deform_attn`."""
        return ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations,
                              attention_weights)
