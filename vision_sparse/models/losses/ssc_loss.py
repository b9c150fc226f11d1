"""Scale-sensitive consistency (SSC) loss of PointOBB.

The same objects seen in the original image and in a copy resized by ``s`` (with
their proposal bags scaled by ``s``) should get the same MIL scores. For each object
and each base scale of its bag, the class-probability vectors (and, separately, the
instance-weight vectors) of the proposals of that scale, over all ratios and
classes, are compared by ``1 - cosine``; the dissimilarities go through SmoothL1
toward 0 (mean over objects and scales), the instance term weighted 2x.
"""
from typing import Dict

import torch.nn.functional as F
from torch import Tensor, nn

from vision_sparse.registry import MODELS

__all__ = ['SSCLoss']


@MODELS.register_module()
class SSCLoss(nn.Module):
    """Cross-view consistency of MIL scores per base scale.

    Args:
        beta (float): SmoothL1 transition point (official 1.0).
        cls_weight (float): weight of the class term (official 1.0).
        ins_weight (float): weight of the instance term (official 2.0).
    """

    def __init__(self, beta: float = 1.0, cls_weight: float = 1.0, ins_weight: float = 2.0):
        super().__init__()
        if beta <= 0:
            raise ValueError(f'beta must be > 0, got {beta}')
        self.beta, self.cls_weight, self.ins_weight = float(beta), float(cls_weight), float(ins_weight)

    def _term(self, a: Tensor, b: Tensor, num_scales: int) -> Tensor:
        a = a.reshape(a.shape[0], num_scales, -1)
        b = b.reshape(b.shape[0], num_scales, -1)
        dis = 1 - F.cosine_similarity(a, b, dim=-1, eps=1e-6)
        return F.smooth_l1_loss(dis, dis.new_zeros(()).expand_as(dis), beta=self.beta)

    def forward(self, cls_a: Tensor, ins_a: Tensor, cls_b: Tensor, ins_b: Tensor,
                num_scales: int) -> Dict[str, Tensor]:
        """SSC losses.

        Args:
            cls_a (Tensor): (B, N, C) class probabilities of view a (invalid proposals
                zeroed); N = num_scales x ratios, scale outer.
            ins_a (Tensor): (B, N, C) instance weights of view a
                (:func:`~.mil_loss.mil_instance_weights`).
            cls_b (Tensor): (B, N, C) the same for view b.
            ins_b (Tensor): (B, N, C) the same for view b.
            num_scales (int): number of base scales (N must be a multiple of it).

        Returns:
            dict: ``loss_ssc_cls`` and ``loss_ssc_ins`` (scalars; 0 for B = 0).
        """
        shapes = {tuple(t.shape) for t in (cls_a, ins_a, cls_b, ins_b)}
        if len(shapes) != 1 or cls_a.dim() != 3:
            raise ValueError(f'cls_a, ins_a, cls_b, ins_b must be equal (B, N, C) tensors, got {shapes}')
        if num_scales <= 0 or cls_a.shape[1] % num_scales:
            raise ValueError(f'num_scales must divide N={cls_a.shape[1]}, got {num_scales}')
        if cls_a.shape[0] == 0:
            zero = (cls_a.sum() + ins_a.sum() + cls_b.sum() + ins_b.sum()) * 0
            return dict(loss_ssc_cls=zero, loss_ssc_ins=zero)
        return dict(loss_ssc_cls=self.cls_weight * self._term(cls_a, cls_b, num_scales),
                    loss_ssc_ins=self.ins_weight * self._term(ins_a, ins_b, num_scales))
