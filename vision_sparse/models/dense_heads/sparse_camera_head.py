"""SparseFusion's camera branch: instance queries from per-view 2-D heatmaps of
projected 3-D centres, a deformable decoder over each query's own view, camera-frame
box heads, and the transformation of the queries into the LiDAR frame.

Flow (:meth:`SparseCameraHead.forward`):

1. every image level gets a 1x1 projection plus a learned level embedding, and a
   heatmap head (K class logits per cell);
2. the ``num_queries`` highest local maxima (``nms_kernel_size`` max pool) over all
   classes, levels and views become queries: the feature at the peak plus a class
   embedding; reference = the peak's normalised image position;
3. decoder layer(s): self-attention among the queries of the same view, deformable
   cross-attention (:class:`DeformableCrossAttention`) over that view's levels, FFN;
4. heads: image centre ``(u, v)`` (a refinement of the reference), log depth,
   log dims ``(l, h, w)``, ``(sin ry, cos ry)``, velocity ``(vx, vz)``, class logits
   (the camera representation of :mod:`~vision_sparse.models.layers.fusion.camera_to_lidar`);
5. :func:`camera_repr_to_lidar` with the query's view, then :class:`ViewTransformer`
   -> the shared head prediction-dict layout (``preds['lidar']``).

Own losses (:meth:`SparseCameraHead.loss`): Gaussian focal loss on the 2-D heatmaps
(targets drawn on the fly from the GT boxes and the cameras), and, for queries
matched by a Hungarian assignment in image space **restricted to the query's view**
(cost: focal class cost + L1 of normalised ``(u, v)``; a GT seen by two views is one
target per view), focal classification and L1 on ``(u, v, log d, log dims, sin, cos,
vx, vz)``. The official code also assigns per view with the Hungarian algorithm,
with a class + camera-frame BEV L1 + 3-D IoU cost and a view-mismatch cost.
The LiDAR-frame loss of ``preds['lidar']`` is the LiDAR branch's; it can be passed as
``lidar_loss_fn``.
"""
import math
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...registry import MODELS
from ...utils.config import merge_conf
from ..layers.fusion.camera_to_lidar import (ViewTransformer, camera_info_vector,
                                             camera_repr_to_lidar, check_camera_matrices,
                                             lidar_to_camera_repr)
from ..layers.fusion.geometric_transfer import check_lidar2img
from ..layers.fusion.semantic_transfer import DeformableCrossAttention, flatten_levels

__all__ = ['SparseCameraHead', 'camera_params_from_samples', 'check_camera_params',
           'project_box_targets']

_CAM_KEYS = ('lidar2img', 'cam2img', 'lidar2cam')


def check_camera_params(cam_params: Mapping, batch: int, views: int) -> Dict:
    """Validate the camera dict of a batch.

    Args:
        cam_params (Mapping): ``lidar2img``, ``cam2img``, ``lidar2cam`` (B, V, 4, 4)
            tensors for the packed image, ``img_shape`` (H, W).
        batch (int): B.
        views (int): V, the number of image views.

    Returns:
        dict: the same entries (cam2img padded to 4x4), ``img_shape`` a tuple.

    Raises:
        ValueError: a key missing, a wrong shape / view count (a missing view),
        non-finite or non-invertible matrices (named).
    """
    if not isinstance(cam_params, Mapping):
        raise ValueError(f'cam_params must be a dict, got {type(cam_params).__name__}')
    missing = [k for k in _CAM_KEYS + ('img_shape',) if k not in cam_params]
    if missing:
        raise ValueError(f'cam_params is missing {missing}')
    for key in _CAM_KEYS:
        check_lidar2img(cam_params[key], batch, views, name=key)
    mats = check_camera_matrices(cam_params['cam2img'], cam_params['lidar2cam'])
    shape = tuple(int(s) for s in cam_params['img_shape'])
    if len(shape) != 2 or min(shape) <= 0:
        raise ValueError(f'img_shape must be (H, W) positive, got {cam_params["img_shape"]}')
    return dict(lidar2img=cam_params['lidar2img'], cam2img=mats['cam2img'],
                lidar2cam=mats['lidar2cam'], img_shape=shape)


