"""Fixed random patch tokens for matching images without a pretrained backbone.

A random convolution with a ``2 * patch_size`` kernel and stride ``patch_size``
(each token sees a little of its neighbours) on colours standardised over the
frames of one video, a GELU (random features), then the same features averaged
over ``k x k`` token neighbourhoods for every ``k`` in ``context``,
concatenated and layer-normalised. The neighbourhood averages let an attention
tell apart patches of flat regions (walls, floors) by what surrounds them.
Nothing here is learned: the weights are drawn once from a seed and saved with
the model.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vision_sparse.registry import MODELS

__all__ = ['RandomPatchEmbedding']


@MODELS.register_module()
class RandomPatchEmbedding(nn.Module):
    """Frames ``(B, F, 3, H, W)`` -> tokens ``(B * F, N, C)`` with fixed random weights.

    Args:
        patch_size (int): token size ``p`` in pixels (even); ``H`` and ``W`` must
            be multiples of it, the token grid is ``(H / p, W / p)``.
        dim (int): random features per token before the context averages.
        context (Sequence[int]): odd neighbourhood sizes ``k`` (tokens) whose
            averages are appended; ``C = dim * (1 + len(context))``.
        seed (int, optional): seed of the random convolution (its own
            generator: nothing else is affected). None draws from torch's
            global generator, as a plain ``nn.Conv2d`` does.

    Attributes:
        out_channels (int): ``C``.
    """

    def __init__(self, patch_size: int = 8, dim: int = 64, context: Sequence[int] = (3, 7),
                 seed: Optional[int] = 0) -> None:
        super().__init__()
        if not isinstance(patch_size, int) or patch_size < 2 or patch_size % 2:
            raise ValueError(f'patch_size must be an even int >= 2, got {patch_size!r}')
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f'dim must be an int >= 1, got {dim!r}')
        context = tuple(int(k) for k in context)
        if any(k < 1 or k % 2 == 0 for k in context):
            raise ValueError(f'context sizes must be odd ints >= 1, got {context}')
        self.patch_size, self.dim, self.context, self.seed = patch_size, dim, context, seed
        self.out_channels = dim * (1 + len(context))
        conv = nn.Conv2d(3, dim, 2 * patch_size, stride=patch_size, padding=patch_size // 2)
        if seed is not None:  # nn.Conv2d's own initialisation, from a private generator
            g = torch.Generator().manual_seed(int(seed))
            bound = 1 / math.sqrt(3 * (2 * patch_size)**2)  # 1 / sqrt(fan_in)
            with torch.no_grad():
                conv.weight.uniform_(-bound, bound, generator=g)
                conv.bias.uniform_(-bound, bound, generator=g)
        # fixed: buffers (saved in checkpoints, never trained)
        self.register_buffer('weight', conv.weight.detach().clone())
        self.register_buffer('bias', conv.bias.detach().clone())

    def extra_repr(self) -> str:
        return (f'patch_size={self.patch_size}, dim={self.dim}, context={self.context}, '
                f'out_channels={self.out_channels}')

    def token_hw(self, image_hw: Sequence[int]) -> Tuple[int, int]:
        """Token grid ``(h, w)`` of an ``(H, W)`` image.

        Raises:
            ValueError: ``H`` or ``W`` not a positive multiple of ``patch_size``.
        """
        h, w = int(image_hw[0]), int(image_hw[1])
        p = self.patch_size
        if h < p or w < p or h % p or w % p:
            raise ValueError(f'image size (H, W) = {(h, w)} must be positive multiples of '
                             f'patch_size={p}')
        return h // p, w // p

    def forward(self, frames: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        """Embed the frames of ``B`` videos.

        Args:
            frames (Tensor): ``(B, F, 3, H, W)`` float RGB (any range: colours
                are standardised per video and channel over its ``F`` frames).

        Returns:
            tuple[Tensor, tuple[int, int]]: tokens ``(B * F, N, C)`` (frames of
            a video contiguous, row-major ``N = h * w``) and the grid ``(h, w)``.

        Raises:
            ValueError: another shape, or a size that is not a multiple of
                ``patch_size``.
        """
        if not isinstance(frames, Tensor) or frames.dim() != 5 or frames.shape[2] != 3:
            shape = tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__
            raise ValueError(f'frames must be a (B, F, 3, H, W) tensor, got {shape}')
        b, f = frames.shape[:2]
        hw = self.token_hw(frames.shape[-2:])
        frames = frames.float()
        mean = frames.mean(dim=(1, 3, 4), keepdim=True)
        std = frames.std(dim=(1, 3, 4), keepdim=True) + 1e-6
        images = ((frames - mean) / std).flatten(0, 1)
        p = self.patch_size
        feats = F.gelu(F.conv2d(images, self.weight, self.bias, stride=p, padding=p // 2))
        feats = torch.cat([feats] + [
            F.avg_pool2d(feats, k, 1, k // 2, count_include_pad=False) for k in self.context
        ], dim=1)
        tokens = feats.flatten(2).transpose(1, 2)
        return F.layer_norm(tokens, (tokens.shape[-1], )), hw
