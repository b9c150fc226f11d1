"""SparseCameraHead: heatmap targets on the GT projections, the prediction-dict
layout, a short training run on rendered boxes, the LiDAR-loss hook, bad input."""
import time

import pytest
import torch

from vision_sparse.models.dense_heads import SparseCameraHead
from vision_sparse.models.dense_heads.sparse_camera_head import (camera_params_from_samples,
                                                                 project_box_targets)
from vision_sparse.registry import MODELS

from .synthetic import IMG_SHAPE, render, rig, scene

PCR = (-16.0, -16.0, -3.0, 16.0, 16.0, 3.0)


def _cam_params(batch=1):
    cam2img, l2c, l2i = rig()
    rep = lambda t: t[None].expand(batch, *t.shape).clone()  # noqa: E731
    return dict(lidar2img=rep(l2i), cam2img=rep(cam2img), lidar2cam=rep(l2c),
                img_shape=IMG_SHAPE)


def _head(**kw):
    conf = dict(in_channels=16, hidden_channels=32, num_classes=3, num_levels=2, strides=(4, 8),
                num_queries=12, num_heads=4, num_points=2, ffn_channels=64, dropout=0.0,
                point_cloud_range=PCR, voxel_size=(0.25, 0.25, 0.2), out_size_factor=4,
                loss_heatmap=dict(type='mmdet.GaussianFocalLoss', reduction='mean',
                                  loss_weight=1.0))
    conf.update(kw)
    return MODELS.build(dict(type='SparseCameraHead', **conf))


def test_box_targets_land_on_the_gt_projections():
    cam2img, l2c, l2i = rig()
    boxes, labels = scene()
    rep = project_box_targets(boxes, cam2img, l2c, IMG_SHAPE)
    # boxes 0, 1 ahead of view 0, box 2 behind (view 1)
    assert rep['visible'].tolist() == [[True, True, False], [False, False, True]]
    ctr = torch.cat([boxes[:, :3], torch.ones(3, 1)], 1)
    for v in range(2):
        proj = ctr @ l2i[v].T
        front = proj[:, 2] > 0
        assert torch.allclose(rep['uv'][v][front], proj[front, :2] / proj[front, 2:3], atol=1e-4)
        assert torch.allclose(rep['depth'][v][front, 0], proj[front, 2], atol=1e-5)
    head = _head()
    cam = dict(_cam_params())
    from vision_sparse.models.dense_heads.sparse_camera_head import check_camera_params
    cam = check_camera_params(cam, 1, 2)
    tgt = head.get_targets([boxes], [labels], cam, [(16, 24), (8, 12)])[0]
    assert tgt['view'].tolist() == [0, 0, 1] and tgt['gt'].tolist() == [0, 1, 2]
    for lvl, (stride, hm) in enumerate(zip((4, 8), tgt['heatmaps'])):
        for v, m in zip(tgt['view'].tolist(), tgt['gt'].tolist()):
            u, vv = rep['uv'][v, m].tolist()
            cx, cy = int((u + 0.5) / stride), int((vv + 0.5) / stride)
            assert hm[v, labels[m], cy, cx] == 1.0, (lvl, v, m)  # the peak is the centre
        assert int((hm == 1).sum()) == 3
        assert hm[:, 2].max() == 0  # class 2 has no box
    # regression targets: (u/W, v/H, log d, log(l, h, w), sin, cos, vel)
    assert torch.allclose(tgt['code'][0, :2] * torch.tensor([96.0, 64.0]), rep['uv'][0, 0])
    assert torch.allclose(tgt['code'][0, 3:6].exp(), boxes[0, [3, 5, 4]])
    assert torch.isnan(tgt['code'][1, 8:]).all()  # unknown velocity stays unknown


def _backbone():
    torch.manual_seed(0)
    resnet = MODELS.build(dict(type='mmdet.ResNet', depth=18, num_stages=2, out_indices=(0, 1),
                               strides=(1, 2), dilations=(1, 1),
                               norm_eval=False, init_cfg=None))
    fpn = MODELS.build(dict(type='mmdet.FPN', in_channels=[64, 128], out_channels=16,
                            num_outs=2))
    return torch.nn.Sequential(resnet, fpn)


