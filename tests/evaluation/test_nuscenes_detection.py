"""nuScenes detection metric: hand-computed layouts and a cross-check against the devkit."""
import math

import numpy as np
import pytest

from vision_sparse.datasets.formats.nuscenes_info import NUSCENES_CLASSES
from vision_sparse.evaluation.functional import (NUSCENES_ATTRIBUTES, NUSCENES_CLASS_RANGE, TP_METRICS,
                                                 accumulate_detections, default_attributes, detection_ap,
                                                 detection_tp_error, nuscenes_detection_eval)

CLASSES = list(NUSCENES_CLASSES)
CAR, PED, CONE, BARRIER = (CLASSES.index(n) for n in ('car', 'pedestrian', 'traffic_cone', 'barrier'))


def box(x, y, yaw=0.0, lwh=(4.0, 2.0, 1.5), vel=(0.0, 0.0)):
    return [x, y, 0.0, *lwh, yaw, *vel]


def sample(boxes, labels, scores=None, attrs=None):
    d = dict(bboxes_3d=np.asarray(boxes, np.float64).reshape(-1, 9), labels_3d=np.asarray(labels, np.int64))
    if scores is not None:
        d['scores_3d'] = np.asarray(scores, np.float64)
    if attrs is not None:
        d['attr_labels'] = np.asarray(attrs, np.int64)
    return d


def test_single_perfect_match():
    gt = [sample([box(10, 5)], [CAR])]
    pred = [sample([box(10, 5)], [CAR], [0.9])]
    res = nuscenes_detection_eval(gt, pred, CLASSES)
    car = res['per_class']['car']
    # Precision 1 at every recall point: AP = (1 - 0.1) / (1 - 0.1) = 1 at all thresholds.
    for d in (0.5, 1, 2, 4):
        assert car[f'AP@{d:g}'] == pytest.approx(1.0)
    assert car['AP'] == pytest.approx(1.0)
    for m in ('trans_err', 'scale_err', 'orient_err', 'vel_err'):
        assert car[m] == pytest.approx(0.0, abs=1e-12)
    # The predicted default attribute (vehicle.parked) vs GT without attributes: all NaN -> 1.
    assert car['attr_err'] == 1.0
    # The 9 other classes have no GT: AP 0 and TP errors 1 (NaN for cone / barrier rules).
    assert res['mAP'] == pytest.approx(0.1)
    assert math.isnan(res['per_class']['traffic_cone']['orient_err'])
    assert math.isnan(res['per_class']['barrier']['vel_err'])
    assert res['per_class']['barrier']['orient_err'] == 1.0
    # mATE / mASE = mean of car 0 and 9 ones = 0.9; mAOE over 9 classes (cone NaN): 8/9;
    # mAVE / mAAE over 8 classes: 7/8 and 1.
    assert res['tp_errors']['trans_err'] == pytest.approx(0.9)
    assert res['tp_errors']['orient_err'] == pytest.approx(8 / 9)
    assert res['tp_errors']['vel_err'] == pytest.approx(7 / 8)
    assert res['tp_errors']['attr_err'] == pytest.approx(1.0)
    expected = (5 * 0.1 + 0.1 + 0.1 + 1 / 9 + 1 / 8 + 0.0) / 10
    assert res['NDS'] == pytest.approx(expected)


