"""Proposal bags and the rotated RoI extractor."""
import math

import pytest
import torch
from torchvision.ops import roi_align

from vision_sparse.models.roi_heads import RotatedSingleRoIExtractor, map_roi_levels
from vision_sparse.models.task_modules import PointBagGenerator, inside_fraction
from vision_sparse.registry import MODELS, TASK_UTILS


def test_bag_geometry_matches_official_layout():
    gen = TASK_UTILS.build(dict(type='PointBagGenerator'))
    pts = torch.tensor([[500.0, 400.0], [30.0, 980.0]])
    bags, valid = gen.bags(pts, (1000, 1000))
    assert bags.shape == (2, 70, 5) and valid.all()
    b = bags[0].view(10, 7, 5)  # scale outer, ratio inner
    base = 10.0  # max(h, w) / 100
    for i, s in enumerate(gen.conf['base_scales']):
        for j, r in enumerate(gen.conf['base_ratios']):
            assert b[i, j, 2].item() == pytest.approx(min(s * base * r, 1000.0))
            assert b[i, j, 3].item() == pytest.approx(min(s * base / r, 800.0))
    assert torch.all(bags[..., :2] == pts[:, None, :]) and torch.all(bags[..., 4] == 0)
    # symmetry cut: a point 30 px from the left edge gets boxes at most 60 px wide / 40 px tall
    assert bags[1, :, 2].max() == pytest.approx(60.0) and bags[1, :, 3].max() == pytest.approx(40.0)


def test_bags_with_base_angles():
    """Angles are the innermost bag axis; predicted angles add to them; rotated boxes
    partly outside the image are invalid."""
    angles = [0.0, math.pi / 4]
    gen = PointBagGenerator(base_size=1.0, base_scales=[10, 40], base_ratios=[1.0, 4.0],
                            base_angles=angles)
    assert gen.bag_size == 8 and gen.num_angles == 2
    pts = torch.tensor([[50.0, 50.0], [50.0, 5.0]])
    bags, valid = gen.bags(pts, (100, 100))
    b = bags[0].view(2, 2, 2, 5)  # scale, ratio, angle
    assert torch.allclose(b[..., 4], torch.tensor(angles).expand(2, 2, 2))
    assert torch.allclose(b[1, 1, :, 2], torch.full((2,), 160.0).clamp(max=100.0))
    assert b[0, 1, 0, 2].item() == pytest.approx(40.0) and b[0, 1, 0, 3].item() == pytest.approx(2.5)
    assert valid[0, :4].all() and not valid[1].all()
    shifted, _ = gen.bags(pts, (100, 100), angles=torch.tensor([0.1, 0.2]))
    assert torch.allclose(shifted[..., 4], bags[..., 4] + torch.tensor([[0.1], [0.2]]))
    with pytest.raises(ValueError, match='base_angles'):
        PointBagGenerator(base_angles=[])


def test_rotated_bags_and_validity():
    gen = PointBagGenerator(base_size=1.0, base_scales=[10, 40], base_ratios=[1.0, 4.0])
    pts = torch.tensor([[50.0, 50.0], [50.0, 5.0]])
    bags, valid = gen.bags(pts, (100, 100), angles=torch.tensor([math.pi / 4, 0.3]))
    assert torch.allclose(bags[0, :, 4], torch.full((4,), math.pi / 4))
    assert valid[0].all()
    # near the top edge the tall symmetric cut keeps boxes small, a 40x10 box at 0.3 rad is
    # partly outside -> invalid
    assert not valid[1].all()
    frac = inside_fraction(torch.tensor([[0.0, 50.0, 20.0, 10.0, 0.0], [50, 50, 10, 10, 1.0]]), (100, 100))
    assert frac.tolist() == pytest.approx([0.5, 1.0], abs=1e-4)


def test_refine_proposals():
    gen = PointBagGenerator()
    box = torch.tensor([[50.0, 50.0, 20.0, 10.0, math.pi / 2]])
    props, valid = gen.refine(box, (100, 100))
    assert props.shape == (1, 125, 5) and gen.num_refine == 125 and valid.all()
    assert props[0, 0].tolist() == pytest.approx(box[0].tolist())
    ratios = sorted({round(v, 4) for v in (props[0, :25, 2] / 20).tolist()})
    assert ratios == [0.7, 0.8, 1.0, 1.2, 1.3]
    # shifts go along the box axes: w axis of a box at 90 deg is +y
    left = props[0, 25]
    assert left[0].item() == pytest.approx(50.0, abs=1e-5) and left[1].item() == pytest.approx(48.0)
    empty, ev = gen.refine(torch.zeros(0, 5), (100, 100))
    assert empty.shape == (0, 125, 5) and ev.shape == (0, 125)


def test_bag_generator_bad_options():
    with pytest.raises(ValueError, match='unknown options'):
        PointBagGenerator(scales=[1])
    with pytest.raises(ValueError, match='base_ratios'):
        PointBagGenerator(base_ratios=[])
    with pytest.raises(ValueError, match='points'):
        PointBagGenerator().bags(torch.zeros(3), (10, 10))


def test_map_roi_levels_like_mmdet():
    rois = torch.tensor([[0, 0, 0, 50, 50, 0], [0, 0, 0, 112, 112, 0], [0, 0, 0, 300, 300, 0],
                         [0, 0, 0, 2000, 2000, 0.0]])
    assert map_roi_levels(rois, 4).tolist() == [0, 1, 2, 3]


def test_extractor_equals_torchvision_at_angle_zero():
    ext = MODELS.build(dict(type='RotatedSingleRoIExtractor',
                            roi_layer=dict(type='RoIAlignRotated', out_size=7, sample_num=2, clockwise=True),
                            out_channels=4, featmap_strides=[4, 8]))
    feats = (torch.rand(2, 4, 32, 32), torch.rand(2, 4, 16, 16))
    rois = torch.tensor([[0, 40.0, 50.0, 30.0, 20.0, 0.0], [1, 64.0, 64.0, 200.0, 150.0, 0.0]])
    out = ext(feats, rois)
    assert out.shape == (2, 4, 7, 7)
    for i, (lvl, stride) in enumerate([(0, 4), (1, 8)]):
        cx, cy, w, h = rois[i, 1:5].tolist()
        ref = roi_align(feats[lvl], torch.tensor([[rois[i, 0].item(), cx - w / 2, cy - h / 2, cx + w / 2,
                                                   cy + h / 2]]), 7, 1 / stride, 2, aligned=True)
        assert torch.allclose(out[i], ref[0], atol=1e-5)
    assert ext(feats, torch.zeros(0, 6)).shape == (0, 4, 7, 7)
    with pytest.raises(ValueError, match='roi_layer'):
        RotatedSingleRoIExtractor(dict(type='RoIAlign', output_size=7), 4, [4])
