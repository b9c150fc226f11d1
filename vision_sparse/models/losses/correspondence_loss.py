"""Correspondence loss on attention maps (FramePainter matching attention).

For query tokens ``i`` of the edited frame with a known source token
``m(i)``, the loss is ``-log A[i, m(i)]`` averaged over the tokens with a
match, where ``A = softmax(logits)`` is the matching-attention map to the
source frame. It is computed from the logits as
``logsumexp_j(logits[i, j]) - logits[i, m(i)]``, which never forms ``A`` and
stays finite for any logits.

Also here: :func:`matches_from_grid` (targets from the ``grid_sample`` grid
that warped the source frame into the edited one) and :func:`match_accuracy`.
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vision_sparse.registry import MODELS
from vision_sparse.utils.checks import check_choice

INPUT_TYPES = ('logits', 'probs', 'log_probs')
HEAD_REDUCES = ('mean_prob', 'mean_loss')
REDUCTIONS = ('mean', 'sum', 'none')


def _target_log_probs(pred: Tensor, index: Tensor, input_type: str,
                      eps: float) -> Tensor:
    """``log A[..., i, index[..., i]]`` of a ``(..., Nq, Nk)`` input."""
    picked = pred.gather(-1, index[..., None]).squeeze(-1)
    if input_type == 'logits':
        return picked - torch.logsumexp(pred, dim=-1)
    if input_type == 'probs':
        return torch.log(picked.clamp(min=eps))
    return picked


def _check_options(input_type: str, head_reduce: str, reduction: str) -> None:
    check_choice('input_type', input_type, INPUT_TYPES)
    check_choice('head_reduce', head_reduce, HEAD_REDUCES)
    check_choice('reduction', reduction, REDUCTIONS)


def correspondence_loss(pred: Tensor,
                        target: Tensor,
                        valid: Optional[Tensor] = None,
                        input_type: str = 'logits',
                        head_reduce: str = 'mean_prob',
                        reduction: str = 'mean',
                        eps: float = 1e-12) -> Tensor:
    """``-log A[i, m(i)]`` over tokens with a known match.

    Args:
        pred (Tensor): attention from queries to keys, ``(B, Nq, Nk)`` or per
            head ``(B, heads, Nq, Nk)``; logits (default), probabilities or
            log-probabilities (``input_type``). For matching attention use
            frame ``f`` of its map: ``logits[:, f]``.
        target (Tensor): ``(B, Nq)`` integer key index ``m(i)`` of every query;
            negative = no match.
        valid (Tensor, optional): ``(B, Nq)`` bool, False = no match (combined
            with ``target >= 0``).
        input_type (str): ``'logits'``, ``'probs'`` or ``'log_probs'``.
        head_reduce (str): for a per-head input: ``'mean_prob'`` uses the
            head-averaged map, ``-log(mean_h A_h[i, m(i)])`` (computed with a
            log-sum-exp over heads); ``'mean_loss'`` averages the per-head
            losses, ``-mean_h log A_h[i, m(i)]``.
        reduction (str): ``'mean'`` over valid tokens (0 if there are none),
            ``'sum'``, or ``'none'`` (``(B, Nq)``, 0 at invalid tokens).
        eps (float): floor of probabilities for ``input_type='probs'``.

    Returns:
        Tensor: scalar, or ``(B, Nq)`` for ``reduction='none'``.

    Raises:
        ValueError: on inconsistent shapes, out-of-range targets or unknown
            options.
    """
    _check_options(input_type, head_reduce, reduction)
    if pred.dim() not in (3, 4):
        raise ValueError('pred must be (B, Nq, Nk) or (B, heads, Nq, Nk), '
                         f'got {tuple(pred.shape)}')
    b, nq, nk = pred.shape[0], pred.shape[-2], pred.shape[-1]
    if target.shape != (b, nq) or target.dtype.is_floating_point:
        raise ValueError(f'target must be an integer tensor (B, Nq) = '
                         f'{(b, nq)}, got {tuple(target.shape)} {target.dtype}')
    if bool((target >= nk).any()):
        raise ValueError(f'target indices must be < Nk={nk}, '
                         f'got max {int(target.max())}')
    mask = target >= 0
    if valid is not None:
        if valid.shape != (b, nq):
            raise ValueError(f'valid must be (B, Nq) = {(b, nq)}, '
                             f'got {tuple(valid.shape)}')
        mask = mask & valid.bool()
    index = target.clamp(min=0).long()
    if pred.dim() == 4:
        heads = pred.shape[1]
        logp = _target_log_probs(pred, index[:, None].expand(-1, heads, -1),
                                 input_type, eps)  # (B, heads, Nq)
        if head_reduce == 'mean_prob':
            logp = torch.logsumexp(logp, dim=1) - math.log(heads)
        else:
            logp = logp.mean(dim=1)
    else:
        logp = _target_log_probs(pred, index, input_type, eps)
    nll = torch.where(mask, -logp, torch.zeros_like(logp))
    if reduction == 'none':
        return nll
    if reduction == 'sum':
        return nll.sum()
    return nll.sum() / mask.sum().clamp(min=1).to(nll.dtype)


@MODELS.register_module()
class CorrespondenceLoss(nn.Module):
    """Supervise an attention map with known correspondences.

    Args:
        input_type (str): ``'logits'`` (recommended: stable), ``'probs'`` or
            ``'log_probs'``.
        head_reduce (str): ``'mean_prob'`` or ``'mean_loss'`` for per-head
            inputs (see :func:`correspondence_loss`).
        reduction (str): ``'mean'``, ``'sum'`` or ``'none'``.
        loss_weight (float): multiplier of the loss.
        eps (float): probability floor for ``input_type='probs'``.
    """

    def __init__(self,
                 input_type: str = 'logits',
                 head_reduce: str = 'mean_prob',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        _check_options(input_type, head_reduce, reduction)
        self.input_type = input_type
        self.head_reduce = head_reduce
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.eps = eps

    def forward(self,
                pred: Tensor,
                target: Tensor,
                valid: Optional[Tensor] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """
        Args:
            pred (Tensor): ``(B, Nq, Nk)`` or ``(B, heads, Nq, Nk)``, e.g.
                ``logits[:, 1]`` of ``MatchingAttention(..., return_attn=True,
                attn_type='logits', attn_reduce='none')`` for frame 1 -> source.
            target (Tensor): ``(B, Nq)`` key index per query, negative = none.
            valid (Tensor, optional): ``(B, Nq)`` bool.
            reduction_override (str, optional): overrides ``reduction``.

        Returns:
            Tensor: ``loss_weight *`` the loss (scalar or ``(B, Nq)``).
        """
        reduction = reduction_override or self.reduction
        return self.loss_weight * correspondence_loss(
            pred, target, valid, input_type=self.input_type,
            head_reduce=self.head_reduce, reduction=reduction, eps=self.eps)


def matches_from_grid(grid: Tensor,
                      token_hw: Tuple[int, int],
                      align_corners: bool = False
                      ) -> Tuple[Tensor, Tensor, Tensor]:
    """Ground-truth token matches of a frame made by ``grid_sample``.

    If ``edited = grid_sample(source, grid, align_corners=...)``, pixel ``p``
    of the edited frame shows source position ``grid[p]``. This samples the
    grid at the centre of every ``H / h x W / w`` token of the edited frame
    and converts the source position to token units.

    Args:
        grid (Tensor): ``(B, H, W, 2)`` normalised ``(x, y)`` source positions
            in ``[-1, 1]`` (``grid_sample`` convention).
        token_hw (tuple[int, int]): token grid ``(h, w)`` of both frames; ``H``
            and ``W`` must be multiples of ``h`` and ``w``.
        align_corners (bool): the ``grid_sample`` convention used.

    Returns:
        tuple[Tensor, Tensor, Tensor]:
        ``target`` ``(B, h * w)`` long, row-major source token index of every
        edited-frame token (-1 where it falls outside the source);
        ``valid`` ``(B, h * w)`` bool;
        ``coords`` ``(B, h * w, 2)`` continuous source coordinates ``(x, y)``
        in token units (token ``(c, r)`` has its centre at ``(c, r)``).
    """
    if grid.dim() != 4 or grid.shape[-1] != 2:
        raise ValueError(f'grid must be (B, H, W, 2), got {tuple(grid.shape)}')
    if (len(token_hw) != 2 or any(int(s) < 1 for s in token_hw)):
        raise ValueError(f'token_hw must be (h, w) positive, got {token_hw!r}')
    h, w = int(token_hw[0]), int(token_hw[1])
    b, hh, ww, _ = grid.shape
    if hh % h or ww % w:
        raise ValueError(f'grid size {(hh, ww)} must be a multiple of '
                         f'token_hw={(h, w)}')
    # Bilinear down-sampling by an integer factor (align_corners=False, no
    # antialias) samples exactly at the token centres.
    centres = F.interpolate(grid.permute(0, 3, 1, 2), size=(h, w),
                            mode='bilinear', align_corners=False)
    u = centres.permute(0, 2, 3, 1).reshape(b, h * w, 2)
    size = torch.tensor([w, h], dtype=u.dtype, device=u.device)
    if align_corners:
        # u = -1 / +1 at the centres of the first / last pixel.
        px_size = torch.tensor([ww, hh], dtype=u.dtype, device=u.device)
        pix = (u + 1) / 2 * (px_size - 1)
        coords = (pix + 0.5) * size / px_size - 0.5
    else:
        coords = ((u + 1) * size - 1) / 2
    rounded = torch.round(coords).long()
    valid = ((rounded[..., 0] >= 0) & (rounded[..., 0] < w)
             & (rounded[..., 1] >= 0) & (rounded[..., 1] < h))
    target = torch.where(valid, rounded[..., 1] * w + rounded[..., 0],
                         torch.full_like(rounded[..., 0], -1))
    return target, valid, coords


def match_accuracy(pred_xy: Tensor,
                   target: Tensor,
                   valid: Tensor,
                   hw: Tuple[int, int],
                   radius: float = 1.0) -> Tensor:
    """Fraction of valid tokens matched within ``radius`` tokens.

    Args:
        pred_xy (Tensor): ``(..., N, 2)`` predicted ``(x, y)`` in token units
            (e.g. from :func:`attention_to_matches`).
        target (Tensor): ``(..., N)`` true key index (row-major on ``hw``).
        valid (Tensor): ``(..., N)`` bool.
        hw (tuple[int, int]): key token grid ``(h, w)``.
        radius (float): tolerance in tokens, per axis (Chebyshev distance;
            1 = the true token or one of its 8 neighbours).

    Returns:
        Tensor: 0-d float in ``[0, 1]`` (0 if nothing is valid).
    """
    if pred_xy.shape[-1] != 2 or pred_xy.shape[:-1] != target.shape:
        raise ValueError(f'pred_xy must be (..., N, 2) matching target '
                         f'(..., N), got {tuple(pred_xy.shape)} and '
                         f'{tuple(target.shape)}')
    if valid.shape != target.shape:
        raise ValueError(f'valid must have the shape of target '
                         f'{tuple(target.shape)}, got {tuple(valid.shape)}')
    w = int(hw[1])
    t = target.clamp(min=0)
    true_xy = torch.stack([t % w, torch.div(t, w, rounding_mode='floor')],
                          dim=-1).to(pred_xy.dtype)
    err = (pred_xy - true_xy).abs().amax(dim=-1)
    ok = (err <= radius) & valid.bool()
    return ok.sum().float() / valid.sum().clamp(min=1).float()


__all__ = [
    'CorrespondenceLoss', 'correspondence_loss', 'matches_from_grid',
    'match_accuracy'
]
