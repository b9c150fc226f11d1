"""FramePainter matching attention.

Tokens of ``F`` frames of ``B`` videos arrive as one batch ``x`` of shape
``(B * F, N, C)``, frames of one video contiguous (index ``b * F + f``, the
``(b f) n c`` layout of video diffusion U-Nets). Matching attention is an extra
branch beside the spatial self-attention of a block: queries come from every
frame, keys and values from the *source* frame only::

    out_f = softmax(Q_f K_s^T / sqrt(d)) V_s        (f = 0 .. F-1, s = source)

and the result goes through an output projection initialised to zero, so that
adding the branch to a pretrained network does not change it at step 0. The
attention map ``A_f = softmax(Q_f K_s^T / sqrt(d))`` of the edited frame is a
dense correspondence to the source frame and can be supervised with
:class:`vision_sparse.models.losses.CorrespondenceLoss`.

Because every frame attends to the same source keys, K and V are computed once
per video and the queries of all frames are stacked: one attention call of
``F * N`` queries against ``N`` keys, which costs the same as the ``F`` calls of
``N`` against ``N`` that a spatial self-attention makes.

The attention itself runs one of the kernels of
:mod:`~vision_sparse.models.layers.attention.kernels` (``'sdpa'``, ``'chunked'``
or ``'naive'``, the only one that forms the map). Adding the branch to an
existing self-attention (wrapping it, copying its q/k/v projections) is
:mod:`~vision_sparse.models.layers.attention.matching_block`.
"""
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from vision_sparse.registry import MODELS
from vision_sparse.utils.checks import check_choice
from .kernels import chunked_attention, naive_attention, sdpa_attention

__all__ = [
    'ATTN_IMPLS', 'ATTN_REDUCES', 'ATTN_TYPES', 'MatchingAttention',
    'attention_to_matches'
]

ATTN_IMPLS = ('auto', 'sdpa', 'chunked', 'naive')
ATTN_REDUCES = ('mean', 'none')
ATTN_TYPES = ('probs', 'logits')


# --------------------------------------------------------------------------
# read-out
# --------------------------------------------------------------------------
def attention_to_matches(attn: Tensor,
                         hw: Tuple[int, int],
                         mode: str = 'argmax',
                         is_logits: bool = False) -> Tensor:
    """Matched key coordinates of every query token.

    Args:
        attn (Tensor): attention from queries to keys ``(..., Nq, Nk)``:
            probabilities (rows sum to 1) or, with ``is_logits=True``,
            pre-softmax logits. Keys lie on a row-major ``H x W`` token grid.
        hw (tuple[int, int]): key token grid ``(H, W)`` with ``H * W == Nk``.
        mode (str): ``'argmax'`` (grid position of the largest entry) or
            ``'soft'`` (soft-argmax: expectation of the key coordinates under
            the attention distribution).
        is_logits (bool): ``attn`` holds logits (a softmax is applied for
            ``'soft'``; ``'argmax'`` is the same either way).

    Returns:
        Tensor: ``(..., Nq, 2)`` matched coordinates ``(x, y)`` = (column, row)
        in token grid units; integer-valued for ``'argmax'``. Float dtype of
        ``attn``.

    Raises:
        ValueError: on a bad ``hw``, ``mode`` or shape.
    """
    if mode not in ('argmax', 'soft'):
        raise ValueError(f"mode must be 'argmax' or 'soft', got {mode!r}")
    if attn.dim() < 2:
        raise ValueError('attn must have shape (..., Nq, Nk), '
                         f'got {tuple(attn.shape)}')
    h, w = _check_hw(hw, 'hw')
    if h * w != attn.shape[-1]:
        raise ValueError(f'hw={tuple(hw)} gives {h * w} key tokens but attn '
                         f'has Nk={attn.shape[-1]} (shape {tuple(attn.shape)})')
    dtype = attn.dtype if attn.is_floating_point() else torch.float32
    if mode == 'argmax':
        idx = attn.argmax(dim=-1)
        return torch.stack([idx % w, torch.div(idx, w, rounding_mode='floor')],
                           dim=-1).to(dtype)
    probs = torch.softmax(attn, dim=-1) if is_logits else attn
    ys, xs = torch.meshgrid(
        torch.arange(h, device=attn.device, dtype=dtype),
        torch.arange(w, device=attn.device, dtype=dtype), indexing='ij')
    grid = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1)  # (Nk, 2)
    return torch.matmul(probs.to(dtype), grid)


