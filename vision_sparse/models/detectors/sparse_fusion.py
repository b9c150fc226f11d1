"""SparseFusion detector (Xie et al., ICCV 2023): today its LiDAR branch
(``modality='lidar'``, TransFusion-L); the camera branch and the fusion stage come next.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor

from vision_sparse.registry import MODELS
from vision_sparse.utils.build import build_from_cfg_or_obj

__all__ = ['SparseFusion', 'MODALITIES']

#: Modalities of :class:`SparseFusion`; only 'lidar' is implemented so far.
MODALITIES = ('lidar', 'camera', 'fusion')


def _empty_instances(device) -> InstanceData:
    return InstanceData(bboxes_3d=torch.zeros(0, 9, device=device),
                        scores_3d=torch.zeros(0, device=device),
                        labels_3d=torch.zeros(0, dtype=torch.long, device=device))


@MODELS.register_module()
class SparseFusion(BaseModel):
    """SparseFusion with the mmdet-3.x interface (``forward(inputs, data_samples, mode)``
    with ``mode`` 'loss' / 'predict' / 'tensor').

    LiDAR branch: points (non-finite rows dropped) -> ``pts_voxel_layer``
    (:class:`vision_sparse.ops.Voxelization`, hard pillars) -> ``pts_voxel_encoder``
    (:class:`PillarFeatureNet`) -> ``pts_middle_encoder`` (BEV scatter) ->
    ``pts_backbone`` (:class:`SECONDBEV`) -> ``pts_neck`` (:class:`SECONDFPNBEV`) ->
    ``lidar_head`` (:class:`TransFusionLiDARHead`).

    Args:
        modality (str): 'lidar' ('camera' and 'fusion' are not implemented yet).
        pts_voxel_layer (dict): :class:`~vision_sparse.ops.Voxelization` arguments.
        pts_voxel_encoder (dict): config of the pillar encoder.
        pts_middle_encoder (str | dict): ``'pillars'`` (``PointPillarsScatter`` on the
            voxel grid), ``'spconv'`` (raises: see :func:`spconv_status`), or a config
            (``output_shape`` defaults to the voxel grid's ``(ny, nx)``).
        pts_backbone (dict), pts_neck (dict, optional): BEV backbone and neck.
        lidar_head (dict): the head config.
        data_preprocessor (dict, optional): default mmengine's ``BaseDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.

    Inputs (``batch_inputs``): ``dict(points=list of B Tensor (N_i, C))`` (x, y, z,
    intensity, ...; LiDAR frame, metres). ``data_samples``: mmdet ``DetDataSample`` with
    ``gt_instances_3d`` (``bboxes_3d`` (M, 9), ``labels_3d`` (M,)) for 'loss'.
    """

    def __init__(self, modality: str = 'lidar', pts_voxel_layer: Optional[dict] = None,
                 pts_voxel_encoder: Optional[dict] = None,
                 pts_middle_encoder: Union[str, dict] = 'pillars',
                 pts_backbone: Optional[dict] = None, pts_neck: Optional[dict] = None,
                 lidar_head: Optional[dict] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if modality not in MODALITIES:
            raise ValueError(f'modality must be one of {MODALITIES}, got {modality!r}')
        if modality != 'lidar':
            raise NotImplementedError(
                f"SparseFusion modality={modality!r} is not implemented yet (the camera branch "
                "and the fusion stage are being added); use modality='lidar'")
        for name, cfg in (('pts_voxel_layer', pts_voxel_layer),
                          ('pts_voxel_encoder', pts_voxel_encoder),
                          ('pts_backbone', pts_backbone), ('lidar_head', lidar_head)):
            if cfg is None:
                raise ValueError(f"{name} is required for modality='lidar'")
        self.modality = modality
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
            if not isinstance(pts, Tensor) or pts.dim() != 2 or pts.shape[1] < 3:
                raise ValueError(f'points[{i}] must be a (N, C >= 3) tensor, got '
                                 f'{getattr(pts, "shape", type(pts))}')
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

    @staticmethod
    def _points(batch_inputs) -> List[Tensor]:
        if not isinstance(batch_inputs, dict) or 'points' not in batch_inputs:
            raise ValueError("batch_inputs must be a dict with 'points' (list of (N, C) tensors)")
        return list(batch_inputs['points'])

    # ------------------------------------------------------------------ mmdet interface
    def forward(self, inputs: dict, data_samples=None, mode: str = 'tensor'):
        """'loss' -> dict of losses; 'predict' -> data samples with ``pred_instances_3d``;
        'tensor' -> the head's prediction dicts."""
        run = dict(loss=self.loss, predict=self.predict, tensor=self._forward).get(mode)
        if run is None:
            raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
        return run(inputs, data_samples)

    def _forward(self, batch_inputs: dict, batch_data_samples=None) -> List[Dict[str, Tensor]]:
        """The LiDAR head's prediction dicts (one per decoder layer)."""
        feats, _ = self.extract_pts_feat(self._points(batch_inputs))
        return self.lidar_head(feats)

    def loss(self, batch_inputs: dict, batch_data_samples) -> Dict[str, Tensor]:
        """Losses of the LiDAR head (see :meth:`TransFusionLiDARHead.loss`)."""
        feats, _ = self.extract_pts_feat(self._points(batch_inputs))
        return self.lidar_head.loss(feats, batch_data_samples)

    def predict(self, batch_inputs: dict, batch_data_samples):
        """Set ``pred_instances_3d`` (``bboxes_3d`` (K, 9), ``scores_3d`` (K,),
        ``labels_3d`` (K,)) on each data sample; a sample with no point in the range
        gets no box."""
        feats, has = self.extract_pts_feat(self._points(batch_inputs))
        results = self.lidar_head.predict(feats, batch_data_samples)
        for sample, res, ok in zip(batch_data_samples, results, has.tolist()):
            sample.pred_instances_3d = res if ok else _empty_instances(feats[0].device)
        return batch_data_samples
