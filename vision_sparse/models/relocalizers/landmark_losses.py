"""FaVoR's training loss of the landmark voxel grids, and the PSNR of a landmark.

A landmark's loss is the mean over its rays of::

    MSE(d, f) + entropy_weight * H(T_last) + cosine_weight * (1 - cos(d, f))

with ``d`` the rendered descriptor clamped to ``[-1, 1]``, ``f`` the target,
``H`` the binary entropy of the final transmittance (pushes each ray to be
either fully absorbed or empty; weight 0.1) and the cosine term (weight 0.2)
on from an early step; the trainer adds a total-variation term on the grids
(:func:`total_variation`) during the last quarter of the steps.

Two implementations of the same numbers:

* :func:`landmark_loss_terms`: every term per landmark, plain autograd (the
  reference; used for evaluation).
* :func:`fused_landmark_loss`: only the summed total, with a hand-written
  backward (used for training; the tests check it against autograd of the
  reference in float64).

A landmark's PSNR is ``10 log10(4 / loss)`` (:func:`loss_to_psnr`; the official
``mse2psnr(loss / 4)``: descriptors span ``[-1, 1]``).
"""
from typing import Dict

import torch
from torch import Tensor

__all__ = ['binary_entropy', 'landmark_loss_terms', 'fused_landmark_loss', 'total_variation',
           'loss_to_psnr']


def binary_entropy(t_last: Tensor) -> Tensor:
    """``H(T)`` of the final transmittance (any shape), ``T`` clamped to ``[1e-6, 1 - 1e-6]``."""
    p = t_last.clamp(1e-6, 1 - 1e-6)
    return -(p * torch.log(p) + (1 - p) * torch.log1p(-p))


def landmark_loss_terms(desc: Tensor, t_last: Tensor, target: Tensor, landmark: Tensor,
                        num_landmarks: int, entropy_weight: float, cosine_weight: float,
                        rays_each: int = 0) -> Dict[str, Tensor]:
    """Per-landmark loss terms, each a mean over that landmark's rays.

    Args:
        desc (Tensor): (R, C) clamped rendered descriptors.
        t_last (Tensor): (R,) final transmittance.
        target (Tensor): (R, C) targets.
        landmark (Tensor): (R,) landmark of each ray (``[0, num_landmarks)``).
        num_landmarks (int): L.
        entropy_weight (float): weight of the entropy term in ``total``.
        cosine_weight (float): weight of the cosine term in ``total`` (0: left out).
        rays_each (int): > 0 when the rays are ``rays_each`` consecutive rays per
            landmark in landmark order (a faster reshape instead of a scatter).

    Returns:
        dict: ``mse``, ``entropy``, ``cosine``, ``total`` -- each (L,).
    """
    if rays_each > 0:
        def per_lm(v):
            return v.reshape(num_landmarks, rays_each).mean(1)
    else:
        cnt = torch.bincount(landmark, minlength=num_landmarks).clamp_min(1).to(desc)

        def per_lm(v):
            return torch.zeros(num_landmarks, dtype=desc.dtype).index_add(0, landmark, v) / cnt

    target = target.to(desc)
    mse = per_lm((desc - target).square().mean(-1))
    ent = per_lm(binary_entropy(t_last))
    dot = (desc * target).sum(-1)
    norms = (desc.square().sum(-1) * target.square().sum(-1)).clamp_min(1e-12).sqrt()
    cos = per_lm(1 - dot / norms)
    total = mse + entropy_weight * ent
    if cosine_weight:
        total = total + cosine_weight * cos
    return dict(mse=mse, entropy=ent, cosine=cos, total=total)