def _check_hw(hw: Sequence[int], name: str) -> Tuple[int, int]:
    if (not isinstance(hw, (tuple, list, torch.Size)) or len(hw) != 2
            or any(int(s) < 1 for s in hw)):
        raise ValueError(f'{name} must be a pair (H, W) of positive ints, '
                         f'got {hw!r}')
    return int(hw[0]), int(hw[1])


# --------------------------------------------------------------------------
# module
# --------------------------------------------------------------------------
@MODELS.register_module()
class MatchingAttention(nn.Module):
    """Attention from every frame to the source frame (FramePainter).

    Args:
        dim (int): token channels ``C``.
        num_heads (int): attention heads; must divide ``inner_dim``.
        num_frames (int): frames ``F`` per video in the ``(B * F, N, C)``
            batch; can be overridden per call.
        source_frame (int): frame whose tokens give keys and values,
            ``0 <= source_frame < num_frames``.
        qkv_bias (bool): biases in the q/k/v projections.
        attn_impl (str): ``'auto'`` (``'sdpa'``, or ``'naive'`` when a map is
            requested), ``'sdpa'``, ``'chunked'`` or ``'naive'``. Any request
            for the map (``return_attn=True`` or :attr:`record_attn`) runs the
            naive kernel, the only one that forms it.
        chunk_size (int): queries per chunk of the ``'chunked'`` kernel.
        key_chunk_size (int, optional): keys per chunk of the ``'chunked'``
            kernel (online softmax); None = all keys at once.
        checkpoint_chunks (bool): ``'chunked'`` kernel recomputes each chunk in
            the backward pass instead of storing its map.
        attn_reduce (str): default reduction of returned maps over heads:
            ``'mean'`` -> ``(B, F, N, N)``, ``'none'`` -> ``(B, F, heads, N, N)``.
        zero_init_out (bool): zero the output projection (weight and bias) so
            the branch outputs exactly 0 until it is trained.
        inner_dim (int, optional): channels of q/k/v (``heads * head_dim``);
            None = ``dim``.
        out_bias (bool): bias in the output projection.

    Attributes:
        record_attn (bool): when True, every forward also stores the logits in
            :attr:`last_attn_logits` ``(B, F, heads, N, N)`` (naive kernel), so
            a loss can reach the map of a branch buried inside a network.
        last_attn_logits (Tensor | None): see ``record_attn``.
    """

    def __init__(self,
                 dim: int,
                 num_heads: int = 8,
                 num_frames: int = 2,
                 source_frame: int = 0,
                 qkv_bias: bool = False,
                 attn_impl: str = 'auto',
                 chunk_size: int = 512,
                 key_chunk_size: Optional[int] = None,
                 checkpoint_chunks: bool = True,
                 attn_reduce: str = 'mean',
                 zero_init_out: bool = True,
                 inner_dim: Optional[int] = None,
                 out_bias: bool = True) -> None:
        super().__init__()
        inner_dim = dim if inner_dim is None else inner_dim
        if dim < 1 or inner_dim < 1:
            raise ValueError(f'dim and inner_dim must be >= 1, got {dim}, '
                             f'{inner_dim}')
        if num_heads < 1 or inner_dim % num_heads:
            raise ValueError(f'num_heads={num_heads} must be >= 1 and divide '
                             f'inner_dim={inner_dim}')
        _check_frames(num_frames, source_frame)
        check_choice('attn_impl', attn_impl, ATTN_IMPLS)
        check_choice('attn_reduce', attn_reduce, ATTN_REDUCES)
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
        if key_chunk_size is not None and key_chunk_size < 1:
            raise ValueError(f'key_chunk_size must be >= 1 or None, '
                             f'got {key_chunk_size}')
        self.dim = dim
        self.inner_dim = inner_dim
        self.num_heads = num_heads
        self.head_dim = inner_dim // num_heads
        self.scale = self.head_dim**-0.5
        self.num_frames = num_frames
        self.source_frame = source_frame
        self.attn_impl = attn_impl
        self.chunk_size = chunk_size
        self.key_chunk_size = key_chunk_size
        self.checkpoint_chunks = checkpoint_chunks
        self.attn_reduce = attn_reduce
        self.zero_init_out = zero_init_out
        self.record_attn = False
        self.last_attn_logits: Optional[Tensor] = None

        self.to_q = nn.Linear(dim, inner_dim, bias=qkv_bias)
        self.to_k = nn.Linear(dim, inner_dim, bias=qkv_bias)
        self.to_v = nn.Linear(dim, inner_dim, bias=qkv_bias)
        self.to_out = nn.Linear(inner_dim, dim, bias=out_bias)
        self.init_weights()

    def init_weights(self) -> None:
        """Zero the output projection (if ``zero_init_out``).

        Called by the constructor and by mmengine's ``init_weights`` after a
        parent's ``init_cfg`` was applied, so a parent initialiser cannot make
        the new branch non-zero. q/k/v keep their current values.
        """
        if self.zero_init_out:
            nn.init.zeros_(self.to_out.weight)
            if self.to_out.bias is not None:
                nn.init.zeros_(self.to_out.bias)

    def extra_repr(self) -> str:
        return (f'dim={self.dim}, num_heads={self.num_heads}, '
                f'num_frames={self.num_frames}, '
                f'source_frame={self.source_frame}, '
                f'attn_impl={self.attn_impl!r}')

    def forward(self,
                x: Tensor,
                num_frames: Optional[int] = None,
                hw: Optional[Tuple[int, int]] = None,
                return_attn: bool = False,
                attn_reduce: Optional[str] = None,
                attn_type: str = 'probs') -> Union[Tensor, Tuple[Tensor,
                                                                 Tensor]]:
        """Attend from every frame to the source frame.

        Args:
            x (Tensor): tokens ``(B * F, N, C)``, frames of a video contiguous.
            num_frames (int, optional): ``F`` for this call; None =
                ``self.num_frames``.
            hw (tuple[int, int], optional): token grid ``(H, W)``; only checked
                (``H * W == N``).
            return_attn (bool): also return the attention map of every frame
                to the source frame.
            attn_reduce (str, optional): ``'mean'`` (average over heads) or
                ``'none'``; None = ``self.attn_reduce`` for probabilities,
                ``'none'`` for logits.
            attn_type (str): ``'probs'`` (softmax, rows sum to 1) or
                ``'logits'`` (``Q K^T / sqrt(d)``, for
                :class:`~vision_sparse.models.losses.CorrespondenceLoss`).
                Logits are only returned per head (``attn_reduce='none'``).

        Returns:
            Tensor | tuple[Tensor, Tensor]: output ``(B * F, N, C)`` (exactly 0
            while the output projection is zero) and, with ``return_attn``, the
            map ``(B, F, N, N)`` (``'mean'``) or ``(B, F, heads, N, N)``
            (``'none'``); entry ``[b, f, (h,) i, j]`` is the weight of source
            token ``j`` for token ``i`` of frame ``f``.

        Raises:
            ValueError: if ``x`` is not ``(B * F, N, dim)``, ``B * F`` is not a
                multiple of ``num_frames``, ``source_frame >= num_frames``,
                ``H * W != N`` or an option is unknown.
        """
        num_frames = self.num_frames if num_frames is None else num_frames
        batch, n = _check_tokens(x, self.dim, num_frames, self.source_frame, hw)
        if attn_reduce is None:
            attn_reduce = 'none' if attn_type == 'logits' else self.attn_reduce
        check_choice('attn_reduce', attn_reduce, ATTN_REDUCES)
        check_choice('attn_type', attn_type, ATTN_TYPES)
        if return_attn and attn_type == 'logits' and attn_reduce != 'none':
            raise ValueError("attn_type='logits' needs attn_reduce='none' "
                             '(an average of logits is not an attention map)')

        q, k, v = self._project(x, batch, num_frames, n)
        want_map = return_attn or self.record_attn
        impl = self.attn_impl
        if want_map or impl == 'naive':
            out, logits = naive_attention(q, k, v, self.scale)
        elif impl == 'chunked':
            out, logits = chunked_attention(
                q, k, v, self.scale, self.chunk_size, self.key_chunk_size,
                self.checkpoint_chunks), None
        else:  # 'auto' / 'sdpa'
            out, logits = sdpa_attention(q, k, v, self.scale), None
        # (B, heads, F*N, d) -> (B*F, N, inner)
        out = out.reshape(batch, self.num_heads, num_frames, n, self.head_dim)
        out = out.permute(0, 2, 3, 1, 4).reshape(batch * num_frames, n,
                                                 self.inner_dim)
        out = self.to_out(out)
        if not want_map:
            return out
        # (B, heads, F*N, N) -> (B, F, heads, N, N)
        logits = logits.reshape(batch, self.num_heads, num_frames, n,
                                n).transpose(1, 2)
        if self.record_attn:
            self.last_attn_logits = logits
        if not return_attn:
            return out
        if attn_type == 'logits':
            return out, logits
        probs = torch.softmax(logits, dim=-1)
        return out, probs.mean(dim=2) if attn_reduce == 'mean' else probs

    def _project(self, x: Tensor, batch: int, num_frames: int,
                 n: int) -> Tuple[Tensor, Tensor, Tensor]:
        """q ``(B, heads, F*N, d)`` of all frames; k, v ``(B, heads, N, d)``."""
        frames = x.reshape(batch, num_frames, n, self.dim)
        source = frames[:, self.source_frame]  # (B, N, C)
        q = self.to_q(frames).reshape(batch, num_frames, n, self.num_heads,
                                      self.head_dim)
        q = q.permute(0, 3, 1, 2, 4).reshape(batch, self.num_heads,
                                             num_frames * n, self.head_dim)
        k = self.to_k(source).reshape(batch, n, self.num_heads,
                                      self.head_dim).transpose(1, 2)
        v = self.to_v(source).reshape(batch, n, self.num_heads,
                                      self.head_dim).transpose(1, 2)
        return q, k, v


