"""A2PM fusion on a synthetic two-view scene with exact geometry: correct area
matches are kept, a geometrically wrong area is dropped, agreeing full-image
matches are collected, NMS and the cap hold."""
import numpy as np
import pytest

from vision_sparse.evaluation.functional.pose import symmetric_epipolar_distance
from vision_sparse.models.area_matchers import (fuse_matches, geometric_area_filter,
                                                nms_matches, sampson_distance)
from vision_sparse.testing.synthetic_pairs import make_two_view_scene


def test_sampson_distance_known_value():
    # pure x-translation, K = I: epipolar lines are the rows y1 = y0
    F = np.array([[0, 0, 0], [0, 0, -1], [0, 1, 0]], float)
    d = sampson_distance(F, np.array([[0.0, 0.0], [7.0, 2.0]]),
                         np.array([[5.0, 3.0], [1.0, 2.0]]))
    np.testing.assert_allclose(d, [4.5, 0.0])


def _scene(seed=0, n=2400):
    return make_two_view_scene(num_points=n, rotation_deg=8.0, translation=(0.6, 0.05, 0.1),
                               noise_px=0.2, seed=seed)


def _areas(scene, wrong_areas=1, wrong_size=80, seed=1):
    """Four correct areas (image quadrants) + `wrong_areas` areas whose matches
    follow a consistent but wrong mapping (a shifted, rotated copy)."""
    k0, k1 = scene['kpts0'], scene['kpts1']
    w, h = scene['image_size']
    quads = [(k0[:, 0] < w / 2) & (k0[:, 1] < h / 2), (k0[:, 0] >= w / 2) & (k0[:, 1] < h / 2),
             (k0[:, 0] < w / 2) & (k0[:, 1] >= h / 2), (k0[:, 0] >= w / 2) & (k0[:, 1] >= h / 2)]
    areas = [(k0[q][:300], k1[q][:300], np.full(min(q.sum(), 300), 0.9)) for q in quads]
    rng = np.random.default_rng(seed)
    for i in range(wrong_areas):
        p0 = rng.uniform([100, 100], [540, 380], (wrong_size, 2))
        a = np.deg2rad(25 + 20 * i)
        R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        p1 = (p0 - [320, 240]) @ R.T + [320, 240] + [120 - 60 * i, -70]
        areas.append((p0, p1, np.full(wrong_size, 0.9)))
    return areas


def test_filter_keeps_correct_areas_and_drops_the_wrong_one():
    scene = _scene()
    areas = _areas(scene, wrong_areas=1)
    res = geometric_area_filter(areas, scene['K0'], scene['K1'], alpha=3.0)
    assert res['valid'].all()
    assert res['kept'].tolist() == [True, True, True, True, False]
    assert res['consistency'][4] > 3 * res['consistency'][:4].max()


def test_median_statistic_survives_two_large_wrong_areas():
    scene = _scene(seed=3)
    areas = _areas(scene, wrong_areas=2, wrong_size=250)
    res = geometric_area_filter(areas, scene['K0'], scene['K1'], statistic='median')
    assert res['kept'].tolist() == [True, True, True, True, False, False]
    with pytest.raises(ValueError, match='statistic'):
        geometric_area_filter(areas, scene['K0'], scene['K1'], statistic='max')


def test_fuse_collects_agreeing_full_matches_and_thins():
    scene = _scene(seed=5)
    areas = _areas(scene, wrong_areas=1)
    # full-image matches: 400 true ones (with exact duplicates of area matches)
    # and 100 random outliers
    rng = np.random.default_rng(0)
    idx = rng.choice(len(scene['kpts0']), 400, replace=False)
    out0 = rng.uniform([0, 0], [639, 479], (100, 2))
    out1 = rng.uniform([0, 0], [639, 479], (100, 2))
    full = (np.concatenate([scene['kpts0'][idx], out0]),
            np.concatenate([scene['kpts1'][idx], out1]), rng.uniform(0.2, 1.0, 500))
    res = fuse_matches(areas, full, scene['K0'], scene['K1'], alpha=3.0, nms_radius=3.0)
    assert res['area_kept'].tolist() == [True, True, True, True, False]
    err = symmetric_epipolar_distance(res['kpts0'], res['kpts1'], scene['T_0to1'],
                                      scene['K0'], scene['K1'])
    assert (err < 1e-4).mean() > 0.98           # nothing of the wrong area, no outliers
    assert not (res['from_area'] == 4).any()
    assert res['num_full_collected'] >= 300     # most true full-image matches agree
    # NMS: no two kept matches within 3 px in either image
    for k in (res['kpts0'], res['kpts1']):
        d = np.linalg.norm(k[:, None] - k[None], axis=-1) + 1e3 * np.eye(len(k))
        assert d.min() >= 3.0
    capped = fuse_matches(areas, full, scene['K0'], scene['K1'], max_matches=50)
    assert len(capped['kpts0']) == 50
    assert capped['scores'].min() >= np.sort(res['scores'])[::-1][:50].min() - 1e-9


def test_fuse_without_intrinsics_and_without_areas():
    scene = _scene(seed=2)
    areas = _areas(scene, wrong_areas=1)
    full = (scene['kpts0'][:200], scene['kpts1'][:200], np.ones(200))
    res = fuse_matches(areas, full, None, None)  # fundamental matrices directly
    assert res['area_kept'][:4].all() and not res['area_kept'][4]
    empty = fuse_matches([], full, scene['K0'], scene['K1'])
    assert len(empty['area_kept']) == 0 and len(empty['kpts0']) == 0


def test_nms_keeps_best_and_handles_empty():
    k0 = np.array([[10, 10], [11, 10], [50, 50]], float)
    k1 = np.array([[20, 20], [40, 40], [21, 20]], float)  # 0 and 2 share a partner
    keep = nms_matches(k0, k1, np.array([0.5, 0.9, 0.7]), radius=3)
    assert keep.tolist() == [1, 2]  # 1 removes 0; 2 only conflicted with 0
    keep = nms_matches(k0, k1, np.array([0.9, 0.5, 0.7]), radius=3)
    assert keep.tolist() == [0]
    assert len(nms_matches(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))) == 0
