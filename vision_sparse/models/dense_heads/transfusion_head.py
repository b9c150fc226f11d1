"""TransFusion-L head (the LiDAR branch of SparseFusion): BEV heatmap -> top-K queries ->
transformer decoder -> 3-D boxes.

The prediction-dict layout, the box code and the losses are shared with the camera head and
the fusion stage: they call :meth:`TransFusionLiDARHead.loss_by_preds` and
:meth:`TransFusionLiDARHead.predict_by_preds` on their own dicts (see
:mod:`vision_sparse.models.task_modules.coders.transfusion_bbox_coder`).
"""
from typing import Dict, List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor, nn

from vision_sparse.models.layers.transformer3d import SeparateHead3D, TransformerDecoderLayer3D
from vision_sparse.models.task_modules.gaussian_heatmap import draw_gaussian, gaussian_radius
from vision_sparse.registry import MODELS, TASK_UTILS
from vision_sparse.structures.bbox.circle_nms import batched_circle_nms
from vision_sparse.utils.build import build_from_cfg_or_obj
from vision_sparse.utils.config import merge_conf

__all__ = ['QueryBoxHead', 'TransFusionLiDARHead', 'gt_from_samples', 'valid_gt']


def gt_from_samples(data_samples) -> Tuple[List[Tensor], List[Tensor]]:
    """``gt_instances_3d`` of the samples -> lists of (M, 9) boxes and (M,) labels."""
    boxes, labels = [], []
    for s in data_samples:
        gt = s.gt_instances_3d
        b = getattr(gt.bboxes_3d, 'tensor', gt.bboxes_3d)
        boxes.append(torch.as_tensor(b, dtype=torch.float32))
        labels.append(torch.as_tensor(gt.labels_3d, dtype=torch.long))
    return boxes, labels


