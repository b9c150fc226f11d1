"""Box coder of TransFusion-style 3-D heads (the SparseFusion prediction dict).

A head predicts, per query, the pieces of a LiDAR box in a regression-friendly form
(all tensors ``(B, *, Q)``):

* ``center`` (B, 2, Q): the BEV centre in feature-map cells, ``x`` then ``y``; cell
  ``(i, j)`` covers ``x0 + [j, j + 1) * sx * s`` (``+ 0.5`` is a cell centre);
* ``height`` (B, 1, Q): the gravity-centre ``z``, metres;
* ``dim`` (B, 3, Q): ``log(l, w, h)``;
* ``rot`` (B, 2, Q): ``(sin yaw, cos yaw)``;
* ``vel`` (B, 2, Q): ``(vx, vy)``, m/s (optional);
* ``heatmap`` (B, K, Q): class logits.

Boxes are ``(M, 9)`` ``(x, y, z, l, w, h, yaw, vx, vy)`` in the
:class:`~vision_sparse.structures.bbox.LiDARBoxes3D` convention (gravity centre).
Unlike the official TransFusion coder (which stores bottom centres and shifts ``z`` by
``h / 2``), the height target here is the gravity centre itself.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from vision_sparse.registry import TASK_UTILS

__all__ = ['TransFusionBBoxCoder', 'BOX_CODE_KEYS']

#: Prediction-dict keys of the box code, in target-column order, with their widths.
BOX_CODE_KEYS = (('center', 2), ('height', 1), ('dim', 3), ('rot', 2), ('vel', 2))


def _check_range(name: str, value: Sequence[float], size: int) -> Tuple[float, ...]:
    value = tuple(float(v) for v in value)
    if len(value) != size:
        raise ValueError(f'{name} must have {size} numbers, got {len(value)}')
    return value


@TASK_UTILS.register_module()
class TransFusionBBoxCoder:
    """Encode ``(M, 9)`` LiDAR boxes to head targets and decode head outputs to boxes.

    Args:
        point_cloud_range (Sequence[float]): (6,) ``[x0, y0, z0, x1, y1, z1]``, metres.
        voxel_size (Sequence[float]): (2,) or (3,) voxel sides ``(sx, sy, [sz])``, metres.
        out_size_factor (int): BEV feature stride in voxels (``s``).
        post_center_range (Sequence[float], optional): (6,) box centres outside this
            range are dropped by :meth:`decode` when ``filter=True``.
        score_threshold (float, optional): scores at or below it are dropped by
            :meth:`decode` when ``filter=True``.
        code_size (int): 10 (with velocity) or 8 (without).

    Attributes:
        code_size (int): target columns: center (2), height, dim (3), rot (2), [vel (2)].
    """

    def __init__(self, point_cloud_range: Sequence[float], voxel_size: Sequence[float],
                 out_size_factor: int = 1, post_center_range: Optional[Sequence[float]] = None,
                 score_threshold: Optional[float] = None, code_size: int = 10):
        self.point_cloud_range = _check_range('point_cloud_range', point_cloud_range, 6)
        if len(voxel_size) not in (2, 3) or min(float(v) for v in voxel_size) <= 0:
            raise ValueError(f'voxel_size must be 2 or 3 positive numbers, got {voxel_size!r}')
        self.voxel_size = tuple(float(v) for v in voxel_size)
        if int(out_size_factor) != out_size_factor or out_size_factor < 1:
            raise ValueError(f'out_size_factor must be an int >= 1, got {out_size_factor!r}')
        self.out_size_factor = int(out_size_factor)
        self.post_center_range = (None if post_center_range is None else
                                  _check_range('post_center_range', post_center_range, 6))
        self.score_threshold = None if score_threshold is None else float(score_threshold)
        if code_size not in (8, 10):
            raise ValueError(f'code_size must be 8 or 10, got {code_size!r}')
        self.code_size = code_size

    @property
    def cell_size(self) -> Tuple[float, float]:
        """BEV feature-cell sides ``(sx * s, sy * s)``, metres."""
        return (self.voxel_size[0] * self.out_size_factor,
                self.voxel_size[1] * self.out_size_factor)

    def metres_to_cells(self, xy: Tensor) -> Tensor:
        """BEV positions ``(..., 2)`` in metres -> feature-map cell coordinates."""
        cx, cy = self.cell_size
        x0, y0 = self.point_cloud_range[:2]
        return torch.stack([(xy[..., 0] - x0) / cx, (xy[..., 1] - y0) / cy], -1)

    def cells_to_metres(self, xy: Tensor) -> Tensor:
        """Feature-map cell coordinates ``(..., 2)`` -> BEV positions in metres."""
        cx, cy = self.cell_size
        x0, y0 = self.point_cloud_range[:2]
        return torch.stack([xy[..., 0] * cx + x0, xy[..., 1] * cy + y0], -1)

    def encode(self, boxes: Tensor) -> Tensor:
        """Boxes -> regression targets.

        Args:
            boxes (Tensor): (M, 7 or 9) ``(x, y, z, l, w, h, yaw, [vx, vy])``, sizes > 0.

        Returns:
            Tensor: (M, code_size) columns ``center (2), height, log dims (3), sin yaw,
            cos yaw, [vx, vy]`` (the :data:`BOX_CODE_KEYS` order); a missing or NaN
            velocity stays NaN (losses mask it).
        """
        if not isinstance(boxes, Tensor) or boxes.dim() != 2 or boxes.shape[1] < 7:
            raise ValueError('boxes must be a (M, 7 or 9) tensor, got '
                             f'{getattr(boxes, "shape", type(boxes))}')
        targets = boxes.new_full((boxes.shape[0], self.code_size), float('nan'))
        targets[:, 0:2] = self.metres_to_cells(boxes[:, 0:2])
        targets[:, 2] = boxes[:, 2]
        targets[:, 3:6] = boxes[:, 3:6].log()
        targets[:, 6] = torch.sin(boxes[:, 6])
        targets[:, 7] = torch.cos(boxes[:, 6])
        if self.code_size == 10 and boxes.shape[1] >= 9:
            targets[:, 8:10] = boxes[:, 7:9]
        return targets

    def pred_to_code(self, preds: Dict[str, Tensor]) -> Tensor:
        """Prediction dict -> (B, Q, code_size) in the :meth:`encode` column order."""
        parts = [preds[key] for key, _ in BOX_CODE_KEYS[:4]]
        if self.code_size == 10:
            parts.append(preds['vel'])
        return torch.cat(parts, dim=1).permute(0, 2, 1)

    def decode(self, preds: Dict[str, Tensor], scores: Optional[Tensor] = None,
               filter: bool = False):
        """Prediction dict -> boxes, scores and labels.

        Args:
            preds (dict): ``center``, ``height``, ``dim``, ``rot``, optional ``vel`` and
                ``heatmap`` (see the module docstring), all ``(B, *, Q)``.
            scores (Tensor, optional): (B, K, Q) class scores in [0, 1]; default
                ``sigmoid(preds['heatmap'])``.
            filter (bool): apply ``score_threshold`` and ``post_center_range``.

        Returns:
            Without ``filter``: ``boxes`` (B, Q, 9) (velocity 0 when there is none),
            ``scores`` (B, Q) (the best class), ``labels`` (B, Q) int64. With
            ``filter``: a list of B dicts ``bboxes`` (k, 9), ``scores`` (k,),
            ``labels`` (k,), ``mask`` (Q,) bool.
        """
        center = self.cells_to_metres(preds['center'].permute(0, 2, 1))
        height = preds['height'].permute(0, 2, 1)
        dims = preds['dim'].permute(0, 2, 1).exp()
        yaw = torch.atan2(preds['rot'][:, 0], preds['rot'][:, 1])[..., None]
        vel = preds.get('vel')
        vel = center.new_zeros(center.shape) if vel is None else vel.permute(0, 2, 1)
        boxes = torch.cat([center, height, dims, yaw, vel], dim=-1)
        if scores is None:
            scores = preds['heatmap'].sigmoid()
        best, labels = scores.max(dim=1)
        if not filter:
            return boxes, best, labels
        mask = torch.ones_like(best, dtype=torch.bool)
        if self.score_threshold is not None:
            mask &= best > self.score_threshold
        if self.post_center_range is not None:
            rng = boxes.new_tensor(self.post_center_range)
            mask &= ((boxes[..., :3] >= rng[:3]) & (boxes[..., :3] <= rng[3:])).all(-1)
        return [dict(bboxes=boxes[b][mask[b]], scores=best[b][mask[b]],
                     labels=labels[b][mask[b]], mask=mask[b]) for b in range(boxes.shape[0])]
