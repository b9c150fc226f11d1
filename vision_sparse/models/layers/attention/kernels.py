"""Attention kernels: ``softmax(q k^T * scale) v`` three ways.

* :func:`sdpa_attention`: :func:`torch.nn.functional.scaled_dot_product_attention`
  (fused, never materialises the ``Lq x Lk`` map);
* :func:`chunked_attention`: pure PyTorch, over query chunks (and optionally
  key chunks with an online softmax); memory ``O(chunk * Lk)``;
* :func:`naive_attention`: the reference, materialises the full map; the only
  kernel that can return it.

All take ``q (..., Lq, d)``, ``k (..., Lk, d)``, ``v (..., Lk, dv)`` and return
``(..., Lq, dv)``.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

__all__ = ['naive_attention', 'sdpa_attention', 'chunked_attention']


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