def valid_gt(boxes: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
    """Drop ground truth that cannot be a target: non-finite centre / size / yaw or a
    size <= 0 (velocity may be NaN: unknown)."""
    if boxes.dim() != 2 or boxes.shape[1] < 7 or labels.shape != boxes.shape[:1]:
        raise ValueError(f'gt boxes must be (M, >=7) with (M,) labels, got '
                         f'{tuple(boxes.shape)} and {tuple(labels.shape)}')
    ok = torch.isfinite(boxes[:, :7]).all(1) & (boxes[:, 3:6] > 0).all(1)
    return boxes[ok], labels[ok]


def _clip_sigmoid(x: Tensor, eps: float = 1e-4) -> Tensor:
    return x.sigmoid().clamp(eps, 1 - eps)


@MODELS.register_module()
class QueryBoxHead(nn.Module):
    """The box machinery every SparseFusion stage shares: the coder, the Hungarian
    assigner, the classification / box losses of one prediction dict
    (:meth:`loss_by_preds`) and its decoding with score filters and circle NMS
    (:meth:`predict_by_preds`). It has no parameters: the camera-only detector uses it
    on the camera head's LiDAR-frame queries; :class:`TransFusionLiDARHead` adds the
    LiDAR heatmap and decoder on top.

    Args (``default_conf`` keys):
        num_classes (int): K.
        bbox_coder (dict | TransFusionBBoxCoder): the coder (``point_cloud_range``,
            ``voxel_size``, ``out_size_factor`` define the BEV grid).
        assigner (dict | HungarianAssigner3D).
        loss_cls, loss_bbox (dict): mmdet losses (sigmoid focal, L1).
        code_weights (list[float]): per-column L1 weights (code_size long).
        score_threshold (float), post_center_range (list | None): prediction filters.
        nms_radius (float | list[float] | None): per-class circle-NMS distance, metres
            (None: no NMS; a negative entry: none for that class).
        max_num (int): predictions kept per sample (-1: all).
    """

    default_conf = dict(
        num_classes=10, bbox_coder=None, assigner=dict(type='HungarianAssigner3D'),
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      reduction='mean', loss_weight=1.0),
        loss_bbox=dict(type='mmdet.L1Loss', reduction='mean', loss_weight=0.25),
        code_weights=(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2),
        score_threshold=0.0, post_center_range=None, nms_radius=None, max_num=-1)

    def __init__(self, **conf):
        super().__init__()
        self.conf = c = merge_conf(self.default_conf, conf, type(self).__name__)
        if c['bbox_coder'] is None:
            raise ValueError('bbox_coder is required (a TransFusionBBoxCoder config)')
        self.bbox_coder = build_from_cfg_or_obj(c['bbox_coder'], TASK_UTILS, name='bbox_coder')
        self.assigner = build_from_cfg_or_obj(c['assigner'], TASK_UTILS, name='assigner')
        if len(c['code_weights']) != self.bbox_coder.code_size:
            raise ValueError(f"code_weights must have {self.bbox_coder.code_size} entries")
        self.num_classes = c['num_classes']
        self.loss_cls = MODELS.build(c['loss_cls'])
        self.loss_bbox = MODELS.build(c['loss_bbox'])

    # ------------------------------------------------------------------ targets / losses
    def get_targets_single(self, pred: Dict[str, Tensor], gt_boxes: Tensor,
                           gt_labels: Tensor) -> Dict[str, Tensor]:
        """Hungarian targets of one sample (``pred`` tensors without the batch axis)."""
        q = pred['heatmap'].shape[-1]
        code = self.bbox_coder.code_size
        with torch.no_grad():
            batched = {k: v[None].detach() for k, v in pred.items()
                       if k in ('center', 'height', 'dim', 'rot', 'vel', 'heatmap')}
            boxes = self.bbox_coder.decode(batched)[0][0]
            out = self.assigner.assign(boxes, pred['heatmap'].detach().T, gt_boxes, gt_labels,
                                       self.bbox_coder.point_cloud_range)
        pos = out['gt_inds'] >= 0
        labels = gt_labels.new_full((q,), self.num_classes)
        labels[pos] = gt_labels[out['gt_inds'][pos]]
        targets = gt_boxes.new_zeros(q, code)
        weights = gt_boxes.new_zeros(q, code)
        if pos.any():
            enc = self.bbox_coder.encode(gt_boxes[out['gt_inds'][pos]])
            weights[pos] = torch.isfinite(enc).to(weights)  # unknown velocity: no loss
            targets[pos] = torch.nan_to_num(enc, nan=0.0)
        return dict(labels=labels, label_weights=torch.ones_like(labels, dtype=gt_boxes.dtype),
                    bbox_targets=targets, bbox_weights=weights, ious=out['iou'],
                    num_pos=int(pos.sum()))

    def loss_by_preds(self, pred: Dict[str, Tensor], gt_bboxes_3d: Sequence[Tensor],
                      gt_labels_3d: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Classification and box losses of one prediction dict (any stage).

        Args:
            pred (dict): prediction dict (``center``, ``height``, ``dim``, ``rot``,
                [``vel``], ``heatmap``; ``(B, *, Q)``).
            gt_bboxes_3d (list[Tensor]): B x (M, 9) boxes; invalid ones are dropped
                (:func:`valid_gt`).
            gt_labels_3d (list[Tensor]): B x (M,) labels.

        Returns:
            dict: ``loss_cls``, ``loss_bbox`` (0 without ground truth) and
            ``matched_ious`` (mean BEV IoU of the matched pairs; not a loss).
        """
        b = pred['heatmap'].shape[0]
        if len(gt_bboxes_3d) != b or len(gt_labels_3d) != b:
            raise ValueError(f'expected {b} ground-truth sets, got {len(gt_bboxes_3d)}')
        tgts = []
        for i in range(b):
            boxes, labels = valid_gt(gt_bboxes_3d[i].to(pred['heatmap']),
                                     gt_labels_3d[i].to(pred['heatmap'].device))
            tgts.append(self.get_targets_single({k: v[i] for k, v in pred.items()
                                                 if isinstance(v, Tensor)}, boxes, labels))
        num_pos = sum(t['num_pos'] for t in tgts)
        avg = max(num_pos, 1)
        cls_score = pred['heatmap'].permute(0, 2, 1).reshape(-1, self.num_classes)
        labels = torch.cat([t['labels'] for t in tgts])
        loss_cls = self.loss_cls(cls_score, labels, torch.cat([t['label_weights'] for t in tgts]),
                                 avg_factor=avg)
        preds = self.bbox_coder.pred_to_code(pred)
        weights = torch.stack([t['bbox_weights'] for t in tgts]) * preds.new_tensor(
            self.conf['code_weights'])
        loss_bbox = self.loss_bbox(preds, torch.stack([t['bbox_targets'] for t in tgts]),
                                   weights, avg_factor=avg)
        ious = torch.cat([t['ious'] for t in tgts])
        matched = ious.sum() / avg
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, matched_ious=matched.detach())

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def predict_by_preds(self, pred: Dict[str, Tensor]) -> List[InstanceData]:
        """Boxes of one prediction dict.

        Score = ``sigmoid(heatmap) * query_heatmap_score`` of the query's own class (the
        class that selected it); then the score threshold, the post-centre range,
        per-class circle NMS and ``max_num``.

        Returns:
            list[InstanceData]: per sample ``bboxes_3d`` (k, 9) float32, ``scores_3d``
            (k,), ``labels_3d`` (k,) int64, by decreasing score.
        """
        c = self.conf
        scores = pred['heatmap'].sigmoid()
        if 'query_heatmap_score' in pred:
            scores = scores * pred['query_heatmap_score']
        if 'query_labels' in pred:
            scores = scores * F.one_hot(pred['query_labels'], self.num_classes).permute(0, 2, 1)
        boxes, best, labels = self.bbox_coder.decode(pred, scores=scores)
        results = []
        for i in range(boxes.shape[0]):
            keep = best[i] > c['score_threshold']
            if c['post_center_range'] is not None:
                rng = boxes.new_tensor(c['post_center_range'])
                keep &= ((boxes[i, :, :3] >= rng[:3]) & (boxes[i, :, :3] <= rng[3:])).all(-1)
            keep &= torch.isfinite(boxes[i, :, :7]).all(-1)
            idx = torch.nonzero(keep).flatten()
            if c['nms_radius'] is not None:
                idx = idx[batched_circle_nms(boxes[i, idx], best[i, idx], labels[i, idx],
                                             c['nms_radius'])]
            else:
                idx = idx[best[i, idx].argsort(descending=True)]
            if c['max_num'] >= 0:
                idx = idx[:c['max_num']]
            results.append(InstanceData(bboxes_3d=boxes[i, idx].float(),
                                        scores_3d=best[i, idx].float(),
                                        labels_3d=labels[i, idx].long()))
        return results


@MODELS.register_module()
class TransFusionLiDARHead(QueryBoxHead):
    """TransFusion-L head.

    ``forward``: a shared 3x3 conv, a heatmap branch (conv-BN-ReLU, conv to K class
    logits), local maxima of the sigmoid heatmap (``nms_kernel_size`` max-pool, padded
    so border peaks count) and the top ``num_proposals`` (class, cell) pairs as queries:
    the cell's feature plus a class embedding (1x1 conv of the one-hot class), at the
    cell centre. ``num_decoder_layers`` x (:class:`TransformerDecoderLayer3D` with
    cross-attention to all BEV cells, :class:`SeparateHead3D`); each layer's centre is an
    offset to its query position, and the next layer starts from the predicted centres.

    Args (``default_conf`` keys): those of :class:`QueryBoxHead` (``num_classes``,
    ``bbox_coder``, ``assigner``, ``loss_cls``, ``loss_bbox``, ``code_weights`` and the
    prediction filters) and
        in_channels (int): BEV feature channels.
        hidden_channels (int): query width (d_model).
        num_proposals (int): queries per sample (capped at K * H * W).
        nms_kernel_size (int): odd local-maximum window of the heatmap (1: none).
        num_decoder_layers (int), num_heads (int), ffn_channels (int), dropout (float),
        activation (str): decoder-layer options.
        common_heads (dict): ``name -> (channels, num_conv)`` box heads (``heatmap`` added).
        head_conv (int): hidden width of the box heads.
        loss_heatmap (dict): mmdet Gaussian focal loss of the dense heatmap.
        gaussian_overlap (float), min_radius (int): heatmap-target Gaussians.
    """

    default_conf = dict(
        QueryBoxHead.default_conf,
        in_channels=128, hidden_channels=128, num_proposals=200,
        nms_kernel_size=3, num_decoder_layers=1, num_heads=8, ffn_channels=256, dropout=0.1,
        activation='relu',
        common_heads=dict(center=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        head_conv=64,
        loss_heatmap=dict(type='mmdet.GaussianFocalLoss', reduction='mean', loss_weight=1.0),
        gaussian_overlap=0.1, min_radius=2)

    def __init__(self, **conf):
        super().__init__(**conf)
        c = self.conf
        if c['nms_kernel_size'] < 1 or c['nms_kernel_size'] % 2 == 0:
            raise ValueError(f"nms_kernel_size must be odd >= 1, got {c['nms_kernel_size']}")
        k, h = c['num_classes'], c['hidden_channels']
        self.shared_conv = nn.Conv2d(c['in_channels'], h, 3, padding=1)
        self.heatmap_head = nn.Sequential(
            nn.Conv2d(h, h, 3, padding=1, bias=False), nn.BatchNorm2d(h), nn.ReLU(inplace=True),
            nn.Conv2d(h, k, 3, padding=1))
        nn.init.constant_(self.heatmap_head[-1].bias, -2.19)
        self.class_encoding = nn.Conv1d(k, h, 1)
        self.decoder = nn.ModuleList(
            TransformerDecoderLayer3D(d_model=h, nhead=c['num_heads'],
                                      dim_feedforward=c['ffn_channels'], dropout=c['dropout'],
                                      activation=c['activation'])
            for _ in range(c['num_decoder_layers']))
        heads = dict(c['common_heads'], heatmap=(k, 2))
        self.prediction_heads = nn.ModuleList(
            SeparateHead3D(h, heads, head_conv=c['head_conv'])
            for _ in range(c['num_decoder_layers']))
        self.loss_heatmap = MODELS.build(c['loss_heatmap'])

    # ------------------------------------------------------------------ forward
    @staticmethod
    def bev_positions(h: int, w: int, ref: Tensor) -> Tensor:
        """(1, H * W, 2) cell-centre positions ``(x, y) = (j + 0.5, i + 0.5)``, row-major."""
        ys, xs = torch.meshgrid(torch.arange(h, device=ref.device, dtype=ref.dtype) + 0.5,
                                torch.arange(w, device=ref.device, dtype=ref.dtype) + 0.5,
                                indexing='ij')
        return torch.stack([xs, ys], -1).reshape(1, h * w, 2)

    def select_queries(self, heatmap: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """Top local maxima of a (B, K, H, W) sigmoid heatmap.

        Returns:
            ``cells`` (B, Q) flat cell index, ``labels`` (B, Q) int64 class,
            ``scores`` (B, K, Q) the (suppressed) heatmap of every class at those cells.
        """
        b, k, h, w = heatmap.shape
        ks = self.conf['nms_kernel_size']
        if ks > 1:
            peak = F.max_pool2d(heatmap, ks, stride=1, padding=ks // 2)
            heatmap = heatmap * (heatmap == peak)
        flat = heatmap.reshape(b, k * h * w)
        q = min(self.conf['num_proposals'], k * h * w)
        idx = flat.topk(q, dim=1).indices
        cells, labels = idx % (h * w), torch.div(idx, h * w, rounding_mode='floor')
        scores = heatmap.reshape(b, k, h * w).gather(2, cells[:, None].expand(-1, k, -1))
        return cells, labels, scores

    def forward(self, feats: Union[Tensor, Sequence[Tensor]]) -> List[Dict[str, Tensor]]:
        """BEV features -> one prediction dict per decoder layer.

        Args:
            feats (Tensor | list[Tensor]): (B, in_channels, H, W) (the first of a list).

        Returns:
            list[dict]: ``center`` (B, 2, Q), ``height`` (B, 1, Q), ``dim`` (B, 3, Q),
            ``rot`` (B, 2, Q), ``vel`` (B, 2, Q), ``heatmap`` (B, K, Q) logits,
            ``query_feat`` (B, C, Q), ``query_pos`` (B, Q, 2) (the predicted centres,
            detached: where the next stage starts), ``query_heatmap_score`` (B, K, Q),
            ``query_labels`` (B, Q), ``dense_heatmap`` (B, K, H, W) logits.
        """
        x = feats if isinstance(feats, Tensor) else feats[0]
        if x.dim() != 4 or x.shape[1] != self.conf['in_channels']:
            raise ValueError(f"feats must be (B, {self.conf['in_channels']}, H, W), got "
                             f'{tuple(x.shape)}')
        feat = self.shared_conv(x)
        b, c, h, w = feat.shape
        feat_flat = feat.reshape(b, c, h * w)
        bev_pos = self.bev_positions(h, w, feat).expand(b, -1, -1)
        dense_heatmap = self.heatmap_head(feat)
        cells, labels, hm_scores = self.select_queries(dense_heatmap.detach().sigmoid())
        query_feat = feat_flat.gather(2, cells[:, None].expand(-1, c, -1))
        one_hot = F.one_hot(labels, self.num_classes).permute(0, 2, 1).to(feat)
        query_feat = query_feat + self.class_encoding(one_hot)
        query_pos = bev_pos.gather(1, cells[..., None].expand(-1, -1, 2))
        outs = []
        for layer, head in zip(self.decoder, self.prediction_heads):
            query_feat = layer(query_feat, feat_flat, query_pos, bev_pos)
            res = head(query_feat)
            res['center'] = res['center'] + query_pos.permute(0, 2, 1)
            query_pos = res['center'].detach().permute(0, 2, 1)
            res.update(query_feat=query_feat, query_pos=query_pos,
                       query_heatmap_score=hm_scores, query_labels=labels,
                       dense_heatmap=dense_heatmap)
            outs.append(res)
        return outs

    # ------------------------------------------------------------------ targets / losses
    def heatmap_targets(self, gt_boxes: Tensor, gt_labels: Tensor, size: Tuple[int, int]) -> Tensor:
        """(K, H, W) Gaussian targets of one sample's valid ground truth (BEV centres)."""
        h, w = size
        target = gt_boxes.new_zeros(self.num_classes, h, w)
        cx, cy = self.bbox_coder.cell_size
        centers = self.bbox_coder.metres_to_cells(gt_boxes[:, :2]).tolist()
        for box, label, center in zip(gt_boxes.tolist(), gt_labels.tolist(), centers):
            radius = gaussian_radius((box[4] / cy, box[3] / cx), self.conf['gaussian_overlap'])
            draw_gaussian(target[label], center, max(self.conf['min_radius'], int(radius)))
        return target

    def loss_heatmap_by_preds(self, dense_heatmap: Tensor, gt_bboxes_3d: Sequence[Tensor],
                              gt_labels_3d: Sequence[Tensor]) -> Tensor:
        """Gaussian focal loss of the (B, K, H, W) dense heatmap logits."""
        b, _, h, w = dense_heatmap.shape
        target = torch.stack([
            self.heatmap_targets(*valid_gt(gt_bboxes_3d[i].to(dense_heatmap),
                                           gt_labels_3d[i].to(dense_heatmap.device)), (h, w))
            for i in range(b)])
        avg = max(float(target.eq(1).sum()), 1.0)
        return self.loss_heatmap(_clip_sigmoid(dense_heatmap), target, avg_factor=avg)

    def loss(self, feats, batch_data_samples) -> Dict[str, Tensor]:
        """Forward and all losses (:meth:`loss_by_outputs`)."""
        gt_boxes, gt_labels = gt_from_samples(batch_data_samples)
        return self.loss_by_outputs(self(feats), gt_boxes, gt_labels)

    def loss_by_outputs(self, outs: Sequence[Dict[str, Tensor]], gt_bboxes_3d: Sequence[Tensor],
                        gt_labels_3d: Sequence[Tensor]) -> Dict[str, Tensor]:
        """All losses of :meth:`forward`'s outputs: ``loss_heatmap``,
        ``layer_{i}_loss_cls`` / ``_loss_bbox`` (the last layer is ``layer_-1``),
        ``matched_ious``."""
        losses = dict(loss_heatmap=self.loss_heatmap_by_preds(outs[0]['dense_heatmap'],
                                                              gt_bboxes_3d, gt_labels_3d))
        for i, pred in enumerate(outs):
            prefix = 'layer_-1' if i == len(outs) - 1 else f'layer_{i}'
            part = self.loss_by_preds(pred, gt_bboxes_3d, gt_labels_3d)
            losses[f'{prefix}_loss_cls'] = part['loss_cls']
            losses[f'{prefix}_loss_bbox'] = part['loss_bbox']
            if i == len(outs) - 1:
                losses['matched_ious'] = part['matched_ious']
        return losses

    def predict(self, feats, batch_data_samples=None) -> List[InstanceData]:
        """Forward and :meth:`predict_by_preds` of the last decoder layer."""
        return self.predict_by_preds(self(feats)[-1])
