"""Rotated FCOS: mmdet's FCOS head with an angle branch, for oriented boxes.

Every feature-map point inside a rotated ground-truth box regresses its four
distances to the box sides **measured in the box's own frame** (``l, t, r, b``
along the box axes ``(cos theta, sin theta)`` and ``(-sin theta, cos theta)``)
and the box angle, coded by an angle coder (default :class:`PSCCoder`, three
phase-shifted cosines, so the angle has no boundary jump). A box is decoded as::

    offset (box frame) = ((r - l) / 2, (b - t) / 2)
    centre = point + R(theta) @ offset,  w = l + r,  h = t + b

with the boxes of ``vision_sparse.structures.bbox.rotated_boxes`` (radians,
``theta`` rotates ``+x`` toward ``+y``, le90).

Losses (the "separate angle" variant of mmrotate's rotated FCOS,
``use_hbbox_loss=True``): focal loss on the classes, mmdet's ``IoULoss`` on the
box-frame distances (the IoU of two boxes that share the angle, so the box
loss needs no rotated-IoU gradient), an L1 loss on the angle codes and the FCOS
centerness (computed from the box-frame distances).
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import Scale
from mmdet.models.dense_heads import FCOSHead
from mmdet.models.dense_heads.anchor_free_head import AnchorFreeHead
from mmdet.models.utils import filter_scores_and_topk, multi_apply, select_single_mlvl
from mmdet.utils import ConfigType, InstanceList, OptConfigType, OptInstanceList, reduce_mean
from mmengine.config import ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData
from torch import Tensor

from vision_sparse.registry import MODELS, SCOPE, TASK_UTILS
from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes, regularize_boxes

__all__ = ['RotatedFCOSHead', 'rbox2distance', 'distance2rbox']

INF = 1e8


def _box_frame(points: Tensor, boxes: Tensor) -> Tuple[Tensor, Tensor]:
    """Coordinates ``(u, v)`` of points in the frames of boxes (broadcasting).

    Args:
        points (Tensor): (..., 2) x, y in pixels.
        boxes (Tensor): (..., 5) rotated boxes.

    Returns:
        tuple[Tensor, Tensor]: ``u`` along the box's ``w`` side, ``v`` along its ``h``
        side, both relative to the box centre.
    """
    dx = points[..., 0] - boxes[..., 0]
    dy = points[..., 1] - boxes[..., 1]
    cos, sin = torch.cos(boxes[..., 4]), torch.sin(boxes[..., 4])
    return dx * cos + dy * sin, -dx * sin + dy * cos


def rbox2distance(points: Tensor, boxes: Tensor) -> Tuple[Tensor, Tensor]:
    """Encode rotated boxes as box-frame distances from points, and angles.

    Args:
        points (Tensor): (N, 2) points (x, y), pixels.
        boxes (Tensor): (N, 5) boxes ``(cx, cy, w, h, theta)``, radians.

    Returns:
        tuple[Tensor, Tensor]: distances (N, 4) ``(l, t, r, b)`` from the point to
        the box sides along the box axes (all positive for a point inside), and
        angles (N,) (``boxes[:, 4]``).

    Raises:
        ValueError: for bad shapes.
    """
    if points.dim() != 2 or points.shape[-1] != 2:
        raise ValueError(f'points must have shape (N, 2), got {tuple(points.shape)}')
    if boxes.shape != (points.shape[0], 5):
        raise ValueError(f'boxes must have shape ({points.shape[0]}, 5), got {tuple(boxes.shape)}')
    u, v = _box_frame(points, boxes)
    half_w, half_h = boxes[:, 2] / 2, boxes[:, 3] / 2
    dist = torch.stack([half_w + u, half_h + v, half_w - u, half_h - v], dim=-1)
    return dist, boxes[:, 4]


def distance2rbox(points: Tensor, distances: Tensor, angles: Tensor) -> Tensor:
    """Decode box-frame distances and angles at points to rotated boxes.

    The inverse of :func:`rbox2distance`.

    Args:
        points (Tensor): (N, 2) points (x, y), pixels.
        distances (Tensor): (N, 4) ``(l, t, r, b)`` along the box axes, pixels.
        angles (Tensor): (N,) or (N, 1) box angles, radians.

    Returns:
        Tensor: (N, 5) boxes ``(cx, cy, w, h, theta)``, ``theta = angles``.
    """
    if points.dim() != 2 or points.shape[-1] != 2:
        raise ValueError(f'points must have shape (N, 2), got {tuple(points.shape)}')
    if distances.shape != (points.shape[0], 4):
        raise ValueError(f'distances must have shape ({points.shape[0]}, 4), '
                         f'got {tuple(distances.shape)}')
    angles = angles.reshape(-1)
    if angles.shape[0] != points.shape[0]:
        raise ValueError(f'angles must have {points.shape[0]} entries, got {angles.shape[0]}')
    left, top, right, bottom = distances.unbind(-1)
    ou, ov = (right - left) / 2, (bottom - top) / 2
    cos, sin = torch.cos(angles), torch.sin(angles)
    cx = points[:, 0] + cos * ou - sin * ov
    cy = points[:, 1] + sin * ou + cos * ov
    return torch.stack([cx, cy, left + right, top + bottom, angles], dim=-1)


def _rbox_tensor(bboxes) -> Tensor:
    """(N, 5) tensor of a ``RotatedBoxes`` or a tensor (DetDataPreprocessor's
    ``boxtype2tensor`` turns the boxes into plain tensors)."""
    tensor = bboxes.tensor if isinstance(bboxes, RotatedBoxes) else bboxes
    if not isinstance(tensor, Tensor) or tensor.dim() != 2 or tensor.shape[-1] != 5:
        shape = tuple(tensor.shape) if isinstance(tensor, Tensor) else type(tensor).__name__
        raise ValueError('gt_instances.bboxes must be RotatedBoxes or a (N, 5) tensor, '
                         f'got {shape}')
    return tensor


@MODELS.register_module()
class RotatedFCOSHead(FCOSHead):
    """FCOS head for rotated boxes (box-frame distances + a coded angle).

    Keyword arguments of mmdet's :class:`FCOSHead` (``strides``,
    ``regress_ranges``, ``center_sampling``, ``center_sample_radius``,
    ``norm_on_bbox``, ``centerness_on_reg``, ``stacked_convs``, ``feat_channels``,
    ``norm_cfg``, ``loss_cls``, ``loss_centerness``, ``train_cfg``, ``test_cfg``)
    keep their meaning; defaults name mmdet's parts with the ``mmdet.`` prefix
    so that the head builds from either scope.

    Assignment: a point is positive for the smallest-area ground-truth box that
    contains it **in the box's frame** (``|u| < w/2, |v| < h/2``; with
    ``center_sampling`` also ``|u|, |v| < radius * stride``) and whose largest
    distance falls in the level's regress range. Target angles are those of the
    boxes brought to ``angle_version`` with the long side as ``w`` (mmrotate's
    ``le90``), so a box has one target whatever order its sides were given in.

    Args:
        num_classes (int): number of classes (no background).
        in_channels (int): channels of the input feature maps.
        angle_version (str): ``'le90'`` or ``'le135'``, range of the target angles.
        angle_coder (dict): angle coder config (``encode``/``decode``/``encode_size``),
            built in the ``vision_sparse`` scope; default ``PSCCoder(num_step=3)``.
        loss_angle (dict): loss on the angle codes; default L1, weight 0.2.
        scale_angle (bool): a learnable scale on the angle codes.
        loss_bbox (dict): loss on the box-frame distances, an mmdet hbox loss on
            ``(x1, y1, x2, y2)`` boxes around the point (default ``IoULoss``).
        **kwargs: the rest of :class:`FCOSHead`'s arguments.

    ``test_cfg`` keys: ``nms_pre`` (top-k per level before NMS), ``score_thr``,
    ``min_bbox_size``, ``nms=dict(iou_threshold=...)`` (class-aware rotated NMS),
    ``max_per_img``.
    """

    def __init__(self,
                 num_classes: int,
                 in_channels: int,
                 angle_version: str = 'le90',
                 angle_coder: ConfigType = dict(type='PSCCoder', num_step=3),
                 loss_angle: ConfigType = dict(type='mmdet.L1Loss', loss_weight=0.2),
                 scale_angle: bool = False,
                 loss_cls: ConfigType = dict(type='mmdet.FocalLoss', use_sigmoid=True,
                                             gamma=2.0, alpha=0.25, loss_weight=1.0),
                 loss_bbox: ConfigType = dict(type='mmdet.IoULoss', loss_weight=1.0),
                 loss_centerness: ConfigType = dict(type='mmdet.CrossEntropyLoss',
                                                    use_sigmoid=True, loss_weight=1.0),
                 bbox_coder: ConfigType = dict(type='mmdet.DistancePointBBoxCoder'),
                 **kwargs) -> None:
        if angle_version not in ('le90', 'le135'):
            raise ValueError(f"angle_version must be 'le90' or 'le135', got {angle_version!r}")
        self.angle_version = angle_version
        self.is_scale_angle = bool(scale_angle)
        with DefaultScope.overwrite_default_scope(SCOPE):
            self.angle_coder = TASK_UTILS.build(angle_coder)
        super().__init__(num_classes=num_classes, in_channels=in_channels, loss_cls=loss_cls,
                         loss_bbox=loss_bbox, loss_centerness=loss_centerness,
                         bbox_coder=bbox_coder, **kwargs)
        self.loss_angle = MODELS.build(loss_angle)

    def _init_layers(self) -> None:
        """FCOS layers plus the angle conv (on the regression features)."""
        super()._init_layers()
        self.conv_angle = nn.Conv2d(self.feat_channels, self.angle_coder.encode_size, 3, padding=1)
        if self.is_scale_angle:
            self.scale_angle = Scale(1.0)

    def forward(self, x: Tuple[Tensor]) -> Tuple[List[Tensor], ...]:
        """Per-level outputs.

        Args:
            x (tuple[Tensor]): FPN maps (B, C, H_l, W_l), one per stride.

        Returns:
            tuple[list[Tensor], ...]: ``cls_scores`` (B, num_classes, H, W) logits,
            ``bbox_preds`` (B, 4, H, W) box-frame distances (``/ stride`` in training
            with ``norm_on_bbox``, pixels otherwise), ``angle_preds``
            (B, encode_size, H, W) angle codes, ``centernesses`` (B, 1, H, W) logits.
        """
        return multi_apply(self.forward_single, x, self.scales, self.strides)

    def forward_single(self, x: Tensor, scale: Scale,
                       stride: int) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """One level: FCOS's outputs plus the angle codes (see :meth:`forward`)."""
        cls_score, bbox_pred, cls_feat, reg_feat = AnchorFreeHead.forward_single(self, x)
        centerness = self.conv_centerness(reg_feat if self.centerness_on_reg else cls_feat)
        bbox_pred = scale(bbox_pred).float()
        if self.norm_on_bbox:
            bbox_pred = bbox_pred.clamp(min=0)
            if not self.training:
                bbox_pred = bbox_pred * stride
        else:
            bbox_pred = bbox_pred.exp()
        angle_pred = self.conv_angle(reg_feat)
        if self.is_scale_angle:
            angle_pred = self.scale_angle(angle_pred)
        return cls_score, bbox_pred, angle_pred.float(), centerness

    # ------------------------------------------------------------------ training
    def loss_by_feat(self,
                     cls_scores: List[Tensor],
                     bbox_preds: List[Tensor],
                     angle_preds: List[Tensor],
                     centernesses: List[Tensor],
                     batch_gt_instances: InstanceList,
                     batch_img_metas: List[dict],
                     batch_gt_instances_ignore: OptInstanceList = None) -> Dict[str, Tensor]:
        """Losses of a batch (see :meth:`forward` for the inputs).

        Ignored (difficult) instances are not used in training, as in mmdet's and
        mmrotate's FCOS.

        Returns:
            dict[str, Tensor]: ``loss_cls``, ``loss_bbox``, ``loss_angle``,
            ``loss_centerness`` (box, angle and centerness losses are 0 with a
            gradient path when no point is positive).
        """
        if not len(cls_scores) == len(bbox_preds) == len(angle_preds) == len(centernesses):
            raise ValueError('cls_scores, bbox_preds, angle_preds and centernesses must have '
                             'one entry per level')
        featmap_sizes = [c.shape[-2:] for c in cls_scores]
        points = self.prior_generator.grid_priors(featmap_sizes, dtype=bbox_preds[0].dtype,
                                                  device=bbox_preds[0].device)
        labels, bbox_targets, angle_targets = self.get_targets(points, batch_gt_instances)
        num_imgs = cls_scores[0].shape[0]

        def flat(maps: List[Tensor], dim: int) -> Tensor:
            return torch.cat([m.permute(0, 2, 3, 1).reshape(-1, dim) for m in maps])

        flat_cls = flat(cls_scores, self.cls_out_channels)
        flat_bbox = flat(bbox_preds, 4)
        flat_angle = flat(angle_preds, self.angle_coder.encode_size)
        flat_ctr = flat(centernesses, 1).reshape(-1)
        flat_labels = torch.cat(labels)
        flat_bbox_targets = torch.cat(bbox_targets)
        flat_angle_targets = torch.cat(angle_targets)
        flat_points = torch.cat([p.repeat(num_imgs, 1) for p in points])

        pos = ((flat_labels >= 0) & (flat_labels < self.num_classes)).nonzero().reshape(-1)
        num_pos = max(reduce_mean(flat_cls.new_tensor(float(len(pos)))), 1.0)
        loss_cls = self.loss_cls(flat_cls, flat_labels, avg_factor=num_pos)

        pos_bbox, pos_angle, pos_ctr = flat_bbox[pos], flat_angle[pos], flat_ctr[pos]
        pos_bbox_targets = flat_bbox_targets[pos]
        ctr_targets = self.centerness_target(pos_bbox_targets)
        ctr_denorm = max(reduce_mean(ctr_targets.sum().detach()), 1e-6)
        if len(pos) > 0:
            pos_points = flat_points[pos]
            # IoU of the two boxes around the point in the (shared) box frame
            loss_bbox = self.loss_bbox(self.bbox_coder.decode(pos_points, pos_bbox),
                                       self.bbox_coder.decode(pos_points, pos_bbox_targets),
                                       weight=ctr_targets, avg_factor=ctr_denorm)
            angle_codes = self.angle_coder.encode(flat_angle_targets[pos])
            loss_angle = self.loss_angle(pos_angle, angle_codes, avg_factor=num_pos)
            loss_ctr = self.loss_centerness(pos_ctr, ctr_targets, avg_factor=num_pos)
        else:
            loss_bbox, loss_angle, loss_ctr = pos_bbox.sum(), pos_angle.sum(), pos_ctr.sum()
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_angle=loss_angle,
                    loss_centerness=loss_ctr)

    def get_targets(self, points: List[Tensor], batch_gt_instances: InstanceList
                    ) -> Tuple[List[Tensor], List[Tensor], List[Tensor]]:
        """Targets of every point of every image, grouped by level.

        Args:
            points (list[Tensor]): (P_l, 2) point coordinates of each level.
            batch_gt_instances (list[InstanceData]): ``bboxes`` (RotatedBoxes or
                (G, 5) tensors) and ``labels`` (G,) per image.

        Returns:
            tuple[list[Tensor], list[Tensor], list[Tensor]]: per level, images
            concatenated: labels (B * P_l,) (``num_classes`` = background),
            box-frame distances (B * P_l, 4) ``(l, t, r, b)`` (divided by the
            stride with ``norm_on_bbox``), angles (B * P_l,) radians.
        """
        if len(points) != len(self.regress_ranges):
            raise ValueError(f'{len(points)} levels of points but {len(self.regress_ranges)} '
                             'regress ranges')
        num_points = [p.shape[0] for p in points]
        ranges = torch.cat([p.new_tensor(r)[None].expand(n, 2)
                            for p, r, n in zip(points, self.regress_ranges, num_points)])
        radii = torch.cat([p.new_full((n,), float(s) * self.center_sample_radius)
                           for p, s, n in zip(points, self.strides, num_points)])
        labels, dists, angles = multi_apply(self._get_targets_single, batch_gt_instances,
                                            points=torch.cat(points), regress_ranges=ranges,
                                            radii=radii)
        def by_level(per_image: Sequence[Tensor]) -> List[Tensor]:
            return [torch.cat(parts) for parts in zip(*[x.split(num_points) for x in per_image])]

        out_labels, out_dists, out_angles = by_level(labels), by_level(dists), by_level(angles)
        if self.norm_on_bbox:
            out_dists = [d / s for d, s in zip(out_dists, self.strides)]
        return out_labels, out_dists, out_angles

    def _get_targets_single(self, gt_instances: InstanceData, points: Tensor,
                            regress_ranges: Tensor, radii: Tensor
                            ) -> Tuple[Tensor, Tensor, Tensor]:
        """Targets of one image: labels (P,), distances (P, 4), angles (P,)."""
        num_points = points.shape[0]
        gt_labels = gt_instances.labels
        boxes = _rbox_tensor(gt_instances.bboxes).to(points)
        if boxes.shape[0] == 0:
            return (gt_labels.new_full((num_points,), self.num_classes),
                    points.new_zeros((num_points, 4)), points.new_zeros((num_points,)))
        boxes = regularize_boxes(boxes, self.angle_version, width_longer=True)
        u, v = _box_frame(points[:, None, :], boxes[None])  # (P, G)
        half_w, half_h = boxes[:, 2] / 2, boxes[:, 3] / 2
        dists = torch.stack([half_w + u, half_h + v, half_w - u, half_h - v], dim=-1)  # (P, G, 4)
        inside = dists.min(dim=-1).values > 0
        if self.center_sampling:
            inside &= (u.abs() < radii[:, None]) & (v.abs() < radii[:, None])
        max_dist = dists.max(dim=-1).values
        in_range = (max_dist >= regress_ranges[:, :1]) & (max_dist <= regress_ranges[:, 1:])
        areas = (boxes[:, 2] * boxes[:, 3])[None].expand(num_points, -1)
        areas = torch.where(inside & in_range, areas, areas.new_tensor(INF))
        min_area, gt_idx = areas.min(dim=1)
        labels = gt_labels[gt_idx].clone()
        labels[min_area == INF] = self.num_classes
        idx = torch.arange(num_points, device=points.device)
        return labels, dists[idx, gt_idx], boxes[gt_idx, 4]

    # ------------------------------------------------------------------ inference
    def predict_by_feat(self,
                        cls_scores: List[Tensor],
                        bbox_preds: List[Tensor],
                        angle_preds: List[Tensor],
                        centernesses: List[Tensor],
                        batch_img_metas: Optional[List[dict]] = None,
                        cfg: OptConfigType = None,
                        rescale: bool = False,
                        with_nms: bool = True) -> InstanceList:
        """Rotated detections of a batch.

        Per level the ``nms_pre`` best (point, class) pairs above ``score_thr``
        are decoded; scores are multiplied by the centerness; boxes smaller than
        ``min_bbox_size`` are dropped; class-aware rotated NMS keeps at most
        ``max_per_img``.

        Args:
            cls_scores, bbox_preds, angle_preds, centernesses: see :meth:`forward`.
            batch_img_metas (list[dict]): per image, ``scale_factor`` (sx, sy) used
                with ``rescale``.
            cfg (dict, optional): replaces ``test_cfg``.
            rescale (bool): return boxes in the original image (divide by
                ``scale_factor``).
            with_nms (bool): apply rotated NMS.

        Returns:
            list[InstanceData]: per image ``bboxes`` (RotatedBoxes (K, 5), le90),
            ``scores`` (K,) and ``labels`` (K,) int64, by decreasing score (K = 0
            for nothing above the threshold).
        """
        cfg = ConfigDict(self.test_cfg if cfg is None else cfg)
        featmap_sizes = [c.shape[-2:] for c in cls_scores]
        points = self.prior_generator.grid_priors(featmap_sizes, dtype=cls_scores[0].dtype,
                                                  device=cls_scores[0].device)
        results = []
        for img_id, img_meta in enumerate(batch_img_metas):
            per_level = [select_single_mlvl(x, img_id, detach=True)
                         for x in (cls_scores, bbox_preds, angle_preds, centernesses)]
            boxes, scores, labels = [], [], []
            for cls, dist, code, ctr, pts in zip(*per_level, points):
                probs = cls.permute(1, 2, 0).reshape(-1, self.cls_out_channels).sigmoid()
                kept = filter_scores_and_topk(
                    probs, cfg.get('score_thr', 0.0), cfg.get('nms_pre', -1),
                    dict(dist=dist.permute(1, 2, 0).reshape(-1, 4),
                         code=code.permute(1, 2, 0).reshape(-1, self.angle_coder.encode_size),
                         ctr=ctr.permute(1, 2, 0).reshape(-1).sigmoid(), pts=pts))
                level_scores, level_labels, _, f = kept
                angles = self.angle_coder.decode(f['code'])
                boxes.append(distance2rbox(f['pts'], f['dist'], angles))
                scores.append(level_scores * f['ctr'])
                labels.append(level_labels)
            results.append(self._rotated_post_process(
                torch.cat(boxes), torch.cat(scores), torch.cat(labels), cfg, img_meta,
                rescale, with_nms))
        return results

    def _rotated_post_process(self, boxes: Tensor, scores: Tensor, labels: Tensor,
                              cfg: ConfigDict, img_meta: dict, rescale: bool,
                              with_nms: bool) -> InstanceData:
        """Rescale, drop tiny boxes, class-aware rotated NMS, cap the count."""
        from vision_sparse.ops import batched_nms_rotated
        boxes = RotatedBoxes(regularize_boxes(boxes, 'le90'), clone=False)
        if rescale and 'scale_factor' in img_meta:
            sx, sy = img_meta['scale_factor'][:2]
            boxes.rescale_((1.0 / sx, 1.0 / sy))
        min_size = cfg.get('min_bbox_size', -1)
        if min_size >= 0:
            valid = (boxes.widths > min_size) & (boxes.heights > min_size)
            boxes, scores, labels = boxes[valid], scores[valid], labels[valid]
        if with_nms and len(boxes) > 0:
            keep = batched_nms_rotated(boxes.tensor, scores, labels,
                                       (cfg.get('nms') or {}).get('iou_threshold', 0.1))
        else:
            keep = torch.argsort(scores, descending=True)
        max_per_img = cfg.get('max_per_img', -1)
        if max_per_img > 0:
            keep = keep[:max_per_img]
        out = InstanceData()
        out.bboxes = boxes[keep]
        out.scores = scores[keep]
        out.labels = labels[keep]
        return out
