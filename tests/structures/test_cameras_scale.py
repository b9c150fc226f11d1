"""scale_intrinsics: the one intrinsics-scaling function."""
import numpy as np
import pytest

from vision_sparse.structures import project_points, scale_intrinsics


def test_scale_intrinsics_matches_resized_projection():
    K = np.array([[500., 0., 319.5], [0., 480., 239.5], [0., 0., 1.]])
    pts = np.random.default_rng(0).uniform([-1, -1, 2], [1, 1, 5], (20, 3))
    uv = np.asarray(project_points(K, pts)[0])
    for sx, sy in [(0.5, 0.5), (2.0, 1.5)]:
        uv_s = np.asarray(project_points(scale_intrinsics(K, sx, sy), pts)[0])
        # pixel centres at integers: u' = (u + 0.5) * s - 0.5
        np.testing.assert_allclose(uv_s, (uv + 0.5) * [sx, sy] - 0.5, atol=1e-9)
    np.testing.assert_array_equal(scale_intrinsics(K, 0.5), scale_intrinsics(K, 0.5, 0.5))


def test_scale_intrinsics_bad_input():
    with pytest.raises(ValueError, match='scale factors'):
        scale_intrinsics(np.eye(3), 0.0)
    with pytest.raises(ValueError, match=r'K must have shape \(3, 3\)'):
        scale_intrinsics(np.eye(4), 1.0)