def camera_params_from_samples(data_samples: Sequence, device=None) -> Dict:
    """Collect (B, V, 4, 4) camera matrices from packed data samples' metainfo.

    Args:
        data_samples (Sequence): mmdet ``DetDataSample`` s (or dicts) with
            ``lidar2img``, ``cam2img``, ``lidar2cam`` (V, 4, 4) and ``img_shape``.
        device: target device.

    Returns:
        dict: tensors (B, V, 4, 4) float32 and ``img_shape``.

    Raises:
        ValueError: a sample without a key, views differing between samples.
    """
    out = {}
    for key in _CAM_KEYS + ('img_shape',):
        vals = []
        for i, s in enumerate(data_samples):
            meta = s if isinstance(s, Mapping) else s.metainfo
            if key not in meta:
                raise ValueError(f'data_samples[{i}] has no {key!r} in its metainfo')
            vals.append(meta[key])
        if key == 'img_shape':
            out[key] = tuple(vals[0][:2])
            continue
        try:
            out[key] = torch.stack([torch.as_tensor(np.asarray(v), dtype=torch.float32)
                                    for v in vals]).to(device)
        except RuntimeError as err:
            raise ValueError(f'{key} has a different number of views between samples') from err
    return out


def project_box_targets(boxes: Tensor, cam2img: Tensor, lidar2cam: Tensor,
                        img_shape: Tuple[int, int], min_depth: float = 0.1) -> Dict[str, Tensor]:
    """Camera representation of every GT box in every view, and its visibility.

    Args:
        boxes (Tensor): (M, 9) LiDAR boxes.
        cam2img (Tensor): (V, 4, 4).
        lidar2cam (Tensor): (V, 4, 4).
        img_shape (tuple[int, int]): packed (H, W).
        min_depth (float): metres.

    Returns:
        dict: the entries of :func:`lidar_to_camera_repr` with shape (V, M, *),
        ``visible`` (V, M) bool (centre in front and inside the image), ``extent``
        (V, M, 2) width / height in pixels of the projected corners' bounding box.
    """
    from ...structures.bbox import LiDARBoxes3D
    v, m = cam2img.shape[0], boxes.shape[0]
    rep = lidar_to_camera_repr(boxes[None].expand(v, m, boxes.shape[-1]),
                               cam2img[:, None].expand(v, m, 4, 4),
                               lidar2cam[:, None].expand(v, m, 4, 4))
    h, w = img_shape
    uv = rep['uv']
    rep['visible'] = ((rep['depth'][..., 0] > min_depth) & (uv[..., 0] >= -0.5)
                      & (uv[..., 0] < w - 0.5) & (uv[..., 1] >= -0.5) & (uv[..., 1] < h - 0.5))
    corners = LiDARBoxes3D(boxes[:, :7]).corners.to(boxes.dtype)  # (M, 8, 3)
    homo = torch.cat([corners, torch.ones_like(corners[..., :1])], -1)
    proj = torch.einsum('vij,mkj->vmki', (cam2img @ lidar2cam).to(boxes.dtype), homo)
    pix = proj[..., :2] / proj[..., 2:3].clamp_min(min_depth)
    rep['extent'] = pix.amax(2) - pix.amin(2)
    return rep


def _inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    x = x.clamp(eps, 1 - eps)
    return torch.log(x / (1 - x))


