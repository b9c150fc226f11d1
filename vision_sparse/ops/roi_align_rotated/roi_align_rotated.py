"""Rotated RoIAlign: the public function and module.

Runs the compiled kernel when it is built for the features' device, otherwise
:func:`~.reference.roi_align_rotated_reference` (see there for the semantics).
"""
from typing import Tuple, Union

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from vision_sparse.registry import MODELS
from .._ext import use_ext
from .reference import _check_inputs, _pair, roi_align_rotated_reference

__all__ = ['roi_align_rotated', 'RoIAlignRotated', 'RoIAlignRotatedFunction',
           'roi_align_rotated_features_grad']

#: dtypes the kernels compute in; others (float16, bfloat16) go through float32.
_KERNEL_DTYPES = (torch.float32, torch.float64)


class RoIAlignRotatedFunction(torch.autograd.Function):
    """Compiled forward and backward (CPU or CUDA kernels), w.r.t. the features.

    Takes checked float32 / float64 inputs; use :func:`roi_align_rotated`, which
    checks and converts.  Saves only the rois (the op is linear in the features).
    """

    @staticmethod
    def forward(ctx, features: Tensor, rois: Tensor, out_h: int, out_w: int,
                spatial_scale: float, sampling_ratio: int, aligned: bool,
                clockwise: bool) -> Tensor:
        ctx.save_for_backward(rois)
        ctx.params = (float(spatial_scale), int(sampling_ratio), bool(aligned), bool(clockwise))
        ctx.feature_shape = tuple(features.shape)
        return torch.ops.vision_sparse.roi_align_rotated_forward(
            features, rois, int(out_h), int(out_w), *ctx.params)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        rois, = ctx.saved_tensors
        grad = None
        if ctx.needs_input_grad[0]:
            grad = torch.ops.vision_sparse.roi_align_rotated_backward(
                grad_out, rois, *ctx.feature_shape, *ctx.params)
        return grad, None, None, None, None, None, None, None


def roi_align_rotated(features: Tensor, rois: Tensor, output_size: Union[int, Tuple[int, int]],
                      spatial_scale: float = 1.0, sampling_ratio: int = 0, aligned: bool = True,
                      clockwise: bool = False) -> Tensor:
    """Rotated RoIAlign with mmcv's semantics.

    Args:
        features (Tensor): (B, C, H, W) floating point.
        rois (Tensor): (N, 6) ``(batch_idx, cx, cy, w, h, theta)`` in image pixels,
            theta in radians; dtype and device of ``features``.
        output_size (int | tuple[int, int]): ``(out_h, out_w)``.
        spatial_scale (float): feature-map size / image size, > 0.
        sampling_ratio (int): bilinear samples per bin side; 0 = adaptive
            (``ceil(roi size / output size)``).
        aligned (bool): pixel centres at integer + 0.5 (shift by -0.5).
        clockwise (bool): ``theta`` turns clockwise on screen, the convention of
            :class:`~vision_sparse.structures.RotatedBoxes`; mmcv's default is False.

    Returns:
        Tensor: (N, C, out_h, out_w), dtype of ``features`` (float16 / bfloat16
        are computed in float32). Differentiable w.r.t. ``features`` (not the rois).

    Raises:
        ValueError: see :func:`~.reference._check_inputs`.

    Runs the compiled kernel (CPU or CUDA) when it is built for the features'
    device, otherwise :func:`~.reference.roi_align_rotated_reference`; both
    follow the same semantics and refuse the same inputs.
    """
    out_h, out_w, scale, ratio = _check_inputs(features, rois, output_size, spatial_scale,
                                               sampling_ratio)
    if features.dtype not in _KERNEL_DTYPES:  # float16 / bfloat16: computed in float32
        return roi_align_rotated(features.float(), rois.float(), output_size, spatial_scale,
                                 sampling_ratio, aligned, clockwise).to(features.dtype)
    if not use_ext(features):
        return roi_align_rotated_reference(features, rois, output_size, spatial_scale,
                                           sampling_ratio, aligned, clockwise)
    rois = rois.detach()
    args = (out_h, out_w, scale, ratio, bool(aligned), bool(clockwise))
    if torch.is_grad_enabled() and features.requires_grad:
        return RoIAlignRotatedFunction.apply(features, rois, *args)
    return torch.ops.vision_sparse.roi_align_rotated_forward(features, rois, *args)


