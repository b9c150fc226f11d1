"""PointOBB detector: losses per view phase, training, predict contract, bad inputs."""
import copy
import math

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from torch import nn

import vision_sparse.models  # noqa: F401  (registers the parts)
from vision_sparse.registry import MODELS
from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes
from .helpers import make_batch, tiny_model_cfg


class FakeAngleHead(nn.Module):
    """The angle-head interface PointOBB calls, with a constant decoded angle."""

    def __init__(self, channels=16, angle=0.5):
        super().__init__()
        self.conv = nn.Conv2d(channels, 3, 1)
        self.angle = angle
        self.calls = []

    def forward(self, feats):
        return [self.conv(f) for f in feats]

    def point_angles(self, codes, points):
        return [p.new_full((p.shape[0], len(codes)), self.angle) for p in points]

    def loss(self, codes_ori, codes_view, points_ori, points_view, labels, views, valid):
        self.calls.append(dict(views=views, valid=[v.clone() for v in valid],
                               n=[p.shape[0] for p in points_ori], n_view=[p.shape[0] for p in points_view]))
        return dict(loss_angle=sum(c.mean() for c in codes_ori) - sum(c.mean() for c in codes_view))


def _set_iter(it):
    MessageHub.get_current_instance().update_info('iter', it)


def _build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(tiny_model_cfg(**kwargs))


def _losses(model, batch):
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    return model.loss(data['inputs'], data['data_samples'])


def _predict(model, batch):
    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(copy.deepcopy(batch), False)
        return model.predict(data['inputs'], data['data_samples'])


def test_phases_follow_the_global_iteration():
    head = FakeAngleHead()
    model = _build(angle_head=head, view_schedule=dict(angle_start_iter=2, rotated_bags_start_iter=4))
    batch = make_batch(0)
    _set_iter(0)
    l1 = _losses(model, batch)
    assert l1['view_phase'].item() == 1 and 'loss_ssc_cls' in l1 and not head.calls
    _set_iter(2)
    l2 = _losses(model, batch)
    assert l2['view_phase'].item() == 2 and 'loss_ssc_cls' not in l2 and 'loss_angle' in l2
    call = head.calls[-1]
    assert call['n'] == [3, 3] and call['views'][0]['kind'] in ('rotate', 'flip')
    if call['views'][0]['kind'] == 'rotate':
        assert math.radians(45) <= call['views'][0]['phi'] <= math.radians(135)
    _set_iter(5)
    l3 = _losses(model, batch)
    assert l3['view_phase'].item() == 3
    for key in ('stage0_loss_mil', 'stage1_loss_mil', 'loss_angle'):
        assert torch.isfinite(l3[key])
    # same iteration -> same random views -> same losses
    _set_iter(2)
    again = _losses(model, batch)
    assert again['stage0_loss_mil'].item() == pytest.approx(l2['stage0_loss_mil'].item(), rel=1e-5)
    # without an angle head the schedule stays in phase 1
    plain = _build(view_schedule=dict(angle_start_iter=2, rotated_bags_start_iter=4))
    _set_iter(10)
    assert _losses(plain, batch)['view_phase'].item() == 1


def test_predicted_angles_rotate_the_bags():
    model = _build(angle_head=FakeAngleHead(angle=0.5))
    out = _predict(model, make_batch(1))
    assert torch.allclose(out[0].pred_instances.bboxes.tensor[:, 4], torch.full((3,), 0.5), atol=1e-5)
    model.test_cfg['rotate_bags'] = False
    out = _predict(model, make_batch(1))
    assert torch.all(out[0].pred_instances.bboxes.tensor[:, 4].abs() < 1e-6)


def test_base_angle_bags_keep_rotation_agnostic_classes_horizontal():
    cfg = tiny_model_cfg(rotation_agnostic_labels=[0])
    cfg['roi_head']['bag_generator'] = dict(type='PointBagGenerator', base_angles=[0.0, 0.4, 0.8])
    model = MODELS.build(cfg)
    pts = [torch.tensor([[40.0, 50.0], [80.0, 70.0]])]
    bags, _ = model._horizontal_bags(pts, [torch.tensor([0, 2])], [(128, 128)])
    assert torch.all(bags[0][0, :, 4] == 0)
    assert torch.allclose(bags[0][1, :3, 4], torch.tensor([0.0, 0.4, 0.8]))


