"""Rotated RoIAlign: the public function and module.

Runs the compiled kernel when it is built for the features' device, otherwise
:func:`~.reference.roi_align_rotated_reference` (see there for the semantics).
"""
from typing import Tuple, Union

from torch import Tensor, nn

from vision_sparse.registry import MODELS
from .reference import _check_inputs, _pair, roi_align_rotated_reference

__all__ = ['roi_align_rotated', 'RoIAlignRotated']


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
        Tensor: (N, C, out_h, out_w). Differentiable w.r.t. ``features``.

    Raises:
        ValueError: see :func:`~.reference._check_inputs`.
    """
    _check_inputs(features, rois, output_size, spatial_scale, sampling_ratio)
    return roi_align_rotated_reference(features, rois, output_size, spatial_scale,
                                       sampling_ratio, aligned, clockwise)


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
