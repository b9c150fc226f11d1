"""SparseFusion's fusion stage: the LiDAR queries and the camera queries (already in the
LiDAR frame) meet in one self-attention + FFN layer and are decoded by fresh box heads.

Both query sets arrive in the shared head prediction-dict layout (see
:mod:`vision_sparse.models.task_modules.coders.transfusion_bbox_coder`): ``query_feat``
(B, C, Q_i), ``query_pos`` (B, Q_i, 2) BEV grid cells, ``query_heatmap_score`` (B, K, Q_i)
and ``query_labels`` (B, Q_i). The fused queries keep their order (LiDAR first) and each
keeps its initial score, so inference scores a fused query as ``sigmoid(class logit) x
its initial heatmap score`` (:meth:`QueryBoxHead.predict_by_preds`).
"""
from typing import Dict, List, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ....registry import MODELS
from ....utils.config import merge_conf
from ..transformer3d import SeparateHead3D, TransformerDecoderLayer3D

__all__ = ['QueryFusionLayer', 'initial_query_scores']

_QUERY_KEYS = ('query_feat', 'query_pos', 'query_heatmap_score')


def initial_query_scores(pred: Mapping[str, Tensor], scale: float = 1.0,
                         agree_with_class: bool = False) -> Tensor:
    """The initial score of every query for its own class.

    Args:
        pred (Mapping): a prediction dict with ``query_heatmap_score`` (B, K, Q) and
            optional ``query_labels`` (B, Q) (the class that selected the query; without
            it every class keeps its score) and ``heatmap`` (B, K, Q) logits.
        scale (float): factor of every score (the official camera queries: 0.5).
        agree_with_class (bool): zero the score unless the decoder's best class
            (``heatmap`` argmax) is the selecting class (the official rule for camera
            queries).

    Returns:
        Tensor: (B, K, Q), zero outside the selecting class.
    """
    score = pred['query_heatmap_score'] * scale
    k = score.shape[1]
    if 'query_labels' in pred:
        score = score * F.one_hot(pred['query_labels'], k).permute(0, 2, 1).to(score)
    if agree_with_class:
        score = score * F.one_hot(pred['heatmap'].argmax(1), k).permute(0, 2, 1).to(score)
    return score


