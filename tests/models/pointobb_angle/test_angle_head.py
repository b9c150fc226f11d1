"""PointOBBAngleHead: shapes, dense-to-sparse matching, the angle self-supervision loss."""
import math

import pytest
import torch

from vision_sparse.models.dense_heads import PointOBBAngleHead
from vision_sparse.models.losses import (AngleConsistencyLoss, angle_consistency_delta,
                                         wrap_half_pi)
from vision_sparse.models.task_modules import PSCCoder
from vision_sparse.registry import MODELS

CODER = PSCCoder(3)
STRIDES = (8, 16)


def _head(**kw):
    conf = dict(in_channels=4, feat_channels=4, stacked_convs=1, strides=STRIDES)
    conf.update(kw)
    return PointOBBAngleHead(**conf)


def _object_maps(points, thetas, size=96, strides=STRIDES):
    """Code maps (1, 3, H_l, W_l) per level: every cell carries the angle of the nearest point."""
    pts = torch.tensor(points, dtype=torch.float64).reshape(-1, 2)
    th = torch.tensor(thetas, dtype=torch.float64)
    maps = []
    for s in strides:
        n = size // s
        c = (torch.arange(n, dtype=torch.float64) + 0.5) * s
        cy, cx = torch.meshgrid(c, c, indexing='ij')
        d = (cx[..., None] - pts[:, 0]) ** 2 + (cy[..., None] - pts[:, 1]) ** 2
        maps.append(CODER.encode(th[d.argmin(-1)]).permute(2, 0, 1)[None])
    return maps


def _cat(*maps_per_image):
    return [torch.cat(level) for level in zip(*maps_per_image)]


