"""DOTA-style rotated mAP against hand-computed curves and independent computations."""
import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon

from vision_sparse.evaluation.functional import (average_precision, eval_rotated_map, polygon_iou,
                                                 rotated_iou_matrix)
from vision_sparse.testing import shared_data_path

DOTA_LABELS = shared_data_path('oriented', 'dota', 'labelTxt')


def _box(cx, cy, w=10.0, h=10.0, theta=0.0):
    return [cx, cy, w, h, theta]


def _corners(rboxes):
    """(N, 8) corners of (cx, cy, w, h, theta) boxes: centre + R(theta) (+-w/2, +-h/2)."""
    out = []
    for cx, cy, w, h, t in np.asarray(rboxes, np.float64):
        c, s = np.cos(t), np.sin(t)
        pts = [(sx * w / 2, sy * h / 2) for sx, sy in ((1, 1), (-1, 1), (-1, -1), (1, -1))]
        out.append([v for x, y in pts for v in (cx + c * x - s * y, cy + s * x + c * y)])
    return np.array(out)


# Three ground truths A, B, C; four detections in score order:
#   d1 = A exactly (TP), d2 far away (FP), d3 = B shifted by 2 px (IoU 80/120 = 2/3, TP),
#   d4 = A again (duplicate, FP); C is missed.
# recall    = 1/3, 1/3, 2/3, 2/3
# precision = 1,   1/2, 2/3, 1/2
GTS = [_box(10, 10), _box(50, 10), _box(90, 10)]
DETS = [_box(10, 10), _box(200, 200), _box(52, 10), _box(10, 10)]
SCORES = [0.9, 0.8, 0.7, 0.6]


def _hand_case(difficult=None, extra_det=None):
    boxes, scores = list(DETS), list(SCORES)
    if extra_det is not None:
        boxes.append(extra_det[0])
        scores.append(extra_det[1])
    det = dict(boxes=np.array(boxes), scores=np.array(scores), labels=np.zeros(len(boxes), int))
    gt = dict(boxes=np.array(GTS), labels=np.zeros(3, int))
    if difficult is not None:
        gt['difficult'] = np.array(difficult)
    return [det], [gt]


