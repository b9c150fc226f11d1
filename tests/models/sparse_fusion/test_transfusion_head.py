import math

import torch
from mmengine.structures import InstanceData

from vision_sparse.models.dense_heads import TransFusionLiDARHead
from vision_sparse.registry import MODELS

PCR = [-6.4, -6.4, -3.0, 6.4, 6.4, 3.0]
VS = [0.4, 0.4, 6.0]


def _head(**kw):
    cfg = dict(type='TransFusionLiDARHead', in_channels=8, hidden_channels=16, num_classes=2,
               num_proposals=6, num_heads=2, ffn_channels=16, dropout=0.0, head_conv=8,
               bbox_coder=dict(type='TransFusionBBoxCoder', point_cloud_range=PCR,
                               voxel_size=VS, out_size_factor=2))
    cfg.update(kw)
    head = MODELS.build(cfg)
    assert isinstance(head, TransFusionLiDARHead)
    return head


def test_forward_contract_shapes():
    torch.manual_seed(0)
    head = _head()
    outs = head(torch.randn(2, 8, 16, 16))
    assert len(outs) == 1
    shapes = {k: tuple(v.shape) for k, v in outs[0].items()}
    assert shapes == {'center': (2, 2, 6), 'height': (2, 1, 6), 'dim': (2, 3, 6),
                      'rot': (2, 2, 6), 'vel': (2, 2, 6), 'heatmap': (2, 2, 6),
                      'query_feat': (2, 16, 6), 'query_pos': (2, 6, 2),
                      'query_heatmap_score': (2, 2, 6), 'query_labels': (2, 6),
                      'dense_heatmap': (2, 2, 16, 16)}


def test_query_selection_picks_local_maxima():
    head = _head(num_proposals=2)
    hm = torch.zeros(1, 2, 5, 5)
    hm[0, 1, 0, 4] = 0.9  # a border peak counts
    hm[0, 1, 0, 3] = 0.8  # its neighbour is suppressed
    hm[0, 0, 3, 1] = 0.7
    cells, labels, scores = head.select_queries(hm)
    assert cells.tolist() == [[4, 16]] and labels.tolist() == [[1, 0]]
    assert torch.allclose(scores[0, :, 0], torch.tensor([0.0, 0.9]))


def test_heatmap_targets_peak_at_the_centre_cell():
    head = _head()
    box = torch.tensor([[0.1, -1.3, 0.0, 4.0, 2.0, 1.5, 0.3, 0.0, 0.0]])
    t = head.heatmap_targets(box, torch.tensor([1]), (16, 16))
    # cells of 0.8 m: x (0.1 + 6.4) / 0.8 = 8.125 -> 8, y (-1.3 + 6.4) / 0.8 = 6.375 -> 6
    assert t[1, 6, 8] == 1 and t[0].sum() == 0 and t.eq(1).sum() == 1
    assert t[1, 6, 10] > 0  # radius >= min_radius (2)


def test_losses_empty_gt_and_nan_velocity():
    torch.manual_seed(0)
    head = _head()
    feats = torch.randn(1, 8, 16, 16)
    pred = head(feats)[0]
    empty = head.loss_by_preds(pred, [torch.zeros(0, 9)], [torch.zeros(0, dtype=torch.long)])
    assert empty['loss_bbox'] == 0 and empty['loss_cls'] > 0
    box = torch.tensor([[0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0, float('nan'), float('nan')],
                        [1.0, 1.0, 0.0, 0.0, 2.0, 1.5, 0.0, 0.0, 0.0]])  # zero length: dropped
    one = head.loss_by_preds(pred, [box], [torch.tensor([0, 1])])
    assert torch.isfinite(one['loss_bbox']) and one['loss_bbox'] > 0
    assert torch.isfinite(head.loss_heatmap_by_preds(pred['dense_heatmap'], [box],
                                                     [torch.tensor([0, 1])]))


def test_predict_scores_nms_and_range():
    head = _head(nms_radius=1.0, post_center_range=[-5, -5, -5, 5, 5, 5], score_threshold=0.01)
    coder = head.bbox_coder
    boxes = torch.tensor([[0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.2, 0.0, 0.0],
                          [0.5, 0.0, 0.0, 4.0, 2.0, 1.5, 0.2, 0.0, 0.0],
                          [3.0, 3.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0],
                          [6.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    t = coder.encode(boxes).T[None]
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    pred = dict(center=t[:, 0:2], height=t[:, 2:3], dim=t[:, 3:6], rot=t[:, 6:8], vel=t[:, 8:10],
                heatmap=torch.tensor([[[logit(0.8), logit(0.9), logit(0.5), logit(0.9)],
                                       [-9.0, -9.0, -9.0, -9.0]]]),
                query_heatmap_score=torch.tensor([[[1.0, 0.5, 1.0, 1.0], [0, 0, 0, 0]]]),
                query_labels=torch.tensor([[0, 0, 0, 0]]))
    res = head.predict_by_preds(pred)[0]
    assert isinstance(res, InstanceData)
    # scores 0.8, 0.45, 0.5, 0.9: box 3 is out of range, box 1 is within 1 m of box 0
    assert torch.allclose(res.scores_3d, torch.tensor([0.8, 0.5]))
    assert torch.allclose(res.bboxes_3d, boxes[[0, 2]], atol=1e-5)
    assert res.labels_3d.tolist() == [0, 0]
