"""SparseFusion detector (Xie et al., ICCV 2023): LiDAR-only (TransFusion-L), camera-only
(the sparse camera head, its queries transformed into the LiDAR frame) and the fused
model (semantic + geometric transfer, both query sets fused by one attention layer).
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from vision_sparse.registry import MODELS
from vision_sparse.utils.build import build_from_cfg_or_obj

__all__ = ['SparseFusion', 'MODALITIES']

#: Modalities of :class:`SparseFusion`.
MODALITIES = ('lidar', 'camera', 'fusion')

#: The parts every modality needs (others in the config are not built).
_REQUIRED = dict(
    lidar=('pts_voxel_layer', 'pts_voxel_encoder', 'pts_backbone', 'lidar_head'),
    camera=('img_backbone', 'camera_head'),
    fusion=('pts_voxel_layer', 'pts_voxel_encoder', 'pts_backbone', 'lidar_head',
            'img_backbone', 'camera_head', 'semantic_transfer', 'fusion_layer'))


def _empty_instances(device) -> InstanceData:
    return InstanceData(bboxes_3d=torch.zeros(0, 9, device=device),
                        scores_3d=torch.zeros(0, device=device),
                        labels_3d=torch.zeros(0, dtype=torch.long, device=device))


def _box_head_cfg(lidar_head: Union[dict, None]) -> dict:
    """A :class:`QueryBoxHead` config with the box settings of a LiDAR-head config."""
    from vision_sparse.models.dense_heads import QueryBoxHead
    if not isinstance(lidar_head, Mapping):
        raise ValueError("modality='camera' needs box_head (a QueryBoxHead config) or a "
                         'lidar_head config to take its box settings from')
    keys = set(QueryBoxHead.default_conf)
    return dict({k: v for k, v in lidar_head.items() if k in keys}, type='QueryBoxHead')


@MODELS.register_module()
class SparseFusion(BaseModel):
    """SparseFusion with the mmdet-3.x interface (``forward(inputs, data_samples, mode)``
    with ``mode`` 'loss' / 'predict' / 'tensor').

    LiDAR branch: points (non-finite rows dropped) -> ``pts_voxel_layer``
    (:class:`vision_sparse.ops.Voxelization`, hard pillars) -> ``pts_voxel_encoder``
    (:class:`PillarFeatureNet`) -> ``pts_middle_encoder`` (BEV scatter) ->
    ``pts_backbone`` (:class:`SECONDBEV`) -> ``pts_neck`` (:class:`SECONDFPNBEV`) ->
    [fusion: concatenated with ``semantic_transfer`` (image features sampled into the
    BEV cells)] -> ``lidar_head`` (:class:`TransFusionLiDARHead`).

    Camera branch: images ``(B, V, 3, H, W)`` -> ``img_backbone`` -> ``img_neck`` ->
    [``geometric_transfer`` (:class:`SparseDepthEncoder`: the LiDAR depth projected into
    the image features) when configured] -> ``camera_head`` (:class:`SparseCameraHead`,
    queries transformed into the LiDAR frame).

    Fusion: ``fusion_layer`` (:class:`QueryFusionLayer`) over the LiDAR head's and the
    camera head's queries; its predictions are the output.

    Modalities (parts a modality does not use may stay in the config: they are not
    built, so one model config serves all three):

    * ``'lidar'``: points only; output = the LiDAR head's last decoder layer.
    * ``'camera'``: output = the camera queries in the LiDAR frame, decoded by
      ``box_head`` (:class:`QueryBoxHead`; default: the box settings of ``lidar_head``).
      Images only, unless ``geometric_transfer`` is configured (then the points are
      needed too: sparse depth); set ``geometric_transfer=None`` for a camera-only
      model that truly reads images only.
    * ``'fusion'``: points and images (both required: ``ValueError`` naming what is
      missing); semantic transfer, geometric transfer (if configured) and the fusion
      stage. Losses: the LiDAR stage (``lidar_`` prefix), the camera stage (its image
      losses and the ``cam_`` LiDAR-frame losses of its queries) and the fusion stage
      (``fusion_`` prefix), each weighted by ``stage_loss_weights``.

    Args:
        modality (str): one of :data:`MODALITIES`.
        pts_voxel_layer (dict): :class:`~vision_sparse.ops.Voxelization` arguments.
        pts_voxel_encoder (dict): config of the pillar encoder.
        pts_middle_encoder (str | dict): ``'pillars'`` (``PointPillarsScatter`` on the
            voxel grid), ``'spconv'`` (raises: see :func:`spconv_status`), or a config
            (``output_shape`` defaults to the voxel grid's ``(ny, nx)``).
        pts_backbone (dict), pts_neck (dict, optional): BEV backbone and neck.
        lidar_head (dict): the LiDAR head (its ``in_channels`` = the neck's channels,
            plus ``semantic_transfer.embed_dims`` in the fused model).
        img_backbone (dict), img_neck (dict, optional): image encoder (mmdet ResNet /
            FPN...), applied to the B * V views.
        geometric_transfer (dict, optional): :class:`SparseDepthEncoder`.
        semantic_transfer (dict): :class:`SemanticTransfer` (fusion).
        camera_head (dict): :class:`SparseCameraHead`.
        fusion_layer (dict): :class:`QueryFusionLayer` (fusion).
        box_head (dict, optional): :class:`QueryBoxHead` of the camera-only model.
        stage_loss_weights (dict, optional): ``lidar``, ``camera``, ``fusion`` factors
            of the stage losses in the fused model (default 1 each, as the official
            code).
        data_preprocessor (dict, optional): e.g. ``FusionDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.

    Inputs (``batch_inputs``): ``dict(points=list of B Tensor (N_i, C), imgs=Tensor
    (B, V, 3, H, W))`` (x, y, z, intensity, ...; LiDAR frame, metres; normalised
    images). ``data_samples``: mmdet ``DetDataSample`` with ``gt_instances_3d``
    (``bboxes_3d`` (M, 9), ``labels_3d`` (M,)) for 'loss' and, with images, the
    metainfo ``lidar2img``, ``cam2img``, ``lidar2cam`` (V, 4, 4) of the packed image.
    The image size used for the camera geometry is the batch tensor's ``(H, W)``
    (padding at the bottom / right moves no pixel).
    """

    def __init__(self, modality: str = 'lidar', pts_voxel_layer: Optional[dict] = None,
                 pts_voxel_encoder: Optional[dict] = None,
                 pts_middle_encoder: Union[str, dict] = 'pillars',
                 pts_backbone: Optional[dict] = None, pts_neck: Optional[dict] = None,
                 lidar_head: Optional[dict] = None, img_backbone: Optional[dict] = None,
                 img_neck: Optional[dict] = None, geometric_transfer: Optional[dict] = None,
                 semantic_transfer: Optional[dict] = None, camera_head: Optional[dict] = None,
                 fusion_layer: Optional[dict] = None, box_head: Optional[dict] = None,
                 stage_loss_weights: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if modality not in MODALITIES:
            raise ValueError(f'modality must be one of {MODALITIES}, got {modality!r}')
        given = dict(pts_voxel_layer=pts_voxel_layer, pts_voxel_encoder=pts_voxel_encoder,
                     pts_backbone=pts_backbone, lidar_head=lidar_head,
                     img_backbone=img_backbone, camera_head=camera_head,
                     semantic_transfer=semantic_transfer, fusion_layer=fusion_layer)
        for name in _REQUIRED[modality]:
            if given[name] is None:
                raise ValueError(f'{name} is required for modality={modality!r}')
        self.modality = modality
        weights = dict(lidar=1.0, camera=1.0, fusion=1.0)
        if stage_loss_weights:
            unknown = set(stage_loss_weights) - set(weights)
            if unknown:
                raise ValueError(f'stage_loss_weights has unknown stages {sorted(unknown)}; '
                                 f'expected {sorted(weights)}')
            weights.update(stage_loss_weights)
        self.stage_loss_weights = weights
        self.uses_points = modality != 'camera' or geometric_transfer is not None
        if modality != 'camera':
            from vision_sparse.ops import Voxelization
            self.pts_voxel_layer = build_from_cfg_or_obj(pts_voxel_layer, MODELS,
                                                         default_type=Voxelization,
                                                         name='pts_voxel_layer')
            self.pts_voxel_encoder = build_from_cfg_or_obj(pts_voxel_encoder, MODELS,
                                                           name='pts_voxel_encoder')
            self.pts_middle_encoder = self._build_middle_encoder(pts_middle_encoder)
            self.pts_backbone = build_from_cfg_or_obj(pts_backbone, MODELS, name='pts_backbone')
            self.pts_neck = build_from_cfg_or_obj(pts_neck, MODELS, name='pts_neck',
                                                  allow_none=True)
            self.lidar_head = build_from_cfg_or_obj(lidar_head, MODELS, name='lidar_head')
        if modality != 'lidar':
            self.img_backbone = build_from_cfg_or_obj(img_backbone, MODELS,
                                                      name='img_backbone')
            self.img_neck = build_from_cfg_or_obj(img_neck, MODELS, name='img_neck',
                                                  allow_none=True)
            self.geometric_transfer = build_from_cfg_or_obj(
                geometric_transfer, MODELS, name='geometric_transfer', allow_none=True)
            self.camera_head = build_from_cfg_or_obj(camera_head, MODELS, name='camera_head')
        if modality == 'camera':
            self.box_head = build_from_cfg_or_obj(
                box_head if box_head is not None else _box_head_cfg(lidar_head), MODELS,
                name='box_head')
        if modality == 'fusion':
            self.semantic_transfer = build_from_cfg_or_obj(semantic_transfer, MODELS,
                                                           name='semantic_transfer')
            self.fusion_layer = build_from_cfg_or_obj(fusion_layer, MODELS,
                                                      name='fusion_layer')
            self.box_head = self.lidar_head

    def _build_middle_encoder(self, cfg: Union[str, dict]):
        from vision_sparse.models.voxel_encoders import MIDDLE_ENCODERS
        if isinstance(cfg, str):
            if cfg not in MIDDLE_ENCODERS:
                raise ValueError(f'pts_middle_encoder must be one of {sorted(MIDDLE_ENCODERS)} '
                                 f'or a config dict, got {cfg!r}')
            cfg = dict(type=MIDDLE_ENCODERS[cfg])
        if isinstance(cfg, dict):
            cfg = dict(cfg)
            if cfg.get('type') in ('PointPillarsScatter', 'vision_sparse.PointPillarsScatter'):
                grid = self.pts_voxel_layer.grid_size.tolist()
                cfg.setdefault('output_shape', (grid[1], grid[0]))
                cfg.setdefault('in_channels', self.pts_voxel_encoder.out_channels)
        return build_from_cfg_or_obj(cfg, MODELS, name='pts_middle_encoder')

    # ------------------------------------------------------------------ features
    def voxelize(self, points: Sequence[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Hard-voxelise each cloud (non-finite rows dropped) and stack them.

        Returns:
            ``voxels`` (M, P, C), ``num_points`` (M,), ``coors`` (M, 4) int32
            ``(batch, z, y, x)``.
        """
        voxels, nums, coors = [], [], []
        for i, pts in enumerate(points):
            pts = pts[torch.isfinite(pts).all(1)]
            v, c, n = self.pts_voxel_layer(pts)
            voxels.append(v)
            nums.append(n)
            coors.append(torch.cat([c.new_full((c.shape[0], 1), i), c], 1))
        return torch.cat(voxels), torch.cat(nums), torch.cat(coors)

    def extract_pts_feat(self, points: Sequence[Tensor]) -> Tuple[List[Tensor], Tensor]:
        """Points -> BEV feature maps (the neck's list) and (B,) bool "has voxels"."""
        voxels, nums, coors = self.voxelize(points)
        feats = self.pts_voxel_encoder(voxels, nums, coors)
        bev = self.pts_middle_encoder(feats, coors, len(points))
        x = self.pts_backbone(bev)
        if self.pts_neck is not None:
            x = self.pts_neck(x)
        has = torch.zeros(len(points), dtype=torch.bool, device=bev.device)
        has[coors[:, 0].long()] = True
        return (list(x) if isinstance(x, (list, tuple)) else [x]), has

    def extract_img_feat(self, imgs: Tensor, points: Optional[Sequence[Tensor]],
                         cam_params: Mapping) -> List[Tensor]:
        """Images (B, V, 3, H, W) -> image levels (B * V, C, h_l, w_l), with the sparse
        LiDAR depth fused in when ``geometric_transfer`` is configured."""
        x = self.img_backbone(imgs.flatten(0, 1))
        if self.img_neck is not None:
            x = self.img_neck(x)
        feats = list(x) if isinstance(x, (list, tuple)) else [x]
        if self.geometric_transfer is not None:
            feats = self.geometric_transfer(feats, points, cam_params['lidar2img'])
        return feats

    def _unpack(self, batch_inputs, batch_data_samples):
        """Check the inputs this modality needs -> (points | None, imgs | None,
        cam_params | None)."""
        if not isinstance(batch_inputs, Mapping):
            raise ValueError('batch_inputs must be a dict with points (list of (N, C) '
                             'tensors) and / or imgs (B, V, 3, H, W)')
        points = imgs = cam = None
        if self.uses_points:
            if batch_inputs.get('points') is None:
                raise ValueError(f'modality={self.modality!r} needs points: batch_inputs has '
                                 "no 'points' (list of (N, C) tensors)")
            points = list(batch_inputs['points'])
            for i, pts in enumerate(points):
                if not isinstance(pts, Tensor) or pts.dim() != 2 or pts.shape[1] < 3:
                    raise ValueError(f'points[{i}] must be a (N, C >= 3) tensor, got '
                                     f'{getattr(pts, "shape", type(pts))}')
        if self.modality != 'lidar':
            imgs = batch_inputs.get('imgs')
            if imgs is None:
                raise ValueError(f'modality={self.modality!r} needs images: batch_inputs has '
                                 "no 'imgs' (B, V, 3, H, W)")
            if not isinstance(imgs, Tensor) or imgs.dim() != 5 or imgs.shape[2] != 3:
                raise ValueError('imgs must be a (B, V, 3, H, W) tensor, got '
                                 f'{tuple(getattr(imgs, "shape", ()))}')
            if batch_data_samples is None or len(batch_data_samples) != imgs.shape[0]:
                raise ValueError('data_samples (one per image set, with lidar2img / cam2img / '
                                 'lidar2cam in the metainfo) are required with images')
            if points is not None and len(points) != imgs.shape[0]:
                raise ValueError(f'points has {len(points)} samples but imgs {imgs.shape[0]}')
            from vision_sparse.models.dense_heads.sparse_camera_head import \
                camera_params_from_samples
            shape = tuple(imgs.shape[-2:])  # the batch tensor's (padded) size
            metas = [dict(getattr(s, 'metainfo', s), img_shape=shape)
                     for s in batch_data_samples]
            cam = camera_params_from_samples(metas, imgs.device)
        return points, imgs, cam

    def forward_stages(self, batch_inputs, batch_data_samples) -> Dict:
        """Run the modality's stages (public so that benchmarks can time them, e.g. with
        forward hooks on ``lidar_head`` / ``camera_head`` / ``fusion_layer``).

        Returns:
            dict: ``points`` (list or None), ``cam_params`` (dict or None),
            ``has_points`` ((B,) bool, with a LiDAR branch) and the outputs of the
            stages that ran: ``lidar`` (the LiDAR head's list of prediction dicts),
            ``camera`` (the camera head's dict), ``fusion`` (list of prediction dicts).
        """
        points, imgs, cam = self._unpack(batch_inputs, batch_data_samples)
        out = dict(points=points, cam_params=cam)
        img_feats = None
        if imgs is not None:
            img_feats = self.extract_img_feat(imgs, points, cam)
            out['camera'] = self.camera_head(img_feats, cam)
        if self.modality != 'camera':
            feats, out['has_points'] = self.extract_pts_feat(points)
            if self.modality == 'fusion':
                levels = self.semantic_transfer.conf['num_levels']
                sem = self.semantic_transfer(feats[0], img_feats[:levels], cam['lidar2img'],
                                             cam['img_shape'])
                feats = [torch.cat([feats[0], sem], 1)] + feats[1:]
            out['lidar'] = self.lidar_head(feats)
        if self.modality == 'fusion':
            out['fusion'] = self.fusion_layer(out['lidar'][-1], out['camera']['lidar'])
        return out

    # ------------------------------------------------------------------ mmdet interface
    def forward(self, inputs: dict, data_samples=None, mode: str = 'tensor'):
        """'loss' -> dict of losses; 'predict' -> data samples with ``pred_instances_3d``;
        'tensor' -> the stage outputs (:meth:`_forward`)."""
        run = dict(loss=self.loss, predict=self.predict, tensor=self._forward).get(mode)
        if run is None:
            raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
        return run(inputs, data_samples)

    def _forward(self, batch_inputs: dict, batch_data_samples=None):
        """'lidar': the LiDAR head's prediction dicts (one per decoder layer);
        'camera': the camera head's output dict (``cam``, ``lidar``, ``boxes``,
        ``dense_heatmap``); 'fusion': ``dict(lidar=..., camera=..., fusion=list of
        prediction dicts over the Q1 + Q2 fused queries)``."""
        out = self.forward_stages(batch_inputs, batch_data_samples)
        if self.modality == 'fusion':
            return {k: out[k] for k in ('lidar', 'camera', 'fusion')}
        return out[self.modality]

    def loss(self, batch_inputs: dict, batch_data_samples) -> Dict[str, Tensor]:
        """Losses. 'lidar': :meth:`TransFusionLiDARHead.loss`'s keys; 'camera':
        :meth:`SparseCameraHead.loss`'s keys (``loss_heatmap_2d``, ``loss_cls_2d``,
        ``loss_bbox_2d``, ``cam_loss_cls``, ``cam_loss_bbox``, ``cam_matched_ious``);
        'fusion': the LiDAR keys prefixed ``lidar_``, the camera keys, and
        ``fusion_{i}_loss_cls`` / ``_loss_bbox`` / ``_matched_ious`` per fusion layer
        (the last is ``fusion_-1``)."""
        from vision_sparse.models.dense_heads import gt_from_samples
        out = self.forward_stages(batch_inputs, batch_data_samples)
        gt_boxes, gt_labels = gt_from_samples(batch_data_samples)
        losses = {}
        if 'lidar' in out:
            part = self.lidar_head.loss_by_outputs(out['lidar'], gt_boxes, gt_labels)
            if self.modality == 'fusion':
                part = {f'lidar_{k}': v for k, v in part.items()}
            losses.update(self._weighted(part, 'lidar'))
        if 'camera' in out:
            part = self.camera_head.loss(out['camera'], gt_boxes, gt_labels, out['cam_params'],
                                         lidar_loss_fn=self.box_head.loss_by_preds)
            losses.update(self._weighted(part, 'camera'))
        if 'fusion' in out:
            n = len(out['fusion'])
            for i, pred in enumerate(out['fusion']):
                name = 'fusion_-1' if i == n - 1 else f'fusion_{i}'
                part = self.lidar_head.loss_by_preds(pred, gt_boxes, gt_labels)
                losses.update(self._weighted({f'{name}_{k}': v for k, v in part.items()},
                                             'fusion'))
        return losses

    def _weighted(self, losses: Dict[str, Tensor], stage: str) -> Dict[str, Tensor]:
        w = self.stage_loss_weights[stage]
        if self.modality != 'fusion' or w == 1.0:
            return losses
        return {k: v * w if 'loss' in k else v for k, v in losses.items()}

    def predict(self, batch_inputs: dict, batch_data_samples):
        """Set ``pred_instances_3d`` (``bboxes_3d`` (K, 9), ``scores_3d`` (K,),
        ``labels_3d`` (K,)) on each data sample: the LiDAR head's last layer
        ('lidar'; a sample with no point in the range gets no box), the camera queries
        ('camera') or the last fusion layer ('fusion'), each scored ``sigmoid(class
        logit) x`` the query's initial heatmap score, per-class circle NMS."""
        out = self.forward_stages(batch_inputs, batch_data_samples)
        if self.modality == 'lidar':
            results = self.lidar_head.predict_by_preds(out['lidar'][-1])
            device = out['lidar'][-1]['heatmap'].device
            results = [r if ok else _empty_instances(device)
                       for r, ok in zip(results, out['has_points'].tolist())]
        elif self.modality == 'camera':
            results = self.box_head.predict_by_preds(out['camera']['lidar'])
        else:
            results = self.lidar_head.predict_by_preds(out['fusion'][-1])
        for sample, res in zip(batch_data_samples, results):
            sample.pred_instances_3d = res
        return batch_data_samples
