"""FramePainter sparse control encoder.

A light CNN turns the editing signal (a sketch map, rasterised drag points,
...) of shape ``(B, C_in, H, W)`` into features ``(B, C_out, H / 8, W / 8)``
that are added to the first down block of the denoising U-Net, for the edited
frame only (:func:`apply_to_edited_frame`). Layout::

    stem      conv3x3 stride 2 -> GroupNorm -> SiLU                 (1/2)
    stage i   num_res_blocks x ResBlock(t) [-> conv3x3 stride 2]    (1/4, 1/8)
    out       GroupNorm -> SiLU -> conv1x1 (zero init) -> * scale

``ResBlock(t)`` adds a projection of the time embedding (sinusoidal embedding
of the diffusion timestep -> MLP) between its two convolutions. The output conv
starts at zero, so the encoder contributes nothing until it is trained.
"""
import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor, nn

from vision_sparse.registry import MODELS


def timestep_embedding(timesteps: Tensor, dim: int,
                       max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps.

    Args:
        timesteps (Tensor): ``(B,)`` timesteps.
        dim (int): embedding size, ``>= 2`` (an odd size gets a zero last
            channel).
        max_period (float): longest period of the sinusoids.

    Returns:
        Tensor: ``(B, dim)`` = ``[cos(t * f_0..f_{k-1}), sin(t * f_0..)]`` with
        ``f_j = max_period ** (-j / k)``, ``k = dim // 2``; float32 unless
        ``timesteps`` is float64.
    """
    if timesteps.dim() != 1:
        raise ValueError(f'timesteps must be 1-D (B,), got '
                         f'{tuple(timesteps.shape)}')
    if dim < 2:
        raise ValueError(f'dim must be >= 2, got {dim}')
    half = dim // 2
    dtype = torch.float64 if timesteps.dtype == torch.float64 else torch.float32
    freqs = torch.exp(-math.log(max_period) * torch.arange(
        half, device=timesteps.device, dtype=dtype) / half)
    args = timesteps.to(dtype)[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, emb.new_zeros(emb.shape[0], 1)], dim=-1)
    return emb


class TimeResBlock(nn.Module):
    """Residual block conditioned on a time embedding.

    ``y = skip(x) + conv2(SiLU(GN(conv1(SiLU(GN(x))) + proj(temb))))``.

    Args:
        in_channels (int): input channels.
        out_channels (int): output channels.
        time_dim (int): channels of the time embedding.
        num_groups (int): GroupNorm groups (must divide both channel counts).
    """

    def __init__(self, in_channels: int, out_channels: int, time_dim: int,
                 num_groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(num_groups, in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, out_channels)
        self.norm2 = nn.GroupNorm(num_groups, out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.act = nn.SiLU()
        self.skip = (nn.Identity() if in_channels == out_channels else
                     nn.Conv2d(in_channels, out_channels, 1))

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        """
        Args:
            x (Tensor): ``(B, in_channels, h, w)``.
            temb (Tensor): ``(B, time_dim)``.

        Returns:
            Tensor: ``(B, out_channels, h, w)``.
        """
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.time_proj(self.act(temb))[:, :, None, None]
        h = self.conv2(self.act(self.norm2(h)))
        return self.skip(x) + h


@MODELS.register_module()
class SparseControlEncoder(nn.Module):
    """Editing signal -> control features at ``1 / 2**len(channels)`` size.

    Args:
        in_channels (int): channels ``C_in`` of the editing signal (3 for an
            RGB sketch, e.g. 4 for drag maps).
        out_channels (int): channels ``C_out`` of the block the features are
            added to (320 for the first down block of SD / SVD).
        channels (Sequence[int]): widths of the stages; the stem halves the
            size and every stage but the last halves it again, so the output
            stride is ``2 ** len(channels)`` (8 by default).
        num_res_blocks (int): residual blocks per stage.
        num_groups (int): GroupNorm groups; must divide every width.
        time_embed_dim (int, optional): width of the time-embedding MLP;
            None = ``4 * channels[0]``.
        freq_dim (int, optional): size of the sinusoidal embedding;
            None = ``channels[0]``.
        max_period (float): longest period of the sinusoids.
        init_scale (float): initial value of the learnable output scale.
        zero_init_out (bool): zero the 1x1 output conv (weight and bias).
    """

    def __init__(self,
                 in_channels: int = 3,
                 out_channels: int = 320,
                 channels: Sequence[int] = (32, 64, 128),
                 num_res_blocks: int = 1,
                 num_groups: int = 8,
                 time_embed_dim: Optional[int] = None,
                 freq_dim: Optional[int] = None,
                 max_period: float = 10000.0,
                 init_scale: float = 1.0,
                 zero_init_out: bool = True) -> None:
        super().__init__()
        channels = tuple(int(c) for c in channels)
        if in_channels < 1 or out_channels < 1:
            raise ValueError('in_channels and out_channels must be >= 1, got '
                             f'{in_channels}, {out_channels}')
        if not channels or any(c < 1 or c % num_groups for c in channels):
            raise ValueError(f'channels must be a non-empty sequence of '
                             f'multiples of num_groups={num_groups}, '
                             f'got {channels}')
        if num_res_blocks < 1:
            raise ValueError(f'num_res_blocks must be >= 1, '
                             f'got {num_res_blocks}')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = 2**len(channels)
        self.freq_dim = channels[0] if freq_dim is None else freq_dim
        self.max_period = max_period
        self.zero_init_out = zero_init_out
        time_dim = 4 * channels[0] if time_embed_dim is None else time_embed_dim

        self.time_mlp = nn.Sequential(
            nn.Linear(self.freq_dim, time_dim), nn.SiLU(),
            nn.Linear(time_dim, time_dim))
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 3, stride=2, padding=1),
            nn.GroupNorm(num_groups, channels[0]), nn.SiLU())
        self.blocks = nn.ModuleList()
        self.downs = nn.ModuleList()
        prev = channels[0]
        for i, width in enumerate(channels):
            self.blocks.append(
                nn.ModuleList(
                    TimeResBlock(prev if j == 0 else width, width, time_dim,
                                 num_groups) for j in range(num_res_blocks)))
            prev = width
            self.downs.append(
                nn.Conv2d(width, width, 3, stride=2, padding=1)
                if i < len(channels) - 1 else nn.Identity())
        self.out_norm = nn.GroupNorm(num_groups, prev)
        self.out_act = nn.SiLU()
        self.out_conv = nn.Conv2d(prev, out_channels, 1)
        self.scale = nn.Parameter(torch.tensor(float(init_scale)))
        self.init_weights()

    def init_weights(self) -> None:
        """Zero the output conv (if ``zero_init_out``); see
        :meth:`MatchingAttention.init_weights` for why it is re-applied."""
        if self.zero_init_out:
            nn.init.zeros_(self.out_conv.weight)
            nn.init.zeros_(self.out_conv.bias)

    def forward(self, control: Tensor,
                timesteps: Union[Tensor, float, int]) -> Tensor:
        """Encode the editing signal.

        Args:
            control (Tensor): editing signal ``(B, C_in, H, W)``, ``H`` and
                ``W`` multiples of the stride (8).
            timesteps (Tensor | float | int): diffusion timesteps ``(B,)``, a
                0-d tensor or a number (shared by the batch).

        Returns:
            Tensor: ``(B, C_out, H / 8, W / 8)`` (all zeros while the output
            conv is zero).

        Raises:
            ValueError: on a wrong shape of ``control`` or ``timesteps``.
        """
        if not isinstance(control, Tensor) or control.dim() != 4:
            shape = (tuple(control.shape) if isinstance(control, Tensor) else
                     type(control).__name__)
            raise ValueError(f'control must be a 4-D tensor (B, '
                             f'{self.in_channels}, H, W), got {shape}')
        b, c, h, w = control.shape
        if c != self.in_channels:
            raise ValueError(f'control must have C_in == {self.in_channels} '
                             f'channels, got {tuple(control.shape)}')
        if h % self.stride or w % self.stride:
            raise ValueError(f'control H and W must be multiples of '
                             f'{self.stride}, got {tuple(control.shape)}')
        if not isinstance(timesteps, Tensor):
            timesteps = torch.tensor(float(timesteps), device=control.device)
        if timesteps.dim() == 0:
            timesteps = timesteps.expand(b)
        if timesteps.shape != (b, ):
            raise ValueError(f'timesteps must be a number, a 0-d tensor or '
                             f'({b},), got {tuple(timesteps.shape)}')
        freq = timestep_embedding(timesteps, self.freq_dim, self.max_period)
        temb = self.time_mlp(freq.to(control.dtype))
        x = self.stem(control)
        for blocks, down in zip(self.blocks, self.downs):
            for block in blocks:
                x = block(x, temb)
            x = down(x)
        x = self.out_conv(self.out_act(self.out_norm(x)))
        return x * self.scale


def apply_to_edited_frame(features: Tensor,
                          control: Tensor,
                          num_frames: int,
                          edited_frame: int = 1) -> Tensor:
    """Add control features to the edited frame of a ``(B * F, ...)`` batch.

    Args:
        features (Tensor): features of all frames ``(B * F, C, h, w)``, frames
            of a video contiguous (index ``b * F + f``).
        control (Tensor): control features ``(B, C, h, w)``.
        num_frames (int): frames ``F`` per video.
        edited_frame (int): frame receiving the control, ``< num_frames``.

    Returns:
        Tensor: new ``(B * F, C, h, w)`` tensor; frame ``edited_frame`` of
        every video is ``features + control``, the others are unchanged.

    Raises:
        ValueError: on inconsistent shapes or frame indices.
    """
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f'num_frames must be an int >= 1, got {num_frames!r}')
    if not isinstance(edited_frame, int) or not 0 <= edited_frame < num_frames:
        raise ValueError(f'edited_frame must be an int in [0, num_frames='
                         f'{num_frames}), got {edited_frame!r}')
    if features.dim() != 4:
        raise ValueError(f'features must be (B * F, C, h, w), '
                         f'got {tuple(features.shape)}')
    if features.shape[0] % num_frames:
        raise ValueError(f'features has B * F = {features.shape[0]} rows, not '
                         f'a multiple of num_frames={num_frames}')
    b = features.shape[0] // num_frames
    if control.shape != (b, ) + tuple(features.shape[1:]):
        raise ValueError(f'control must be (B, C, h, w) = '
                         f'{(b, ) + tuple(features.shape[1:])}, '
                         f'got {tuple(control.shape)}')
    frames = list(features.reshape(b, num_frames,
                                   *features.shape[1:]).unbind(1))
    frames[edited_frame] = frames[edited_frame] + control
    return torch.stack(frames, dim=1).reshape(features.shape)


__all__ = [
    'SparseControlEncoder', 'TimeResBlock', 'timestep_embedding',
    'apply_to_edited_frame'
]