def test_tp_fp_fn_by_hand():
    # Two GT cars; predictions: 0.9 at 0.3 m from GT0 (TP everywhere), 0.8 far away (FP),
    # 0.7 at 1.5 m from GT1 (TP at 2 and 4 m only).
    gt = [sample([box(0, 10), box(20, 10)], [CAR, CAR])]
    pred = [sample([box(0.3, 10, yaw=0.2, lwh=(4, 2, 0.75), vel=(1, 0)), box(-30, -30),
                    box(21.5, 10, yaw=-0.4, vel=(0, 2))], [CAR] * 3, [0.9, 0.8, 0.7])]
    res = nuscenes_detection_eval(gt, pred, ['car'], return_curves=True)
    car = res['per_class']['car']
    # d = 0.5 / 1: ranks TP, FP, FP -> recall 0.5 throughout, precision 1, 1/2, 1/3. np.interp
    # gives precision 1 below recall 0.5 and the last value (1/3) at 0.5 itself, 0 above:
    # AP = (39 * (1 - 0.1) + (1/3 - 0.1)) / 90 / (1 - 0.1).
    assert car['AP@0.5'] == pytest.approx((39 * 0.9 + (1 / 3 - 0.1)) / 90 / 0.9)
    assert car['AP@1'] == pytest.approx(car['AP@0.5'])
    # d = 2 / 4: ranks TP, FP, TP -> (recall, precision) = (0.5, 1), (0.5, 1/2), (1, 2/3).
    r = np.linspace(0, 1, 101)
    prec = np.interp(r, [0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3], right=0)
    ap = np.maximum(prec[11:] - 0.1, 0).mean() / 0.9
    assert car['AP@2'] == pytest.approx(ap)
    assert car['AP@4'] == pytest.approx(ap)
    # TP errors at 2 m: running means at the two matches: ATE 0.3 then (0.3 + 1.5) / 2 = 0.9;
    # confidence at recall r: linear between 0.9 (r=0.5) and 0.7 (r=1), so error curve is the
    # running mean interpolated on confidence: 0.3 + (0.9 - 0.3) * (0.9 - c) / 0.2.
    conf = np.interp(r, [0.5, 0.5, 1.0], [0.9, 0.8, 0.7], right=0)
    ate_curve = np.interp(conf[::-1], [0.7, 0.9], [0.9, 0.3])[::-1]
    assert car['trans_err'] == pytest.approx(ate_curve[11:101].mean())
    cur = res['curves'][('car', 2.0)]
    np.testing.assert_allclose(cur['trans_err'], ate_curve, atol=1e-12)
    # ASE: first match IoU = 0.5 (half height) -> 0.5; second 0 -> running 0.5, 0.25.
    ase_curve = np.interp(conf[::-1], [0.7, 0.9], [0.25, 0.5])[::-1]
    assert car['scale_err'] == pytest.approx(ase_curve[11:].mean())
    # AOE: 0.2 then 0.4 -> running 0.2, 0.3; AVE: 1 then sqrt(4) = 2 -> 1, 1.5.
    aoe_curve = np.interp(conf[::-1], [0.7, 0.9], [0.3, 0.2])[::-1]
    ave_curve = np.interp(conf[::-1], [0.7, 0.9], [1.5, 1.0])[::-1]
    assert car['orient_err'] == pytest.approx(aoe_curve[11:].mean())
    assert car['vel_err'] == pytest.approx(ave_curve[11:].mean())
    assert car['num_gts'] == 2 and car['num_preds'] == 3


def test_matching_is_greedy_by_score_and_one_to_one():
    # Both predictions are nearest to GT0; the higher score takes it, the other falls to GT1 (1.8 m).
    gt = [sample([box(0, 0), box(3, 0)], [CAR, CAR])]
    pred = [sample([box(1.2, 0), box(0.1, 0)], [CAR, CAR], [0.5, 0.9])]
    cur = accumulate_detections([gt[0]['bboxes_3d'].astype(float)], [pred[0]['bboxes_3d'].astype(float)],
                                [np.array([0.5, 0.9])], 2.0)
    assert cur['num_tp'] == 2
    # ATE running means: 0.1, (0.1 + 1.8) / 2.
    assert cur['trans_err'][0] == pytest.approx(0.1, abs=1e-12)
    assert cur['trans_err'][100] == pytest.approx(0.95, abs=1e-12)
    # At 1 m the second prediction no longer matches.
    cur1 = accumulate_detections([gt[0]['bboxes_3d'].astype(float)], [pred[0]['bboxes_3d'].astype(float)],
                                 [np.array([0.5, 0.9])], 1.0)
    assert cur1['num_tp'] == 1
    # The matching threshold is strict: a distance of exactly d is no match.
    cur2 = accumulate_detections([np.array([box(0, 0)], float)], [np.array([box(2.0, 0)], float)],
                                 [np.array([1.0])], 2.0)
    assert cur2['num_tp'] == 0


