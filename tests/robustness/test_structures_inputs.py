"""Bad inputs to the geometry helpers: named errors, never a silently wrong answer.

Before: ``invert_pose`` / ``relative_pose`` applied ``[R^T | -R^T t]`` to scaled,
singular or NaN matrices (a wrong "inverse"), ``project_points`` mapped every point
to ``(0, 0)`` for an all-zero K and NaN in K went through.
"""
import numpy as np
import pytest
import torch

from vision_sparse.structures import (invert_pose, points2rbox, project_points, relative_pose,
                                      unproject)
from vision_sparse.structures.cameras import camera_to_world


def rigid(angle=0.3, t=(1.0, -2.0, 0.5)):
    c, s = np.cos(angle), np.sin(angle)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = t
    return T


K = np.array([[500.0, 0, 320], [0, 480, 240], [0, 0, 1]])
X = np.array([[0.1, -0.2, 3.0], [1.0, 0.5, 5.0]])


@pytest.mark.parametrize('make, what', [
    (lambda T: T * np.r_[2.0, 2, 2, 1][:, None], 'scaled'),
    (lambda T: np.diag([1.0, 1.0, 0.0, 1.0]), 'singular'),
    (lambda T: np.diag([1.0, 1.0, -1.0, 1.0]), 'reflection'),
    (lambda T: np.c_[np.r_[T[:3, :3] + [[0, 0.1, 0], [0, 0, 0], [0, 0, 0]], [[0, 0, 0]]],
                     T[:, 3]], 'sheared'),
    (lambda T: np.r_[T[:3], [[0.1, 0, 0, 1]]], 'projective last row'),
])
def test_invert_pose_refuses_non_rigid(make, what):
    T = make(rigid())
    with pytest.raises(ValueError, match='T is not a rigid transform within atol'):
        invert_pose(T)
    with pytest.raises(ValueError, match='T0_w2c is not a rigid transform'):
        relative_pose(T, rigid())
    with pytest.raises(ValueError, match='T1_w2c is not a rigid transform'):
        relative_pose(rigid(), T)
    with pytest.raises(ValueError, match='not a rigid transform'):
        camera_to_world(T, X)


def test_invert_pose_refuses_non_finite_and_batched_bad():
    T = rigid()
    T[0, 3] = np.nan
    with pytest.raises(ValueError, match='T must be finite'):
        invert_pose(T)
    batch = torch.from_numpy(np.stack([rigid(), rigid() * 3]))
    with pytest.raises(ValueError, match='not a rigid transform'):
        invert_pose(batch)


def test_non_rigid_mode_is_explicit():
    T = rigid() * np.r_[2.0, 2, 2, 1][:, None]
    out = invert_pose(T, check=False)  # the formula, applied on request
    np.testing.assert_allclose(out[:3, :3], T[:3, :3].T)
    # rigid poses stored with 6 decimals still pass the default tolerance
    np.testing.assert_allclose(invert_pose(np.round(rigid(), 6)) @ np.round(rigid(), 6),
                               np.eye(4), atol=1e-5)


@pytest.mark.parametrize('bad, msg', [
    (np.zeros((3, 3)), 'K must be finite|K must have positive focal lengths'),
    (np.array([[500.0, 0, 320], [0, -480, 240], [0, 0, 1]]), 'positive focal lengths'),
    (np.array([[np.nan, 0, 320], [0, 480, 240], [0, 0, 1]]), 'K must be finite'),
    (np.array([[500.0, 0, 320], [0, 480, np.inf], [0, 0, 1]]), 'K must be finite'),
    (np.array([[500.0, 0, 320], [0, 480, 240], [0, 0, 0]]), 'K must be invertible'),
])
def test_projection_validates_K(bad, msg):
    with pytest.raises(ValueError, match=msg):
        project_points(bad, X)
    with pytest.raises(ValueError, match=msg):
        unproject(bad, np.array([[1.0, 2.0]]), 3.0)


def test_all_zero_K_does_not_map_everything_to_the_origin():
    with pytest.raises(ValueError, match='positive focal lengths'):
        project_points(np.zeros((3, 3)), X)


def test_points2rbox_single_point_and_collinear_points():
    np.testing.assert_allclose(points2rbox(np.array([[3.0, 4.0]])), [3, 4, 0, 0, 0])
    box = points2rbox(np.array([[0.0, 0.0], [4.0, 0.0]]))
    np.testing.assert_allclose(box[:2], [2, 0])
    assert sorted(np.round(box[2:4], 9)) == [0, 4]
    with pytest.raises(ValueError, match=r'points must have shape \(K, 2\)'):
        points2rbox(np.zeros((1, 1, 2)))