@MODELS.register_module()
class QueryFusionLayer(nn.Module):
    """Self-attention over the union of LiDAR and camera queries, then box heads.

    ``num_layers`` x (:class:`TransformerDecoderLayer3D` without cross-attention, with
    a learned embedding of the BEV positions; :class:`SeparateHead3D`), each layer's
    centre an offset to its query position, the next layer starting from the
    predicted centres (as the LiDAR head's decoder).

    Options (``default_conf``):
        hidden_channels (int): query width C (both query sets).
        num_classes (int): K.
        num_layers (int): fusion layers (official: 1).
        num_heads, ffn_channels (int), dropout (float), activation (str): the layer.
        common_heads (dict): ``name -> (channels, num_conv)`` box heads (``heatmap``
            added).
        head_conv (int): hidden width of the heads.
        camera_score_scale (float): initial-score factor of the camera queries
            (official 0.5: a camera proposal ranks below an equally scored LiDAR one).
        camera_class_agreement (bool): a camera query keeps its initial score only if
            its LiDAR-frame class logits agree with the class that selected it (the
            official rule uses the image decoder's classes).
        max_position (float): BEV positions are clamped to +-this many cells (a camera
            query with an absurd depth must not blow up the position embedding).
    """

    default_conf = dict(
        hidden_channels=128, num_classes=10, num_layers=1, num_heads=8, ffn_channels=256,
        dropout=0.1, activation='relu',
        common_heads=dict(center=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2)),
        head_conv=64, camera_score_scale=0.5, camera_class_agreement=True,
        max_position=1e4)

    def __init__(self, **conf):
        super().__init__()
        self.conf = c = merge_conf(self.default_conf, conf, type(self).__name__)
        if c['num_layers'] < 1:
            raise ValueError(f"num_layers must be >= 1, got {c['num_layers']}")
        h = c['hidden_channels']
        self.layers = nn.ModuleList(
            TransformerDecoderLayer3D(d_model=h, nhead=c['num_heads'],
                                      dim_feedforward=c['ffn_channels'], dropout=c['dropout'],
                                      activation=c['activation'], cross_attn=False,
                                      query_pos_dim=2, key_pos_dim=None)
            for _ in range(c['num_layers']))
        heads = dict(c['common_heads'], heatmap=(c['num_classes'], 2))
        self.prediction_heads = nn.ModuleList(
            SeparateHead3D(h, heads, head_conv=c['head_conv']) for _ in range(c['num_layers']))

    def _check(self, pred: Mapping[str, Tensor], name: str) -> None:
        c = self.conf
        missing = [k for k in _QUERY_KEYS if k not in pred]
        if missing:
            raise ValueError(f'{name} prediction dict is missing {missing}')
        feat, pos, score = (pred[k] for k in _QUERY_KEYS)
        b, ch, q = feat.shape
        if ch != c['hidden_channels']:
            raise ValueError(f"{name} query_feat must be (B, {c['hidden_channels']}, Q), got "
                             f'{tuple(feat.shape)}')
        if tuple(pos.shape) != (b, q, 2):
            raise ValueError(f'{name} query_pos must be {(b, q, 2)}, got {tuple(pos.shape)}')
        if tuple(score.shape) != (b, c['num_classes'], q):
            raise ValueError(f"{name} query_heatmap_score must be {(b, c['num_classes'], q)}, "
                             f'got {tuple(score.shape)}')

    def forward(self, lidar_pred: Mapping[str, Tensor],
                camera_pred: Mapping[str, Tensor]) -> List[Dict[str, Tensor]]:
        """Fuse.

        Args:
            lidar_pred (Mapping): the LiDAR head's last prediction dict (Q1 queries).
            camera_pred (Mapping): the camera head's ``preds['lidar']`` (Q2 queries).

        Returns:
            list[dict]: one prediction dict per layer over Q = Q1 + Q2 queries:
            ``center``, ``height``, ``dim``, ``rot``, ``vel``, ``heatmap`` (B, *, Q),
            ``query_feat`` (B, C, Q), ``query_pos`` (B, Q, 2) (predicted centres,
            detached), ``query_heatmap_score`` (B, K, Q) (the initial scores, zero
            outside each query's class, camera ones scaled), ``query_source`` (B, Q)
            int64 (0 LiDAR, 1 camera).

        Raises:
            ValueError: a missing key, wrong widths or batch sizes (named).
        """
        c = self.conf
        self._check(lidar_pred, 'lidar_pred')
        self._check(camera_pred, 'camera_pred')
        if lidar_pred['query_feat'].shape[0] != camera_pred['query_feat'].shape[0]:
            raise ValueError('lidar_pred and camera_pred have different batch sizes')
        feat = torch.cat([lidar_pred['query_feat'], camera_pred['query_feat']], 2)
        pos = torch.cat([lidar_pred['query_pos'], camera_pred['query_pos']], 1)
        pos = pos.nan_to_num().clamp(-c['max_position'], c['max_position']).detach()
        score = torch.cat([
            initial_query_scores(lidar_pred),
            initial_query_scores(camera_pred, c['camera_score_scale'],
                                 c['camera_class_agreement'])], 2).detach()
        q1, q2 = lidar_pred['query_feat'].shape[2], camera_pred['query_feat'].shape[2]
        source = torch.cat([torch.zeros(q1, dtype=torch.long, device=feat.device),
                            torch.ones(q2, dtype=torch.long, device=feat.device)])
        source = source[None].expand(feat.shape[0], -1)
        outs = []
        for layer, head in zip(self.layers, self.prediction_heads):
            feat = layer(feat, query_pos=pos)
            res = head(feat)
            res['center'] = res['center'] + pos.permute(0, 2, 1)
            pos = res['center'].detach().permute(0, 2, 1)
            res.update(query_feat=feat, query_pos=pos, query_heatmap_score=score,
                       query_source=source)
            outs.append(res)
        return outs
