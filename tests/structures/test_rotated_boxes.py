"""Rotated boxes: conventions, conversions, mmdet box API, DOTA round trips."""
import math

import cv2
import numpy as np
import pytest
import torch

import vision_sparse  # noqa: F401,I001  (before mmdet: installs the mmcv-lite shim)
from mmdet.structures.bbox import HorizontalBoxes, get_box_type  # noqa: E402
from mmdet.structures.mask import BitmapMasks, PolygonMasks  # noqa: E402
from vision_sparse.structures.bbox import (RBOX_NAME, RotatedBoxes,
                                           hbox2rbox, points2rbox, poly2rbox,
                                           rbox2corners, rbox2hbox, rbox2poly,
                                           regularize_boxes)
from vision_sparse.testing.data import shared_data_root

DATA = shared_data_root()
DOTA = None if DATA is None else DATA / 'oriented' / 'dota'
needs_dota = pytest.mark.skipif(
    DOTA is None or not DOTA.is_dir(),
    reason='shared sample data (../shared/data/oriented/dota) not found; '
    'set VISION_SPARSE_DATA')


def _iou_op_available() -> bool:
    try:
        from vision_sparse.ops import box_iou_rotated  # noqa: F401
    except Exception:  # noqa: BLE001 - any import problem means unavailable
        return False
    return True


def _read_dota_polys(name: str) -> np.ndarray:
    rows = []
    for line in (DOTA / 'labelTxt' / f'{name}.txt').read_text().splitlines():
        f = line.split()
        if len(f) >= 9:
            rows.append([float(v) for v in f[:8]])
    return np.asarray(rows, np.float64)


def _shoelace(polys: np.ndarray) -> np.ndarray:
    """Signed area; positive = clockwise on screen (image y down)."""
    p = polys.reshape(-1, 4, 2)
    x, y = p[..., 0], p[..., 1]
    return 0.5 * (x * np.roll(y, -1, 1) - np.roll(x, -1, 1) * y).sum(1)


def _cyclic_error(a: np.ndarray, b: np.ndarray,
                  allow_reverse: bool = False) -> np.ndarray:
    """Per-polygon max corner distance, minimised over cyclic shifts."""
    a, b = a.reshape(-1, 4, 2), b.reshape(-1, 4, 2)
    cands = [np.roll(b, s, axis=1) for s in range(4)]
    if allow_reverse:
        cands += [np.roll(b[:, ::-1], s, axis=1) for s in range(4)]
    errs = np.stack([np.linalg.norm(a - c, axis=-1).max(-1) for c in cands])
    return errs.min(0)