def test_forward_shapes_and_registry():
    head = MODELS.build(dict(type='PointOBBAngleHead', in_channels=4, feat_channels=6,
                             stacked_convs=2, strides=(4, 8, 16)))
    feats = [torch.randn(2, 4, 32 // s, 48 // s) for s in (4, 8, 16)]
    codes = head(feats)
    assert [tuple(c.shape) for c in codes] == [(2, 3, 8, 12), (2, 3, 4, 6), (2, 3, 2, 3)]
    tanh_codes = _head(code_act='tanh', strides=(4, 8, 16))(feats)
    assert all(c.abs().max() < 1 for c in tanh_codes)
    angles = head.point_angles(codes, [torch.tensor([[3.0, 5.0], [40.0, 20.0]]),
                                       torch.zeros(0, 2)])
    assert angles[0].shape == (2, 3) and angles[1].shape == (0, 3)
    assert ((angles[0] >= -math.pi / 2) & (angles[0] < math.pi / 2)).all()
    assert isinstance(MODELS.build(dict(type='AngleConsistencyLoss')), AngleConsistencyLoss)


def test_ds_matching_picks_the_disc_cells():
    head = _head(strides=(8,))
    # background angle -1.0; cells within 1.5 * 8 = 12 px of the point carry 0.7
    size, s = 80, 8
    c = (torch.arange(size // s, dtype=torch.float64) + 0.5) * s
    cy, cx = torch.meshgrid(c, c, indexing='ij')
    for point, n_expected in (((36.0, 44.0), 9), ((32.0, 40.0), 4), ((35.0, 43.0), None)):
        dist = ((cx - point[0]) ** 2 + (cy - point[1]) ** 2).sqrt()
        disc = dist < 12
        theta = torch.where(disc, 0.7, -1.0).double()
        codes = [CODER.encode(theta).permute(2, 0, 1)[None]]
        pts = [torch.tensor([point], dtype=torch.float64)]
        angles = head.point_angles(codes, pts)
        assert torch.allclose(angles[0], torch.tensor([[0.7]], dtype=torch.float64), atol=1e-9)
        _, counts = head.point_codes(codes, pts)
        assert counts[0].item() == int(disc.sum())
        if n_expected is not None:  # 3x3 around a cell centre, 2x2 around a cell corner
            assert counts[0].item() == n_expected
        # a ring just outside the disc does not leak in: widen the disc by 1.5 px only
        ring = dist < 13.5
        theta2 = torch.where(disc, 0.7, torch.where(ring, 1.3, -1.0)).double()
        codes2 = [CODER.encode(theta2).permute(2, 0, 1)[None]]
        assert torch.allclose(head.point_angles(codes2, pts)[0], angles[0], atol=1e-9)


def test_ds_matching_averages_codes_then_decodes():
    torch.manual_seed(0)
    head = _head(strides=(8, 16), pos_radius=2.0)
    codes = [torch.randn(1, 3, 12, 12, dtype=torch.float64),
             torch.randn(1, 3, 6, 6, dtype=torch.float64)]
    pts = torch.tensor([[50.3, 17.9], [3.0, 90.0], [95.9, 95.9]], dtype=torch.float64)
    mean_codes, counts = head.point_codes(codes, [pts])
    for lvl, s in enumerate((8, 16)):
        n = codes[lvl].shape[-1]
        c = (torch.arange(n, dtype=torch.float64) + 0.5) * s
        cy, cx = torch.meshgrid(c, c, indexing='ij')
        for i, (x, y) in enumerate(pts.tolist()):
            sel = ((cx - x) ** 2 + (cy - y) ** 2) < (2.0 * s) ** 2
            ref = codes[lvl][0][:, sel].mean(1)
            assert counts[0][i, lvl].item() == int(sel.sum())
            assert torch.allclose(mean_codes[0][i, lvl], ref, atol=1e-12)
    angles = head.point_angles(codes, [pts])[0]
    assert torch.allclose(angles, CODER.decode(mean_codes[0]), atol=1e-12)


def test_ds_matching_nearest_cell_fallback():
    head = _head(strides=(8,))
    torch.manual_seed(1)
    code = torch.randn(1, 3, 10, 10, dtype=torch.float64)  # map covers 80 x 80 px
    pts = torch.tensor([[300.0, 41.0], [-50.0, -60.0], [79.0, 500.0]], dtype=torch.float64)
    mean_codes, counts = head.point_codes([code], [pts])
    assert counts[0].flatten().tolist() == [0, 0, 0]
    expected = torch.stack([code[0, :, 5, 9], code[0, :, 0, 0], code[0, :, 9, 9]])
    assert torch.equal(mean_codes[0][:, 0], expected)
    # just past the border the in-map cells within the radius are used, not the fallback
    _, counts = head.point_codes([code], [torch.tensor([[82.0, 44.0]], dtype=torch.float64)])
    assert counts[0].item() == 3  # centres (76, 36/44/52) are 10, 6, 10 px away


def _pair_setup(thetas, phi=None, flip=False, size=96):
    """Original and second-view maps of objects with exactly consistent angles."""
    pts_o = [(24.0, 30.0), (70.0, 66.0)][:len(thetas)]
    c = size / 2
    if flip:
        pts_v = [(x, size - y) for x, y in pts_o]
        th_v = [-t for t in thetas]
        view = dict(kind='flip', direction='vertical')
    else:
        cs, sn = math.cos(phi), math.sin(phi)
        pts_v = [(c + cs * (x - c) - sn * (y - c), c + sn * (x - c) + cs * (y - c))
                 for x, y in pts_o]
        th_v = [t + phi for t in thetas]
        view = dict(kind='rotate', phi=phi)
    return (_object_maps(pts_o, thetas, size), _object_maps(pts_v, th_v, size),
            torch.tensor(pts_o, dtype=torch.float64), torch.tensor(pts_v, dtype=torch.float64),
            view)


@pytest.mark.parametrize('loss_levels', ['pooled', 'per_level'])
@pytest.mark.parametrize('thetas,phi,flip', [
    ((0.3, -1.1), 0.9, False),
    ((1.5, -1.55), 0.2, False),      # theta + phi crosses +pi/2: wraps around
    ((-1.5, 1.0), 2.3, False),       # phi > pi/2
    ((-math.pi / 2 + 0.01, 0.6), None, True),
])
def test_loss_zero_for_consistent_codes(thetas, phi, flip, loss_levels):
    head = _head(loss_levels=loss_levels)
    co, cv, po, pv, view = _pair_setup(thetas, phi, flip)
    loss = head.loss(co, cv, [po], [pv], [torch.tensor([0, 1])], [view])['loss_angle']
    assert loss.item() < 1e-9
    # near-boundary angles decode to the other end of the range, yet the residual is 0
    ang_v = head.point_angles(cv, [pv])[0]
    assert ((ang_v >= -math.pi / 2) & (ang_v < math.pi / 2)).all()


def test_loss_value_for_inconsistent_codes_and_symmetric_gradient():
    # object 0: theta 1.5, view shows 1.5 + phi + 0.3 (wraps past pi/2): delta = 0.3
    thetas, phi = (1.5, -0.4), 0.2
    co, cv, po, pv, view = _pair_setup(thetas, phi)
    _, cv_bad, _, _, _ = _pair_setup((1.5 + 0.3, -0.4 - 0.05), phi)
    cv_bad = [c.clone().requires_grad_(True) for c in cv_bad]
    co = [c.clone().requires_grad_(True) for c in co]
    head = _head(loss_weight=0.5)
    loss = head.loss(co, cv_bad, [po], [pv], [torch.tensor([0, 1])], [view])['loss_angle']
    # SmoothL1 beta 0.1: |d| - 0.05 for 0.3; 0.5 * d^2 / 0.1 for 0.05
    expected = 0.5 * ((0.3 - 0.05) + 0.5 * 0.05 ** 2 / 0.1) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-9)
    loss.backward()
    assert co[0].grad.abs().sum() > 0 and cv_bad[0].grad.abs().sum() > 0  # both views learn


def test_flip_loss_value():
    co, cv, po, pv, view = _pair_setup((0.4,), flip=True)
    _, cv_bad, _, _, _ = _pair_setup((0.4 + 0.2,), flip=True)  # view shows -0.6: delta = -0.2
    loss = _head().loss(co, cv_bad, [po], [pv], [torch.tensor([3])], [view])['loss_angle']
    assert loss.item() == pytest.approx(0.2 - 0.05, abs=1e-9)


def test_agnostic_classes_and_invalid_points_skipped():
    thetas, phi = (0.3, -0.8), 1.0
    co, cv, po, pv, view = _pair_setup(thetas, phi)
    _, cv_bad, _, _, _ = _pair_setup((0.3, -0.8 + 0.5), phi)  # object 1 inconsistent
    labels = [torch.tensor([0, 2])]
    assert _head().loss(co, cv_bad, [po], [pv], labels, [view])['loss_angle'] > 0.1
    by_label = _head(angle_agnostic_labels=[2])
    by_name = _head(angle_agnostic_classes=['storage-tank'],
                    classes=['plane', 'ship', 'storage-tank'])
    for head in (by_label, by_name):
        assert head.agnostic_labels == (2,)
        assert head.loss(co, cv_bad, [po], [pv], labels, [view])['loss_angle'].item() < 1e-9
    valid = [torch.tensor([True, False])]
    assert _head().loss(co, cv_bad, [po], [pv], labels, [view], valid)['loss_angle'].item() < 1e-9
    # skipped pairs do not dilute the mean: a 2-object batch with one skipped = the 1-object loss
    _, cv_bad2, _, _, _ = _pair_setup((0.3 + 0.2, -0.8), phi)
    one = _head().loss(co, cv_bad2, [po[:1]], [pv[:1]], [labels[0][:1]], [view])['loss_angle']
    two = _head().loss(co, cv_bad2, [po], [pv], labels, [view],
                       [torch.tensor([True, False])])['loss_angle']
    assert one.item() == pytest.approx(two.item(), abs=1e-12) and one.item() > 0.1


def test_empty_images_zero_loss_with_grad():
    head = _head()
    feats = [torch.randn(2, 4, 96 // s, 96 // s) for s in STRIDES]
    codes_o, codes_v = head(feats), head(feats.copy())
    empty = [torch.zeros(0, 2), torch.zeros(0, 2)]
    labels = [torch.zeros(0, dtype=torch.long)] * 2
    views = [dict(kind='rotate', phi=1.0), dict(kind='flip')]
    loss = head.loss(codes_o, codes_v, empty, empty, labels, views)['loss_angle']
    assert loss.item() == 0 and loss.requires_grad
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() == 0 for p in head.parameters())
    # all objects agnostic: the same
    pts = [torch.tensor([[10.0, 10.0]]), torch.zeros(0, 2)]
    loss = _head(angle_agnostic_labels=[1]).loss(
        codes_o, codes_v, pts, pts, [torch.tensor([1]), labels[1]], views)['loss_angle']
    assert loss.item() == 0 and loss.requires_grad


def test_wrap_and_delta_functions():
    d = torch.tensor([math.pi / 2, -math.pi / 2, 3.0, -3.0, 0.1])
    w = wrap_half_pi(d)
    assert ((w >= -math.pi / 2) & (w < math.pi / 2)).all()
    assert torch.allclose(torch.cos(2 * w), torch.cos(2 * d), atol=1e-6)
    delta = angle_consistency_delta(torch.tensor([1.4, 1.4]), torch.tensor([-1.3, -1.4]),
                                    torch.tensor([0.3, 99.0]), torch.tensor([False, True]))
    assert torch.allclose(delta, torch.tensor([-1.3 - 1.4 - 0.3 + math.pi, 0.0]), atol=1e-6)


def test_bad_input():
    head = _head()
    co, cv, po, pv, view = _pair_setup((0.1,), 0.5)
    lab = [torch.tensor([0])]
    with pytest.raises(ValueError, match='kind'):
        head.loss(co, cv, [po], [pv], lab, [dict(kind='shear')])
    with pytest.raises(ValueError, match='phi'):
        head.loss(co, cv, [po], [pv], lab, [dict(kind='rotate')])
    with pytest.raises(ValueError, match='direction'):
        head.loss(co, cv, [po], [pv], lab, [dict(kind='flip', direction='diagonal')])
    with pytest.raises(ValueError, match='points'):
        head.point_angles(co, [po[:, :1]])
    with pytest.raises(ValueError, match='finite'):
        head.point_angles(co, [torch.tensor([[float('nan'), 1.0]])])
    with pytest.raises(ValueError, match='levels'):
        head.point_angles(co[:1], [po])
    with pytest.raises(ValueError, match='labels'):
        head.loss(co, cv, [po], [pv], [torch.tensor([0, 1])], [view])
    with pytest.raises(ValueError, match='valid'):
        head.loss(co, cv, [po], [pv], lab, [view], [torch.tensor([True, True])])
    with pytest.raises(ValueError, match='storage'):
        _head(angle_agnostic_classes=['storage-tank'], classes=['plane'])
    with pytest.raises(ValueError, match='unknown options'):
        _head(radius=2)
    with pytest.raises(ValueError, match='in_channels'):
        head([torch.randn(1, 5, 8, 8), torch.randn(1, 5, 4, 4)])


def test_pseudo_loss_zero_at_target_positive_elsewhere_and_pulls_toward_target():
    """Self-training from pseudo boxes: 0 when the codes encode the target angles, > 0
    otherwise; a gradient step on the codes moves the decoded angle toward the target;
    rotation-agnostic classes are left out."""
    head = _head(angle_agnostic_labels=[2])
    pts = [torch.tensor([[30.0, 40.0], [70.0, 60.0]], dtype=torch.float64)]
    thetas = [0.3, -1.0]
    maps = _object_maps(pts[0].tolist(), thetas)
    labels = [torch.tensor([0, 1])]
    target = [torch.tensor(thetas, dtype=torch.float64)]
    assert head.pseudo_loss(maps, pts, target, labels).item() < 1e-9
    # the targets moved by 0.2 rad: positive loss; gradient descent on the codes follows
    moved = [target[0] + 0.2]
    codes = [m.clone().requires_grad_(True) for m in maps]
    loss = head.pseudo_loss(codes, pts, moved, labels, loss_weight=2.0)
    assert loss.item() > 0.01
    loss.backward()
    stepped = [(c - 0.5 * c.grad).detach() for c in codes]
    before = head.point_angles(maps, pts)[0]
    after = head.point_angles(stepped, pts)[0]
    goal = moved[0][:, None]
    assert torch.all(wrap_half_pi(after - goal).abs() < wrap_half_pi(before - goal).abs())
    # an agnostic object is not in the loss: a wrong target for it changes nothing
    agn = head.pseudo_loss(maps, pts, [torch.tensor([0.3, 0.9], dtype=torch.float64)],
                           [torch.tensor([0, 2])])
    assert agn.item() < 1e-9
    # no object left: zero, still attached to the graph
    empty = head.pseudo_loss(codes, pts, target, [torch.tensor([2, 2])])
    assert empty.item() == 0 and empty.requires_grad
    # an image with a single object (a (1,) angle is not read as the angle axis)
    one = head.pseudo_loss(_object_maps([[30.0, 40.0]], [0.3]), [pts[0][:1]],
                           [torch.tensor([0.3], dtype=torch.float64)], [torch.tensor([0])])
    assert one.item() < 1e-9
    one = head.pseudo_loss(maps, [pts[0][:1]], [torch.tensor([-1.0], dtype=torch.float64)],
                           [torch.tensor([0])])
    assert one.item() > 0.01
    with pytest.raises(ValueError, match='angles and labels'):
        head.pseudo_loss(maps, pts, [torch.zeros(3, dtype=torch.float64)], labels)