def roi_align_rotated_features_grad(grad_out: Tensor, rois: Tensor,
                                    feature_shape: Tuple[int, int, int, int],
                                    spatial_scale: float = 1.0, sampling_ratio: int = 0,
                                    aligned: bool = True, clockwise: bool = False) -> Tensor:
    """The gradient of :func:`roi_align_rotated` w.r.t. its features, on its own.

    The op is linear in the features, so the gradient depends only on the rois,
    the options and ``grad_out`` (what mmcv's ``roi_align_rotated_backward``
    computes).

    Args:
        grad_out (Tensor): (N, C, out_h, out_w) gradient of the output, floating point.
        rois (Tensor): (N, 6) rois, dtype and device of ``grad_out``.
        feature_shape (tuple[int, int, int, int]): ``(B, C, H, W)`` of the features.
        spatial_scale, sampling_ratio, aligned, clockwise: as in
            :func:`roi_align_rotated`.

    Returns:
        Tensor: (B, C, H, W), dtype and device of ``grad_out``.

    Raises:
        ValueError: ``grad_out`` not (N, C, out_h, out_w) for these rois and
            features, or any input :func:`roi_align_rotated` refuses.
    """
    if (not isinstance(grad_out, Tensor) or grad_out.dim() != 4
            or len(tuple(feature_shape)) != 4):
        raise ValueError('grad_out must be a (N, C, out_h, out_w) tensor and feature_shape '
                         f'(B, C, H, W), got {getattr(grad_out, "shape", grad_out)!r} and '
                         f'{feature_shape!r}')
    bsz, chans, height, width = (int(v) for v in feature_shape)
    # a stride-0 stand-in for the features: _check_inputs reads shape, dtype, device
    fake = grad_out.new_zeros(()).expand(bsz, chans, height, width)
    out_size = tuple(grad_out.shape[2:])
    _check_inputs(fake, rois, out_size, spatial_scale, sampling_ratio)
    if tuple(grad_out.shape[:2]) != (rois.shape[0], chans):
        raise ValueError(f'grad_out must have shape (N, C, out_h, out_w) = ({rois.shape[0]}, '
                         f'{chans}, ...), got {tuple(grad_out.shape)}')
    if grad_out.dtype in _KERNEL_DTYPES and use_ext(grad_out):
        return torch.ops.vision_sparse.roi_align_rotated_backward(
            grad_out, rois.detach(), bsz, chans, height, width, float(spatial_scale),
            int(sampling_ratio), bool(aligned), bool(clockwise))
    feats = torch.zeros((bsz, chans, height, width), dtype=grad_out.dtype,
                        device=grad_out.device, requires_grad=True)
    with torch.enable_grad():
        out = roi_align_rotated(feats, rois, out_size, spatial_scale, sampling_ratio,
                                aligned, clockwise)
        if not out.requires_grad:  # no rois: nothing flows back
            return torch.zeros_like(feats.detach())
        grad, = torch.autograd.grad(out, feats, grad_out, allow_unused=True)
    return torch.zeros_like(feats.detach()) if grad is None else grad


@MODELS.register_module()
class RoIAlignRotated(nn.Module):
    """Module form of :func:`roi_align_rotated` (mmcv's ``RoIAlignRotated`` arguments).

    Args:
        output_size (int | tuple[int, int]): ``(out_h, out_w)``.
        spatial_scale (float): feature-map size / image size.
        sampling_ratio (int): samples per bin side, 0 = adaptive.
        aligned (bool): half-pixel alignment.
        clockwise (bool): theta clockwise on screen (our RotatedBoxes: True).
    """

    def __init__(self, output_size: Union[int, Tuple[int, int]], spatial_scale: float = 1.0,
                 sampling_ratio: int = 0, aligned: bool = True, clockwise: bool = False):
        super().__init__()
        self.output_size = _pair(output_size)
        self.spatial_scale = float(spatial_scale)
        self.sampling_ratio = int(sampling_ratio)
        self.aligned = bool(aligned)
        self.clockwise = bool(clockwise)

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        """Pool ``rois`` (N, 6) from ``features`` (B, C, H, W) -> (N, C, out_h, out_w)."""
        return roi_align_rotated(features, rois, self.output_size, self.spatial_scale,
                                 self.sampling_ratio, self.aligned, self.clockwise)

    def extra_repr(self) -> str:
        return (f'output_size={self.output_size}, spatial_scale={self.spatial_scale}, '
                f'sampling_ratio={self.sampling_ratio}, aligned={self.aligned}, '
                f'clockwise={self.clockwise}')