def test_hand_computed_curve_11_point_and_area():
    dets, gts = _hand_case()
    r07 = eval_rotated_map(dets, gts, use_07_metric=True)
    c = r07['per_class'][0]
    np.testing.assert_allclose(c['recall'], [1 / 3, 1 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(c['precision'], [1, 1 / 2, 2 / 3, 1 / 2])
    assert (c['num_gts'], c['num_dets']) == (3, 4)
    # 11-point: t = 0, .1, .2, .3 -> 1; t = .4, .5, .6 -> 2/3; t >= .7 -> 0
    assert c['ap'] == pytest.approx(6 / 11, abs=1e-12)
    assert r07['mAP'] == pytest.approx(6 / 11, abs=1e-12)
    # area: 1/3 * 1 + 1/3 * 2/3 + 1/3 * 0
    rarea = eval_rotated_map(dets, gts, use_07_metric=False)
    assert rarea['mAP'] == pytest.approx(5 / 9, abs=1e-12)
    # the same with the polygons of the boxes
    pdets = [dict(d, boxes=_corners(d['boxes'])) for d in dets]
    pgts = [dict(g, boxes=_corners(g['boxes'])) for g in gts]
    assert eval_rotated_map(pdets, pgts, box_type='poly')['mAP'] == pytest.approx(6 / 11, abs=1e-12)
    assert eval_rotated_map(pdets, pgts, box_type='poly',
                            use_07_metric=False)['mAP'] == pytest.approx(5 / 9, abs=1e-12)
    # rotated-box detections against polygon ground truth ('poly' takes their corners)
    assert eval_rotated_map(dets, pgts, box_type='poly')['mAP'] == pytest.approx(6 / 11, abs=1e-12)


def test_iou_threshold_decides_the_shifted_detection():
    dets, gts = _hand_case()
    # IoU of d3 with B is 2/3: at 0.7 it becomes a false positive
    c = eval_rotated_map(dets, gts, iou_thr=0.7)['per_class'][0]
    np.testing.assert_allclose(c['recall'], [1 / 3] * 4)
    np.testing.assert_allclose(c['precision'], [1, 1 / 2, 1 / 3, 1 / 4])
    assert eval_rotated_map(dets, gts, iou_thr=2 / 3)['per_class'][0]['recall'][-1] == pytest.approx(2 / 3)


def test_difficult_ground_truth_is_ignored():
    # C difficult, and a detection on C (score 0.65, between d3 and d4): it is neither TP nor FP,
    # and C leaves the recall denominator.
    dets, gts = _hand_case(difficult=[False, False, True], extra_det=(_box(90, 10), 0.65))
    c = eval_rotated_map(dets, gts)['per_class'][0]
    assert (c['num_gts'], c['num_difficult'], c['num_dets']) == (2, 1, 5)
    np.testing.assert_allclose(c['recall'], [1 / 2, 1 / 2, 1, 1])
    np.testing.assert_allclose(c['precision'], [1, 1 / 2, 2 / 3, 1 / 2])
    # 11-point: t <= .5 -> 1 (6 points), t >= .6 -> 2/3 (5 points)
    assert c['ap'] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-12)
    assert eval_rotated_map(dets, gts, use_07_metric=False)['mAP'] == pytest.approx(
        1 / 2 + 1 / 2 * 2 / 3, abs=1e-12)
    # without the difficult flag, the detection on C is a TP
    dets, gts = _hand_case(extra_det=(_box(90, 10), 0.65))
    c = eval_rotated_map(dets, gts)['per_class'][0]
    np.testing.assert_allclose(c['recall'], [1 / 3, 1 / 3, 2 / 3, 1, 1])


def test_perfect_detections_empty_detections_and_class_without_gt():
    gts = [dict(boxes=np.array(GTS), labels=np.array([0, 0, 1]))]
    perfect = [dict(boxes=np.array(GTS), scores=np.array([0.5, 0.4, 0.3]), labels=np.array([0, 0, 1]))]
    for v in (True, False):
        assert eval_rotated_map(perfect, gts, use_07_metric=v)['mAP'] == 1.0
    empty = [dict(boxes=np.zeros((0, 5)), scores=np.zeros(0), labels=np.zeros(0, int))]
    res = eval_rotated_map(empty, gts, classes=['car', 'ship'])
    assert res['mAP'] == 0.0 and [c['ap'] for c in res['per_class']] == [0.0, 0.0]
    assert res['classes'] == ['car', 'ship']
    # class 'tank' has detections but no ground truth: AP NaN, left out of the mean
    dets = [dict(boxes=np.array(GTS + [_box(300, 300)]), scores=np.array([0.5, 0.4, 0.3, 0.9]),
                 labels=np.array([0, 0, 1, 2]))]
    res = eval_rotated_map(dets, gts, classes=['car', 'ship', 'tank'])
    assert np.isnan(res['per_class'][2]['ap']) and res['per_class'][2]['num_dets'] == 1
    assert res['mAP'] == 1.0
    # no ground truth at all: mAP 0
    assert eval_rotated_map(dets, [dict(boxes=np.zeros((0, 5)), labels=np.zeros(0))])['mAP'] == 0.0


def test_labels_as_names_and_several_images():
    gts = [dict(boxes=np.array([_box(10, 10)]), labels=['ship']),
           dict(boxes=np.array([_box(10, 10), _box(40, 40)]), labels=['car', 'ship'])]
    dets = [dict(boxes=np.array([_box(40, 40)]), scores=[0.9], labels=['ship']),  # wrong image: FP
            dict(boxes=np.array([_box(40, 40), _box(10, 10)]), scores=[0.8, 0.7], labels=['ship', 'car'])]
    res = eval_rotated_map(dets, gts)
    assert res['classes'] == ['car', 'ship']
    car, ship = res['per_class']
    assert car['ap'] == 1.0
    np.testing.assert_allclose(ship['recall'], [0, 1 / 2])
    np.testing.assert_allclose(ship['precision'], [0, 1 / 2])
    assert ship['ap'] == pytest.approx(6 / 11 * 0.5)  # 11-point: t <= .5 -> 1/2


# ---------------------------------------------------------------- independent computations
def _aabb_iou(a, b):
    """Axis-aligned IoU of (cx, cy, w, h) boxes, (N, M)."""
    a1, a2 = a[:, None, :2] - a[:, None, 2:4] / 2, a[:, None, :2] + a[:, None, 2:4] / 2
    b1, b2 = b[None, :, :2] - b[None, :, 2:4] / 2, b[None, :, :2] + b[None, :, 2:4] / 2
    wh = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (a[:, None, 2] * a[:, None, 3] + b[None, :, 2] * b[None, :, 3] - inter)


def _independent_ap(dets, gts, thr, use_07):
    """VOC-style AP of one class with axis-aligned IoU, written as a plain loop."""
    items = sorted(((s, i, k) for i, d in enumerate(dets) for k, s in enumerate(d['scores'])),
                   key=lambda x: -x[0])
    used = [np.zeros(len(g['boxes']), bool) for g in gts]
    npos = sum(len(g['boxes']) for g in gts)
    tps = []
    for _, i, k in items:
        g = gts[i]['boxes']
        ok = False
        if len(g):
            ious = _aabb_iou(dets[i]['boxes'][k:k + 1], g)[0]
            j = int(np.argmax(ious))
            if ious[j] >= thr and not used[i][j]:
                used[i][j] = ok = True
        tps.append(ok)
    tp = np.cumsum(tps)
    rec = tp / npos
    prec = tp / np.arange(1, len(tps) + 1)
    if use_07:
        return np.mean([max([p for p, r in zip(prec, rec) if r >= t] or [0]) for t in np.arange(11) / 10])
    area, prev_r = 0.0, 0.0
    for k in range(len(rec)):
        if rec[k] > prev_r:
            area += (rec[k] - prev_r) * prec[k:].max()
            prev_r = rec[k]
    return area


@pytest.mark.parametrize('use_07', [True, False])
def test_theta_zero_equals_axis_aligned_computation(use_07):
    rng = np.random.default_rng(0)
    gts, dets = [], []
    for _ in range(4):
        g = np.column_stack([rng.uniform(0, 200, (6, 2)), rng.uniform(10, 40, (6, 2)), np.zeros(6)])
        d = np.concatenate([g + np.column_stack([rng.normal(0, 4, (6, 4)), np.zeros(6)]),
                            np.column_stack([rng.uniform(0, 200, (3, 2)), rng.uniform(10, 40, (3, 2)),
                                             np.zeros(3)])])
        d[:, 2:4] = np.abs(d[:, 2:4])
        gts.append(dict(boxes=g, labels=np.zeros(6, int)))
        dets.append(dict(boxes=d, scores=rng.permutation(9) / 10 + rng.uniform(0, 0.01),
                         labels=np.zeros(9, int)))
    np.testing.assert_allclose(rotated_iou_matrix(dets[0]['boxes'], gts[0]['boxes']),
                               _aabb_iou(dets[0]['boxes'], gts[0]['boxes']), atol=1e-6)
    for thr in (0.5, 0.7):
        want = _independent_ap(dets, gts, thr, use_07)
        assert 0 < want < 1
        assert eval_rotated_map(dets, gts, iou_thr=thr, use_07_metric=use_07)['mAP'] == pytest.approx(
            want, abs=1e-9)


def test_polygon_iou_matches_shapely_and_rotated_iou():
    rng = np.random.default_rng(1)
    rb1 = np.column_stack([rng.uniform(0, 50, (7, 2)), rng.uniform(5, 30, (7, 2)), rng.uniform(-3, 3, 7)])
    rb2 = np.column_stack([rng.uniform(0, 50, (5, 2)), rng.uniform(5, 30, (5, 2)), rng.uniform(-3, 3, 5)])
    p1, p2 = _corners(rb1), _corners(rb2)
    got = polygon_iou(p1, p2)
    for i in range(len(p1)):
        for j in range(len(p2)):
            a, b = Polygon(p1[i].reshape(4, 2)), Polygon(p2[j].reshape(4, 2))
            inter = a.intersection(b).area
            assert got[i, j] == pytest.approx(inter / (a.area + b.area - inter), abs=1e-12)
    assert (got > 0).sum() >= 5  # the check covers overlapping pairs
    # the rotated-box op agrees with the polygons of the same boxes
    np.testing.assert_allclose(rotated_iou_matrix(rb1, rb2, 'rbox'), got, atol=1e-5)


def test_polygon_rule_for_invalid_and_degenerate_polygons():
    square = np.array([[0, 0, 10, 0, 10, 10, 0, 10]], float)
    bowtie = np.array([[0, 0, 10, 10, 10, 0, 0, 10]], float)  # self-intersecting
    # made valid: the two triangles of the bow-tie (area 50 of the square's 100)
    assert polygon_iou(bowtie, square)[0, 0] == pytest.approx(0.5)
    assert polygon_iou(bowtie, bowtie)[0, 0] == pytest.approx(1.0)
    assert shapely.area(shapely.make_valid(Polygon(bowtie[0].reshape(4, 2)))) == pytest.approx(50)
    line = np.array([[0, 0, 10, 0, 10, 0, 0, 0]], float)  # zero area
    assert polygon_iou(line, square)[0, 0] == 0.0
    assert polygon_iou(line, line)[0, 0] == 0.0


def test_average_precision_edge_cases():
    assert average_precision([], []) == 0.0
    assert average_precision([1.0], [1.0], True) == 1.0
    assert average_precision([1.0], [1.0], False) == 1.0
    assert average_precision([0.5], [1.0], False) == 0.5
    with pytest.raises(ValueError, match='same shape'):
        average_precision([0.5, 1], [1.0])


def test_bad_input_raises():
    dets, gts = _hand_case()
    bad = [dict(dets[0], boxes=dets[0]['boxes'].copy())]
    bad[0]['boxes'][1, 2] = np.nan
    with pytest.raises(ValueError, match=r'det_results\[0\]\["boxes"\].*finite'):
        eval_rotated_map(bad, gts)
    with pytest.raises(ValueError, match='scores.*finite'):
        eval_rotated_map([dict(dets[0], scores=np.array([0.9, np.nan, 0.7, 0.6]))], gts)
    with pytest.raises(ValueError, match=r'shape \(K, 5\)'):
        eval_rotated_map([dict(dets[0], boxes=dets[0]['boxes'][:, :4])], gts)
    with pytest.raises(ValueError, match=r'shape \(K, 8\)'):
        eval_rotated_map([dict(dets[0], boxes=dets[0]['boxes'][:, :4])], gts, box_type='poly')
    with pytest.raises(ValueError, match='one entry per image'):
        eval_rotated_map(dets, gts + gts)
    with pytest.raises(ValueError, match='one score per box'):
        eval_rotated_map([dict(dets[0], scores=np.ones(3))], gts)
    with pytest.raises(ValueError, match='class indices'):
        eval_rotated_map(dets, gts, classes=[])
    with pytest.raises(ValueError, match='not in classes'):
        eval_rotated_map([dict(dets[0], labels=['car'] * 4)], gts, classes=['ship'])
    with pytest.raises(ValueError, match='iou_thr'):
        eval_rotated_map(dets, gts, iou_thr=0.0)
    with pytest.raises(ValueError, match='box_type'):
        eval_rotated_map(dets, gts, box_type='hbox')
    with pytest.raises(ValueError, match='negative'):
        eval_rotated_map([dict(dets[0], boxes=dets[0]['boxes'] * np.array([1, 1, -1, 1, 1]))], gts)


# ---------------------------------------------------------------- real DOTA labels
def _dota():
    from vision_sparse.datasets.formats.dota import load_dota_txt

    files = sorted(DOTA_LABELS.glob('*.txt')) if DOTA_LABELS else []
    if not files:
        pytest.skip('DOTA sample labels not found')
    return [load_dota_txt(f) for f in files]


@pytest.mark.parametrize('box_type', ['rbox', 'poly'])
def test_dota_ground_truth_as_detections_scores_one(box_type):
    labels = _dota()
    key = 'rboxes' if box_type == 'rbox' else 'polys'
    classes = sorted({c for lab in labels for c in lab['labels']})
    gts = [dict(boxes=lab[key], labels=lab['labels'], difficult=lab['difficult']) for lab in labels]
    dets = [dict(boxes=lab[key], labels=lab['labels'], scores=np.ones(len(lab['labels'])))
            for lab in labels]
    assert sum(len(g['labels']) for g in gts) > 100 and any(g['difficult'].any() for g in gts)
    for use_07 in (True, False):
        res = eval_rotated_map(dets, gts, box_type=box_type, classes=classes, use_07_metric=use_07)
        assert res['mAP'] == pytest.approx(1.0)
    # jittered boxes: centres moved by ~3 px, sizes by ~15 %, angles by ~10 degrees -> lower mAP
    rng = np.random.default_rng(0)
    jittered, jittered_rb = [], []
    for lab in labels:
        rb = lab['rboxes'].astype(np.float64).copy()
        rb[:, :2] += rng.normal(0, 3, (len(rb), 2))
        rb[:, 2:4] *= rng.uniform(0.85, 1.15, (len(rb), 2))
        rb[:, 4] += rng.normal(0, np.deg2rad(10), len(rb))
        jittered_rb.append(dict(boxes=rb))
        jittered.append(dict(boxes=rb if box_type == 'rbox' else _corners(rb), labels=lab['labels'],
                             scores=rng.uniform(0.5, 1, len(rb))))
    res = eval_rotated_map(jittered, gts, box_type=box_type, classes=classes)
    assert 0.1 < res['mAP'] < 0.95
    if box_type == 'poly':  # the detector's rotated boxes scored against the quadrilaterals
        as_rbox = [dict(j, boxes=r['boxes']) for r, j in zip(jittered_rb, jittered)]
        assert eval_rotated_map(as_rbox, gts, box_type='poly', classes=classes)['mAP'] == pytest.approx(
            res['mAP'], abs=1e-9)


def test_duplicate_is_not_reassigned_to_the_next_ground_truth():
    # DOTA devkit rule: a detection takes its best ground truth (matched or not). d2 overlaps A
    # (IoU 8.5/11.5) more than B (IoU 7.5/12.5 = 0.6 >= 0.5), A is already taken by d1: d2 is a FP.
    gts = [dict(boxes=np.array([_box(10, 10), _box(14, 10)]), labels=np.zeros(2, int))]
    dets = [dict(boxes=np.array([_box(10, 10), _box(11.5, 10)]), scores=np.array([0.9, 0.8]),
                 labels=np.zeros(2, int))]
    iou = rotated_iou_matrix(dets[0]['boxes'], gts[0]['boxes'])
    np.testing.assert_allclose(iou[1], [8.5 / 11.5, 0.6], atol=1e-6)
    c = eval_rotated_map(dets, gts)['per_class'][0]
    np.testing.assert_allclose(c['recall'], [1 / 2, 1 / 2])
    np.testing.assert_allclose(c['precision'], [1, 1 / 2])


def test_detection_on_image_with_only_difficult_ground_truth_is_ignored():
    # (mmrotate 1.x's eval_rbbox_map drops the ignored boxes of such an image and counts
    # the detection as a false positive; the DOTA devkit ignores it, as here.)
    gts = [dict(boxes=np.array([_box(10, 10)]), labels=[0], difficult=[False]),
           dict(boxes=np.array([_box(10, 10)]), labels=[0], difficult=[True])]
    dets = [dict(boxes=np.array([_box(10, 10)]), scores=[0.5], labels=[0]),
            dict(boxes=np.array([_box(10, 10)]), scores=[0.9], labels=[0])]
    c = eval_rotated_map(dets, gts)['per_class'][0]
    assert c['num_gts'] == 1 and c['num_dets'] == 2 and c['ap'] == 1.0
    np.testing.assert_allclose(c['precision'], [1.0])
