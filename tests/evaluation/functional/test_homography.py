"""Homography estimation, corner error and accuracy with exact ground truth."""
import math

import numpy as np
import pytest

from vision_sparse.evaluation.functional import (estimate_homography, homography_accuracy,
                                                 homography_corner_error,
                                                 homography_reprojection_error,
                                                 warp_points_homography)
from vision_sparse.testing.synthetic_pairs import random_homography


def _matches(H, n=200, outliers=0.0, noise=0.0, seed=0, size=(640, 480)):
    rng = np.random.default_rng(seed)
    k0 = rng.uniform([0, 0], size, (n, 2))
    k1 = warp_points_homography(H, k0) + rng.normal(0, noise, (n, 2))
    bad = rng.random(n) < outliers
    k1[bad] = rng.uniform([0, 0], size, (int(bad.sum()), 2))
    return k0, k1, bad


@pytest.mark.parametrize('method', ['magsac', 'ransac'])
def test_homography_recovered(method):
    H = random_homography((640, 480), seed=3, max_rotation_deg=20, perspective=0.1)
    k0, k1, bad = _matches(H, outliers=0.4, noise=0.5, seed=1)
    est = estimate_homography(k0, k1, thresh_px=3.0, method=method)
    assert est is not None and est['H'][2, 2] == pytest.approx(1.0)
    assert homography_corner_error(est['H'], H, (640, 480)) < 1.5
    assert np.mean(est['inliers'][bad]) < 0.05 and np.mean(est['inliers'][~bad]) > 0.9


def test_corner_error_exact_values():
    H = np.eye(3)
    shifted = np.array([[1, 0, 3.0], [0, 1, 4.0], [0, 0, 1]])
    assert homography_corner_error(shifted, H, (100, 50)) == pytest.approx(5.0)
    assert homography_corner_error(H, H, (100, 50)) == 0.0
    assert homography_corner_error(None, H, (100, 50)) == math.inf
    # scale about the origin by 2: corners (0,0),(99,0),(99,49),(0,49) move by 0, 99, |(99,49)|, 49
    scale = np.diag([2.0, 2.0, 1.0])
    expect = (0 + 99 + math.hypot(99, 49) + 49) / 4
    assert homography_corner_error(scale, H, (100, 50)) == pytest.approx(expect)


def test_accuracy_and_degenerate_cases():
    assert homography_accuracy([1.0, 4.0, 7.0, math.inf], (3, 5, 10)) == [0.25, 0.5, 0.75]
    assert homography_accuracy([], (3,)) == [0.0]
    assert estimate_homography(np.zeros((3, 2)), np.zeros((3, 2))) is None
    same = np.tile([[5.0, 5.0]], (20, 1))
    assert estimate_homography(same, same) is None
    with pytest.raises(ValueError, match='kpts1'):
        estimate_homography(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match='H_gt'):
        homography_corner_error(np.eye(3), np.eye(2), (10, 10))


def test_reprojection_error():
    H = random_homography((320, 240), seed=0)
    k0, k1, _ = _matches(H, n=10, size=(320, 240))
    np.testing.assert_allclose(homography_reprojection_error(k0, k1, H), 0, atol=1e-9)