def _random_boxes(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ctr = torch.rand(n, 2, generator=g, dtype=torch.float64) * 500
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * 80 + 2
    theta = (torch.rand(n, 1, generator=g, dtype=torch.float64) - 0.5) * 4 * \
        math.pi
    special = torch.tensor([-math.pi / 2, math.pi / 2, 0.0, math.pi,
                            3 * math.pi / 4, -math.pi / 4, math.pi / 4,
                            -math.pi], dtype=torch.float64)
    theta[:len(special), 0] = special
    return torch.cat([ctr, wh, theta], 1)


# ---------------------------------------------------------------- conventions
def test_corner_order_axis_aligned():
    corners = rbox2corners(torch.tensor([[10.0, 20.0, 8.0, 4.0, 0.0]]))
    expected = torch.tensor([[[6.0, 18.0], [14.0, 18.0], [14.0, 22.0],
                              [6.0, 22.0]]])  # TL, TR, BR, BL (clockwise)
    torch.testing.assert_close(corners, expected)


def test_theta_turns_from_x_toward_y():
    # theta = +90 deg: the w side points along +y (down on screen).
    box = np.array([[0.0, 0.0, 8.0, 2.0, math.pi / 2]])
    c = rbox2corners(box)[0]
    np.testing.assert_allclose(c[1] - c[0], [0.0, 8.0], atol=1e-12)
    np.testing.assert_allclose(c[2] - c[1], [-2.0, 0.0], atol=1e-12)
    assert isinstance(c, np.ndarray)  # numpy in, numpy out


@pytest.mark.parametrize('pattern', ['le90', 'le135', 'oc'])
@pytest.mark.parametrize('width_longer', [False, True])
def test_regularize_keeps_corner_set(pattern, width_longer):
    boxes = _random_boxes(200)
    reg = regularize_boxes(boxes, pattern, width_longer=width_longer)
    theta = reg[:, 4]
    if pattern == 'le90':
        assert bool(((theta >= -math.pi / 2) & (theta < math.pi / 2)).all())
    elif pattern == 'le135':
        assert bool(((theta >= -math.pi / 4) & (theta < 3 * math.pi / 4)).all())
    else:
        assert bool(((theta > 0) & (theta <= math.pi / 2 + 1e-12)).all())
    if width_longer and pattern != 'oc':
        assert bool((reg[:, 2] >= reg[:, 3]).all())
    err = _cyclic_error(rbox2poly(boxes).numpy(), rbox2poly(reg).numpy())
    assert err.max() < 1e-9
    # regularizing twice changes nothing
    torch.testing.assert_close(
        regularize_boxes(reg, pattern, width_longer=width_longer), reg)


def test_regularize_oc_swaps_sides():
    out = regularize_boxes(np.array([[0, 0, 3.0, 1.0, 0.0]]), 'oc')
    np.testing.assert_allclose(out, [[0, 0, 1.0, 3.0, math.pi / 2]])


def test_area_equals_shoelace_and_hbox():
    boxes = _random_boxes(100, seed=1)
    polys = rbox2poly(boxes).numpy()
    np.testing.assert_allclose(np.abs(_shoelace(polys)),
                               (boxes[:, 2] * boxes[:, 3]).numpy(), rtol=1e-9)
    np.testing.assert_allclose(
        RotatedBoxes(boxes).areas.numpy(), np.abs(_shoelace(polys)),
        rtol=1e-9)
    corners = rbox2corners(boxes)
    hb = rbox2hbox(boxes)
    torch.testing.assert_close(hb[:, :2], corners.min(1).values)
    torch.testing.assert_close(hb[:, 2:], corners.max(1).values)


def test_poly2rbox_exact_on_rectangles_with_order():
    boxes = _random_boxes(100, seed=2)
    polys = rbox2poly(boxes)
    # pattern=None keeps theta along p1->p2: the same corners, same order
    back = rbox2poly(poly2rbox(polys, pattern=None))
    torch.testing.assert_close(back, polys, atol=1e-8, rtol=0)
    out = poly2rbox(polys.reshape(-1, 4, 2))  # (N, 4, 2) accepted too
    assert _cyclic_error(rbox2poly(out).numpy(), polys.numpy()).max() < 1e-8


def test_poly2rbox_is_minimum_area_vs_opencv():
    rng = np.random.default_rng(3)
    quads = rng.uniform(0, 100, (200, 8))
    rb = poly2rbox(quads)
    for q, r in zip(quads, rb):
        (_, _), (w, h), _ = cv2.minAreaRect(q.reshape(4, 2).astype(np.float32))
        assert r[2] * r[3] == pytest.approx(w * h, rel=1e-3, abs=1e-3)
    # the same rectangle as OpenCV's (and so mmrotate's poly2obb), also
    # where several rectangles have the minimum area (triangle-like quads)
    cv_rects = np.stack([
        cv2.boxPoints(cv2.minAreaRect(q.reshape(4, 2).astype(np.float32)))
        for q in quads])
    assert _cyclic_error(rbox2poly(rb), cv_rects).max() < 1e-3
    # every quad corner lies inside its box (sides grown by 1e-6 for rounding)
    grown = torch.from_numpy(rb).clone()
    grown[:, 2:4] += 1e-6
    boxes = RotatedBoxes(grown)
    for i, q in enumerate(quads):
        assert bool(boxes[i].find_inside_points(
            torch.from_numpy(q.reshape(4, 2))).all())


@needs_dota
@pytest.mark.parametrize('name', ['P1888', 'P0706'])
def test_dota_round_trip(name):
    polys = _read_dota_polys(name)
    rb = poly2rbox(polys.astype(np.float32))
    assert rb.dtype == np.float32 and rb.shape == (len(polys), 5)
    rect = rbox2poly(rb.astype(np.float64))
    # poly -> rbox -> poly -> rbox -> poly is exact (after the first fit)
    rect2 = rbox2poly(poly2rbox(rect))
    assert _cyclic_error(rect2, rect).max() < 1e-3
    # the fitted rectangles stay close to the hand-labelled quadrilaterals
    # (integer corners; a few harbours are far from rectangular)
    err = _cyclic_error(rect, polys, allow_reverse=True)
    assert np.median(err) < 2.0 and np.percentile(err, 95) < 4.0
    # minimum enclosing rectangle: area >= polygon area, = rectangle area
    rect_area = np.abs(_shoelace(rect))
    np.testing.assert_allclose(rb[:, 2] * rb[:, 3], rect_area, rtol=1e-4)
    assert np.all(rect_area >= np.abs(_shoelace(polys)) - 1e-3)
    # clockwise labels are reproduced up to a cyclic shift only
    cw = _shoelace(polys) > 0
    assert cw.mean() > 0.5
    err_cw = _cyclic_error(rect[cw], polys[cw])
    assert np.median(err_cw) < 2.0


# ---------------------------------------------------------------- box type
def test_registered_and_converters():
    name, cls = get_box_type(RBOX_NAME)
    assert cls is RotatedBoxes and name == RBOX_NAME
    hb = HorizontalBoxes(torch.tensor([[10.0, 20.0, 30.0, 60.0]]))
    rb = hb.convert_to(RBOX_NAME)
    assert isinstance(rb, RotatedBoxes)
    torch.testing.assert_close(rb.tensor,
                               torch.tensor([[20.0, 40.0, 20.0, 40.0, 0.0]]))
    torch.testing.assert_close(rb.convert_to('hbox').tensor, hb.tensor)
    torch.testing.assert_close(hbox2rbox(hb.tensor), rb.tensor)


def test_properties():
    rb = RotatedBoxes(torch.tensor([[1.0, 2.0, 4.0, 3.0, 0.5]]))
    torch.testing.assert_close(rb.centers, torch.tensor([[1.0, 2.0]]))
    torch.testing.assert_close(rb.areas, torch.tensor([12.0]))
    torch.testing.assert_close(rb.widths, torch.tensor([4.0]))
    torch.testing.assert_close(rb.heights, torch.tensor([3.0]))
    assert rb.corners.shape == (1, 4, 2)
    reg = RotatedBoxes(torch.tensor([[0, 0, 3.0, 1.0, 3.0]])).regularize()
    assert -math.pi / 2 <= float(reg.tensor[0, 4]) < math.pi / 2


@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
def test_flip_mirrors_corners(direction):
    boxes = _random_boxes(50, seed=4)
    img_shape = (600, 800)
    rb = RotatedBoxes(boxes)
    rb.flip_(img_shape, direction)
    pts = rbox2poly(boxes).reshape(-1, 4, 2).clone()
    if direction in ('horizontal', 'diagonal'):
        pts[..., 0] = img_shape[1] - pts[..., 0]
    if direction in ('vertical', 'diagonal'):
        pts[..., 1] = img_shape[0] - pts[..., 1]
    err = _cyclic_error(rbox2poly(rb.tensor).numpy(), pts.numpy(),
                        allow_reverse=True)
    assert err.max() < 1e-8
    assert bool((rb.tensor[:, 4] >= -math.pi / 2).all())
    assert bool((rb.tensor[:, 4] < math.pi / 2).all())


def test_rotate_matches_mmdet_convention():
    boxes = _random_boxes(30, seed=5)
    center, angle = (300.0, 200.0), 35.0  # degrees, positive = clockwise
    rb = RotatedBoxes(boxes)
    rb.rotate_(center, angle)
    mat = cv2.getRotationMatrix2D(center, -angle, 1)  # what mmdet uses
    pts = rbox2corners(boxes).numpy()
    expected = pts @ mat[:, :2].T + mat[:, 2]
    err = _cyclic_error(rbox2poly(rb.tensor).numpy(), expected)
    assert err.max() < 1e-8
    # an axis-aligned box rotated by +90 deg about its centre is its transpose
    one = RotatedBoxes(torch.tensor([[5.0, 5.0, 4.0, 2.0, 0.0]],
                                    dtype=torch.float64))
    one.rotate_((5.0, 5.0), 90.0)
    c = rbox2corners(one.tensor)[0]
    torch.testing.assert_close(c.max(0).values - c.min(0).values,
                               torch.tensor([2.0, 4.0], dtype=torch.float64))


def test_project_translate_rescale_resize():
    boxes = _random_boxes(20, seed=6)
    a = math.radians(20)
    hmat = np.array([[2 * math.cos(a), -2 * math.sin(a), 5.0],
                     [2 * math.sin(a), 2 * math.cos(a), -3.0], [0, 0, 1.0]])
    rb = RotatedBoxes(boxes)
    rb.project_(hmat)
    pts = rbox2corners(boxes).numpy()
    expected = pts @ hmat[:2, :2].T + hmat[:2, 2]
    assert _cyclic_error(rbox2poly(rb.tensor).numpy(), expected).max() < 1e-6

    rb = RotatedBoxes(boxes)
    rb.translate_((3.0, -4.0))
    torch.testing.assert_close(rb.tensor[:, :2],
                               boxes[:, :2] + boxes.new_tensor([3.0, -4.0]))
    rb = RotatedBoxes(boxes)
    rb.rescale_((2.0, 2.0))
    torch.testing.assert_close(rb.tensor[:, :4], boxes[:, :4] * 2)
    rb = RotatedBoxes(boxes)
    rb.rescale_((2.0, 1.0))  # anisotropic: refit of a parallelogram
    assert rb.tensor.shape == boxes.shape
    rb = RotatedBoxes(boxes)
    rb.resize_((0.5, 2.0))
    torch.testing.assert_close(rb.tensor[:, 2], boxes[:, 2] * 0.5)
    torch.testing.assert_close(rb.tensor[:, 3], boxes[:, 3] * 2.0)
    torch.testing.assert_close(rb.tensor[:, [0, 1, 4]], boxes[:, [0, 1, 4]])


def test_clip_inside_and_points():
    rb = RotatedBoxes(torch.tensor([[-5.0, 10.0, 4.0, 2.0, 0.3],
                                    [50.0, 50.0, 20.0, 10.0, math.pi / 4],
                                    [99.0, 50.0, 20.0, 10.0, 0.0]]))
    inside = rb.is_inside((100, 100))
    assert inside.tolist() == [False, True, True]
    assert rb.is_inside((100, 100), all_inside=True).tolist() == [
        False, True, False
    ]
    rb2 = rb.clone()
    rb2.clip_((100, 100))
    assert float(rb2.tensor[0, 0]) == 0.0
    pts = torch.tensor([[50.0, 50.0], [50 + 9.9 * math.cos(math.pi / 4),
                                       50 + 9.9 * math.sin(math.pi / 4)],
                        [60.0, 50.0], [0.0, 0.0]])
    m = rb.find_inside_points(pts)
    assert m.shape == (4, 3)
    assert m[:, 1].tolist() == [True, True, False, False]
    aligned = rb.find_inside_points(pts[:3], is_aligned=True)
    assert aligned.tolist() == [False, True, False]
    with pytest.raises(ValueError, match='points'):
        rb.find_inside_points(torch.zeros(3, 3))


def test_from_instance_masks():
    truth = np.array([60.0, 50.0, 60.0, 20.0, math.radians(30)])
    poly = rbox2corners(truth[None])[0]
    bitmap = np.zeros((1, 100, 120), np.uint8)
    cv2.fillPoly(bitmap[0], [np.round(poly).astype(np.int32)], 1)
    out = RotatedBoxes.from_instance_masks(
        BitmapMasks(np.concatenate([bitmap, np.zeros_like(bitmap)]), 100,
                    120)).tensor.numpy()
    assert out.shape == (2, 5)
    np.testing.assert_allclose(out[0, :2], truth[:2] + 0.5, atol=1.0)
    # pixel squares of the rasterised boundary add about one pixel per side
    long_side, short_side = max(out[0, 2:4]), min(out[0, 2:4])
    assert 60 <= long_side < 64 and 20 <= short_side < 24
    ang = (out[0, 4] - truth[4] + math.pi / 2) % math.pi - math.pi / 2
    assert abs(math.degrees(ang)) < 3 or abs(abs(math.degrees(ang)) - 90) < 3
    np.testing.assert_array_equal(out[1], 0)  # empty mask -> zeros
    pm = PolygonMasks([[poly.reshape(-1)]], 100, 120)
    exact = RotatedBoxes.from_instance_masks(pm).tensor.numpy()
    assert _cyclic_error(rbox2poly(exact.astype(np.float64)),
                         poly.reshape(1, 8)).max() < 1e-3
    np.testing.assert_allclose(points2rbox(poly), exact[0], atol=1e-3)


def test_create_masks():
    rb = RotatedBoxes(torch.tensor([[20.0, 20.0, 10.0, 6.0, 0.0]]))
    masks = rb.create_masks((40, 40))
    assert masks.masks.shape == (1, 40, 40)
    assert masks.masks[0, 20, 20] == 1 and masks.masks[0, 0, 0] == 0


# ---------------------------------------------------------------- overlaps
def test_overlaps_empty_without_op():
    a = RotatedBoxes(torch.zeros(0, 5))
    b = RotatedBoxes(torch.tensor([[1.0, 1.0, 2.0, 2.0, 0.0]]))
    assert RotatedBoxes.overlaps(a, b).shape == (0, 1)
    assert RotatedBoxes.overlaps(b, a).shape == (1, 0)
    assert RotatedBoxes.overlaps(a, a, is_aligned=True).shape == (0, )
    with pytest.raises(ValueError, match='mode'):
        RotatedBoxes.overlaps(b, b, mode='giou')


@pytest.mark.skipif(not _iou_op_available(),
                    reason='vision_sparse.ops.box_iou_rotated is not '
                    'importable yet (written by another module)')
def test_overlaps_with_op():
    boxes = RotatedBoxes(torch.tensor([[10.0, 10.0, 4.0, 2.0, 0.3],
                                       [30.0, 30.0, 6.0, 3.0, -1.0]]))
    iou = RotatedBoxes.overlaps(boxes, boxes)
    assert iou.shape == (2, 2)
    torch.testing.assert_close(iou.diagonal(), torch.ones(2), atol=1e-4,
                               rtol=0)
    assert float(iou[0, 1]) == pytest.approx(0.0, abs=1e-6)
    hb = HorizontalBoxes(torch.tensor([[8.0, 9.0, 12.0, 11.0]]))
    half = RotatedBoxes(torch.tensor([[9.0, 10.0, 2.0, 2.0, 0.0]]))
    iof = RotatedBoxes.overlaps(half, hb, mode='iof')
    assert float(iof[0, 0]) == pytest.approx(1.0, abs=1e-4)
    aligned = RotatedBoxes.overlaps(boxes, boxes, is_aligned=True)
    assert aligned.shape == (2, )
    # same angle convention as our corners: compare with polygon clipping
    shapely_geometry = pytest.importorskip('shapely.geometry')
    a, b = _random_boxes(12, seed=8), _random_boxes(9, seed=9)
    a[:, :2] = a[:, :2] / 20
    b[:, :2] = b[:, :2] / 20  # centres within 25 px: many overlaps
    iou = RotatedBoxes.overlaps(RotatedBoxes(a), RotatedBoxes(b)).numpy()
    ca, cb = rbox2corners(a).numpy(), rbox2corners(b).numpy()
    for i in range(len(a)):
        for j in range(len(b)):
            p = shapely_geometry.Polygon(ca[i])
            q = shapely_geometry.Polygon(cb[j])
            inter = p.intersection(q).area
            assert iou[i, j] == pytest.approx(
                inter / (p.area + q.area - inter), abs=1e-4)
    assert iou.max() > 0.1


# ---------------------------------------------------------------- edge cases
def test_empty_inputs():
    assert rbox2corners(torch.zeros(0, 5)).shape == (0, 4, 2)
    assert rbox2poly(np.zeros((0, 5))).shape == (0, 8)
    assert rbox2hbox(torch.zeros(0, 5)).shape == (0, 4)
    assert poly2rbox(np.zeros((0, 8), np.float32)).shape == (0, 5)
    assert regularize_boxes(torch.zeros(0, 5), 'oc').shape == (0, 5)
    assert points2rbox(np.zeros((0, 2))).shape == (5, )
    # one point, or equal points: a zero-size box at the point
    np.testing.assert_array_equal(points2rbox(np.array([[3.0, 4.0]])),
                                  [3.0, 4.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(points2rbox(np.full((3, 2), 2.0)),
                                  [2.0, 2.0, 0.0, 0.0, 0.0])
    # collinear points: a zero-height box along the line
    line = points2rbox(np.array([[0.0, 0.0], [3.0, 4.0], [6.0, 8.0]]))
    np.testing.assert_allclose(sorted(line[2:4]), [0.0, 10.0], atol=1e-12)
    np.testing.assert_allclose(line[:2], [3.0, 4.0], atol=1e-12)
    rb = RotatedBoxes([])
    assert len(rb) == 0 and rb.tensor.shape == (0, 5)
    rb.flip_((10, 10))
    rb.rotate_((0, 0), 10)
    rb.project_(np.eye(3))
    assert rb.find_inside_points(torch.zeros(3, 2)).shape == (3, 0)
    assert len(HorizontalBoxes(torch.zeros(0, 4)).convert_to(RBOX_NAME)) == 0


def test_bad_inputs():
    with pytest.raises(ValueError, match='polys'):
        poly2rbox(np.zeros((3, 6)))
    with pytest.raises(ValueError, match='pattern'):
        regularize_boxes(torch.zeros(1, 5), 'le45')
    with pytest.raises(ValueError, match='boxes'):
        rbox2corners(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r'\(\.\.\., 5\)'):
        RotatedBoxes(torch.zeros(2, 4))
    with pytest.raises(ValueError, match='direction'):
        RotatedBoxes(torch.zeros(1, 5)).flip_((5, 5), 'sideways')
    with pytest.raises(ValueError, match='homography'):
        RotatedBoxes(torch.zeros(1, 5)).project_(np.eye(2))