def test_loss_falls_on_tiny_synthetic_images():
    model = _build()
    opt = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.004, momentum=0.9),
                       clip_grad=dict(max_norm=5))
    batch = make_batch(3)
    curve = []
    for i in range(16):
        _set_iter(i)
        logs = model.train_step(copy.deepcopy(batch), opt)
        curve.append(float(logs['stage0_loss_mil']) + float(logs['stage1_loss_mil']))
    assert all(math.isfinite(v) for v in curve)
    assert sum(curve[-3:]) / 3 < 0.7 * sum(curve[:3]) / 3, curve


def test_predict_contract_and_rescale():
    model = _build()
    batch = make_batch(2)
    out = _predict(model, batch)
    for ds, src in zip(out, batch['data_samples']):
        pred = ds.pred_instances
        assert isinstance(pred.bboxes, RotatedBoxes) and pred.bboxes.tensor.shape == (3, 5)
        assert torch.equal(pred.labels, src.gt_instances.labels)
        assert pred.scores.shape == (3,) and ((pred.scores >= 0) & (pred.scores <= 1)).all()
        t = pred.bboxes.tensor
        assert (t[:, 2:4] > 0).all() and (t[:, 4] >= -math.pi / 2).all() and (t[:, 4] < math.pi / 2).all()
    # the same image, said to be packed at 2x its original size -> boxes halved
    scaled = copy.deepcopy(batch)
    for ds in scaled['data_samples']:
        ds.set_metainfo(dict(scale_factor=(2.0, 2.0), ori_shape=(64, 64)))
    out2 = _predict(model, scaled)
    a, b = out[0].pred_instances.bboxes.tensor, out2[0].pred_instances.bboxes.tensor
    assert torch.allclose(b[:, :4], a[:, :4] / 2, atol=1e-4) and torch.allclose(b[:, 4], a[:, 4], atol=1e-5)


def test_bad_points_empty_images_and_unknown_labels():
    model = _build()
    batch = make_batch(4)
    _set_iter(0)
    ref = _losses(model, batch)
    noisy = copy.deepcopy(batch)
    gt = noisy['data_samples'][0].gt_instances
    extra = torch.tensor([[float('nan'), 5.0], [-3.0, 10.0], [20.0, 500.0]])
    gt_labels = torch.cat([gt.labels, torch.tensor([0, 1, 2])])
    gt_points = torch.cat([gt.points, extra])
    gt_boxes = torch.cat([gt.bboxes.tensor, torch.zeros(3, 5)])
    new = gt.__class__()
    new.labels, new.points, new.bboxes = gt_labels, gt_points, RotatedBoxes(gt_boxes)
    noisy['data_samples'][0].gt_instances = new
    got = _losses(model, noisy)
    for key in ('stage0_loss_mil', 'stage1_loss_mil', 'loss_ssc_cls'):
        assert got[key].item() == pytest.approx(ref[key].item(), rel=1e-4, abs=1e-7)
    pred = _predict(model, noisy)[0].pred_instances
    assert pred.bboxes.tensor.shape == (6, 5)
    assert torch.all(pred.bboxes.tensor[3:] == 0) and torch.all(pred.scores[3:] == 0)
    assert torch.all(pred.scores[:3] > 0)

    # an image without objects: empty prediction, finite losses; a batch without any: zero losses
    empty = copy.deepcopy(batch)
    for ds in empty['data_samples']:
        g = ds.gt_instances.__class__()
        g.labels, g.points = torch.zeros(0, dtype=torch.long), torch.zeros(0, 2)
        g.bboxes = RotatedBoxes(torch.zeros(0, 5))
        ds.gt_instances = g
    model.train()
    losses = _losses(model, empty)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert total.item() == 0
    total.backward()  # the graph is connected
    half = copy.deepcopy(batch)
    half['data_samples'][1] = empty['data_samples'][1]
    assert all(torch.isfinite(v) for v in _losses(model, half).values())
    preds = _predict(model, half)
    assert preds[1].pred_instances.bboxes.tensor.shape == (0, 5) and preds[0].pred_instances.scores.shape == (3,)

    bad = copy.deepcopy(batch)
    bad['data_samples'][0].gt_instances.labels = torch.tensor([0, 1, 7])
    model.train()
    with pytest.raises(ValueError, match='gt_instances.labels'):
        _losses(model, bad)


