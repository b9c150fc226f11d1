"""Multi-level rotated RoI feature extractor (mmrotate's ``RotatedSingleRoIExtractor``).

mmdet/mmrotate RoI extractors look their RoI layer up by name in ``mmcv.ops``, which
mmcv-lite lacks; this one builds the layer from our registry
(:class:`~vision_sparse.ops.RoIAlignRotated`), so an mmrotate-style config works
unchanged::

    bbox_roi_extractor=dict(
        type='RotatedSingleRoIExtractor',
        roi_layer=dict(type='RoIAlignRotated', output_size=7, sampling_ratio=2,
                       clockwise=True),
        out_channels=256, featmap_strides=[4, 8, 16, 32])

mmcv-1.x argument names ``out_size`` / ``sample_num`` are accepted too.
"""
from typing import Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from vision_sparse.ops import RoIAlignRotated
from vision_sparse.registry import MODELS

__all__ = ['RotatedSingleRoIExtractor', 'map_roi_levels']


def map_roi_levels(rois: Tensor, num_levels: int, finest_scale: float = 56) -> Tensor:
    """FPN level of each RoI by its scale ``sqrt(w * h)`` (mmdet's rule).

    ``level = floor(log2(scale / finest_scale + 1e-6))`` clamped to
    ``[0, num_levels - 1]``: scale < 112 -> 0, [112, 224) -> 1, [224, 448) -> 2, ...

    Args:
        rois (Tensor): (N, 6) ``(batch_idx, cx, cy, w, h, theta)`` or (N, 5) boxes
            ``(cx, cy, w, h, theta)``.
        num_levels (int): number of feature levels.
        finest_scale (float): scale mapped to the border of level 0.

    Returns:
        Tensor: (N,) int64 level indices.
    """
    wh = rois[:, -3:-1]
    scale = torch.sqrt((wh[:, 0] * wh[:, 1]).clamp(min=0))
    lvls = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return lvls.clamp(min=0, max=num_levels - 1).long()


@MODELS.register_module()
class RotatedSingleRoIExtractor(BaseModule):
    """Pool rotated RoIs from the FPN level that matches their size.

    Args:
        roi_layer (dict): ``dict(type='RoIAlignRotated', output_size=7,
            sampling_ratio=2, clockwise=True, aligned=True)``; ``spatial_scale`` is
            set per level from ``featmap_strides``.
        out_channels (int): channels of the feature maps.
        featmap_strides (list[int]): stride of each level w.r.t. the input image.
        finest_scale (float): see :func:`map_roi_levels` (mmdet default 56).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, roi_layer: dict, out_channels: int, featmap_strides: Sequence[int],
                 finest_scale: float = 56, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if not featmap_strides or any(s <= 0 for s in featmap_strides):
            raise ValueError(f'featmap_strides must be positive numbers, got {featmap_strides}')
        self.out_channels = int(out_channels)
        self.featmap_strides = list(featmap_strides)
        self.finest_scale = float(finest_scale)
        self.roi_layers = self.build_roi_layers(roi_layer, self.featmap_strides)
        self.output_size = self.roi_layers[0].output_size

    @property
    def num_inputs(self) -> int:
        """Number of feature levels used."""
        return len(self.featmap_strides)

    @staticmethod
    def build_roi_layers(layer_cfg: dict, featmap_strides: Sequence[int]) -> nn.ModuleList:
        """One :class:`RoIAlignRotated` per level, ``spatial_scale = 1 / stride``."""
        cfg = dict(layer_cfg)
        layer_type = cfg.pop('type', 'RoIAlignRotated')
        if layer_type not in ('RoIAlignRotated', RoIAlignRotated):
            raise ValueError(f"roi_layer type must be 'RoIAlignRotated', got {layer_type!r}")
        renames = {'out_size': 'output_size', 'sample_num': 'sampling_ratio'}
        cfg = {renames.get(k, k): v for k, v in cfg.items()}
        cfg.pop('spatial_scale', None)
        return nn.ModuleList([RoIAlignRotated(spatial_scale=1.0 / s, **cfg) for s in featmap_strides])

    def forward(self, feats: Sequence[Tensor], rois: Tensor) -> Tensor:
        """Pool RoIs.

        Args:
            feats (tuple[Tensor]): per level (B, C, H_l, W_l), at least
                ``len(featmap_strides)`` levels (extra ones are ignored).
            rois (Tensor): (N, 6) ``(batch_idx, cx, cy, w, h, theta)`` pixels/radians.

        Returns:
            Tensor: (N, C, out_h, out_w).
        """
        if rois.dim() != 2 or rois.shape[-1] != 6:
            raise ValueError(f'rois must be (N, 6), got {tuple(rois.shape)}')
        if len(feats) < self.num_inputs:
            raise ValueError(f'feats must have at least {self.num_inputs} levels, got {len(feats)}')
        out = feats[0].new_zeros(rois.shape[0], self.out_channels, *self.output_size)
        if rois.shape[0] == 0:
            return out + 0 * feats[0].sum()
        lvls = map_roi_levels(rois, self.num_inputs, self.finest_scale)
        for i in range(self.num_inputs):
            idx = (lvls == i).nonzero(as_tuple=True)[0]
            if idx.numel():
                out[idx] = self.roi_layers[i](feats[i], rois[idx])
            else:  # keep every level in the graph (distributed training)
                out = out + 0 * feats[i].sum()
        return out
