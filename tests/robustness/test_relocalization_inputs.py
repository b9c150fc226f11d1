"""Bad or extreme queries to FaVoR: a pose is returned only when its matches support it.

Before: a random-noise query "succeeded" with a pose 2-7 m / 35-166 deg off (4-5 RANSAC
"inliers"), a query with K's focal lengths doubled "succeeded" 2.6-2.7 m off, and NaN in
K passed the focal-length check (``nan <= 0`` is False).
"""
import re

import numpy as np
import pytest

from vision_sparse.evaluation.functional.relocalization import absolute_pose_error
from vision_sparse.models.relocalizers import FaVoRRelocalizer
from vision_sparse.structures.results import check_result

# the package fixtures (scene, extractor, landmark_map) of the FaVoR tests
from tests.models.relocalizers.conftest import (_one_thread, extractor, landmark_map,  # noqa: F401
                                                scene, trained, tracks, triangulated)


@pytest.fixture(scope='module')
def relocalizer(extractor, landmark_map):  # noqa: F811
    model = FaVoRRelocalizer(extractor=extractor, seed=0)
    model.set_map(landmark_map)
    return model


def assert_not_localized(out):
    check_result(out)
    assert not out['success'] and out['T_c2w'] is None
    assert out['reason'] and out['reason'] == out['stop_reason']


def test_noise_queries_are_not_localized(scene, relocalizer):  # noqa: F811
    """12 seeds of pixel noise (4 of them were "localized" 2-7 m off before)."""
    shape = scene['test'][0]['image'].shape
    for seed in range(12):
        img = np.random.default_rng(seed).integers(0, 256, shape, np.uint8)
        out = relocalizer.relocalize(img, scene['test'][0]['K'])  # retrieval init
        assert_not_localized(out)
        assert out['reason'].startswith('iteration 1:')


def test_blocky_noise_queries_are_not_localized(scene, relocalizer):  # noqa: F811
    """4 seeds of 4 x 4-pixel block noise (2 were "localized" 3.5-3.7 m off before)."""
    h, w = scene['test'][0]['image'].shape[:2]
    for seed in range(4):
        img = np.random.default_rng(seed).integers(0, 256, (h // 4, w // 4, 3), np.uint8)
        out = relocalizer.relocalize(img.repeat(4, 0).repeat(4, 1), scene['test'][0]['K'])
        assert_not_localized(out)


@pytest.mark.parametrize('factor', [2.0, 0.5, 1.3])
def test_a_wrong_focal_length_is_not_localized(scene, relocalizer, factor):  # noqa: F811
    for frame in scene['test']:
        K = frame['K'].copy()
        K[0, 0] *= factor
        K[1, 1] *= factor
        for T_init in (None, frame['T_c2w']):
            out = relocalizer.relocalize(frame['image'], K, T_init=T_init)
            check_result(out)
            if out['success']:  # only acceptable within the recall tolerance
                dt, dr = absolute_pose_error(out['T_c2w'], frame['T_c2w'])
                assert dt < 0.05 and dr < 5.0
            else:
                assert 'imply focal lengths' in out['reason'], out['reason']


def test_the_right_intrinsics_still_localize(scene, relocalizer):  # noqa: F811
    for frame in scene['test']:
        out = relocalizer.relocalize(frame['image'], frame['K'])
        check_result(out)
        assert out['success'] and out['reason'] == '' and out['stop_reason'] == ''
        assert absolute_pose_error(out['T_c2w'], frame['T_c2w'])[0] < 0.02


def test_iterations_that_disagree_are_not_localized(scene, extractor, landmark_map):  # noqa: F811
    model = FaVoRRelocalizer(extractor=extractor, seed=0)
    model.set_map(landmark_map)
    pnp, calls = model._pnp, []

    def jumping(*args, **kwargs):  # the last iteration's pose moves by 10 cm
        T, inl = pnp(*args, **kwargs)
        calls.append(1)
        if len(calls) == 3:
            T = T.copy()
            T[0, 3] += 0.10
        return T, inl

    model._pnp = jumping
    frame = scene['test'][0]
    out = model.relocalize(frame['image'], frame['K'], T_init=frame['T_c2w'])
    assert_not_localized(out)
    assert re.search(r'iterations 2 and 3 disagree by 0\.(09|10)\d m', out['reason']), out['reason']
    assert len(out['iterations']) == 3  # kept for diagnosis


@pytest.mark.parametrize('K, msg', [
    (np.array([[np.nan, 0, 160], [0, 320, 120], [0, 0, 1]]), 'K must be finite'),
    (np.array([[320, 0, np.nan], [0, 320, 120], [0, 0, 1]]), 'K must be finite'),
    (np.array([[320, 0, 160], [0, np.inf, 120], [0, 0, 1]]), 'K must be finite'),
    (np.array([[320, 0, 160], [0, 320, 120], [0, 0, 0]]), 'last row'),
])
def test_bad_intrinsics_name_the_problem(scene, relocalizer, K, msg):  # noqa: F811
    with pytest.raises(ValueError, match=msg):
        relocalizer.relocalize(scene['test'][0]['image'], K)


def test_bad_acceptance_options(extractor):  # noqa: F811
    for bad, msg in ((dict(min_inliers=3), 'min_inliers'),
                     (dict(max_focal_deviation=0.0), 'max_focal_deviation'),
                     (dict(max_pose_change=(0.05,)), 'max_pose_change'),
                     (dict(max_pose_change=(-1, 5)), 'max_pose_change')):
        with pytest.raises(ValueError, match=msg):
            FaVoRRelocalizer(extractor=extractor, **bad)


def test_implied_focal_lengths_exact_and_degenerate():
    from vision_sparse.models.relocalizers.relocalizer import implied_focal_lengths
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (30, 3)) + [0, 0, 4]
    K = np.array([[500.0, 0, 320], [0, 450, 240], [0, 0, 1]])
    uv = X @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    f = implied_focal_lengths(uv, X)
    np.testing.assert_allclose(f, (500.0, 450.0), rtol=1e-6)
    Xp = X.copy()
    Xp[:, 2] = 4.0  # coplanar: the DLT cannot tell
    uvp = Xp @ K.T
    assert implied_focal_lengths(uvp[:, :2] / uvp[:, 2:], Xp) is None
    assert implied_focal_lengths(uv[:5], X[:5]) is None
