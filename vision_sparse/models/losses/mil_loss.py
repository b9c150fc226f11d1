"""Multiple-instance-learning (MIL) losses of PointOBB / P2BNet.

A *bag* is the set of proposals of one annotated object; only the bag's class is
known. Each proposal ``j`` has class probabilities ``c_j`` (C,) and instance logits
``i_j`` (C,); the instance logits are turned into weights over the bag by a softmax
over its (valid) proposals, renormalised to sum to 1, and the bag score is

    bag = sum_j c_j * softmax_j(i_j)            (C,)

which is trained against the one-hot class label: binary cross-entropy in stage 0
(``c`` from a softmax over C + 1 classes, background included), a focal-style
cross-entropy in stage 1 (``c`` from sigmoids), ``-(p - q)^2 * (q log p + (1 - q)
log(1 - p))`` summed over classes.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vision_sparse.registry import MODELS

__all__ = ['MILLoss', 'mil_instance_weights', 'focal_bce']


def mil_instance_weights(ins_logits: Tensor, valid: Tensor) -> Tensor:
    """Softmax over the proposals of each bag, invalid ones zeroed, renormalised.

    Args:
        ins_logits (Tensor): (B, N, C) instance logits.
        valid (Tensor): (B, N) bool / 0-1.

    Returns:
        Tensor: (B, N, C), summing to 1 over N for bags with a valid proposal (0 else).
    """
    w = ins_logits.softmax(dim=1) * valid[..., None].to(ins_logits.dtype)
    return F.normalize(w, p=1, dim=1)


def focal_bce(p: Tensor, q: Tensor, eps: float = 1e-6) -> Tensor:
    """Focal-style binary cross-entropy ``-(p - q)^2 (q log p + (1 - q) log(1 - p))``.

    Args:
        p (Tensor): (..., C) probabilities.
        q (Tensor): (..., C) targets in [0, 1].
        eps (float): added inside the logs.

    Returns:
        Tensor: (...,) summed over the last dimension.
    """
    ce = q * (p + eps).log() + (1 - q) * (1 - p + eps).log()
    return -((p - q) ** 2 * ce).sum(dim=-1)


@MODELS.register_module()
class MILLoss(nn.Module):
    """Bag-level MIL loss.

    Args:
        loss_type (str): 'binary_cross_entropy' (stage 0) or 'focal' (stage 1; the
            official name 'gfocal_loss' is accepted).
        loss_weight (float): multiplier (official 0.25 in both stages).
        neg_loss_weight (float): multiplier of :meth:`negative` (official 0.75).
        eps (float): log epsilon of the focal form.
    """

    def __init__(self, loss_type: str = 'binary_cross_entropy', loss_weight: float = 0.25,
                 neg_loss_weight: float = 0.75, eps: float = 1e-6):
        super().__init__()
        if loss_type == 'gfocal_loss':
            loss_type = 'focal'
        if loss_type not in ('binary_cross_entropy', 'focal'):
            raise ValueError(f"loss_type must be 'binary_cross_entropy' or 'focal', got {loss_type!r}")
        self.loss_type = loss_type
        self.loss_weight = float(loss_weight)
        self.neg_loss_weight = float(neg_loss_weight)
        self.eps = float(eps)

    def bag_scores(self, cls_prob: Tensor, ins_logits: Tensor, valid: Tensor) -> Tensor:
        """(B, N, C) class probabilities, instance logits, (B, N) valid -> (B, C) bag scores."""
        return (cls_prob * mil_instance_weights(ins_logits, valid)).sum(dim=1)

    def forward(self, cls_prob: Tensor, ins_logits: Tensor, labels: Tensor, valid: Tensor,
                weight: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """Loss of B bags.

        Args:
            cls_prob (Tensor): (B, N, C) class probabilities of the proposals.
            ins_logits (Tensor): (B, N, C) instance logits.
            labels (Tensor): (B,) int64 class indices in [0, C).
            valid (Tensor): (B, N) bool, valid proposals; bags without any are ignored.
            weight (Tensor, optional): (B,) per-bag weights (stage 1: the stage-0 bag
                score of the label).

        Returns:
            tuple[Tensor, Tensor]: the loss (scalar; ``sum / max(#bags, 1)`` times
            ``loss_weight``) and the bag accuracy in percent (scalar, no grad).
        """
        if cls_prob.dim() != 3 or ins_logits.shape != cls_prob.shape:
            raise ValueError(f'cls_prob and ins_logits must be equal (B, N, C) tensors, got '
                             f'{tuple(cls_prob.shape)} and {tuple(ins_logits.shape)}')
        b, n, c = cls_prob.shape
        if labels.shape != (b,) or valid.shape != (b, n):
            raise ValueError(f'labels must be ({b},) and valid ({b}, {n}), got '
                             f'{tuple(labels.shape)} and {tuple(valid.shape)}')
        if b and (labels.min() < 0 or labels.max() >= c):
            raise ValueError(f'labels must be in [0, {c}), got range '
                             f'[{int(labels.min())}, {int(labels.max())}]')
        bag = self.bag_scores(cls_prob, ins_logits, valid)
        target = F.one_hot(labels, c).to(bag.dtype)
        has_valid = valid.any(dim=1).to(bag.dtype)
        if self.loss_type == 'binary_cross_entropy':
            per_bag = F.binary_cross_entropy(bag.clamp(0, 1), target, reduction='none').sum(-1)
        else:
            per_bag = focal_bce(bag, target, self.eps)
        per_bag = per_bag * has_valid
        if weight is not None:
            per_bag = per_bag * weight.to(per_bag.dtype)
        num = max(float(has_valid.sum()), 1.0)
        loss = per_bag.sum() / num * self.loss_weight
        with torch.no_grad():
            keep = has_valid.bool()
            acc = (bag[keep].argmax(-1) == labels[keep]).float().mean() * 100 if keep.any() \
                else bag.new_zeros(())
        return loss, acc

    def negative(self, cls_prob: Tensor, valid: Tensor, num_bags: int,
                 bag_weight: Optional[Tensor] = None) -> Tensor:
        """Focal loss pushing the class probabilities of negative boxes to 0 (stage 1).

        Args:
            cls_prob (Tensor): (M, C) sigmoid probabilities of the negative boxes.
            valid (Tensor): (M,) bool, boxes overlapping no proposal (IoU < 0.3).
            num_bags (int): normaliser (number of bags of the batch).
            bag_weight (Tensor, optional): (B,) stage-1 bag weights; their mean
                scales the loss, as in the official code.

        Returns:
            Tensor: scalar.
        """
        per_box = focal_bce(cls_prob, torch.zeros_like(cls_prob), self.eps) * valid.to(cls_prob.dtype)
        scale = bag_weight.float().mean() if bag_weight is not None and bag_weight.numel() else 1.0
        return self.neg_loss_weight * scale * per_box.sum() / max(num_bags, 1)
