"""Mutual nearest neighbours on descriptor similarity (XFeat's matcher, FaVoR's tracker)."""
from typing import Optional, Tuple

import torch
from torch import Tensor

__all__ = ['mutual_nn', 'mutual_nn_match']


def mutual_nn(desc0: Tensor, desc1: Tensor, threshold: Optional[float] = None
              ) -> Tuple[Tensor, Tensor, Tensor]:
    """Mutual nearest neighbours by dot-product (cosine for unit vectors) similarity.

    ``(i, j)`` is kept when ``j`` is the most similar descriptor of ``desc1`` to
    ``desc0[i]``, ``i`` the most similar of ``desc0`` to ``desc1[j]``, and their
    similarity is at least ``threshold``. Ties go to the lowest index.

    Args:
        desc0 (Tensor): ``(N0, C)`` descriptors (unit vectors for cosine similarity).
        desc1 (Tensor): ``(N1, C)`` descriptors.
        threshold (float, optional): minimum similarity (in ``[-1, 1]`` for unit
            vectors); None keeps every mutual pair.

    Returns:
        tuple: ``i0 (K,)`` and ``i1 (K,)`` int64 indices into ``desc0`` / ``desc1``
        (increasing ``i0``) and ``sim (K,)`` float32 similarities, on the
        descriptors' device; ``K = 0`` when either set is empty.

    Raises:
        ValueError: if the descriptors are not 2-D with the same width.
    """
    if desc0.dim() != 2 or desc1.dim() != 2 or desc0.shape[1] != desc1.shape[1]:
        raise ValueError(f'desc0 and desc1 must be (N0, C) and (N1, C), got '
                         f'{tuple(desc0.shape)} and {tuple(desc1.shape)}')
    if desc0.shape[0] == 0 or desc1.shape[0] == 0:
        empty = torch.zeros(0, dtype=torch.long, device=desc0.device)
        return empty, empty.clone(), torch.zeros(0, device=desc0.device)
    sim = desc0.float() @ desc1.float().T
    # max over the contiguous last dim (values and first-max indices) is ~3x
    # faster on CPU than argmax, and ~2.5x faster than reducing over dim 0 in
    # place even with the transposed copy
    score, best01 = sim.max(1)
    best10 = sim.T.contiguous().max(1).indices
    i0 = torch.arange(desc0.shape[0], device=sim.device)
    keep = best10[best01] == i0
    if threshold is not None:
        keep &= score >= threshold
    return i0[keep], best01[keep], score[keep]


def mutual_nn_match(desc0: Tensor, desc1: Tensor, threshold: float) -> Tensor:
    """:func:`mutual_nn` as one ``(K, 3)`` float tensor ``(i0, i1, similarity)``.

    Args:
        desc0 (Tensor): (N0, C) unit descriptors.
        desc1 (Tensor): (N1, C) unit descriptors.
        threshold (float): minimum cosine similarity, in ``[-1, 1]``.

    Returns:
        Tensor: (K, 3) float ``(i0, i1, similarity)``; empty (0, 3) if none.
    """
    i0, i1, sim = mutual_nn(desc0, desc1, threshold)
    return torch.stack([i0.float(), i1.float(), sim], -1)