def test_official_sized_config_builds():
    cfg = tiny_model_cfg(fpn_channels=256, fc_channels=1024, num_neg=500,
                         test_cfg=dict(rotate_bags=False), rotation_agnostic_labels=[1, 9, 11])
    cfg['backbone'].update(depth=50, frozen_stages=1, norm_eval=True)
    cfg['neck'].update(in_channels=[256, 512, 1024, 2048],
                       norm_cfg=dict(type='GN', num_groups=32, requires_grad=True))
    cfg['roi_head']['bbox_head'].update(init_std=0.01)
    model = MODELS.build(cfg)
    assert model.test_cfg == dict(rotate_bags=False, angle_tta=(), box_tta=()) and \
        model.rotation_agnostic_labels == [1, 9, 11]
    assert model.roi_head.bag_generator.bag_size == 70 and model.roi_head.bag_generator.num_refine == 125
    with pytest.raises(ValueError, match='unknown options'):
        MODELS.build(tiny_model_cfg(view_schedule=dict(angle_start=3)))
    with pytest.raises(ValueError, match='angle_start_iter'):
        MODELS.build(tiny_model_cfg(view_schedule=dict(angle_start_iter=5, rotated_bags_start_iter=2)))


def test_angle_self_training_window_and_long_side_targets():
    from vision_sparse.models.detectors.pointobb import long_side_angle
    boxes = torch.tensor([[0, 0, 10.0, 4.0, 0.3], [0, 0, 4.0, 10.0, 0.3], [0, 0, 4.0, 10.0, 1.4]])
    assert torch.allclose(long_side_angle(boxes), torch.tensor([0.3, 0.3 + math.pi / 2 - math.pi,
                                                                1.4 - math.pi / 2]), atol=1e-6)
    head = dict(type='PointOBBAngleHead', in_channels=16, feat_channels=16, stacked_convs=1)
    model = _build(angle_head=head, angle_self_training=dict(start_iter=1, end_iter=3),
                   view_schedule=dict(angle_start_iter=2, rotated_bags_start_iter=10))
    batch = make_batch()
    seen = {}
    for it in range(4):
        _set_iter(it)
        seen[it] = _losses(model, batch)
    assert 'loss_angle_pseudo' not in seen[0] and 'loss_angle' not in seen[0]
    assert seen[1]['loss_angle_pseudo'].item() > 0 and 'loss_angle' not in seen[1]  # phase 1
    assert 'loss_angle_pseudo' in seen[2] and 'loss_angle' in seen[2]  # phase 2: both
    assert 'loss_angle_pseudo' not in seen[3] and 'loss_angle' in seen[3]
    # the self-training loss reaches the angle head
    _set_iter(1)
    model.zero_grad()
    _losses(model, batch)['loss_angle_pseudo'].backward()
    assert model.angle_head.conv_angle.weight.grad.abs().sum() > 0


