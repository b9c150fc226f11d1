"""Absolute-pose errors, medians and recalls on hand-made poses."""
import numpy as np
import pytest

from vision_sparse.evaluation.functional.relocalization import (absolute_pose_error,
                                                                relocalization_errors,
                                                                relocalization_recall,
                                                                summarize_relocalization)


def _pose(deg_z=0.0, t=(0.0, 0.0, 0.0)):
    c, s = np.cos(np.deg2rad(deg_z)), np.sin(np.deg2rad(deg_z))
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = t
    return T


def test_error_functions():
    T = np.eye(4)
    T2 = np.eye(4)
    T2[:3, 3] = [0.03, 0.04, 0.0]
    c, s = np.cos(np.deg2rad(10)), np.sin(np.deg2rad(10))
    T2[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    assert absolute_pose_error(T2, T) == pytest.approx((0.05, 10.0))
    assert absolute_pose_error(None, T) == (float('inf'), float('inf'))
    e = relocalization_errors([T2, None, T], [T, T, T])
    s = summarize_relocalization(e['translation'], e['rotation'], 0.06, 11.0)
    assert s['median_translation_cm'] == pytest.approx(5.0)
    assert s['recall'] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match='same length'):
        relocalization_errors([T], [T, T])


def test_not_localized_counts_as_infinite_and_bad_shapes_raise():
    T = np.eye(4)
    bad = np.full((4, 4), np.nan)
    assert absolute_pose_error(bad, T) == (float('inf'), float('inf'))
    assert absolute_pose_error(_pose(90.0, (1, 0, 0)), T) == pytest.approx((1.0, 90.0))
    assert relocalization_recall(np.array([0.01, np.inf]), np.array([1.0, np.inf]), 0.05, 5) == 0.5
    assert np.isnan(relocalization_recall(np.zeros(0), np.zeros(0), 0.05, 5))
    assert np.isnan(summarize_relocalization(np.zeros(0), np.zeros(0))['recall'])
    with pytest.raises(ValueError, match='T_gt'):
        absolute_pose_error(T, np.eye(3))
    with pytest.raises(ValueError, match='T_est'):
        absolute_pose_error(np.eye(3), T)
