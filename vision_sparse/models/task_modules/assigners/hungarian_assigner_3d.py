"""One-to-one (Hungarian) assignment of 3-D box predictions to ground truth."""
from typing import Dict, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from vision_sparse.registry import TASK_UTILS
from vision_sparse.utils.config import merge_conf

__all__ = ['HungarianAssigner3D', 'focal_cost']


def focal_cost(cls_logits: Tensor, gt_labels: Tensor, alpha: float = 0.25,
               gamma: float = 2.0, eps: float = 1e-12) -> Tensor:
    """Sigmoid-focal classification cost of every (prediction, ground truth) pair.

    Args:
        cls_logits (Tensor): (Q, K) class logits.
        gt_labels (Tensor): (M,) int64 labels in ``0..K-1``.

    Returns:
        Tensor: (Q, M) ``FL(p, positive) - FL(p, negative)`` of the ground-truth
        class: low when the prediction is confident in that class.
    """
    p = cls_logits.sigmoid()
    pos = -(p + eps).log() * alpha * (1 - p).pow(gamma)
    neg = -(1 - p + eps).log() * (1 - alpha) * p.pow(gamma)
    return pos[:, gt_labels] - neg[:, gt_labels]


def _bev(boxes: Tensor) -> Tensor:
    """(N, >= 7) boxes -> (N, 5) finite ``(x, y, l, w, yaw)`` footprints for the IoU op
    (untrained heads can predict inf sizes: sizes clamped to [0, 1e4] m, NaN -> 0)."""
    bev = boxes[:, [0, 1, 3, 4, 6]].float()
    bev = torch.nan_to_num(bev, nan=0.0, posinf=1e4, neginf=-1e4)
    return torch.cat([bev[:, :2], bev[:, 2:4].clamp(0, 1e4), bev[:, 4:]], 1)


@TASK_UTILS.register_module()
class HungarianAssigner3D:
    """Assign each ground-truth box to one query by minimum total cost.

    ``cost = cls_weight * focal_cost + reg_weight * L1(BEV centres normalised by the
    range) - iou_weight * BEV IoU`` (IoU of the rotated ``(x, y, l, w, yaw)`` footprints
    via :func:`vision_sparse.ops.box_iou_rotated`; the official code uses the 3-D IoU),
    solved by :func:`scipy.optimize.linear_sum_assignment`.

    Args:
        cls_weight (float): weight of the focal classification cost (0.15 officially).
        reg_weight (float): weight of the centre L1 cost (0.25).
        iou_weight (float): weight of the IoU cost (0.25); 0 skips the IoU.
        alpha (float), gamma (float): focal-cost parameters.
    """

    default_conf = dict(cls_weight=0.15, reg_weight=0.25, iou_weight=0.25, alpha=0.25,
                        gamma=2.0)

    def __init__(self, **conf):
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)

    def cost(self, pred_boxes: Tensor, cls_logits: Tensor, gt_boxes: Tensor,
             gt_labels: Tensor, point_cloud_range: Sequence[float]) -> Tensor:
        """The (Q, M) cost matrix (see the class docstring; arguments as :meth:`assign`)."""
        c = self.conf
        rng = pred_boxes.new_tensor(point_cloud_range)
        span = rng[3:5] - rng[0:2]
        pn = (pred_boxes[:, :2] - rng[0:2]) / span
        gn = (gt_boxes[:, :2] - rng[0:2]) / span
        cost = c['cls_weight'] * focal_cost(cls_logits, gt_labels, c['alpha'], c['gamma'])
        cost = cost + c['reg_weight'] * torch.cdist(pn, gn, p=1)
        if c['iou_weight']:
            from vision_sparse.ops import box_iou_rotated
            iou = box_iou_rotated(_bev(pred_boxes), _bev(gt_boxes)).to(cost)
            cost = cost - c['iou_weight'] * iou
        return cost

    @torch.no_grad()
    def assign(self, pred_boxes: Tensor, cls_logits: Tensor, gt_boxes: Tensor,
               gt_labels: Tensor, point_cloud_range: Sequence[float]) -> Dict[str, Tensor]:
        """Match predictions and ground truth.

        Args:
            pred_boxes (Tensor): (Q, >= 7) decoded boxes ``(x, y, z, l, w, h, yaw, ...)``.
            cls_logits (Tensor): (Q, K) class logits.
            gt_boxes (Tensor): (M, >= 7) ground-truth boxes.
            gt_labels (Tensor): (M,) int64 in ``0..K-1``.
            point_cloud_range (Sequence[float]): (6,) range normalising the centre cost.

        Returns:
            dict: ``gt_inds`` (Q,) int64: the matched ground-truth index, -1 for an
            unmatched query; ``cost`` (Q, M) the cost matrix; ``iou`` (Q,) the BEV IoU
            of each matched pair (0 for unmatched queries). With more ground truth
            than queries, only Q ground-truth boxes are matched.
        """
        if pred_boxes.dim() != 2 or pred_boxes.shape[1] < 7:
            raise ValueError(f'pred_boxes must be (Q, >=7), got {tuple(pred_boxes.shape)}')
        if gt_boxes.dim() != 2 or gt_boxes.shape[1] < 7:
            raise ValueError(f'gt_boxes must be (M, >=7), got {tuple(gt_boxes.shape)}')
        if cls_logits.shape[0] != pred_boxes.shape[0] or gt_labels.shape != gt_boxes.shape[:1]:
            raise ValueError('cls_logits must be (Q, K) and gt_labels (M,) matching the boxes')
        q, m = pred_boxes.shape[0], gt_boxes.shape[0]
        gt_inds = torch.full((q,), -1, dtype=torch.long, device=pred_boxes.device)
        iou = pred_boxes.new_zeros(q)
        if q == 0 or m == 0:
            return dict(gt_inds=gt_inds, cost=pred_boxes.new_zeros(q, m), iou=iou)
        cost = self.cost(pred_boxes.float(), cls_logits.float(), gt_boxes.float(), gt_labels,
                         point_cloud_range)
        cost_np = np.nan_to_num(cost.cpu().double().numpy(), nan=1e6, posinf=1e6, neginf=-1e6)
        rows, cols = linear_sum_assignment(cost_np)
        rows_t = torch.as_tensor(rows, dtype=torch.long, device=pred_boxes.device)
        cols_t = torch.as_tensor(cols, dtype=torch.long, device=pred_boxes.device)
        gt_inds[rows_t] = cols_t
        from vision_sparse.ops import box_iou_rotated
        iou[rows_t] = box_iou_rotated(_bev(pred_boxes[rows_t]), _bev(gt_boxes[cols_t]),
                                      aligned=True).to(iou)
        return dict(gt_inds=gt_inds, cost=cost, iou=iou)