def test_no_predictions_no_gt_and_out_of_range():
    empty_gt = [sample(np.zeros((0, 9)), [])]
    empty_pred = [sample(np.zeros((0, 9)), [], [])]
    res = nuscenes_detection_eval(empty_gt, empty_pred, CLASSES)
    assert res['mAP'] == 0.0
    assert res['tp_errors']['trans_err'] == 1.0
    assert res['NDS'] == pytest.approx(0.0)
    assert nuscenes_detection_eval([], [], CLASSES)['mAP'] == 0.0
    # A perfect car at 55 m is outside the 50 m car range (measured from the origin): ignored.
    res = nuscenes_detection_eval([sample([box(55, 0)], [CAR])], [sample([box(55, 0)], [CAR], [1.0])], CLASSES)
    assert res['per_class']['car']['num_gts'] == 0 and res['per_class']['car']['AP'] == 0.0
    res = nuscenes_detection_eval([sample([box(55, 0)], [CAR])], [sample([box(55, 0)], [CAR], [1.0])], CLASSES,
                                  class_range=None)
    assert res['per_class']['car']['AP'] == pytest.approx(1.0)


def test_barrier_half_period_and_attributes():
    # A barrier predicted backwards is a perfect orientation (period pi); a car is not.
    gt = [sample([box(5, 0, yaw=0.1), box(0, 5, yaw=0.1)], [BARRIER, CAR])]
    pred = [sample([box(5, 0, yaw=0.1 + math.pi), box(0, 5, yaw=0.1 + math.pi)], [BARRIER, CAR], [0.9, 0.9])]
    res = nuscenes_detection_eval(gt, pred, CLASSES)
    assert res['per_class']['barrier']['orient_err'] == pytest.approx(0.0, abs=1e-12)
    assert res['per_class']['car']['orient_err'] == pytest.approx(math.pi)
    # Attributes: two pedestrians, GT standing / moving, predicted standing / standing;
    # running accuracy errors 0, 0.5 (scores 0.9, 0.8).
    a = NUSCENES_ATTRIBUTES.index
    gt = [sample([box(0, 3), box(0, -3)], [PED, PED], attrs=[a('pedestrian.standing'), a('pedestrian.moving')])]
    pred = [sample([box(0, 3), box(0, -3)], [PED, PED], [0.9, 0.8],
                   attrs=[a('pedestrian.standing'), a('pedestrian.standing')])]
    res = nuscenes_detection_eval(gt, pred, CLASSES, return_curves=True)
    cur = res['curves'][('pedestrian', 2.0)]
    assert cur['attr_err'][50] == pytest.approx(0.0) and cur['attr_err'][100] == pytest.approx(0.5)
    # GT without attribute (-1 or 'None') counts as undefined, not as an error.
    gt[0]['attr_labels'] = np.array([a('pedestrian.standing'), a('None')])
    res = nuscenes_detection_eval(gt, pred, CLASSES)
    assert res['per_class']['pedestrian']['attr_err'] == pytest.approx(0.0)


def test_default_attributes_follow_mmdet3d_rule():
    names = ['car', 'pedestrian', 'bus', 'bicycle', 'barrier', 'bus', 'dog']
    vel = np.array([[1, 0], [0, 0.1], [0.1, 0], [0, 0.3], [5, 5], [0.3, 0], [np.nan, np.nan]])
    out = default_attributes(np.arange(7), vel, names)
    expected = ['vehicle.moving', 'pedestrian.standing', 'vehicle.stopped', 'cycle.with_rider', None,
                'vehicle.moving', None]
    assert [NUSCENES_ATTRIBUTES[i] if i >= 0 else None for i in out] == expected


def test_max_boxes_per_sample_keeps_highest_scores():
    gt = [sample([box(0, 5)], [CAR])]
    boxes = [box(30, 30)] * 3 + [box(0, 5)]
    pred = [sample(boxes, [CAR] * 4, [0.5, 0.6, 0.7, 0.1])]
    assert nuscenes_detection_eval(gt, pred, ['car'], max_boxes_per_sample=3)['per_class']['car']['num_preds'] == 3
    res = nuscenes_detection_eval(gt, pred, ['car'], max_boxes_per_sample=None)
    assert res['per_class']['car']['num_preds'] == 4


def test_calc_functions_edge_cases():
    cur = accumulate_detections([np.zeros((0, 9))], [np.array([box(0, 0)], float)], [np.array([0.5])], 2.0)
    assert detection_ap(cur) == 0.0
    assert detection_tp_error(cur, 'trans_err') == 1.0
    with pytest.raises(ValueError, match='min_precision'):
        detection_ap(cur, min_precision=1.0)
    with pytest.raises(ValueError, match='metric'):
        detection_tp_error(cur, 'iou')


