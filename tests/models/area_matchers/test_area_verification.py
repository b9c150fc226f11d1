"""Verified area pairs on exact ground truth: pairs whose boxes follow a known
homography are kept, a planted wrong pair is dropped by the full-image matches,
a child matched outside its matched parent is dropped by the area-graph check,
and the ground-truth test (homography, depth + pose, pose only) is right."""
import numpy as np
import pytest

from vision_sparse.evaluation.functional.area_metrics import warp_box_homography
from vision_sparse.models.area_matchers import (area_pair_correct, area_pairs_correct,
                                                area_verification_metrics,
                                                verify_area_pairs)
from vision_sparse.testing.synthetic_pairs import random_homography

H = random_homography((640, 480), seed=3, max_rotation_deg=10, scale_range=(0.9, 1.1),
                      perspective=0.05, max_translation=0.05)


def _warp(p):
    q = np.concatenate([p, np.ones((len(p), 1))], 1) @ H.T
    return q[:, :2] / q[:, 2:]


def _setup():
    rng = np.random.default_rng(0)
    k0 = rng.uniform([0, 0], [639, 479], (400, 2))
    k1 = _warp(k0)
    ok = (k1[:, 0] >= 0) & (k1[:, 0] < 640) & (k1[:, 1] >= 0) & (k1[:, 1] < 480)
    k0, k1 = k0[ok], k1[ok]
    src = np.array([[40, 40, 240, 200], [350, 60, 600, 260], [100, 260, 330, 450],
                    [380, 280, 600, 440]], float)
    tgt = np.array([warp_box_homography(b, H) for b in src])
    # planted wrong pair: the first source area matched to the last target area
    # (a repetitive texture elsewhere in the image)
    b0 = np.concatenate([src, src[:1]])
    b1 = np.concatenate([tgt, tgt[3:]])
    return k0, k1, b0, b1


def test_full_image_evidence_keeps_true_pairs_and_drops_the_planted_one():
    k0, k1, b0, b1 = _setup()
    v = verify_area_pairs(b0, b1, k0, k1)
    assert v['kept'].tolist() == [True] * 4 + [False]
    assert v['num_kept'] == 4 and v['num_total'] == 5
    assert (v['inside_share'][:4] > 0.8).all() and v['inside_share'][4] < 0.05
    assert (v['box_agreement'][:4] > 0.9).all()
    assert 'leave the target' in v['reason'][4]
    gt = area_pairs_correct(b0, b1, H_0to1=H)
    assert gt.tolist() == [True] * 4 + [False]
    m = area_verification_metrics(v['kept'], gt)
    assert m['area_precision_kept'] == 1.0 and m['area_recall'] == 1.0
    assert m['wrong_dropped'] == 1.0 and m['area_precision_all'] == pytest.approx(0.8)


def test_box_transform_disagreement_and_parent_consistency():
    k0, k1, b0, b1 = _setup()
    # a target box that holds the right content rotated by 180 degrees (point
    # reflection of its matches about the box centre): the box transform disagrees
    flip = k1.copy()
    inside = (k0[:, 0] >= b0[0, 0]) & (k0[:, 0] <= b0[0, 2]) & (k0[:, 1] >= b0[0, 1]) \
        & (k0[:, 1] <= b0[0, 3])
    flip[inside] = b1[0, :2] + b1[0, 2:] - flip[inside]
    v = verify_area_pairs(b0[:1], b1[:1], k0, flip, expand=1.0)
    assert not v['kept'][0] and 'box transform' in v['reason'][0]
    assert v['inside_share'][0] > 0.9 and v['box_agreement'][0] < 0.3
    # no full-image matches at all: the area-graph check decides; a child pair
    # inside parent 0 but matched into the target of parent 3 is dropped
    child0 = np.array([60, 60, 140, 140.0])
    good_child1 = warp_box_homography(child0, H)
    bad_child1 = good_child1 + [330, 250, 330, 250]
    b0c = np.stack([b0[0], b0[3], child0, child0])
    b1c = np.stack([b1[0], b1[3], good_child1, bad_child1])
    v = verify_area_pairs(b0c, b1c)
    assert v['has_parent'].tolist() == [False, False, True, True]
    assert v['parent_consistent'].tolist() == [True, True, True, False]
    assert v['kept'].tolist() == [True, True, True, False]
    with pytest.raises(ValueError, match='same length'):
        verify_area_pairs(b0, b1[:2])
    with pytest.raises(ValueError, match='unknown'):
        verify_area_pairs(b0, b1, k0, k1, min_share=0.3)
    with pytest.raises(ValueError, match='full_kpts'):
        verify_area_pairs(b0, b1, k0, k1[:5])


def test_ground_truth_with_depth_and_pose_only():
    # fronto-parallel plane at 4 m, camera 1 moved 0.5 m along x
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    T = np.eye(4)
    T[0, 3] = -0.5  # X1 = X0 - 0.5: points move left by 500 * 0.5 / 4 = 62.5 px
    depth = np.full((480, 640), 4.0)
    src = np.array([200, 150, 300, 250.0])
    right = src - [62.5, 0, 62.5, 0]
    wrong = src + [200, 0, 200, 0]
    r = area_pair_correct(src, right, depth0=depth, K0=K, K1=K, T_0to1=T)
    assert r['correct'] and r['mode'] == 'depth' and r['iou'] == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(r['centre1'], [187.5, 200.0])
    assert not area_pair_correct(src, wrong, depth0=depth, K0=K, K1=K, T_0to1=T)['correct']
    # pose only: epipolar lines are image rows; a box on another row band fails
    assert area_pair_correct(src, wrong, K0=K, K1=K, T_0to1=T)['correct']  # same rows
    below = src + [0, 200, 0, 200]
    e = area_pair_correct(src, below, K0=K, K1=K, T_0to1=T)
    assert e['mode'] == 'epipolar' and not e['correct']
    with pytest.raises(ValueError, match='H_0to1'):
        area_pair_correct(src, right)