class _DecoderLayer(nn.Module):
    """Self-attention within a view, deformable cross-attention, FFN (post-norm)."""

    def __init__(self, c: int, heads: int, levels: int, points: int, ffn: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(c, heads, dropout=dropout, batch_first=True)
        self.cross_attn = DeformableCrossAttention(c, c, heads, levels, 1, points)
        self.ffn = nn.Sequential(nn.Linear(c, ffn), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(ffn, c))
        self.norms = nn.ModuleList([nn.LayerNorm(c) for _ in range(3)])
        self.pos = nn.Sequential(nn.Linear(2, c), nn.ReLU(inplace=True), nn.Linear(c, c))

    def forward(self, x: Tensor, ref: Tensor, pad: Tensor, value: Tensor, shapes: Tensor,
                start: Tensor) -> Tensor:
        pos = self.pos(ref)
        q = x + pos
        x = self.norms[0](x + self.self_attn(q, q, x, key_padding_mask=pad,
                                             need_weights=False)[0])
        x = self.norms[1](x + self.cross_attn(x + pos, value, shapes, start, ref[:, :, None]))
        return self.norms[2](x + self.ffn(x))


@MODELS.register_module()
class SparseCameraHead(nn.Module):
    """Camera-branch detector head of SparseFusion (see the module docstring).

    Options (``default_conf``):
        in_channels (int): channels of every image level.
        hidden_channels (int): query channels C.
        num_classes (int): K.
        num_levels (int): image levels used (the first ones).
        strides (list[int]): input pixels per cell of every level (for drawing the
            heatmap targets; the model itself reads the sizes off the maps).
        num_queries (int): camera queries per sample (over all views).
        num_heads, num_points, ffn_channels, dropout, num_decoder_layers: decoder.
        nms_kernel_size (int): local-maximum window of the query selection.
        point_cloud_range, voxel_size, out_size_factor: the BEV grid of the output.
        detach_transform (bool): the camera -> LiDAR transform works on detached
            predictions (official); the LiDAR-frame loss then trains the view
            transformer only.
        gaussian_overlap (float), min_radius (int): heatmap target radius (cells).
        min_depth (float): GT centres nearer to a camera are not targets, metres.
        loss_heatmap, loss_cls (dict): mmdet loss configs.
        loss_bbox_weight (float): L1 weight; code_weights (list[float]) per target
            column ``(u, v, log d, log l, log h, log w, sin, cos, vx, vz)``.
        match_cls_weight, match_center_weight (float): Hungarian costs.
    """

    default_conf = dict(
        in_channels=256, hidden_channels=128, num_classes=10, num_levels=4,
        strides=(4, 8, 16, 32), num_queries=200, num_heads=8, num_points=4,
        ffn_channels=256, dropout=0.1, num_decoder_layers=1, nms_kernel_size=3,
        point_cloud_range=(-54.0, -54.0, -5.0, 54.0, 54.0, 3.0),
        voxel_size=(0.075, 0.075, 0.2), out_size_factor=8, detach_transform=True,
        gaussian_overlap=0.1, min_radius=2, min_depth=0.1,
        loss_heatmap=dict(type='mmdet.GaussianFocalLoss', reduction='mean', loss_weight=1.0),
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      reduction='mean', loss_weight=1.0),
        loss_bbox_weight=0.25, code_weights=(1.0,) * 8 + (0.2, 0.2),
        match_cls_weight=0.15, match_center_weight=1.0)

    def __init__(self, **conf):
        super().__init__()
        self.conf = c = merge_conf(self.default_conf, conf, type(self).__name__)
        hid, k = c['hidden_channels'], c['num_classes']
        if c['nms_kernel_size'] % 2 != 1:
            raise ValueError(f"nms_kernel_size must be odd, got {c['nms_kernel_size']}")
        if len(c['strides']) < c['num_levels']:
            raise ValueError(f"strides needs {c['num_levels']} entries, got {c['strides']}")
        self.input_proj = nn.ModuleList([nn.Conv2d(c['in_channels'], hid, 1)
                                         for _ in range(c['num_levels'])])
        self.level_embed = nn.Parameter(torch.zeros(c['num_levels'], hid))
        self.heatmap_heads = nn.ModuleList()
        for _ in range(c['num_levels']):
            head = nn.Sequential(nn.Conv2d(hid, hid, 3, 1, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hid, k, 1))
            nn.init.constant_(head[-1].bias, -2.19)
            self.heatmap_heads.append(head)
        self.class_embed = nn.Linear(k, hid)
        self.decoder = nn.ModuleList([
            _DecoderLayer(hid, c['num_heads'], c['num_levels'], c['num_points'],
                          c['ffn_channels'], c['dropout']) for _ in range(c['num_decoder_layers'])])
        outs = dict(center_2d=2, depth=1, dim=3, rot=2, vel=2, cls=k)
        self.pred_heads = nn.ModuleDict({
            key: nn.Sequential(nn.Conv1d(hid, hid, 1), nn.ReLU(inplace=True),
                               nn.Conv1d(hid, n, 1)) for key, n in outs.items()})
        nn.init.constant_(self.pred_heads['cls'][-1].bias, -2.19)
        nn.init.constant_(self.pred_heads['depth'][-1].bias, math.log(10.0))
        self.view_transformer = ViewTransformer(hid, k, c['point_cloud_range'], c['voxel_size'],
                                                c['out_size_factor'])
        self.loss_heatmap = MODELS.build(c['loss_heatmap'])
        self.loss_cls = MODELS.build(c['loss_cls'])

    # ------------------------------------------------------------------ forward
    def forward(self, img_feats: Sequence[Tensor], cam_params: Mapping) -> Dict:
        """Predict camera queries and their LiDAR-frame form.

        Args:
            img_feats (Sequence[Tensor]): >= ``num_levels`` maps (B * V, in_channels,
                h_l, w_l), views of a sample consecutive, finest first.
            cam_params (Mapping): see :func:`check_camera_params`; ``B`` is
                ``lidar2img.shape[0]``.

        Returns:
            dict: ``cam`` (camera-frame predictions: ``center_2d`` (B, 2, Q) pixels,
            ``depth`` (B, 1, Q) log metres, ``dim`` (B, 3, Q) log ``(l, h, w)``, ``rot``
            (B, 2, Q), ``vel`` (B, 2, Q), ``heatmap`` (B, K, Q) logits, ``view`` (B, Q)
            int64, ``ref`` (B, Q, 2) normalised), ``dense_heatmap`` (list of L
            (B, V, K, h_l, w_l) logits), ``boxes`` (B, Q, 9) the transformed LiDAR
            boxes, ``lidar`` (the head prediction-dict layout, with
            ``query_heatmap_score`` (B, K, Q)).

        Raises:
            ValueError: bad shapes / camera parameters (named).
        """
        c = self.conf
        lv = c['num_levels']
        if not isinstance(cam_params, Mapping) or 'lidar2img' not in cam_params:
            raise ValueError("cam_params must be a dict with 'lidar2img' (B, V, 4, 4)")
        if len(img_feats) < lv:
            raise ValueError(f'img_feats has {len(img_feats)} levels, expected >= {lv}')
        l2i = cam_params['lidar2img']
        if not isinstance(l2i, Tensor) or l2i.dim() != 4:
            raise ValueError('lidar2img must be a tensor (B, V, 4, 4), got '
                             f'{tuple(getattr(l2i, "shape", ()))}')
        b = l2i.shape[0]
        if img_feats[0].shape[0] % b:
            raise ValueError(f'img_feats hold {img_feats[0].shape[0]} maps, not B * V for '
                             f'B = {b}: a view is missing')
        views = img_feats[0].shape[0] // b
        cam = check_camera_params(cam_params, b, views)
        feats = [self.input_proj[i](img_feats[i]) + self.level_embed[i][None, :, None, None]
                 for i in range(lv)]
        dense = [self.heatmap_heads[i](feats[i]) for i in range(lv)]
        sel = self._select(dense, b, views)
        value, shapes, start = flatten_levels(feats)  # (B V, N, C)
        flat = value.view(b, views, -1, value.shape[-1])
        q_feat = flat[torch.arange(b, device=flat.device)[:, None], sel['view'], sel['pos']]  # (B, Q, C)
        q_feat = q_feat + self.class_embed(F.one_hot(sel['label'], c['num_classes']).to(q_feat))
        x = self._decode(q_feat, sel, value, shapes, start, b, views)  # (B, C, Q)
        raw = {key: head(x) for key, head in self.pred_heads.items()}
        h, w = cam['img_shape']
        uv_n = (raw['center_2d'] + _inverse_sigmoid(sel['ref']).transpose(1, 2)).sigmoid()
        size = uv_n.new_tensor([w, h])[None, :, None]
        cam_out = dict(center_2d=uv_n * size - 0.5, depth=raw['depth'], dim=raw['dim'],
                       rot=raw['rot'], vel=raw['vel'], heatmap=raw['cls'], view=sel['view'],
                       ref=sel['ref'], center_2d_norm=uv_n)
        bidx = torch.arange(b, device=x.device)[:, None]
        k_q = cam['cam2img'][bidx, sel['view']].to(x)  # (B, Q, 4, 4)
        t_q = cam['lidar2cam'][bidx, sel['view']].to(x)
        src = {key: (val.detach() if c['detach_transform'] else val).transpose(1, 2)
               for key, val in cam_out.items() if key in ('center_2d', 'depth', 'dim', 'rot',
                                                          'vel')}
        boxes = camera_repr_to_lidar(src['center_2d'], src['depth'].exp(), src['dim'].exp(),
                                     src['rot'], src['vel'], k_q, t_q, check=False)
        info = camera_info_vector(k_q, t_q, (h, w))
        lidar = self.view_transformer(x, boxes, info)
        lidar['query_heatmap_score'] = sel['score']
        lidar['query_labels'] = sel['label']
        return dict(cam=cam_out, lidar=lidar, boxes=boxes,
                    dense_heatmap=[d.view(b, views, *d.shape[1:]) for d in dense])

    def _select(self, dense: List[Tensor], b: int, views: int) -> Dict[str, Tensor]:
        """Top-K local maxima over classes, views and levels."""
        c = self.conf
        k, pad = c['num_classes'], c['nms_kernel_size'] // 2
        scores, refs = [], []
        for d in dense:
            hm = d.detach().sigmoid()
            peak = F.max_pool2d(hm, c['nms_kernel_size'], 1, pad)
            hm = hm * (hm == peak)
            hl, wl = hm.shape[-2:]
            scores.append(hm.view(b, views, k, hl * wl))
            ys = (torch.arange(hl, device=hm.device, dtype=hm.dtype) + 0.5) / hl
            xs = (torch.arange(wl, device=hm.device, dtype=hm.dtype) + 0.5) / wl
            yy, xx = torch.meshgrid(ys, xs, indexing='ij')
            refs.append(torch.stack([xx, yy], -1).view(-1, 2))
        score = torch.cat(scores, -1).permute(0, 2, 1, 3)  # (B, K, V, N)
        n = score.shape[-1]
        ref = torch.cat(refs, 0)
        q = min(c['num_queries'], k * views * n)
        top = score.reshape(b, -1).topk(q, dim=-1).indices
        label, view, pos = top // (views * n), (top // n) % views, top % n
        per_view = score.reshape(b, k, views * n)
        qscore = per_view.gather(2, (view * n + pos)[:, None].expand(-1, k, -1))
        return dict(label=label, view=view, pos=pos, ref=ref[pos], score=qscore)

    def _decode(self, q_feat: Tensor, sel: Dict, value: Tensor, shapes: Tensor, start: Tensor,
                b: int, views: int) -> Tensor:
        """Run the decoder with the queries grouped by view (padded per view)."""
        q = q_feat.shape[1]
        group = torch.arange(b, device=q_feat.device)[:, None] * views + sel['view']  # (B, Q)
        onehot = F.one_hot(group.flatten(), b * views)  # (B Q, B V)
        rank = ((onehot.cumsum(0) - 1) * onehot).sum(-1)  # position inside the group
        slots = max(int(onehot.sum(0).max()), 1)
        gidx = group.flatten()
        padded = q_feat.new_zeros(b * views, slots, q_feat.shape[-1])
        ref = q_feat.new_full((b * views, slots, 2), 0.5)
        pad = torch.ones(b * views, slots, dtype=torch.bool, device=q_feat.device)
        padded[gidx, rank] = q_feat.reshape(b * q, -1)
        ref[gidx, rank] = sel['ref'].reshape(b * q, 2).to(ref)
        pad[gidx, rank] = False
        pad[:, 0] = False  # an empty view attends to its (zero) first slot: no NaN
        for layer in self.decoder:
            padded = layer(padded, ref, pad, value, shapes, start)
        return padded[gidx, rank].view(b, q, -1).transpose(1, 2)

    # --------------------------------------------------------------------- loss
    def get_targets(self, gt_boxes: Sequence[Tensor], gt_labels: Sequence[Tensor],
                    cam: Mapping, level_shapes: Sequence[Tuple[int, int]]) -> List[Dict]:
        """Per-sample camera targets and 2-D heatmaps.

        Args:
            gt_boxes (Sequence[Tensor]): B tensors (M, 9) (7 columns: velocity NaN).
            gt_labels (Sequence[Tensor]): B tensors (M,) in 0..K-1.
            cam (Mapping): checked camera parameters.
            level_shapes (Sequence[tuple]): (h_l, w_l) of the levels.

        Returns:
            list[dict]: per sample ``heatmaps`` (list of L (V, K, h_l, w_l)), ``view``
            (T,), ``gt`` (T,) box index, ``label`` (T,), ``code`` (T, 10) regression
            targets ``(u/W, v/H, log d, log l, log h, log w, sin, cos, vx, vz)`` of the
            T visible (box, view) pairs.
        """
        from mmdet.models.utils.gaussian_target import gaussian_radius, gen_gaussian_target
        c = self.conf
        h, w = cam['img_shape']
        out = []
        for i, (boxes, labels) in enumerate(zip(gt_boxes, gt_labels)):
            views = cam['cam2img'].shape[1]
            dev = cam['cam2img'].device
            if boxes.shape[-1] == 7:
                boxes = torch.cat([boxes, boxes.new_full((boxes.shape[0], 2), float('nan'))], 1)
            heatmaps = [torch.zeros(views, c['num_classes'], *s, device=dev) for s in level_shapes]
            if boxes.shape[0] == 0:
                out.append(dict(heatmaps=heatmaps, view=labels.new_zeros(0),
                                gt=labels.new_zeros(0), label=labels.new_zeros(0),
                                code=torch.zeros(0, 10, device=dev)))
                continue
            rep = project_box_targets(boxes.to(dev).float(), cam['cam2img'][i].float(),
                                      cam['lidar2cam'][i].float(), (h, w), c['min_depth'])
            vis_v, vis_m = rep['visible'].nonzero(as_tuple=True)
            for v, m in zip(vis_v.tolist(), vis_m.tolist()):
                u_, v_ = rep['uv'][v, m].tolist()
                ew, eh = rep['extent'][v, m].tolist()
                for lvl, (hl, wl) in enumerate(level_shapes):
                    sx, sy = wl / w, hl / h
                    cx = min(int((u_ + 0.5) * sx), wl - 1)
                    cy = min(int((v_ + 0.5) * sy), hl - 1)
                    rad = gaussian_radius((eh * sy, ew * sx), c['gaussian_overlap'])
                    rad = max(c['min_radius'], int(rad))
                    gen_gaussian_target(heatmaps[lvl][v, int(labels[m])], [cx, cy], rad)
            code = torch.cat([
                rep['uv'][vis_v, vis_m] / rep['uv'].new_tensor([w, h]),
                rep['depth'][vis_v, vis_m].log(), rep['dims'][vis_v, vis_m].log(),
                rep['rot'][vis_v, vis_m], rep['vel'][vis_v, vis_m]], -1)
            out.append(dict(heatmaps=heatmaps, view=vis_v, gt=vis_m,
                            label=labels.to(dev)[vis_m], code=code))
        return out

    def _match(self, cls_logit: Tensor, uv_n: Tensor, view: Tensor,
               tgt: Dict) -> Tuple[Tensor, Tensor]:
        """Hungarian assignment of one sample's queries to its (box, view) targets."""
        from scipy.optimize import linear_sum_assignment
        if tgt['view'].numel() == 0:
            return view.new_zeros(0), view.new_zeros(0)
        c = self.conf
        p = cls_logit.detach().sigmoid().t()[:, tgt['label']]  # (Q, T)
        alpha, gamma = 0.25, 2.0
        pos = -alpha * (1 - p).pow(gamma) * (p + 1e-8).log()
        neg = -(1 - alpha) * p.pow(gamma) * (1 - p + 1e-8).log()
        cost = c['match_cls_weight'] * (pos - neg)
        cost = cost + c['match_center_weight'] * torch.cdist(uv_n.detach().t(),
                                                             tgt['code'][:, :2], p=1)
        cost = cost + 1e6 * (view[:, None] != tgt['view'][None]).to(cost)
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        rows, cols = torch.as_tensor(rows, device=view.device), torch.as_tensor(
            cols, device=view.device)
        keep = view[rows] == tgt['view'][cols]
        return rows[keep], cols[keep]

    def loss(self, preds: Mapping, gt_boxes: Sequence[Tensor], gt_labels: Sequence[Tensor],
             cam_params: Mapping,
             lidar_loss_fn: Optional[Callable[..., Dict[str, Tensor]]] = None
             ) -> Dict[str, Tensor]:
        """Camera-branch losses.

        Args:
            preds (Mapping): :meth:`forward` output.
            gt_boxes (Sequence[Tensor]): B tensors (M, 9) LiDAR boxes (NaN velocity =
                unknown, masked).
            gt_labels (Sequence[Tensor]): B tensors (M,) int64.
            cam_params (Mapping): as for :meth:`forward`.
            lidar_loss_fn (callable, optional): ``fn(preds['lidar'], gt_boxes,
                gt_labels) -> dict`` of LiDAR-frame losses of the transformed queries
                (the LiDAR branch's Hungarian loss); its keys get the prefix ``cam_``.

        Returns:
            dict: ``loss_heatmap_2d``, ``loss_cls_2d``, ``loss_bbox_2d`` (+ hooked ones).
        """
        c = self.conf
        cam_out = preds['cam']
        b, views = cam_out['view'].shape[0], preds['dense_heatmap'][0].shape[1]
        cam = check_camera_params(cam_params, b, views)
        if len(gt_boxes) != b or len(gt_labels) != b:
            raise ValueError(f'gt_boxes / gt_labels need {b} entries, got {len(gt_boxes)} / '
                             f'{len(gt_labels)}')
        shapes = [tuple(d.shape[-2:]) for d in preds['dense_heatmap']]
        targets = self.get_targets(gt_boxes, gt_labels, cam, shapes)
        num_obj = max(sum(int(t['view'].numel()) for t in targets), 1)
        pred_hm = torch.cat([d.flatten(3) for d in preds['dense_heatmap']], -1)
        tgt_hm = torch.stack([torch.cat([h.flatten(2) for h in t['heatmaps']], -1)
                              for t in targets])
        losses = dict(loss_heatmap_2d=self.loss_heatmap(
            pred_hm.sigmoid().clamp(1e-4, 1 - 1e-4), tgt_hm, avg_factor=num_obj))
        k = c['num_classes']
        q = cam_out['view'].shape[1]
        labels = cam_out['view'].new_full((b, q), k)
        code_pred = torch.cat([cam_out['center_2d_norm'], cam_out['depth'], cam_out['dim'],
                               cam_out['rot'], cam_out['vel']], 1).transpose(1, 2)  # (B, Q, 10)
        l1, num_pos = code_pred.new_zeros(()), 0
        weights = code_pred.new_tensor(c['code_weights'])
        for i, tgt in enumerate(targets):
            rows, cols = self._match(cam_out['heatmap'][i], cam_out['center_2d_norm'][i],
                                     cam_out['view'][i], tgt)
            labels[i, rows] = tgt['label'][cols]
            code_t = tgt['code'][cols].to(code_pred)
            wt = weights.expand_as(code_t) * torch.isfinite(code_t)
            l1 = l1 + ((code_pred[i, rows] - torch.nan_to_num(code_t)).abs() * wt).sum()
            num_pos += int(rows.numel())
        avg = max(num_pos, 1)
        losses['loss_cls_2d'] = self.loss_cls(cam_out['heatmap'].transpose(1, 2).reshape(-1, k),
                                              labels.flatten(), avg_factor=avg)
        losses['loss_bbox_2d'] = c['loss_bbox_weight'] * l1 / avg
        if lidar_loss_fn is not None:
            for key, val in lidar_loss_fn(preds['lidar'], gt_boxes, gt_labels).items():
                losses[f'cam_{key}'] = val
        return losses