def test_oriented_bag_angles_and_test_time_angle_views():
    model = _build(angle_head=FakeAngleHead(angle=0.5), oriented_bag_angles=[0.0, 0.1])
    pts = [torch.tensor([[40.0, 50.0]])]
    bags, _ = model._oriented_bags([torch.zeros(1, 3, 4, 4)] * 4, pts, [torch.tensor([1])], [(128, 128)])
    assert bags[0].shape[1] == model.roi_head.bag_generator.num_scales * \
        model.roi_head.bag_generator.num_ratios * 2
    assert torch.allclose(bags[0][0, :2, 4], torch.tensor([0.5, 0.6]))
    out = _predict(model, make_batch(batch=1))
    ang = out[0].pred_instances.bboxes.tensor[:, 4]
    assert torch.all((ang >= 0.5 - 1e-5) & (ang <= 0.6 + 1e-5))  # merged over 0.5 and 0.6
    # views: the constant head says 0.5 in every view; mapped back, a flip gives -0.5
    # (mean 0) and a rotation by 30 deg gives 0.5 - 0.524 (mean ~0.238)
    b = make_batch(batch=1)
    data = model.data_preprocessor(copy.deepcopy(b), False)
    feats = model.extract_feat(data['inputs'])
    p = [data['data_samples'][0].gt_instances.points.float()]
    model.test_cfg['angle_tta'] = [dict(kind='flip')]
    assert torch.allclose(model.tta_point_angles(data['inputs'], feats, p, [(128, 128)])[0],
                          torch.zeros(3, 4), atol=1e-5)
    model.test_cfg['angle_tta'] = [dict(kind='rotate', phi_deg=30)]
    got = model.tta_point_angles(data['inputs'], feats, p, [(128, 128)])[0]
    assert torch.allclose(got, torch.full_like(got, 0.5 - math.radians(30) / 2), atol=1e-5)
    for bad in (dict(kind='shear'), dict(kind='rotate'), dict(kind='flip', direction='up')):
        with pytest.raises(ValueError, match='angle_tta'):
            _build(test_cfg=dict(angle_tta=[bad]))


def test_oriented_angle_levels_average_the_chosen_levels():
    class LevelHead(FakeAngleHead):
        def point_angles(self, codes, points):  # level l says 0.1 * l (level 3: 1.5)
            return [p.new_tensor([0.0, 0.2, 0.4, 1.5]).expand(p.shape[0], 4) for p in points]
    model = _build(angle_head=LevelHead(), oriented_bag_angles=[0.0], oriented_angle_levels=[0, 2])
    pts = [torch.tensor([[40.0, 50.0], [90.0, 80.0]])]
    bags, _ = model._oriented_bags([torch.zeros(1, 3, 4, 4)] * 4, pts, [torch.tensor([1, 2])], [(128, 128)])
    assert torch.allclose(bags[0][..., 4], torch.full_like(bags[0][..., 4], 0.2), atol=1e-6)


def test_context_contrast_and_other_points_in_the_detector():
    """Training (contrast also in training) and prediction run with both merge options;
    prediction keeps its contract and no pseudo box holds another object's point."""
    from vision_sparse.models.roi_heads import contains_other_points
    cfg = tiny_model_cfg()
    cfg['roi_head'].update(context_contrast=dict(train=True), exclude_other_points=True, top_k=1)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    batch = make_batch(4)
    _set_iter(0)
    losses = _losses(model, batch)
    assert all(torch.isfinite(v).all() for v in losses.values())
    out = _predict(model, batch)
    for ds, src in zip(out, batch['data_samples']):
        boxes = ds.pred_instances.bboxes.tensor
        assert boxes.shape == (3, 5) and (boxes[:, 2:4] > 0).all()
        assert not contains_other_points(boxes[:, None], src.gt_instances.points).any()


def _flipped_batch(batch, size=128):
    """The batch mirrored vertically (y -> size - y), boxes and points with it."""
    out = copy.deepcopy(batch)
    for i, ds in enumerate(out['data_samples']):
        out['inputs'][i] = batch['inputs'][i].flip(-2).contiguous()
        gt = ds.gt_instances
        pts = gt.points.clone()
        pts[:, 1] = size - pts[:, 1]
        gt.points = pts
        b = gt.bboxes.tensor.clone()
        b[:, 1] = size - b[:, 1]
        b[:, 4] = -b[:, 4]
        gt.bboxes = RotatedBoxes(b)
    return out


