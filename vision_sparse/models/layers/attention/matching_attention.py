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

Three kernels compute ``softmax(Q K^T * scale) V``:

* ``'sdpa'``: :func:`torch.nn.functional.scaled_dot_product_attention` (fused,
  never materialises the ``N x N`` map);
* ``'chunked'``: pure PyTorch, over query chunks (and optionally key chunks
  with an online softmax); memory ``O(chunk * N)``;
* ``'naive'``: the reference, materialises the full map; the only kernel that
  can return the map.
"""
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from vision_sparse.registry import MODELS

ATTN_IMPLS = ('auto', 'sdpa', 'chunked', 'naive')
ATTN_REDUCES = ('mean', 'none')
ATTN_TYPES = ('probs', 'logits')


# --------------------------------------------------------------------------
# kernels: softmax(q k^T * scale) v
# --------------------------------------------------------------------------
def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    if q.dim() < 2 or k.dim() != q.dim() or v.dim() != q.dim():
        raise ValueError('q, k, v must have the same number of dims (..., L, d), '
                         f'got {tuple(q.shape)}, {tuple(k.shape)}, '
                         f'{tuple(v.shape)}')
    if q.shape[:-2] != k.shape[:-2] or k.shape[:-1] != v.shape[:-1]:
        raise ValueError('q (..., Lq, d), k (..., Lk, d) and v (..., Lk, dv) '
                         'must agree in their leading dims and Lk, got '
                         f'{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}')
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f'q and k must have the same last dim d, got '
                         f'{q.shape[-1]} and {k.shape[-1]}')


def naive_attention(q: Tensor, k: Tensor, v: Tensor,
                    scale: float) -> Tuple[Tensor, Tensor]:
    """Reference attention that materialises the logits.

    Args:
        q (Tensor): queries ``(..., Lq, d)``.
        k (Tensor): keys ``(..., Lk, d)``.
        v (Tensor): values ``(..., Lk, dv)``.
        scale (float): logit scale, usually ``d ** -0.5``.

    Returns:
        tuple[Tensor, Tensor]: output ``(..., Lq, dv)`` and the logits
        ``q k^T * scale`` of shape ``(..., Lq, Lk)``.
    """
    _check_qkv(q, k, v)
    logits = torch.matmul(q, k.transpose(-1, -2)) * scale
    return torch.matmul(torch.softmax(logits, dim=-1), v), logits


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    """Fused attention (:func:`torch.nn.functional.scaled_dot_product_attention`).

    Args:
        q (Tensor): queries ``(..., Lq, d)``.
        k (Tensor): keys ``(..., Lk, d)``.
        v (Tensor): values ``(..., Lk, dv)``.
        scale (float): logit scale.

    Returns:
        Tensor: ``(..., Lq, dv)``.
    """
    _check_qkv(q, k, v)
    return F.scaled_dot_product_attention(q, k, v, scale=scale)


def _attend_chunk(q: Tensor, k: Tensor, v: Tensor,
                  key_chunk_size: Optional[int]) -> Tensor:
    """``softmax(q k^T) v`` for one chunk of (pre-scaled) queries."""
    num_keys = k.shape[-2]
    if key_chunk_size is None or key_chunk_size >= num_keys:
        logits = torch.matmul(q, k.transpose(-1, -2))
        return torch.matmul(torch.softmax(logits, dim=-1), v)
    # Online softmax: running max m (a constant for the maths, so detached),
    # running normaliser l and running numerator acc.
    run_max = run_sum = acc = None
    for start in range(0, num_keys, key_chunk_size):
        k_c = k[..., start:start + key_chunk_size, :]
        v_c = v[..., start:start + key_chunk_size, :]
        logits = torch.matmul(q, k_c.transpose(-1, -2))
        chunk_max = logits.detach().amax(dim=-1, keepdim=True)
        new_max = chunk_max if run_max is None else torch.maximum(
            run_max, chunk_max)
        p = torch.exp(logits - new_max)
        if acc is None:
            run_sum = p.sum(dim=-1, keepdim=True)
            acc = torch.matmul(p, v_c)
        else:
            corr = torch.exp(run_max - new_max)
            run_sum = run_sum * corr + p.sum(dim=-1, keepdim=True)
            acc = acc * corr + torch.matmul(p, v_c)
        run_max = new_max
    return acc / run_sum


def chunked_attention(q: Tensor,
                      k: Tensor,
                      v: Tensor,
                      scale: float,
                      chunk_size: int = 512,
                      key_chunk_size: Optional[int] = None,
                      checkpoint_chunks: bool = True) -> Tensor:
    """Memory-bounded attention in pure PyTorch.

    Queries are processed ``chunk_size`` at a time; with ``key_chunk_size`` the
    keys too, merged with an online (running log-sum-exp) softmax. The largest
    temporary is ``(..., chunk_size, key_chunk_size or Lk)``.

    Args:
        q (Tensor): queries ``(..., Lq, d)``.
        k (Tensor): keys ``(..., Lk, d)``.
        v (Tensor): values ``(..., Lk, dv)``.
        scale (float): logit scale.
        chunk_size (int): queries per chunk, ``>= 1``.
        key_chunk_size (int, optional): keys per chunk; None = all keys at once.
        checkpoint_chunks (bool): when autograd records, recompute each chunk in
            the backward pass (:func:`torch.utils.checkpoint.checkpoint`) so the
            backward pass is memory-bounded too.

    Returns:
        Tensor: ``(..., Lq, dv)``.
    """
    _check_qkv(q, k, v)
    if chunk_size < 1:
        raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
    if key_chunk_size is not None and key_chunk_size < 1:
        raise ValueError(f'key_chunk_size must be >= 1 or None, '
                         f'got {key_chunk_size}')
    recording = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad
                                             or v.requires_grad)
    # Scaling the (small) queries once saves a pass over every logit chunk.
    q = q * scale
    outs = []
    for start in range(0, q.shape[-2], chunk_size):
        q_c = q[..., start:start + chunk_size, :]
        if checkpoint_chunks and recording:
            out = checkpoint(_attend_chunk, q_c, k, v, key_chunk_size,
                             use_reentrant=False)
        else:
            out = _attend_chunk(q_c, k, v, key_chunk_size)
        outs.append(out)
    return torch.cat(outs, dim=-2)


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

    ``default_conf`` lists the arguments after ``dim`` with their defaults.

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

    default_conf: Dict[str, Any] = dict(
        num_heads=8,
        num_frames=2,
        source_frame=0,
        qkv_bias=False,
        attn_impl='auto',
        chunk_size=512,
        key_chunk_size=None,
        checkpoint_chunks=True,
        attn_reduce='mean',
        zero_init_out=True,
        inner_dim=None,
        out_bias=True,
    )

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
        if attn_impl not in ATTN_IMPLS:
            raise ValueError(f'attn_impl must be one of {ATTN_IMPLS}, '
                             f'got {attn_impl!r}')
        if attn_reduce not in ATTN_REDUCES:
            raise ValueError(f'attn_reduce must be one of {ATTN_REDUCES}, '
                             f'got {attn_reduce!r}')
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
        if attn_reduce not in ATTN_REDUCES:
            raise ValueError(f'attn_reduce must be one of {ATTN_REDUCES}, '
                             f'got {attn_reduce!r}')
        if attn_type not in ATTN_TYPES:
            raise ValueError(f'attn_type must be one of {ATTN_TYPES}, '
                             f'got {attn_type!r}')
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


# --------------------------------------------------------------------------
# adding the branch to an existing self-attention
# --------------------------------------------------------------------------
def _attention_kind(module: nn.Module) -> str:
    if isinstance(module, nn.MultiheadAttention):
        return 'mha'
    if all(hasattr(module, name) for name in ('to_q', 'to_k', 'to_v',
                                              'to_out')):
        return 'proj'
    raise ValueError('self_attn must be a torch.nn.MultiheadAttention or a '
                     'module with to_q / to_k / to_v / to_out projections, got '
                     f'{type(module).__name__}')


def _first_linear(module: nn.Module, name: str) -> nn.Linear:
    """``module`` itself or the first Linear of a ModuleList / Sequential."""
    if isinstance(module, nn.Linear):
        return module
    if isinstance(module, (nn.ModuleList, nn.Sequential)):
        for sub in module:
            if isinstance(sub, nn.Linear):
                return sub
    raise ValueError(f'{name} must be an nn.Linear (or a list starting with '
                     f'one), got {type(module).__name__}')


def _source_qkv(self_attn: nn.Module) -> Dict[str, Any]:
    """Embedding dims, heads and q/k/v weights ``(out, in)`` / biases."""
    if _attention_kind(self_attn) == 'mha':
        dim = self_attn.embed_dim
        if self_attn._qkv_same_embed_dim:
            weights = self_attn.in_proj_weight.chunk(3, dim=0)
        else:
            if self_attn.kdim != dim or self_attn.vdim != dim:
                raise ValueError('self_attn must be a self-attention '
                                 '(kdim == vdim == embed_dim)')
            weights = (self_attn.q_proj_weight, self_attn.k_proj_weight,
                       self_attn.v_proj_weight)
        biases = (self_attn.in_proj_bias.chunk(3, dim=0)
                  if self_attn.in_proj_bias is not None else (None, ) * 3)
        return dict(dim=dim, inner_dim=dim, num_heads=self_attn.num_heads,
                    weights=weights, biases=biases)
    lins = [_first_linear(getattr(self_attn, n), n)
            for n in ('to_q', 'to_k', 'to_v')]
    dim = lins[0].in_features
    inner = lins[0].out_features
    for name, lin in zip(('to_k', 'to_v'), lins[1:]):
        if lin.in_features != dim or lin.out_features != inner:
            raise ValueError(f'self_attn.{name} must map {dim} -> {inner} '
                             'channels like to_q (a self-attention), got '
                             f'{lin.in_features} -> {lin.out_features}')
    heads = getattr(self_attn, 'heads', getattr(self_attn, 'num_heads', None))
    return dict(dim=dim, inner_dim=inner, num_heads=heads,
                weights=tuple(lin.weight for lin in lins),
                biases=tuple(lin.bias for lin in lins))


@MODELS.register_module()
class MatchingAttentionBlock(nn.Module):
    """A self-attention module plus a matching-attention branch.

    A drop-in replacement of the wrapped self-attention: it is called with the
    same arguments and returns the same structure, with the matching branch
    added to the attention output (the first element when the wrapped module
    returns a tuple, as ``nn.MultiheadAttention`` does). With the branch's
    zero output projection, the block's output equals the wrapped module's
    bit for bit until the branch is trained.

    Supported wrapped modules:

    * ``torch.nn.MultiheadAttention`` used as self-attention; the tokens are
      its ``query`` argument, ``(B * F, N, C)`` with ``batch_first=True``,
      ``(N, B * F, C)`` otherwise;
    * any module with ``to_q``, ``to_k``, ``to_v`` and ``to_out`` (Linear or a
      list starting with one, like diffusers' ``Attention``); the tokens are
      its first argument or ``hidden_states``, ``(B * F, N, C)``.

    Args:
        self_attn (nn.Module | dict): the existing self-attention (or a config
            built with ``MODELS``).
        matching (MatchingAttention | dict): the branch (or its config).

    Attributes:
        num_frames (int, optional): ``F`` used when the call does not pass
            ``num_frames``; None = ``matching.num_frames``.
    """

    def __init__(self, self_attn: Union[nn.Module, dict],
                 matching: Union[MatchingAttention, dict]) -> None:
        super().__init__()
        if isinstance(self_attn, dict):
            self_attn = MODELS.build(self_attn)
        if isinstance(matching, dict):
            matching = MODELS.build(matching)
        if not isinstance(matching, MatchingAttention):
            raise ValueError('matching must be a MatchingAttention, got '
                             f'{type(matching).__name__}')
        self.kind = _attention_kind(self_attn)
        info = _source_qkv(self_attn)
        if info['dim'] != matching.dim:
            raise ValueError(f'matching.dim={matching.dim} must equal the '
                             f'self-attention dim {info["dim"]}')
        self.self_attn = self_attn
        self.matching = matching
        self.num_frames: Optional[int] = None

    def _tokens(self, args: tuple, kwargs: dict) -> Tensor:
        key = 'query' if self.kind == 'mha' else 'hidden_states'
        if args:
            x = args[0]
        elif key in kwargs:
            x = kwargs[key]
        else:
            raise ValueError(f'the tokens must be the first argument or '
                             f'{key}=..., got neither')
        if self.kind == 'mha' and not self.self_attn.batch_first:
            if not isinstance(x, Tensor) or x.dim() != 3:
                raise ValueError('query must be (N, B * F, C) for a '
                                 'MultiheadAttention with batch_first=False')
            x = x.transpose(0, 1)
        return x

    def forward(self, *args: Any, num_frames: Optional[int] = None,
                hw: Optional[Tuple[int, int]] = None, **kwargs: Any) -> Any:
        """Run the self-attention and add the matching branch.

        Args:
            *args: positional arguments of the wrapped module; the first (or
                ``query`` / ``hidden_states``) are the tokens ``(B * F, N, C)``.
            num_frames (int, optional): ``F``; None = :attr:`num_frames` or
                ``matching.num_frames``. Not passed to the wrapped module.
            hw (tuple[int, int], optional): token grid, checked only.
            **kwargs: keyword arguments of the wrapped module.

        Returns:
            Whatever the wrapped module returns, with the matching output
            ``(B * F, N, C)`` (transposed back for ``batch_first=False``) added
            to the attention output.
        """
        x = self._tokens(args, kwargs)
        if num_frames is None:
            num_frames = self.num_frames
        extra = self.matching(x, num_frames=num_frames, hw=hw)
        if self.kind == 'mha' and not self.self_attn.batch_first:
            extra = extra.transpose(0, 1)
        out = self.self_attn(*args, **kwargs)
        if isinstance(out, tuple):
            return (out[0] + extra, ) + tuple(out[1:])
        if isinstance(out, list):
            return [out[0] + extra] + list(out[1:])
        return out + extra


def add_matching_attention(self_attn: nn.Module,
                           num_heads: Optional[int] = None,
                           num_frames: int = 2,
                           source_frame: int = 0,
                           copy_qkv: bool = True,
                           qkv_bias: Optional[bool] = None,
                           **matching_kwargs: Any) -> MatchingAttentionBlock:
    """Wrap an existing self-attention with a zero-initialised matching branch.

    Replace the module in its parent with the result, e.g.
    ``block.attn1 = add_matching_attention(block.attn1)``; the network's
    output is unchanged until the branch's output projection is trained.

    Args:
        self_attn (nn.Module): ``nn.MultiheadAttention`` or a module with
            ``to_q/to_k/to_v/to_out`` linears (see
            :class:`MatchingAttentionBlock`).
        num_heads (int, optional): heads of the branch; None = those of
            ``self_attn`` (``num_heads`` / ``heads`` attribute).
        num_frames (int): frames ``F`` per video.
        source_frame (int): frame giving keys and values.
        copy_qkv (bool): initialise the branch's q/k/v projections with copies
            of ``self_attn``'s (then they start as good matchers of the
            pretrained features). False keeps PyTorch's default init.
        qkv_bias (bool, optional): q/k/v biases; None = as in ``self_attn``
            (needed to copy them).
        **matching_kwargs: other :class:`MatchingAttention` arguments
            (``attn_impl``, ``chunk_size``, ...).

    Returns:
        MatchingAttentionBlock: the wrapper, holding ``self_attn`` itself (not
        a copy).

    Raises:
        ValueError: for an unsupported module or inconsistent sizes.
    """
    info = _source_qkv(self_attn)
    if num_heads is None:
        num_heads = info['num_heads']
        if num_heads is None:
            raise ValueError('num_heads is None and self_attn has no '
                             '`num_heads` / `heads` attribute; pass num_heads')
    has_bias = info['biases'][0] is not None
    if qkv_bias is None:
        qkv_bias = has_bias
    ref = info['weights'][0]
    matching = MatchingAttention(
        info['dim'], num_heads=num_heads, num_frames=num_frames,
        source_frame=source_frame, qkv_bias=qkv_bias,
        inner_dim=info['inner_dim'], **matching_kwargs).to(
            device=ref.device, dtype=ref.dtype)
    if copy_qkv:
        with torch.no_grad():
            for lin, weight, bias in zip(
                    (matching.to_q, matching.to_k, matching.to_v),
                    info['weights'], info['biases']):
                lin.weight.copy_(weight)
                if lin.bias is not None:
                    if bias is None:
                        lin.bias.zero_()
                    else:
                        lin.bias.copy_(bias)
    return MatchingAttentionBlock(self_attn, matching)


__all__ = [
    'MatchingAttention', 'MatchingAttentionBlock', 'add_matching_attention',
    'attention_to_matches', 'naive_attention', 'sdpa_attention',
    'chunked_attention', 'ATTN_IMPLS'
]