def _check_frames(num_frames: int, source_frame: int) -> None:
    if not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f'num_frames must be an int >= 1, got {num_frames!r}')
    if not isinstance(source_frame, int) or not 0 <= source_frame < num_frames:
        raise ValueError(f'source_frame must be an int in [0, num_frames='
                         f'{num_frames}), got {source_frame!r}')


def _check_tokens(x: Tensor, dim: int, num_frames: int, source_frame: int,
                  hw: Optional[Tuple[int, int]]) -> Tuple[int, int]:
    """Validate ``x`` (B*F, N, C); return ``(B, N)``."""
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f'x must be a 3-D tensor (B * F, N, C), got {shape}')
    _check_frames(num_frames, source_frame)
    bf, n, c = x.shape
    if c != dim:
        raise ValueError(f'x must have C == dim == {dim} channels (B * F, N, '
                         f'{dim}), got {tuple(x.shape)}')
    if bf % num_frames:
        raise ValueError(f'x has B * F = {bf} rows, not a multiple of '
                         f'num_frames={num_frames} (shape {tuple(x.shape)})')
    if n < 1:
        raise ValueError(f'x must have N >= 1 tokens, got {tuple(x.shape)}')
    if hw is not None:
        h, w = _check_hw(hw, 'hw')
        if h * w != n:
            raise ValueError(f'hw={tuple(hw)} gives H * W = {h * w} but x has '
                             f'N = {n} tokens (shape {tuple(x.shape)})')
    return bf // num_frames, n
