"""A small SECOND-style 2-D BEV backbone and its FPN-like neck (the LiDAR branch after the
scatter / sparse encoder).
"""
from typing import List, Sequence

import torch
from torch import Tensor, nn

from vision_sparse.registry import MODELS

__all__ = ['SECONDBEV', 'SECONDFPNBEV']


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> List[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True)]


@MODELS.register_module()
class SECONDBEV(nn.Module):
    """Stages of 3x3 convolutions; stage i starts with a stride ``layer_strides[i]``
    convolution and adds ``layer_nums[i]`` stride-1 ones (each conv + BN + ReLU).

    Args:
        in_channels (int): BEV input channels.
        out_channels (Sequence[int]): channels per stage.
        layer_nums (Sequence[int]): extra convolutions per stage.
        layer_strides (Sequence[int]): stride of each stage's first convolution.
    """

    def __init__(self, in_channels: int = 128, out_channels: Sequence[int] = (128, 256),
                 layer_nums: Sequence[int] = (5, 5), layer_strides: Sequence[int] = (1, 2)):
        super().__init__()
        if not len(out_channels) == len(layer_nums) == len(layer_strides) >= 1:
            raise ValueError('out_channels, layer_nums and layer_strides must have the same '
                             f'length >= 1, got {out_channels}, {layer_nums}, {layer_strides}')
        self.blocks = nn.ModuleList()
        cin = in_channels
        for cout, num, stride in zip(out_channels, layer_nums, layer_strides):
            layers = _conv_bn_relu(cin, cout, stride)
            for _ in range(num):
                layers += _conv_bn_relu(cout, cout)
            self.blocks.append(nn.Sequential(*layers))
            cin = cout
        self.out_channels = list(out_channels)

    def forward(self, x: Tensor) -> List[Tensor]:
        """(B, C, H, W) -> list of stage outputs (B, out_channels[i], H / s_i, W / s_i)."""
        outs = []
        for block in self.blocks:
            x = block(x)
            outs.append(x)
        return outs


@MODELS.register_module()
class SECONDFPNBEV(nn.Module):
    """Bring every backbone stage to one stride (transposed convolution for an upsample
    stride >= 1, strided convolution for a fraction) with BN + ReLU, and concatenate.

    Args:
        in_channels (Sequence[int]): channels of the backbone stages.
        out_channels (Sequence[int]): channels per stage after resampling.
        upsample_strides (Sequence[float]): resampling factor per stage (1, 2, 0.5 ...).

    Attributes:
        out_channels_total (int): ``sum(out_channels)``, the concatenated width.
    """

    def __init__(self, in_channels: Sequence[int] = (128, 256),
                 out_channels: Sequence[int] = (256, 256),
                 upsample_strides: Sequence[float] = (1, 2)):
        super().__init__()
        if not len(in_channels) == len(out_channels) == len(upsample_strides) >= 1:
            raise ValueError('in_channels, out_channels and upsample_strides must have the '
                             'same length >= 1')
        self.deblocks = nn.ModuleList()
        for cin, cout, s in zip(in_channels, out_channels, upsample_strides):
            if s >= 1:
                conv = nn.ConvTranspose2d(cin, cout, int(s), stride=int(s), bias=False)
            else:
                k = int(round(1 / s))
                conv = nn.Conv2d(cin, cout, k, stride=k, bias=False)
            self.deblocks.append(nn.Sequential(
                conv, nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01), nn.ReLU(inplace=True)))
        self.out_channels_total = int(sum(out_channels))

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        """Backbone stages -> ``[(B, sum(out_channels), H', W')]`` (one level)."""
        if len(feats) != len(self.deblocks):
            raise ValueError(f'expected {len(self.deblocks)} feature maps, got {len(feats)}')
        outs = [block(f) for block, f in zip(self.deblocks, feats)]
        return [torch.cat(outs, dim=1) if len(outs) > 1 else outs[0]]
