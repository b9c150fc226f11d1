"""Relative pose estimation and pose AUC against exact synthetic ground truth."""
import math

import numpy as np
import pytest

from vision_sparse.evaluation.functional import (epipolar_precision, error_auc,
                                                 estimate_relative_pose, pose_auc, pose_error,
                                                 relative_pose_error, symmetric_epipolar_distance)
from vision_sparse.testing.synthetic_pairs import make_two_view_scene


@pytest.mark.parametrize('method', ['magsac', 'ransac'])
@pytest.mark.parametrize('seed, rot, noise, outliers', [
    (0, 5.0, 0.0, 0.0), (1, 15.0, 0.3, 0.0), (2, 25.0, 0.5, 0.3), (3, 10.0, 0.3, 0.4)])
def test_pose_recovered_within_one_degree(method, seed, rot, noise, outliers):
    s = make_two_view_scene(300, rotation_deg=rot, translation=(0.6, -0.1, 0.2), noise_px=noise,
                            outlier_ratio=outliers, seed=seed)
    est = estimate_relative_pose(s['kpts0'], s['kpts1'], s['K0'], s['K1'], thresh_px=0.5,
                                 method=method)
    assert est is not None
    err_R, err_t = relative_pose_error(s['T_0to1'], est['R'], est['t'])
    assert err_R < 1.0 and err_t < 1.0
    assert abs(np.linalg.norm(est['t']) - 1) < 1e-9
    assert est['inliers'].shape == (300,) and est['inliers'].dtype == bool
    # RANSAC rejects (almost) every outlier
    if outliers:
        assert np.mean(est['inliers'][s['is_outlier']]) < 0.05


def test_exact_data_gives_exact_pose():
    s = make_two_view_scene(100, rotation_deg=12.0, seed=4)
    est = estimate_relative_pose(s['kpts0'], s['kpts1'], s['K0'], s['K1'], method='ransac')
    err_R, err_t = relative_pose_error(s['T_0to1'], est['R'], est['t'])
    assert err_R < 1e-4 and err_t < 1e-4
    # sign of t is recovered by the cheirality check
    err_R, err_t_signed = relative_pose_error(s['T_0to1'], est['R'], est['t'],
                                              ignore_translation_sign=False)
    assert err_t_signed < 1e-4
    _, err_flipped = relative_pose_error(s['T_0to1'], est['R'], -est['t'],
                                         ignore_translation_sign=False)
    assert err_flipped > 179.9


def test_degenerate_inputs_return_none():
    s = make_two_view_scene(50, seed=5)
    K = s['K0']
    assert estimate_relative_pose(s['kpts0'][:4], s['kpts1'][:4], K, K) is None
    assert estimate_relative_pose(np.zeros((0, 2)), np.zeros((0, 2)), K, K) is None
    same = np.tile([[100.0, 120.0]], (30, 1))
    assert estimate_relative_pose(same, same + 3, K, K) is None
    line = np.c_[np.linspace(0, 600, 30), np.full(30, 200.0)]
    assert estimate_relative_pose(line, line + 2, K, K) is None


def test_pure_rotation_counts_as_failure():
    s = make_two_view_scene(200, rotation_deg=10.0, translation=(0, 0, 0), noise_px=0.2, seed=6)
    est = estimate_relative_pose(s['kpts0'], s['kpts1'], s['K0'], s['K1'])
    if est is not None:  # the essential matrix is undefined; a pose may still come back
        err_R, err_t = relative_pose_error(s['T_0to1'], est['R'], est['t'])
        assert err_t == math.inf
        assert pose_error(err_R, err_t) == math.inf


def test_bad_inputs_raise():
    s = make_two_view_scene(20, seed=7)
    K = s['K0']
    with pytest.raises(ValueError, match='kpts0'):
        estimate_relative_pose(s['kpts0'][:, :1], s['kpts1'], K, K)
    with pytest.raises(ValueError, match='same length'):
        estimate_relative_pose(s['kpts0'][:10], s['kpts1'], K, K)
    with pytest.raises(ValueError, match='NaN'):
        k = s['kpts0'].copy()
        k[0, 0] = np.nan
        estimate_relative_pose(k, s['kpts1'], K, K)
    with pytest.raises(ValueError, match='K1'):
        estimate_relative_pose(s['kpts0'], s['kpts1'], K, np.eye(4))
    with pytest.raises(ValueError, match='method'):
        estimate_relative_pose(s['kpts0'], s['kpts1'], K, K, method='lmeds')
    with pytest.raises(ValueError, match='T_0to1'):
        relative_pose_error(np.eye(2), np.eye(3), np.ones(3))


def test_pose_auc_hand_computed():
    # errors 1, 3 and two failures, threshold 5: recall curve (0,0) (1,.25) (3,.5) (5,.5)
    # area = 0.125 + 0.75 + 1.0 = 1.875 -> 0.375; threshold 10: + 2.5 -> 4.375 / 10
    aucs = pose_auc([3.0, math.inf, 1.0, float('nan')], (5, 10))
    assert aucs == pytest.approx([0.375, 0.4375])
    # threshold below every error
    assert pose_auc([7.0, 8.0], (5,)) == [0.0]
    # all perfect
    assert pose_auc([0.0, 0.0], (5, 10, 20)) == pytest.approx([1.0, 1.0, 1.0])
    # an error exactly at the threshold is not recalled
    assert error_auc([5.0], (5,)) == [0.0]
    assert pose_auc([], (5,)) == [0.0]
    with pytest.raises(ValueError):
        pose_auc([1.0], (0,))


def test_pose_auc_matches_dense_integral():
    """Independent check: integrate the interpolated recall curve on a dense grid."""
    rng = np.random.default_rng(0)
    errs = np.r_[rng.uniform(0, 30, 40), [np.inf] * 5]
    for th in (5, 10, 20):
        below = np.sort(errs[errs < th])
        xs = np.r_[0.0, below]
        ys = np.r_[0.0, np.arange(1, len(below) + 1) / len(errs)]
        grid = np.linspace(0, th, 200001)
        curve = np.interp(grid, xs, ys)  # flat after the last recalled error
        dense = np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(grid)) / th
        assert pose_auc(errs, (th,))[0] == pytest.approx(dense, abs=1e-6)


def test_epipolar_distance_zero_on_exact_matches():
    s = make_two_view_scene(100, seed=8)
    d = symmetric_epipolar_distance(s['kpts0'], s['kpts1'], s['T_0to1'], s['K0'], s['K1'])
    assert d.shape == (100,) and d.max() < 1e-12
    assert epipolar_precision(s['kpts0'], s['kpts1'], s['T_0to1'], s['K0'], s['K1']) == 1.0
    shuffled = s['kpts1'][np.random.default_rng(0).permutation(100)]
    assert epipolar_precision(s['kpts0'], shuffled, s['T_0to1'], s['K0'], s['K1']) < 0.2
    assert math.isnan(epipolar_precision(np.zeros((0, 2)), np.zeros((0, 2)), s['T_0to1'],
                                         s['K0'], s['K1']))