def test_prediction_dict_layout_and_hook():
    torch.manual_seed(0)
    cam2img, l2c, _ = rig()
    boxes, labels = scene()
    imgs = render(boxes, labels, cam2img, l2c)
    net, head = _backbone(), _head()
    feats = net(torch.cat([imgs, imgs]))  # B = 2
    preds = head(feats, _cam_params(2))
    lid, q = preds['lidar'], 12
    shapes = dict(center=(2, 2, q), height=(2, 1, q), dim=(2, 3, q), rot=(2, 2, q),
                  vel=(2, 2, q), heatmap=(2, 3, q), query_feat=(2, 32, q), query_pos=(2, q, 2),
                  query_heatmap_score=(2, 3, q))
    for key, shape in shapes.items():
        assert tuple(lid[key].shape) == shape, key
        assert torch.isfinite(lid[key]).all(), key
    assert preds['cam']['view'].shape == (2, q) and preds['cam']['view'].max() <= 1
    assert [tuple(d.shape) for d in preds['dense_heatmap']] == [(2, 2, 3, 16, 24),
                                                               (2, 2, 3, 8, 12)]
    # the transformed centres are those of camera_repr_to_lidar in BEV grid coordinates
    cell = 0.25 * 4
    assert torch.allclose(lid['center'].transpose(1, 2),
                          (preds['boxes'][..., :2] - torch.tensor(PCR[:2])) / cell, atol=1e-4)
    calls = []

    def stand_in_lidar_loss(p, gt_boxes, gt_labels):
        calls.append(len(gt_boxes))
        d = (p['center'].transpose(1, 2)[:, :, None] * cell + torch.tensor(PCR[:2])
             - gt_boxes[0][None, None, :, :2]).norm(dim=-1)
        return dict(loss_center=d.amin(-1).mean())

    losses = head.loss(preds, [boxes, boxes], [labels, labels], _cam_params(2),
                       lidar_loss_fn=stand_in_lidar_loss)
    assert set(losses) == {'loss_heatmap_2d', 'loss_cls_2d', 'loss_bbox_2d', 'cam_loss_center'}
    assert calls == [2] and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert head.view_transformer.deltas['center'][-1].weight.grad.abs().sum() > 0


def test_trains_on_rendered_boxes():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cam2img, l2c, _ = rig()
    boxes, labels = scene()
    imgs = render(boxes, labels, cam2img, l2c)[None]
    net, head = _backbone(), _head()
    opt = torch.optim.AdamW(list(net.parameters()) + list(head.parameters()), lr=2e-3)
    cam = _cam_params()
    hist = []
    start = time.perf_counter()
    for _ in range(30):
        preds = head(net(imgs.flatten(0, 1)), cam)
        losses = head.loss(preds, [boxes], [labels], cam)
        total = sum(losses.values())
        opt.zero_grad()
        total.backward()
        opt.step()
        hist.append({k: float(v.detach()) for k, v in losses.items()})
    took = time.perf_counter() - start
    first = {k: sum(h[k] for h in hist[:5]) / 5 for k in hist[0]}
    last = {k: sum(h[k] for h in hist[-5:]) / 5 for k in hist[0]}
    print({k: [round(h[k], 3) for h in hist[::5]] for k in hist[0]}, f'{took:.1f} s')
    assert took < 20, took
    assert all(h['loss_bbox_2d'] > 0 for h in hist)  # queries were matched every step
    assert last['loss_heatmap_2d'] < 0.5 * first['loss_heatmap_2d'], (first, last)
    assert last['loss_bbox_2d'] < first['loss_bbox_2d'], (first, last)
    assert sum(last.values()) < 0.6 * sum(first.values()), (first, last)


