"""PointOBB's RoI head: score proposal bags, MIL losses, top-k merge into pseudo boxes.

One call of :meth:`PointOBBRoIHead.run_stage` handles one MIL stage for a batch:
rotated RoIAlign of every proposal of every bag, the :class:`MILBBoxHead` scores,
the MIL loss (with class labels), and the pseudo box of each object: the mean of
its ``top_k`` proposals weighted by ``class probability x instance weight`` of its
label (angles averaged on the doubled-angle circle).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.model import BaseModule
from torch import Tensor

from vision_sparse.ops import box_iou_rotated
from vision_sparse.registry import MODELS, TASK_UTILS
from vision_sparse.utils.build import build_from_cfg_or_obj
from vision_sparse.utils.config import merge_conf
from ..losses.mil_loss import mil_instance_weights
from ..task_modules.prior_generators import PointBagGenerator
from .roi_extractors.rotated_single_roi_extractor import map_roi_levels

__all__ = ['PointOBBRoIHead', 'merge_topk', 'circular_mean_angle', 'neighbour_boxes',
           'contains_other_points']

DEFAULT_CONTEXT_CONTRAST = dict(shift=1.0, reduce='max', power=2.0, ins_power=0.0, stages=(0, 1),
                                train=True)


def neighbour_boxes(props: Tensor, shift: float = 1.0) -> Tensor:
    """The 4 neighbours of each proposal: the same box moved by ``shift`` times its
    own side along its own axes (-w, +w, -h, +h).

    Args:
        props (Tensor): (N, P, 5) rotated boxes.
        shift (float): displacement in units of the box side (1: the adjacent boxes).

    Returns:
        Tensor: (N, 4 P, 5), neighbour ``k`` of proposal ``j`` at ``k * P + j``.
    """
    c, s = torch.cos(props[..., 4]), torch.sin(props[..., 4])
    dw, dh = shift * props[..., 2], shift * props[..., 3]
    out = []
    for sx, sy in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        q = props.clone()
        q[..., 0] = props[..., 0] + sx * dw * c - sy * dh * s
        q[..., 1] = props[..., 1] + sx * dw * s + sy * dh * c
        out.append(q)
    return torch.cat(out, dim=1)


def circular_mean_angle(angles: Tensor, weights: Tensor, dim: int = 0) -> Tensor:
    """Weighted mean of pi-periodic angles along ``dim`` (on the doubled-angle circle)."""
    two = 2 * angles
    return 0.5 * torch.atan2((weights * torch.sin(two)).sum(dim), (weights * torch.cos(two)).sum(dim))


def merge_topk(props: Tensor, weights: Tensor, k: int) -> Tensor:
    """Weighted mean of the ``k`` best proposals of each bag.

    Centres and sides are averaged linearly; angles as ``0.5 * atan2(sum w sin 2t,
    sum w cos 2t)`` (the pi-periodic mean, so ``-pi/2 + e`` and ``pi/2 - e`` average
    to ``+-pi/2``, not 0).

    Args:
        props (Tensor): (N, P, 5) proposals.
        weights (Tensor): (N, P) non-negative scores.
        k (int): number of proposals merged (clipped to P).

    Returns:
        Tensor: (N, 5) boxes.
    """
    n, p = weights.shape
    if n == 0:
        return props.new_zeros((0, 5))
    top_w, idx = weights.topk(min(k, p), dim=1)
    chosen = torch.gather(props, 1, idx[..., None].expand(-1, -1, 5))
    w = top_w / (top_w.sum(dim=1, keepdim=True) + 1e-8)
    w = torch.where(top_w.sum(dim=1, keepdim=True) > 0, w, torch.full_like(w, 1.0 / w.shape[1]))
    out = (chosen[..., :4] * w[..., None]).sum(dim=1)
    angle = circular_mean_angle(chosen[..., 4], w, dim=1)
    return torch.cat([out, angle[:, None]], dim=1)


def contains_other_points(props: Tensor, points: Tensor) -> Tensor:
    """Which proposals of object ``i`` contain the annotated point of another object.

    Args:
        props (Tensor): (N, P, 5) proposals of the N objects of one image.
        points (Tensor): (N, 2) their annotated points.

    Returns:
        Tensor: (N, P) bool.
    """
    n = props.shape[0]
    if n < 2:
        return torch.zeros(props.shape[:2], dtype=torch.bool, device=props.device)
    d = points[None, None, :, :] - props[:, :, None, :2]  # (N, P, N, 2)
    c, s = torch.cos(props[..., 4])[..., None], torch.sin(props[..., 4])[..., None]
    u = d[..., 0] * c + d[..., 1] * s  # along the box's w axis
    v = -d[..., 0] * s + d[..., 1] * c
    inside = (u.abs() < props[..., 2:3] / 2) & (v.abs() < props[..., 3:4] / 2)
    inside &= ~torch.eye(n, dtype=torch.bool, device=props.device)[:, None, :]
    return inside.any(-1)


@MODELS.register_module()
class PointOBBRoIHead(BaseModule):
    """MIL stages of PointOBB.

    Args:
        bbox_roi_extractor (dict): a :class:`RotatedSingleRoIExtractor` config.
        bbox_head (dict): a :class:`MILBBoxHead` config.
        bag_generator (dict): a :class:`PointBagGenerator` config (TASK_UTILS).
        loss_mil0 (dict): stage-0 :class:`MILLoss` (binary cross-entropy).
        loss_mil1 (dict): stage-1 :class:`MILLoss` (focal).
        top_k (int): proposals merged into a pseudo box (7).
        num_neg (int): random negative boxes per image in stage 1 (official 500;
            0 disables them).
        neg_iou_thr (float): a negative box overlapping any proposal of its image by
            this IoU or more is not used (0.3).
        max_rois (int): RoIs pooled per chunk (bounds the peak memory).
        stage0_negatives (bool): use the random negative boxes in stage 0 too (their
            object-class softmax probabilities pushed to 0 with the same focal form;
            our addition, off in PointOBB: only stage 1 has negatives).
        context_contrast (dict, optional): our addition against the MIL part bias
            (a discriminative part of a large object outscores the whole object):
            the weight of a proposal in the top-k merge becomes
            ``cls * ins ** ins_power * (1 - ctx) ** power``, where ``ctx`` is the
            class probability of the label in the proposal's 4 neighbours
            (:func:`neighbour_boxes`, ``shift`` sides away; ``reduce`` 'max' or
            'mean' over them): a part has neighbours that still look like the object,
            the whole object has background around it (the contrastive context of
            ContextLocNet, Kantorov et al. 2016, used as a re-scoring of the merge).
            Keys (defaults): ``shift`` 1.0, ``reduce`` 'max', ``power`` 2.0,
            ``ins_power`` 0.0 (the instance branch is part-biased too), ``stages``
            (0, 1) (the MIL stages re-scored), ``train`` True (also re-score the
            stage-0 boxes that seed stage 1 in training; False: prediction only).
            The MIL losses are unchanged; the neighbours are scored without gradient
            (4x the RoIs of a re-scored stage, only where its boxes are used). None
            (default) disables it.
        exclude_other_points (bool): our addition: a proposal containing the
            annotated point of another object of the image gets merge weight 0 (unless
            all of an object's proposals do: then its weights stay as they are) (when
            ``run_stage`` is given the points: :class:`PointOBB` gives them at
            prediction; the MIL losses are unchanged).
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self, bbox_roi_extractor: dict, bbox_head: dict, bag_generator: Optional[dict] = None,
                 loss_mil0: Optional[dict] = None, loss_mil1: Optional[dict] = None,
                 top_k: int = 7, num_neg: int = 500, neg_iou_thr: float = 0.3,
                 max_rois: int = 10000, stage0_negatives: bool = False,
                 context_contrast: Optional[dict] = None, exclude_other_points: bool = False,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.bbox_roi_extractor = MODELS.build(bbox_roi_extractor)
        self.bbox_head = MODELS.build(bbox_head)
        self.bag_generator = build_from_cfg_or_obj(bag_generator, TASK_UTILS, name='bag_generator',
                                                   default_type=PointBagGenerator)
        self.loss_mil0 = MODELS.build(loss_mil0 or dict(type='MILLoss', loss_type='binary_cross_entropy'))
        self.loss_mil1 = MODELS.build(loss_mil1 or dict(type='MILLoss', loss_type='focal'))
        if top_k < 1 or num_neg < 0 or max_rois < 1:
            raise ValueError(f'top_k and max_rois must be >= 1 and num_neg >= 0, got '
                             f'{top_k}, {max_rois}, {num_neg}')
        self.top_k, self.num_neg, self.neg_iou_thr = int(top_k), int(num_neg), float(neg_iou_thr)
        self.max_rois = int(max_rois)
        self.stage0_negatives = bool(stage0_negatives)
        self.exclude_other_points = bool(exclude_other_points)
        self.context_contrast = None
        if context_contrast is not None:
            cc = merge_conf(DEFAULT_CONTEXT_CONTRAST, dict(context_contrast),
                            'PointOBBRoIHead.context_contrast')
            if cc['reduce'] not in ('max', 'mean') or not cc['shift'] > 0 or cc['power'] < 0 \
                    or cc['ins_power'] < 0 or not isinstance(cc['train'], bool):
                raise ValueError(f"context_contrast needs reduce 'max' / 'mean', shift > 0 and "
                                 f"powers >= 0, got {cc}")
            cc['stages'] = tuple(int(x) for x in cc['stages'])
            self.context_contrast = cc

    @property
    def num_stages(self) -> int:
        """Number of MIL stages (1 or 2)."""
        return self.bbox_head.num_stages

    def proposal_levels(self, props: Tensor) -> Tensor:
        """FPN level used for each (..., 5) proposal -> (...,) int64."""
        flat = props.reshape(-1, 5)
        return map_roi_levels(flat, self.bbox_roi_extractor.num_inputs,
                              self.bbox_roi_extractor.finest_scale).reshape(props.shape[:-1])

    def _scores(self, feats: Sequence[Tensor], rois: Tensor, stage: int) -> Tuple[Tensor, Tensor]:
        cls, ins = [], []
        for start in range(0, max(rois.shape[0], 1), self.max_rois):
            part = self.bbox_roi_extractor(feats, rois[start:start + self.max_rois])
            c, i = self.bbox_head(part, stage)
            cls.append(c)
            ins.append(i)
        return torch.cat(cls), torch.cat(ins)

    @staticmethod
    def _rois(props: Sequence[Tensor]) -> Tensor:
        rois = [torch.cat([p.new_full((p.shape[0], 1), float(i)), p], dim=1)
                for i, p in enumerate(props)]
        return torch.cat(rois) if rois else torch.zeros(0, 6)

    def probabilities(self, cls_logits: Tensor, ins_logits: Tensor, valid: Tensor,
                      stage: int) -> Tuple[Tensor, Tensor]:
        """Class probabilities (softmax at stage 0, sigmoid after; invalid zeroed) and
        instance weights, each (N, P, C')."""
        cls = cls_logits.softmax(-1) if stage == 0 else cls_logits.sigmoid()
        return cls * valid[..., None].to(cls.dtype), mil_instance_weights(ins_logits, valid)

    def run_stage(self, stage: int, feats: Sequence[Tensor], props: Sequence[Tensor],
                  valid: Sequence[Tensor], labels: Sequence[Tensor],
                  bag_weight: Optional[Tensor] = None, with_loss: bool = True,
                  generator: Optional[torch.Generator] = None,
                  img_shapes: Optional[Sequence[Tuple[int, int]]] = None,
                  rescore: bool = True, points: Optional[Sequence[Tensor]] = None,
                  views: Optional[Sequence[Tuple[Sequence[Tensor], Sequence[Tensor],
                                                 Sequence[Tensor]]]] = None) -> Dict:
        """One MIL stage for a batch.

        Args:
            stage (int): 0 (bags around points) or 1 (refinement proposals).
            feats (tuple[Tensor]): FPN levels (B, C, H_l, W_l).
            props (list[Tensor]): per image (N_i, P, 5) proposals (N_i may be 0).
            valid (list[Tensor]): per image (N_i, P) bool.
            labels (list[Tensor]): per image (N_i,) int64 classes.
            bag_weight (Tensor, optional): (N,) per-object loss weights (stage 1).
            with_loss (bool): compute the losses (needs at least one object).
            generator (torch.Generator, optional): draws the stage-1 negatives.
            img_shapes (list[tuple[int, int]], optional): per image ``(h, w)``, needed
                for the stage-1 negatives.
            rescore (bool): apply ``context_contrast`` to the merge (False where
                the merged boxes are not used).
            points (list[Tensor], optional): per image (N_i, 2) annotated points, for
                ``exclude_other_points``.
            views (list[tuple], optional): test-time views of the batch, each
                ``(feats, props, valid)`` with the same proposals mapped into the view
                (same order): the merge weight of a proposal becomes its mean over the
                image and the views where it is valid (prediction; no loss term uses them).

        Returns:
            dict: ``cls_prob`` and ``ins_weight`` (N, P, C'), ``boxes`` (N, 5) merged
            pseudo boxes (detached), ``scores`` (N,) bag scores of the labels
            (detached), and when ``with_loss``: ``losses`` (dict of scalars).
        """
        num = [p.shape[0] for p in props]
        p_size = props[0].shape[1] if props else 0
        n_all = sum(num)
        all_valid = torch.cat(list(valid)) if n_all else feats[0].new_zeros(0, p_size, dtype=torch.bool)
        all_labels = torch.cat(list(labels)) if n_all else feats[0].new_zeros(0, dtype=torch.long)
        cls_logits, ins_logits, cls_prob, ins_w, weights, merge_w = self._stage_weights(
            stage, feats, props, all_valid, all_labels, rescore)
        if views and n_all:
            # test-time views: the merge weight of a proposal is its mean over the image
            # and the views in which it lies inside the image
            total, count = merge_w.clone(), torch.ones_like(merge_w)
            for v_feats, v_props, v_valid in views:
                v_all = torch.cat(list(v_valid)) & all_valid
                # scored over the image's valid set (instance weights normalised as in the
                # image), then the proposals outside the view masked
                w_v = self._stage_weights(stage, v_feats, v_props, all_valid, all_labels, rescore)[-1]
                total = total + w_v * v_all.to(w_v.dtype)
                count = count + v_all.to(w_v.dtype)
            merge_w = total / count
        all_props = torch.cat([p.reshape(-1, p.shape[-1]) for p in props]).reshape(n_all, p_size, 5) \
            if n_all else feats[0].new_zeros(0, p_size, 5)
        if self.exclude_other_points and points is not None and n_all:
            other = torch.cat([contains_other_points(p.detach(), q.to(p)) for p, q in zip(props, points)])
            masked = merge_w * (~other).to(merge_w.dtype)
            # an object whose every proposal holds another point (points a few px apart)
            # keeps its unmasked weights rather than an arbitrary uniform merge
            merge_w = torch.where((masked.sum(1, keepdim=True) > 0), masked, merge_w)
        boxes = merge_topk(all_props.detach(), merge_w, self.top_k)
        out = dict(cls_prob=cls_prob, ins_weight=ins_w, boxes=boxes,
                   scores=weights.detach().sum(1), cls_logits=cls_logits, ins_logits=ins_logits)
        if not with_loss:
            return out
        loss_fn = self.loss_mil0 if stage == 0 else self.loss_mil1
        loss, acc = loss_fn(cls_prob if stage == 0 else cls_logits.sigmoid(), ins_logits,
                            all_labels, all_valid, bag_weight)
        # keep every parameter in the graph even without objects
        loss = loss + 0 * (cls_logits.sum() + ins_logits.sum())
        losses = {f'stage{stage}_loss_mil': loss, f'stage{stage}_bag_acc': acc}
        if (stage > 0 or self.stage0_negatives) and self.num_neg > 0 and img_shapes is not None:
            losses[f'stage{stage}_loss_neg'] = self._negative_loss(
                feats, props, img_shapes, stage, n_all, bag_weight, generator)
        out['losses'] = losses
        return out

    def _stage_weights(self, stage: int, feats: Sequence[Tensor], props: Sequence[Tensor],
                       all_valid: Tensor, all_labels: Tensor, rescore: bool) -> Tuple[Tensor, ...]:
        """Scores of the proposals of one stage: ``(cls_logits, ins_logits, cls_prob,
        ins_w, weights, merge_w)``, the last two (N, P): ``cls x ins`` of the label and the
        (detached) weights of the top-k merge (``context_contrast`` where it applies)."""
        p_size = props[0].shape[1] if props else 0
        rois = self._rois([p.reshape(-1, 5) for p in props])
        cls_logits, ins_logits = self._scores(feats, rois.to(feats[0]), stage)
        n_all = all_labels.shape[0]
        c = self.bbox_head.num_outputs(stage)
        cls_logits = cls_logits[:n_all * p_size].reshape(n_all, p_size, c)
        ins_logits = ins_logits[:n_all * p_size].reshape(n_all, p_size, c)
        cls_prob, ins_w = self.probabilities(cls_logits, ins_logits, all_valid, stage)
        idx = torch.arange(n_all, device=cls_prob.device)
        weights = (cls_prob * ins_w)[idx, :, all_labels]  # (N, P)
        merge_w = weights.detach()
        cc = self.context_contrast
        if cc is not None and rescore and stage in cc['stages'] and n_all \
                and (cc['train'] or not self.training):
            merge_w = self.contrast_weights(feats, props, cls_prob, ins_w, all_valid, all_labels, stage)
        return cls_logits, ins_logits, cls_prob, ins_w, weights, merge_w

    @torch.no_grad()
    def contrast_weights(self, feats: Sequence[Tensor], props: Sequence[Tensor], cls_prob: Tensor,
                         ins_w: Tensor, valid: Tensor, labels: Tensor, stage: int) -> Tensor:
        """Merge weights re-scored by the proposals' neighbours (see ``context_contrast``).

        Args:
            feats (tuple[Tensor]): FPN levels.
            props (list[Tensor]): per image (N_i, P, 5) proposals.
            cls_prob, ins_w (Tensor): (N, P, C') from :meth:`probabilities`.
            valid (Tensor): (N, P) bool.
            labels (Tensor): (N,) classes.
            stage (int): the MIL stage.

        Returns:
            Tensor: (N, P) non-negative weights (0 for invalid proposals).
        """
        cc = self.context_contrast
        p_size = props[0].shape[1]
        nbs = [neighbour_boxes(p.detach(), cc['shift']) for p in props]
        cls_logits, _ = self._scores(feats, self._rois([b.reshape(-1, 5) for b in nbs]).to(feats[0]), stage)
        n = labels.shape[0]
        cls_logits = cls_logits[:n * 4 * p_size].reshape(n, 4 * p_size, -1)
        nb = cls_logits.softmax(-1) if stage == 0 else cls_logits.sigmoid()
        idx = torch.arange(n, device=nb.device)
        ctx = nb[idx, :, labels].reshape(n, 4, p_size)
        ctx = ctx.amax(1) if cc['reduce'] == 'max' else ctx.mean(1)
        cls = cls_prob.detach()[idx, :, labels]
        ins = ins_w.detach()[idx, :, labels]
        w = cls * ins.clamp(min=0) ** cc['ins_power'] * (1 - ctx).clamp(min=0) ** cc['power']
        return w * valid.to(w.dtype)

    def _negative_loss(self, feats, props, img_shapes, stage, n_all, bag_weight, generator):
        negs, keep = [], []
        for i, (p, (h, w)) in enumerate(zip(props, img_shapes)):
            if p.shape[0] == 0:
                negs.append(p.new_zeros(0, 5))
                keep.append(p.new_zeros(0, dtype=torch.bool))
                continue
            r = torch.rand(4, self.num_neg, generator=generator).to(p)
            x1 = -0.2 * w + r[0] * 1.2 * w
            y1 = -0.2 * h + r[1] * 1.2 * h
            x2 = x1 + r[2] * (1.2 * w - x1)
            y2 = y1 + r[3] * (1.2 * h - y1)
            angle = p[..., 4].mean().expand_as(x1)
            box = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, angle], 1).detach()
            iou = box_iou_rotated(box.float(), p.reshape(-1, 5).detach().float())
            negs.append(box)
            keep.append((iou < self.neg_iou_thr).all(dim=1))
        cls_logits, _ = self._scores(feats, self._rois(negs).to(feats[0]), stage)
        cls_logits = cls_logits[:sum(n.shape[0] for n in negs)]
        loss_fn = self.loss_mil0 if stage == 0 else self.loss_mil1
        # stage 0 scores C + 1 classes by a softmax: its object columns go to 0
        prob = cls_logits.softmax(-1)[:, :-1] if stage == 0 else cls_logits.sigmoid()
        return loss_fn.negative(prob, torch.cat(keep), n_all, bag_weight)

    def stage_bags(self, points: Sequence[Tensor], img_shapes: Sequence[Tuple[int, int]],
                   angles: Optional[Sequence[Tensor]] = None) -> Tuple[List[Tensor], List[Tensor]]:
        """Stage-0 bags per image (see :meth:`PointBagGenerator.bags`)."""
        out = [self.bag_generator.bags(p, s, None if angles is None else angles[i])
               for i, (p, s) in enumerate(zip(points, img_shapes))]
        return [o[0] for o in out], [o[1] for o in out]

    def refine_props(self, boxes: Sequence[Tensor], img_shapes: Sequence[Tuple[int, int]]
                     ) -> Tuple[List[Tensor], List[Tensor]]:
        """Stage-1 proposals per image (see :meth:`PointBagGenerator.refine`)."""
        out = [self.bag_generator.refine(b, s) for b, s in zip(boxes, img_shapes)]
        return [o[0] for o in out], [o[1] for o in out]