class _FusedRayLoss(torch.autograd.Function):
    """``sum_r weight_r * (MSE_r + ew H(T_r) + cw (1 - cos_r))`` of clamped
    descriptors, with a hand-written backward.

    About a third of autograd's passes over the ``(R, C)`` tensors: the
    gradient of the clamped descriptor ``d`` is ``a_r d + b_r t`` (one fused
    expression), and the target norms are computed once per training run.
    """

    @staticmethod
    def forward(ctx, feat, t_last, target, weight, tt, ent_w: float, cos_w: float):
        C = feat.shape[-1]
        d = feat.clamp(-1.0, 1.0)
        diff = d - target
        mse = torch.linalg.vecdot(diff, diff) / C
        dt = torch.linalg.vecdot(d, target)
        dd = torch.linalg.vecdot(d, d)
        nn2 = dd * tt
        n = nn2.clamp_min(1e-12).sqrt()
        per_ray = mse + ent_w * binary_entropy(t_last)
        if cos_w:
            per_ray = per_ray + cos_w * (1 - dt / n)
        ctx.save_for_backward(feat, d, t_last, target, weight, dt, dd, n, nn2)
        ctx.ent_w, ctx.cos_w = ent_w, cos_w
        return (weight * per_ray).sum()

    @staticmethod
    def backward(ctx, g):
        feat, d, t_last, target, weight, dt, dd, n, nn2 = ctx.saved_tensors
        C = feat.shape[-1]
        gw = g * weight
        a = torch.full_like(dt, 2.0 / C)
        b = torch.full_like(dt, -2.0 / C)
        if ctx.cos_w:
            live = nn2 >= 1e-12  # where clamp_min passes the norm's gradient
            a = a + torch.where(live, ctx.cos_w * dt / (dd.clamp_min(1e-30) * n),
                                torch.zeros_like(dt))
            b = b - ctx.cos_w / n
        grad_d = torch.addcmul((gw * b)[:, None] * target, (gw * a)[:, None], d)
        grad_feat = grad_d.masked_fill_(feat.abs() > 1.0, 0.0)
        grad_t = None
        if ctx.needs_input_grad[1]:
            inside = (t_last >= 1e-6) & (t_last <= 1 - 1e-6)
            p = t_last.clamp(1e-6, 1 - 1e-6)
            grad_t = torch.where(inside, gw * ctx.ent_w * (torch.log1p(-p) - torch.log(p)),
                                 torch.zeros_like(p))
        return grad_feat, grad_t, None, None, None, None, None


def fused_landmark_loss(feat: Tensor, t_last: Tensor, target: Tensor, landmark: Tensor,
                        num_landmarks: int, entropy_weight: float, cosine_weight: float,
                        target_sq_norms: Tensor, rays_each: int = 0) -> Tensor:
    """Sum over landmarks of :func:`landmark_loss_terms` ``['total']``, with a fused backward.

    Args:
        feat (Tensor): (R, C) *unclamped* rendered descriptors (clamped here).
        t_last (Tensor): (R,) final transmittance.
        target (Tensor): (R, C) targets.
        landmark (Tensor): (R,) landmark of each ray.
        num_landmarks (int): L.
        entropy_weight, cosine_weight (float): term weights (cosine 0: left out).
        target_sq_norms (Tensor): (R,) squared norms of ``target`` (computed once
            per training run by the caller).
        rays_each (int): as in :func:`landmark_loss_terms`.

    Returns:
        Tensor: scalar loss.
    """
    if rays_each > 0:
        weight = torch.full_like(t_last, 1.0 / rays_each)
    else:
        cnt = torch.bincount(landmark, minlength=num_landmarks).clamp_min(1).to(feat)
        weight = 1.0 / cnt[landmark]
    return _FusedRayLoss.apply(feat, t_last, target.to(feat), weight, target_sq_norms.to(feat),
                               float(entropy_weight), float(cosine_weight))


def total_variation(grid: Tensor) -> Tensor:
    """(L,) mean squared difference of neighbouring cells, summed over the 3 grid axes.

    Args:
        grid (Tensor): (L, ..., G, G, G).
    """
    dims = grid.dim()
    out = 0
    for ax in (dims - 3, dims - 2, dims - 1):
        d = torch.diff(grid, dim=ax)
        out = out + (d ** 2).reshape(grid.shape[0], -1).mean(-1)
    return out


def loss_to_psnr(loss: Tensor) -> Tensor:
    """PSNR (dB) ``10 log10(4 / loss)`` of a landmark loss (any shape; loss clamped to 1e-12)."""
    return 10 * torch.log10(4.0 / loss.clamp_min(1e-12))
