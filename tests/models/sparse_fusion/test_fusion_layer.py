"""QueryFusionLayer: the union of LiDAR and camera queries, their initial scores and the
fused predictions' scoring (sigmoid(class) x initial heatmap score, per-class NMS)."""
import pytest
import torch

from vision_sparse.models.dense_heads import QueryBoxHead
from vision_sparse.models.layers.fusion import QueryFusionLayer, initial_query_scores

K, C = 3, 16


def preds(b: int, q: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    return dict(query_feat=torch.randn(b, C, q, generator=g),
                query_pos=torch.rand(b, q, 2, generator=g) * 32,
                query_heatmap_score=torch.rand(b, K, q, generator=g),
                query_labels=torch.randint(0, K, (b, q), generator=g),
                heatmap=torch.randn(b, K, q, generator=g))


def layer(**kw):
    torch.manual_seed(0)
    return QueryFusionLayer(hidden_channels=C, num_classes=K, num_heads=4, ffn_channels=32,
                            dropout=0.0, head_conv=16, **kw).eval()


def test_initial_scores_keep_the_selecting_class_only():
    p = preds(2, 5, 0)
    s = initial_query_scores(p)
    for b in range(2):
        for q in range(5):
            lab = p['query_labels'][b, q]
            assert s[b, lab, q] == p['query_heatmap_score'][b, lab, q]
            assert s[b, :, q].count_nonzero() <= 1
    agree = initial_query_scores(p, 0.5, agree_with_class=True)
    same = p['heatmap'].argmax(1) == p['query_labels']
    expect = 0.5 * p['query_heatmap_score'].gather(1, p['query_labels'][:, None])[:, 0] * same
    assert torch.allclose(agree.sum(1), expect)


def test_fuses_both_query_sets():
    fl = layer()
    lid, cam = preds(2, 6, 1), preds(2, 4, 2)
    out = fl(lid, cam)
    assert len(out) == 1
    res = out[0]
    for key, ch in (('center', 2), ('height', 1), ('dim', 3), ('rot', 2), ('vel', 2),
                    ('heatmap', K)):
        assert res[key].shape == (2, ch, 10), key
    assert res['query_feat'].shape == (2, C, 10) and res['query_pos'].shape == (2, 10, 2)
    assert res['query_source'].tolist() == [[0] * 6 + [1] * 4] * 2
    score = res['query_heatmap_score']
    assert torch.equal(score[..., :6], initial_query_scores(lid))
    assert torch.equal(score[..., 6:], initial_query_scores(cam, 0.5, True))
    # the queries attend to each other: a camera query changes the LiDAR queries' output
    cam2 = dict(cam, query_feat=cam['query_feat'] + 1.0)
    assert not torch.allclose(fl(lid, cam2)[0]['heatmap'][..., :6], res['heatmap'][..., :6])
    # centres are offsets to the input positions
    zero = dict(lid, query_feat=torch.zeros_like(lid['query_feat']))
    r0 = fl(zero, cam)[0]
    off = r0['center'] - torch.cat([lid['query_pos'], cam['query_pos']], 1).transpose(1, 2)
    assert off.abs().max() < 10


def test_absurd_camera_positions_stay_finite():
    fl = layer(max_position=100.0)
    cam = preds(1, 4, 3)
    cam['query_pos'][0, 0] = torch.tensor([float('nan'), 1e12])
    out = fl(preds(1, 3, 4), cam)[0]
    assert all(torch.isfinite(v).all() for k, v in out.items() if v.is_floating_point())


def test_bad_input_is_named():
    fl = layer()
    lid, cam = preds(1, 3, 0), preds(1, 2, 1)
    with pytest.raises(ValueError, match='camera_pred.*query_feat'):
        fl(lid, dict(cam, query_feat=torch.zeros(1, C + 1, 2)))
    with pytest.raises(ValueError, match="lidar_pred.*missing \\['query_pos'\\]"):
        fl({k: v for k, v in lid.items() if k != 'query_pos'}, cam)
    with pytest.raises(ValueError, match='query_heatmap_score'):
        fl(lid, dict(cam, query_heatmap_score=torch.zeros(1, K + 1, 2)))
    with pytest.raises(ValueError, match='batch sizes'):
        fl(lid, preds(2, 2, 1))
    with pytest.raises(ValueError, match='num_layers'):
        QueryFusionLayer(num_layers=0)


def test_fused_scores_are_sigmoid_times_initial_score():
    coder = dict(type='TransFusionBBoxCoder', point_cloud_range=[-16, -16, -3, 16, 16, 3],
                 voxel_size=[0.5, 0.5, 6.0], out_size_factor=2)
    head = QueryBoxHead(num_classes=K, bbox_coder=coder)
    fused = layer()(preds(1, 6, 5), preds(1, 4, 6))[0]
    res = head.predict_by_preds(fused)[0]
    score = fused['heatmap'].sigmoid() * fused['query_heatmap_score']
    best, labels = score[0].max(0)
    keep = best > 0
    assert len(res) == int(keep.sum())
    assert torch.allclose(res.scores_3d, best[keep].sort(descending=True).values)
    order = best[keep].argsort(descending=True)
    assert torch.equal(res.labels_3d, labels[keep][order])
    # per-class circle NMS on top: never more boxes, never a box closer than its radius
    nms = QueryBoxHead(num_classes=K, bbox_coder=coder, nms_radius=100.0)
    kept = nms.predict_by_preds(fused)[0]
    assert len(kept) <= len(res)
    assert len(set(kept.labels_3d.tolist())) == len(kept)  # one box per class survives
