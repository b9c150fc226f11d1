"""Property tests (hypothesis, bounded) of the geometry structures.

* polygon <-> rotated box: ``rbox2poly(poly2rbox(p, pattern=None))`` reproduces a
  rectangle corner for corner, and every angle pattern gives the same corners (up
  to a cyclic shift); ``poly2rbox`` of a box's polygon is the box again.
* projection <-> unprojection: ``unproject(K, project_points(K, X))`` is ``X``.
* rigid poses: ``invert_pose`` is an involution and ``T @ invert_pose(T) = I``;
  ``relative_pose`` composes.
"""
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vision_sparse.structures import (ANGLE_PATTERNS, invert_pose, poly2rbox, project_points,
                                      quaternion_to_rotation, rbox2poly, regularize_boxes,
                                      relative_pose, unproject)

PROPS = settings(max_examples=150, deadline=None)

coord = st.floats(-2000, 2000, allow_nan=False)
side = st.floats(0.5, 500, allow_nan=False)
angle = st.floats(-math.pi, math.pi, allow_nan=False, exclude_max=True)


@st.composite
def rboxes(draw, n_max=6):
    n = draw(st.integers(1, n_max))
    return np.array([[draw(coord), draw(coord), draw(side), draw(side), draw(angle)]
                     for _ in range(n)])


def same_corners_up_to_shift(p, q, atol):
    """Each polygon of ``q`` is a cyclic shift of the one in ``p``."""
    p, q = p.reshape(-1, 4, 2), q.reshape(-1, 4, 2)
    for a, b in zip(p, q):
        assert min(np.abs(np.roll(b, k, axis=0) - a).max() for k in range(4)) <= atol


@PROPS
@given(boxes=rboxes())
def test_poly_rbox_round_trip_corner_for_corner(boxes):
    poly = rbox2poly(boxes)
    back = poly2rbox(poly, pattern=None)
    scale = 1e-9 * (1 + np.abs(boxes[:, :4]).max())
    np.testing.assert_allclose(rbox2poly(back), poly, atol=1e4 * scale)
    np.testing.assert_allclose(back[:, 2:4], boxes[:, 2:4], atol=1e4 * scale)


@PROPS
@given(boxes=rboxes(), pattern=st.sampled_from(sorted(ANGLE_PATTERNS)))
def test_every_angle_pattern_gives_the_same_rectangle(boxes, pattern):
    poly = rbox2poly(boxes)
    out = poly2rbox(poly, pattern=pattern)
    atol = 1e-6 * (1 + np.abs(boxes[:, :4]).max())
    same_corners_up_to_shift(rbox2poly(out), poly, atol)
    # regularizing a box is idempotent and keeps its rectangle
    reg = regularize_boxes(boxes, pattern)
    np.testing.assert_allclose(regularize_boxes(reg, pattern), reg,
                               atol=1e-9 * (1 + np.abs(reg).max()))
    same_corners_up_to_shift(rbox2poly(reg), poly, atol)


@st.composite
def cameras_and_points(draw):
    fx, fy = draw(st.floats(50, 3000)), draw(st.floats(50, 3000))
    cx, cy = draw(st.floats(-100, 2000)), draw(st.floats(-100, 2000))
    K = np.array([[fx, draw(st.floats(-5, 5)), cx], [0, fy, cy], [0, 0, 1]])
    n = draw(st.integers(1, 20))
    xy = np.array([[draw(st.floats(-50, 50)), draw(st.floats(-50, 50))] for _ in range(n)])
    z = np.array([draw(st.floats(0.05, 100)) for _ in range(n)])
    return K, np.c_[xy, z]


@PROPS
@given(data=cameras_and_points())
def test_projection_unprojection_round_trip(data):
    K, X = data
    uv, depth = project_points(K, X)
    np.testing.assert_allclose(depth, X[:, 2])
    back = unproject(K, uv, depth)
    np.testing.assert_allclose(back, X, rtol=1e-9, atol=1e-9 * (1 + np.abs(X).max()))


@st.composite
def rigid_poses(draw):
    q = np.array([draw(st.floats(-1, 1)) for _ in range(4)])
    if np.linalg.norm(q) < 1e-3:
        q = np.array([1.0, 0, 0, 0])
    T = np.eye(4)
    T[:3, :3] = quaternion_to_rotation(q / np.linalg.norm(q))
    T[:3, 3] = [draw(st.floats(-100, 100)) for _ in range(3)]
    return T


@PROPS
@given(T0=rigid_poses(), T1=rigid_poses())
def test_rigid_pose_algebra(T0, T1):
    inv = invert_pose(T0)
    np.testing.assert_allclose(T0 @ inv, np.eye(4), atol=1e-9)
    np.testing.assert_allclose(invert_pose(inv), T0, atol=1e-9)
    rel = relative_pose(T0, T1)
    np.testing.assert_allclose(rel @ T0, T1, atol=1e-9)
    np.testing.assert_allclose(relative_pose(T1, T0), invert_pose(rel), atol=1e-9)
