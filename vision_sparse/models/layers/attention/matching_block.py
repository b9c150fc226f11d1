"""Adding a matching-attention branch to an existing self-attention.

:class:`MatchingAttentionBlock` wraps a self-attention module
(``nn.MultiheadAttention`` or a diffusers-style module with ``to_q`` /
``to_k`` / ``to_v`` / ``to_out``) and adds the output of a
:class:`~vision_sparse.models.layers.attention.MatchingAttention` branch to
its output; :func:`add_matching_attention` builds the branch with the wrapped
module's sizes and copies its q/k/v projections into it.
"""
from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from vision_sparse.registry import MODELS
from .matching_attention import MatchingAttention

__all__ = [
    'MatchingAttentionBlock', 'add_matching_attention', 'copy_qkv_projections'
]


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


@torch.no_grad()
def copy_qkv_projections(self_attn: nn.Module,
                         matching: MatchingAttention) -> None:
    """Copy a self-attention's q/k/v projections into a matching branch.

    Then the branch starts as a good matcher of the pretrained features.

    Args:
        self_attn (nn.Module): ``nn.MultiheadAttention`` or a module with
            ``to_q/to_k/to_v`` linears (see :class:`MatchingAttentionBlock`).
        matching (MatchingAttention): the branch, with the same ``dim`` and
            ``inner_dim``; a bias of the branch that ``self_attn`` lacks is
            set to 0.

    Raises:
        ValueError: for an unsupported module or other sizes.
    """
    info = _source_qkv(self_attn)
    if (info['dim'], info['inner_dim']) != (matching.dim, matching.inner_dim):
        raise ValueError(
            'matching must have the dim and inner_dim of self_attn '
            f'{(info["dim"], info["inner_dim"])}, got '
            f'{(matching.dim, matching.inner_dim)}')
    for lin, weight, bias in zip((matching.to_q, matching.to_k, matching.to_v),
                                 info['weights'], info['biases']):
        lin.weight.copy_(weight)
        if lin.bias is not None:
            if bias is None:
                lin.bias.zero_()
            else:
                lin.bias.copy_(bias)


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
        copy_qkv_projections(self_attn, matching)
    return MatchingAttentionBlock(self_attn, matching)