def test_bad_input_raises_naming_it():
    head = _head()
    feats = [torch.randn(2, 16, 16, 24), torch.randn(2, 16, 8, 12)]
    cam = _cam_params()
    missing = dict(cam, lidar2img=cam['lidar2img'][:, :1])
    with pytest.raises(ValueError, match='lidar2img'):
        head(feats, missing)  # a missing view
    with pytest.raises(ValueError, match='view is missing'):
        head([f[:1] for f in feats], dict(cam, lidar2img=cam['lidar2img'].expand(2, 2, 4, 4)))
    with pytest.raises(ValueError, match='lidar2img'):
        head(feats, dict(cam, lidar2img=cam['lidar2img'][..., :3, :]))
    singular = cam['cam2img'].clone()
    singular[0, 1] = 0
    with pytest.raises(ValueError, match='cam2img'):
        head(feats, dict(cam, cam2img=singular))
    with pytest.raises(ValueError, match='lidar2cam'):
        head(feats, {k: v for k, v in cam.items() if k != 'lidar2cam'})
    with pytest.raises(ValueError, match='levels'):
        head(feats[:1], cam)
    with pytest.raises(ValueError, match="has no 'lidar2cam'"):
        camera_params_from_samples([dict(lidar2img=cam['lidar2img'][0].numpy(),
                                         cam2img=cam['cam2img'][0].numpy(),
                                         img_shape=IMG_SHAPE)])
    got = camera_params_from_samples([dict(lidar2img=cam['lidar2img'][0].numpy(),
                                           cam2img=cam['cam2img'][0].numpy(),
                                           lidar2cam=cam['lidar2cam'][0].numpy(),
                                           img_shape=IMG_SHAPE)])
    assert got['lidar2img'].shape == (1, 2, 4, 4) and got['img_shape'] == IMG_SHAPE
    with pytest.raises(ValueError, match='nms_kernel_size'):
        _head(nms_kernel_size=2)
    with pytest.raises(ValueError, match='SparseCameraHead'):
        SparseCameraHead(not_an_option=1)


def test_tiny_config_builds_and_chains():
    """sparsefusion_camera_tiny.py (the camera parts of the future detector config):
    backbone -> neck -> geometric transfer -> camera head, and the semantic transfer."""
    from pathlib import Path

    from mmengine.config import Config
    cfg = Config.fromfile(str(Path(__file__).with_name('sparsefusion_camera_tiny.py')))
    parts = {k: MODELS.build(v) for k, v in cfg.camera_model.items()}
    cam2img, l2c, l2i = rig()
    boxes, labels = scene()
    imgs = render(boxes, labels, cam2img, l2c)
    pts = torch.randn(300, 4) * torch.tensor([6.0, 10.0, 1.0, 1.0])
    feats = parts['img_neck'](parts['img_backbone'](imgs))
    feats = parts['geometric_transfer'](feats, [pts], l2i[None])
    preds = parts['camera_head'](feats, _cam_params())
    assert preds['lidar']['center'].shape == (1, 2, 50)
    bev = parts['semantic_transfer'](torch.randn(1, 32, 32, 32), feats, l2i[None], IMG_SHAPE)
    assert bev.shape == (1, 32, 32, 32)


def test_decoder_keeps_views_apart():
    """A query attends only to the queries and image features of its own view."""
    torch.manual_seed(0)
    head = _head(num_decoder_layers=2).eval()
    for layer in head.decoder:  # make the offsets query-dependent
        torch.nn.init.normal_(layer.cross_attn.sampling_offsets.weight, std=0.5)
    from vision_sparse.models.layers.fusion import flatten_levels
    feats = [torch.randn(2, 32, 16, 24), torch.randn(2, 32, 8, 12)]  # B = 1, V = 2
    value, shapes, start = flatten_levels(feats)
    view = torch.tensor([[0, 1, 1, 0, 1, 0, 0]])
    sel = dict(view=view, ref=torch.rand(1, 7, 2))
    q = torch.randn(1, 7, 32)
    with torch.no_grad():
        out = head._decode(q, sel, value, shapes, start, 1, 2)
        q2, value2 = q.clone(), value.clone()
        q2[0, view[0] == 1] += 1.0
        value2[1] += 1.0  # view 1's features
        out2 = head._decode(q2, sel, value2, shapes, start, 1, 2)
    v0 = view[0] == 0
    assert torch.allclose(out[..., v0], out2[..., v0], atol=1e-6)
    assert not torch.allclose(out[..., ~v0], out2[..., ~v0], atol=1e-3)