@pytest.mark.parametrize('gts, preds, match', [
    ([sample(np.zeros((1, 9)), [0])], [sample(np.zeros((0, 9)), [], [])], 'sizes'),
    ([dict(bboxes_3d=np.zeros((2, 8)), labels_3d=np.zeros(2))], [sample(np.zeros((0, 9)), [], [])],
     r'gts\[0\].bboxes_3d must be \(M, 9\)'),
    ([sample([box(0, 0)], [0])], [sample([box(np.nan, 0)], [0], [0.5])], r'preds\[0\].bboxes_3d has NaN'),
    ([sample([box(0, 0)], [0])], [sample([box(0, 0)], [0], [0.5, 0.1])], r'preds\[0\].scores_3d'),
    ([sample([box(0, 0)], [0])], [sample([box(0, 0)], [0], [np.nan])], r'preds\[0\].scores_3d has NaN'),
    ([sample([box(0, 0)], [0])], [dict(bboxes_3d=np.zeros((0, 9)), labels_3d=np.zeros(0))], 'scores_3d'),
    ([sample([box(0, 0)], [12])], [sample(np.zeros((0, 9)), [], [])], r'gts\[0\].labels_3d'),
    ([sample([box(0, 0)], [0])], [sample([box(0, 0)], [-1], [0.3])], r'preds\[0\].labels_3d'),
    ([sample([box(0, 0)], [0], attrs=[0, 1])], [sample(np.zeros((0, 9)), [], [])], 'attr_labels'),
    ([sample([box(0, 0)], [0])], [], 'one entry per sample'),
])
def test_bad_input_names_the_field(gts, preds, match):
    with pytest.raises(ValueError, match=match):
        nuscenes_detection_eval(gts, preds, CLASSES)


def test_seven_column_boxes_have_unknown_velocity():
    gt = [dict(bboxes_3d=np.array([[0, 5, 0, 4, 2, 1.5, 0]]), labels_3d=np.array([CAR]))]
    pred = [dict(bboxes_3d=np.array([[0, 5, 0, 4, 2, 1.5, 0]]), labels_3d=np.array([CAR]), scores_3d=[0.5])]
    res = nuscenes_detection_eval(gt, pred, ['car'])
    assert res['per_class']['car']['AP'] == pytest.approx(1.0)
    assert res['per_class']['car']['vel_err'] == 1.0  # all NaN -> 1, as the devkit
    assert res['per_class']['car']['trans_err'] == 0.0


# ---------------------------------------------------------------------------- devkit cross-check
def _random_scene(rng, num_samples=6):
    gts, preds = [], []
    for _ in range(num_samples):
        g = int(rng.integers(0, 25))
        labels = rng.integers(0, len(CLASSES), g)
        xy = rng.uniform(-60, 60, (g, 2))
        gb = np.concatenate([xy, rng.uniform(-2, 1, (g, 1)), rng.uniform(0.3, 6, (g, 3)),
                             rng.uniform(-2 * np.pi, 2 * np.pi, (g, 1)), rng.normal(0, 3, (g, 2))], axis=1)
        gb[rng.random(g) < 0.15, 7:9] = np.nan
        gattr = rng.integers(-1, len(NUSCENES_ATTRIBUTES), g)
        # Prediction copies of the GT with noise, plus false positives.
        copy = rng.random(g) < 0.8
        pb = gb[copy].copy()
        n = len(pb)
        pb[:, :2] += rng.normal(0, 1.2, (n, 2))
        pb[:, 3:6] *= rng.uniform(0.7, 1.3, (n, 3))
        pb[:, 6] += rng.normal(0, 0.5, n)
        pb[:, 7:9] = np.nan_to_num(pb[:, 7:9]) + rng.normal(0, 0.5, (n, 2))
        plabels = labels[copy].copy()
        nfp = int(rng.integers(0, 15))
        fp = np.concatenate([rng.uniform(-60, 60, (nfp, 2)), rng.uniform(-2, 1, (nfp, 1)),
                             rng.uniform(0.3, 6, (nfp, 3)), rng.uniform(-np.pi, np.pi, (nfp, 1)),
                             rng.normal(0, 2, (nfp, 2))], axis=1)
        pb = np.concatenate([pb, fp])
        plabels = np.concatenate([plabels, rng.integers(0, len(CLASSES), nfp)])
        scores = np.round(rng.random(len(pb)), 2)  # rounded: ties in the ranking
        pattr = rng.integers(-1, len(NUSCENES_ATTRIBUTES), len(pb))
        gts.append(dict(bboxes_3d=gb, labels_3d=labels, attr_labels=gattr))
        preds.append(dict(bboxes_3d=pb, labels_3d=plabels, scores_3d=scores, attr_labels=pattr))
    return gts, preds


