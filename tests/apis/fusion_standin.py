"""A stand-in for the SparseFusion detector (built by other helpers): an mmengine
``BaseModel`` that reads the packed inputs exactly as the contract describes them and
answers with a rule whose right answer is known.

* LiDAR rule: each template box is returned when at least ``min_points`` points lie
  inside it (score = its point count / the largest count);
* camera rule: each template box is returned when its gravity centre, projected with the
  sample's ``lidar2img``, lands in the image on a pixel of ``mark_bgr`` colour (the test
  scenes paint the boxes in that colour), score 1.

Fusion returns the boxes both rules find. It also records what it was given
(``self.seen``) so tests can check the packing.
"""
import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData

from vision_sparse.registry import MODELS
from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D


@MODELS.register_module(force=True)
class StandInFusionModel(BaseModel):
    """Returns template boxes found by rules on the points and/or the images."""

    def __init__(self, templates: np.ndarray, labels: np.ndarray, modality: str = 'fusion',
                 min_points: int = 5, mark_bgr=(0, 0, 255)):
        super().__init__()
        templates = np.asarray(templates, np.float32).reshape(-1, np.shape(templates)[-1])
        self.register_buffer('templates', torch.as_tensor(templates))
        self.register_buffer('template_labels', torch.as_tensor(labels, dtype=torch.long))
        self.modality = modality
        self.min_points = min_points
        self.mark_bgr = torch.tensor(mark_bgr, dtype=torch.uint8)
        self.seen = []

    def _lidar_keep(self, points: torch.Tensor):
        boxes = LiDARBoxes3D(self.templates[:, :7].double())
        inside = boxes.points_in_boxes(points[:, :3].double())  # (N, M) bool
        counts = inside.sum(0).float()
        keep = counts >= self.min_points
        return keep, counts / (counts.max().clamp(min=1) if len(counts) else 1.0)

    def _camera_keep(self, imgs: torch.Tensor, lidar2img: np.ndarray):
        centres = self.templates[:, :3].double().numpy()
        hom = np.concatenate([centres, np.ones((len(centres), 1))], 1)
        keep = torch.zeros(len(centres), dtype=torch.bool)
        H, W = imgs.shape[-2:]
        for v in range(imgs.shape[0]):
            uvw = hom @ lidar2img[v].astype(np.float64).T
            for i, (u, vv, w) in enumerate(uvw[:, :3]):
                if w <= 0.1:
                    continue
                x, y = int(round(u / w)), int(round(vv / w))
                if 0 <= x < W and 0 <= y < H and torch.equal(imgs[v, :, y, x], self.mark_bgr):
                    keep[i] = True
        return keep

    def forward(self, inputs, data_samples=None, mode='predict'):
        assert mode == 'predict'
        out = []
        for b, ds in enumerate(data_samples):
            rec = dict(meta=dict(ds.metainfo))
            keep = torch.ones(len(self.templates), dtype=torch.bool)
            scores = torch.ones(len(self.templates))
            if self.modality in ('lidar', 'fusion'):
                pts = inputs['points'][b]
                rec['points'] = pts
                k, scores = self._lidar_keep(pts)
                keep &= k
            if self.modality in ('camera', 'fusion'):
                imgs = inputs['imgs'][b]
                rec['imgs'] = imgs
                keep &= self._camera_keep(imgs, ds.metainfo['lidar2img'])
            self.seen.append(rec)
            ds.pred_instances_3d = InstanceData(bboxes_3d=self.templates[keep],
                                                scores_3d=scores[keep],
                                                labels_3d=self.template_labels[keep])
            out.append(ds)
        return out
