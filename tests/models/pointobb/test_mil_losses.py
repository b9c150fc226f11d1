"""MIL and SSC losses on hand-made scores; top-k merge; the MIL box head."""
import math

import pytest
import torch
import torch.nn.functional as F

from vision_sparse.models.losses import MILLoss, SSCLoss, focal_bce, mil_instance_weights
from vision_sparse.models.roi_heads import MILBBoxHead, merge_topk
from vision_sparse.registry import MODELS


def test_bag_score_and_bce_by_hand():
    # one bag, 2 proposals, 3 classes (+ background in stage 0 would be just one more column)
    cls = torch.tensor([[[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]])
    ins = torch.log(torch.tensor([[[3.0, 1.0, 1.0], [1.0, 1.0, 1.0]]]))  # softmax over proposals
    valid = torch.tensor([[True, True]])
    w = mil_instance_weights(ins, valid)
    assert torch.allclose(w[0, :, 0], torch.tensor([0.75, 0.25]))
    bag = torch.tensor([0.7 * 0.75 + 0.1 * 0.25, 0.2 * 0.5 + 0.8 * 0.5, 0.1])
    loss_fn = MILLoss(loss_type='binary_cross_entropy', loss_weight=1.0)
    loss, acc = loss_fn(cls, ins, torch.tensor([0]), valid)
    expected = F.binary_cross_entropy(bag, torch.tensor([1.0, 0.0, 0.0]), reduction='sum')
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert acc.item() == 100.0  # class 0 has the highest bag score (0.55 vs 0.5)
    # an invalid proposal is out of the bag
    loss2, _ = loss_fn(cls, ins, torch.tensor([0]), torch.tensor([[True, False]]))
    expected2 = F.binary_cross_entropy(cls[0, 0], torch.tensor([1.0, 0.0, 0.0]), reduction='sum')
    assert loss2.item() == pytest.approx(expected2.item(), rel=1e-5)


def test_focal_mil_loss_and_weights():
    p = torch.tensor([[0.9, 0.2]])
    q = torch.tensor([[1.0, 0.0]])
    manual = -((0.1 ** 2) * math.log(0.9 + 1e-6) + (0.2 ** 2) * math.log(0.8 + 1e-6))
    assert focal_bce(p, q).item() == pytest.approx(manual, rel=1e-5)
    loss_fn = MODELS.build(dict(type='MILLoss', loss_type='gfocal_loss', loss_weight=0.25))
    cls = torch.rand(4, 5, 3)
    ins = torch.randn(4, 5, 3)
    labels = torch.tensor([0, 1, 2, 0])
    valid = torch.ones(4, 5, dtype=torch.bool)
    valid[3] = False  # a bag without valid proposals is ignored (and not counted)
    weight = torch.tensor([1.0, 0.5, 0.0, 7.0])
    loss, _ = loss_fn(cls, ins, labels, valid, weight)
    bag = (cls * mil_instance_weights(ins, valid)).sum(1)
    per = focal_bce(bag, F.one_hot(labels, 3).float()) * weight
    assert loss.item() == pytest.approx(0.25 * per[:3].sum().item() / 3, rel=1e-5)
    # perfect bags give (almost) zero loss
    perfect = F.one_hot(labels, 3).float()[:, None].expand(4, 5, 3)
    assert loss_fn(perfect, ins, labels, valid)[0].item() < 1e-5
    neg = loss_fn.negative(torch.tensor([[0.5, 0.0]]), torch.tensor([True]), num_bags=2)
    assert neg.item() == pytest.approx(0.75 * -(0.25 * math.log(0.5 + 1e-6)) / 2, rel=1e-4)


def test_mil_loss_bad_inputs_and_empty():
    loss_fn = MILLoss()
    with pytest.raises(ValueError, match='labels must be in'):
        loss_fn(torch.rand(1, 2, 3), torch.rand(1, 2, 3), torch.tensor([3]), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match='loss_type'):
        MILLoss(loss_type='hinge')
    loss, acc = loss_fn(torch.rand(0, 2, 3), torch.rand(0, 2, 3), torch.zeros(0, dtype=torch.long),
                        torch.zeros(0, 2, dtype=torch.bool))
    assert loss.item() == 0 and acc.item() == 0


def test_ssc_zero_for_identical_views_and_positive_otherwise():
    ssc = SSCLoss()
    cls = torch.rand(3, 70, 4)
    ins = mil_instance_weights(torch.randn(3, 70, 4), torch.ones(3, 70, dtype=torch.bool))
    out = ssc(cls, ins, cls.clone(), ins.clone(), num_scales=10)
    assert out['loss_ssc_cls'].item() == pytest.approx(0, abs=1e-6)
    assert out['loss_ssc_ins'].item() == pytest.approx(0, abs=1e-6)
    other = ssc(cls, ins, torch.rand(3, 70, 4), ins.flip(1), num_scales=10)
    assert other['loss_ssc_cls'] > 0 and other['loss_ssc_ins'] > 0
    # by hand for one object, one scale: 1 - cos of orthogonal vectors = 1 -> smooth-l1(1) = 0.5
    a = torch.tensor([[[1.0, 0.0]]])
    b = torch.tensor([[[0.0, 1.0]]])
    out = ssc(a, a, b, b, num_scales=1)
    assert out['loss_ssc_cls'].item() == pytest.approx(0.5) and out['loss_ssc_ins'].item() == pytest.approx(1.0)
    empty = ssc(*[torch.zeros(0, 70, 4)] * 4, num_scales=10)
    assert empty['loss_ssc_cls'].item() == 0
    with pytest.raises(ValueError, match='num_scales'):
        ssc(cls, ins, cls, ins, num_scales=3)


def test_merge_topk():
    props = torch.tensor([[[10.0, 10, 4, 2, 0.1], [20, 20, 8, 4, -0.1], [99, 99, 99, 99, 1.0]]])
    w = torch.tensor([[1.0, 3.0, 0.0]])
    box = merge_topk(props, w, k=2)
    assert box[0, :4].tolist() == pytest.approx([17.5, 17.5, 7.0, 3.5])
    assert box[0, 4].item() == pytest.approx(0.5 * math.atan2(math.sin(0.2) - 3 * math.sin(0.2),
                                                              math.cos(0.2) * 4), abs=1e-6)
    # angles across the le90 wrap average to the wrap, not to 0
    props2 = torch.tensor([[[0.0, 0, 1, 1, -math.pi / 2 + 0.05], [0, 0, 1, 1, math.pi / 2 - 0.05]]])
    assert abs(abs(merge_topk(props2, torch.ones(1, 2), 2)[0, 4].item()) - math.pi / 2) < 1e-5
    assert merge_topk(torch.zeros(0, 3, 5), torch.zeros(0, 3), 7).shape == (0, 5)


def test_mil_bbox_head_shapes():
    head = MILBBoxHead(num_classes=4, in_channels=8, fc_out_channels=16)
    x = torch.rand(5, 8, 7, 7)
    c0, i0 = head(x, 0)
    c1, i1 = head(x, 1)
    assert c0.shape == i0.shape == (5, 5) and c1.shape == i1.shape == (5, 4)
    assert torch.allclose(head.fc_cls[1].bias, torch.full((4,), -math.log(99)))
    with pytest.raises(ValueError, match='stage'):
        head(x, 2)
    with pytest.raises(ValueError, match='num_classes'):
        MILBBoxHead(num_classes=0)



def test_stage0_negatives():
    """stage0_negatives: random background boxes also in stage 0; their object-class
    softmax probabilities are pushed to 0 (no loss once background wins)."""
    from vision_sparse.registry import MODELS
    cfg = dict(type='PointOBBRoIHead',
               bbox_roi_extractor=dict(type='RotatedSingleRoIExtractor',
                                       roi_layer=dict(type='RoIAlignRotated', output_size=7,
                                                      sampling_ratio=2, clockwise=True),
                                       out_channels=4, featmap_strides=[4]),
               bbox_head=dict(type='MILBBoxHead', num_classes=3, in_channels=4, fc_out_channels=16),
               bag_generator=dict(type='PointBagGenerator', base_size=1.0, base_scales=[4, 8]),
               num_neg=50)
    feats = (torch.rand(1, 4, 32, 32),)
    pts, lbl = [torch.tensor([[40.0, 60.0]])], [torch.tensor([1])]

    def stage0_losses(head):
        bags, valid = head.stage_bags(pts, [(128, 128)])
        return head.run_stage(0, feats, bags, valid, lbl, generator=torch.Generator().manual_seed(0),
                              img_shapes=[(128, 128)])['losses']

    assert 'stage0_loss_neg' not in stage0_losses(MODELS.build(cfg))
    head = MODELS.build({**cfg, 'stage0_negatives': True})
    assert stage0_losses(head)['stage0_loss_neg'].item() > 0
    with torch.no_grad():
        head.bbox_head.fc_cls[0].bias[-1] = 30.0  # background column dominates
    assert stage0_losses(head)['stage0_loss_neg'].item() < 1e-6


def test_neighbour_boxes_move_along_the_box_axes():
    from vision_sparse.models.roi_heads import neighbour_boxes
    props = torch.tensor([[[10.0, 20.0, 4.0, 2.0, 0.0], [10.0, 20.0, 4.0, 2.0, math.pi / 2]]])
    nb = neighbour_boxes(props, 1.0)
    assert nb.shape == (1, 8, 5)
    # angle 0: -w, +w along x, -h, +h along y
    assert torch.allclose(nb[0, 0::2, :2], torch.tensor([[6.0, 20], [14, 20], [10, 18], [10, 22]]),
                          atol=1e-5)
    # angle pi/2: the w axis points along +y
    assert torch.allclose(nb[0, 1::2, :2], torch.tensor([[10.0, 16], [10, 24], [12, 20], [8, 20]]),
                          atol=1e-5)
    assert torch.equal(nb[..., 2:], props[..., 2:].repeat(1, 4, 1))


class _FractionHead(torch.nn.Module):
    """Stub MIL head: class 1 probability = mean of feature channel 0 in the RoI (the
    fraction of the RoI covered by the object), background the rest; flat instance logits."""
    num_stages = 1

    def num_outputs(self, stage):
        return 4

    def forward(self, x, stage):
        p = x[:, 0].mean((1, 2)).clamp(1e-6, 1 - 1e-6)
        logits = torch.full((x.shape[0], 4), -30.0)
        logits[:, 1] = p.log()
        logits[:, 3] = (1 - p).log()
        return logits, torch.zeros_like(logits)


def _one_channel_head_cfg(**kw):
    """A PointOBBRoIHead config pooling one stride-1 feature channel, one MIL stage."""
    return dict(type='PointOBBRoIHead',
                bbox_roi_extractor=dict(type='RotatedSingleRoIExtractor',
                                        roi_layer=dict(type='RoIAlignRotated', output_size=7,
                                                       sampling_ratio=2, clockwise=True),
                                        out_channels=1, featmap_strides=[1]),
                bbox_head=dict(type='MILBBoxHead', num_classes=3, in_channels=1, fc_out_channels=8,
                               num_stages=1), **kw)


def test_context_contrast_recovers_the_whole_object_from_its_parts():
    """Every part of an object scores as high as the object; only the contrast with the
    neighbours (object-like around a part, background around the whole) picks the whole."""
    from vision_sparse.registry import MODELS
    cfg = _one_channel_head_cfg(
        bag_generator=dict(type='PointBagGenerator', base_size=1.0, base_ratios=[1.0],
                           base_scales=[8, 16, 32, 48, 64, 96]))
    feats = torch.zeros(1, 1, 160, 160)
    feats[..., 48:112, 48:112] = 1.0  # a 64 x 64 object centred at (80, 80)
    pts, lbl = [torch.tensor([[80.0, 80.0]])], [torch.tensor([1])]

    def side(training=False, **kw):
        head = MODELS.build({**cfg, **kw})
        head.bbox_head = _FractionHead()
        head.train(training)
        bags, valid = head.stage_bags(pts, [(160, 160)])
        return head.run_stage(0, (feats,), bags, valid, lbl, with_loss=False)['boxes'][0, 2].item()

    assert side(top_k=5) < 50  # the parts tie with the whole: their mean is too small
    assert abs(side(top_k=1, context_contrast=dict()) - 64) < 1e-3
    assert abs(side(top_k=1, context_contrast=dict(ins_power=1.0, power=1.0, stages=[0])) - 64) < 1e-3
    assert abs(side(top_k=1, context_contrast=dict(reduce='mean', ins_power=0.0)) - 64) < 1e-3
    # train=False: prediction only (a training-mode head merges as without it)
    assert side(True, top_k=5, context_contrast=dict(train=False)) == side(True, top_k=5)
    assert abs(side(True, top_k=1, context_contrast=dict()) - 64) < 1e-3
    with pytest.raises(ValueError, match='context_contrast'):
        MODELS.build({**cfg, 'context_contrast': dict(reduce='median')})
    with pytest.raises(ValueError, match='unknown'):
        MODELS.build({**cfg, 'context_contrast': dict(shfit=1.0)})


def test_exclude_other_points():
    """A proposal holding another object's point gets merge weight 0."""
    from vision_sparse.models.roi_heads import contains_other_points
    from vision_sparse.registry import MODELS
    props = torch.tensor([[[0.0, 0, 10, 2, 0], [0.0, 0, 10, 2, math.pi / 2], [0.0, 0, 30, 30, 0]],
                          [[8.0, 0, 2, 2, 0], [8.0, 0, 4, 4, 0], [8.0, 0, 30, 30, 0]]])
    pts = torch.tensor([[0.0, 0.0], [8.0, 0.0]])
    # object 0: the 10 x 2 box along x reaches x = 5 < 8; the big box holds (8, 0)
    assert contains_other_points(props, pts).tolist() == [[False, False, True], [False, False, True]]
    assert not contains_other_points(props[:1], pts[:1]).any()  # alone: nothing to exclude
    cfg = _one_channel_head_cfg(top_k=1)
    feats = torch.zeros(1, 1, 160, 160)
    feats[..., 40:120, 40:120] = 1.0
    bags = [torch.tensor([[[80.0, 80, 80, 80, 0], [40.0, 80, 20, 20, 0]],  # whole, half out
                          [[110.0, 80, 10, 10, 0], [110.0, 80, 12, 12, 0]]])]
    valid = [torch.ones(2, 2, dtype=torch.bool)]
    lbl = [torch.tensor([1, 1])]
    points = [torch.tensor([[80.0, 80], [110.0, 80]])]
    for kw, side in ((dict(), 80.0), (dict(exclude_other_points=True), 20.0)):
        head = MODELS.build({**cfg, **kw})
        head.bbox_head = _FractionHead()
        head.eval()
        out = head.run_stage(0, (feats,), bags, valid, lbl, with_loss=False, points=points)
        assert out['boxes'][0, 2].item() == side
    # points 2 px apart: every proposal of each holds the other point, so nothing is
    # excluded (an all-zero row would merge arbitrary proposals uniformly)
    near = [torch.tensor([[80.0, 80], [82.0, 80]])]
    bags2 = [torch.tensor([[[45.0, 80, 80, 80, 0], [80.0, 80, 40, 40, 0]],  # part out, inside
                           [[47.0, 80, 80, 80, 0], [82.0, 80, 40, 40, 0]]])]
    outs = []
    for kw in (dict(), dict(exclude_other_points=True)):
        head = MODELS.build({**cfg, **kw})
        head.bbox_head = _FractionHead()
        head.eval()
        outs.append(head.run_stage(0, (feats,), bags2, valid, lbl, with_loss=False,
                                   points=near)['boxes'])
    torch.testing.assert_close(outs[0], outs[1])
    assert outs[1][:, 2].tolist() == [40.0, 40.0]  # the best proposal, not the first