def _to_devkit(samples, is_pred):
    from nuscenes.eval.common.data_classes import EvalBoxes
    from nuscenes.eval.detection.data_classes import DetectionBox
    from pyquaternion import Quaternion
    out = EvalBoxes()
    for i, s in enumerate(samples):
        boxes = []
        for k, b in enumerate(s['bboxes_3d']):
            name = CLASSES[int(s['labels_3d'][k])]
            if np.hypot(b[0], b[1]) >= NUSCENES_CLASS_RANGE[name]:  # the devkit's range filter (ego = origin)
                continue
            a = int(s['attr_labels'][k])
            attr = '' if a < 0 or NUSCENES_ATTRIBUTES[a] == 'None' else NUSCENES_ATTRIBUTES[a]
            boxes.append(DetectionBox(
                sample_token=f's{i}', translation=tuple(b[:3]), size=(b[4], b[3], b[5]),
                rotation=tuple(Quaternion(axis=[0, 0, 1], radians=b[6]).elements), velocity=tuple(b[7:9]),
                ego_translation=tuple(b[:3]), detection_name=name,
                detection_score=float(s['scores_3d'][k]) if is_pred else -1.0, attribute_name=attr))
        out.add_boxes(f's{i}', boxes)
    return out


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_nuscenes_devkit(seed):
    algo = pytest.importorskip(
        'nuscenes.eval.detection.algo',
        reason='nuscenes-devkit not installed: pip install --no-deps nuscenes-devkit==1.2.0 pyquaternion '
               'scikit-learn joblib threadpoolctl cloudpickle cachetools')
    from nuscenes.eval.common.utils import center_distance
    from nuscenes.eval.detection.data_classes import DetectionConfig, DetectionMetrics
    rng = np.random.default_rng(seed)
    gts, preds = _random_scene(rng)
    ours = nuscenes_detection_eval(gts, preds, CLASSES, fill_attributes=False, return_curves=True)
    gt_eb, pred_eb = _to_devkit(gts, False), _to_devkit(preds, True)
    cfg = DetectionConfig(class_range=dict(NUSCENES_CLASS_RANGE), dist_fcn='center_distance',
                          dist_ths=[0.5, 1.0, 2.0, 4.0], dist_th_tp=2.0, min_recall=0.1, min_precision=0.1,
                          max_boxes_per_sample=500, mean_ap_weight=5)
    metrics = DetectionMetrics(cfg)
    checked_tp = 0
    for name in CLASSES:
        for d in cfg.dist_ths:
            md = algo.accumulate(gt_eb, pred_eb, name, center_distance, d)
            cur = ours['curves'][(name, d)]
            for key in ('recall', 'precision', 'confidence') + TP_METRICS:
                np.testing.assert_allclose(cur[key], getattr(md, key), rtol=0, atol=1e-9, err_msg=f'{name}@{d} {key}')
            ap = algo.calc_ap(md, cfg.min_recall, cfg.min_precision)
            assert ours['per_class'][name][f'AP@{d:g}'] == pytest.approx(ap, abs=1e-9)
            metrics.add_label_ap(name, d, ap)
        md = algo.accumulate(gt_eb, pred_eb, name, center_distance, 2.0)
        for m in TP_METRICS:
            if (name == 'traffic_cone' and m in ('attr_err', 'vel_err', 'orient_err')) or \
                    (name == 'barrier' and m in ('attr_err', 'vel_err')):
                tp = np.nan
                assert math.isnan(ours['per_class'][name][m])
            else:
                tp = algo.calc_tp(md, cfg.min_recall, m)
                assert ours['per_class'][name][m] == pytest.approx(tp, abs=1e-9)
                checked_tp += tp != 1.0
            metrics.add_label_tp(name, m, tp)
    assert checked_tp > 10  # the random scene really exercises the TP errors
    assert ours['mAP'] == pytest.approx(metrics.mean_ap, abs=1e-9)
    assert ours['NDS'] == pytest.approx(metrics.nd_score, abs=1e-9)
    for m in TP_METRICS:
        assert ours['tp_errors'][m] == pytest.approx(metrics.tp_errors[m], abs=1e-9)