def test_box_views_make_prediction_equivariant_to_the_view():
    """With box_tta=[flip], the merge weight of a proposal is the mean of its scores in
    the image and in the mirrored image, so predicting on the mirrored image gives the
    mirrored boxes (the network itself is not mirror-invariant)."""
    cfg = tiny_model_cfg()
    cfg['roi_head'].update(context_contrast=dict(shift=0.5, power=6.0, ins_power=1.0))
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    batch = make_batch(3, batch=1)
    flipped = _flipped_batch(batch)

    def mirrored_gap():
        a = _predict(model, batch)[0].pred_instances.bboxes.tensor
        b = _predict(model, flipped)[0].pred_instances.bboxes.tensor
        d_xy = (a[:, :2] - torch.stack([b[:, 0], 128 - b[:, 1]], 1)).abs().max()
        d_wh = (a[:, 2:4] - b[:, 2:4]).abs().max()
        d_t = torch.sin(a[:, 4] + b[:, 4]).abs().max()  # -theta, pi-periodic
        return max(d_xy.item(), d_wh.item(), d_t.item())

    model.test_cfg['box_tta'] = []
    without = mirrored_gap()
    model.test_cfg['box_tta'] = [dict(kind='flip', direction='vertical')]
    print('mirror gap without / with the view:', without, mirrored_gap())
    assert mirrored_gap() < 0.02 < without  # px (float32 rounding) vs a real difference
    # the same views in both stages: a view that sees every proposal exactly as the image
    # does (an identity rotation) leaves the boxes unchanged
    model.test_cfg['box_tta'] = []
    plain = _predict(model, batch)[0].pred_instances.bboxes.tensor
    model.test_cfg['box_tta'] = [dict(kind='rotate', phi_deg=0)]
    same = _predict(model, batch)[0].pred_instances.bboxes.tensor
    assert torch.allclose(plain, same, atol=1e-4)
    for bad in (dict(kind='shear'), dict(kind='flip', direction='up')):
        with pytest.raises(ValueError, match='box_tta'):
            _build(test_cfg=dict(box_tta=[bad]))
    with pytest.raises(ValueError, match='unknown options'):
        _build(test_cfg=dict(box_ttta=[dict(kind='flip')]))


def test_box_views_on_a_padded_image_and_the_mean_over_views():
    """A proposal at the image's top edge stays valid in the vertical flip of a padded
    batch (the view moves the padded tensor, and the image with it); a proposal seen in
    fewer views is averaged over those only (mean, not sum)."""
    model = _build(test_cfg=dict(box_tta=[dict(kind='flip', direction='vertical')]))
    model.eval()
    inputs = torch.zeros(1, 3, 128, 128)  # a 100 x 100 image padded to 128
    props = [torch.tensor([[[50.0, 20.0, 40.0, 40.0, 0.0]]])]  # top edge 0 .. 40
    valid = [torch.ones(1, 1, dtype=torch.bool)]
    (_, v_props, v_valid), = model._box_views(inputs, [torch.tensor([[50.0, 20.0]])], [(100, 100)],
                                              props, valid, {})
    assert torch.allclose(v_props[0][0, 0, :2], torch.tensor([50.0, 108.0]))
    assert bool(v_valid[0][0, 0])
    # the mean: a view identical to the image (same features, same proposals) that sees
    # every proposal but the image's best leaves the top-1 box unchanged; a sum over the
    # views would double the others' weights and pick the runner-up
    head = model.roi_head
    head.top_k = 1
    feats = tuple(torch.randn(1, 16, 128 // s, 128 // s, generator=torch.Generator().manual_seed(s))
                  for s in (4, 8, 16, 32))
    bags, bag_valid = head.stage_bags([torch.tensor([[60.0, 64.0]])], [(128, 128)])
    lbl = [torch.tensor([1])]
    with torch.no_grad():
        w = head._stage_weights(0, feats, bags, bag_valid[0], lbl[0], True)[-1][0]
        top2 = w.topk(2)
        assert 2 * top2.values[1] > top2.values[0]  # a sum would change the choice
        some = bag_valid[0].clone()
        some[0, top2.indices[0]] = False
        plain = head.run_stage(0, feats, bags, bag_valid, lbl, with_loss=False)['boxes']
        viewed = head.run_stage(0, feats, bags, bag_valid, lbl, with_loss=False,
                                views=[(feats, bags, [some])])['boxes']
    assert torch.allclose(plain, viewed) and torch.allclose(plain[0], bags[0][0, top2.indices[0]])
    for bad in (None, dict(kind='rotate', phi_deg=True), dict(kind='rotate', phi_deg=float('nan'))):
        if bad is None:
            assert _build(test_cfg=dict(box_tta=None)).test_cfg['box_tta'] == ()
            continue
        with pytest.raises(ValueError, match='box_tta'):
            _build(test_cfg=dict(box_tta=[bad]))
