"""Evaluation pairs: 7-Scenes pose pairs chosen by depth covisibility, the homography set."""
import cv2
import numpy as np
import pytest

from vision_sparse.datasets import (SevenScenesPairsDataset, covisible_share,
                                    homography_eval_pairs, warp_depth_pixels)
from vision_sparse.registry import DATASETS
from vision_sparse.structures.cameras import is_rigid_transform
from vision_sparse.testing import shared_data_root
from vision_sparse.testing.synthetic_pairs import make_homography_pair, sample_photo

ROOT = shared_data_root()
STAIRS = None if ROOT is None else ROOT / 'relocalization' / '7scenes_stairs' / 'stairs'
needs_stairs = pytest.mark.skipif(STAIRS is None or not STAIRS.is_dir(),
                                  reason='7-Scenes stairs sample (../shared/data) not found')
K = np.array([[585.0, 0, 320.0], [0, 585.0, 240.0], [0, 0, 1]])


def _pose(tx=0.0, yaw_deg=0.0):
    a = np.radians(yaw_deg)
    T = np.eye(4)
    T[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    T[0, 3] = tx
    return T


def test_warp_depth_pixels_matches_projection_of_3d_points():
    rng = np.random.default_rng(0)
    X0 = np.column_stack([rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50), rng.uniform(2, 5, 50)])
    T = np.linalg.inv(_pose(0.3, 10.0))  # camera 0 -> camera 1
    K1 = np.array([[500.0, 0, 300.0], [0, 510.0, 250.0], [0, 0, 1]])
    xy0 = (X0 @ K.T)[:, :2] / X0[:, 2:]
    X1 = X0 @ T[:3, :3].T + T[:3, 3]
    xy1_ref = (X1 @ K1.T)[:, :2] / X1[:, 2:]
    xy1, z1 = warp_depth_pixels(xy0, X0[:, 2], K, K1, T)
    np.testing.assert_allclose(xy1, xy1_ref, atol=1e-6)
    np.testing.assert_allclose(z1, X1[:, 2], atol=1e-9)
    with pytest.raises(ValueError, match='z0'):
        warp_depth_pixels(xy0, X0[:10, 2], K, K1, T)


def test_covisible_share_of_a_shifted_plane_is_analytic():
    depth = np.full((480, 640), 2.0, np.float32)
    assert covisible_share(depth, depth, K, np.eye(4), step=4) == 1.0
    # camera 1 is 0.9 m to the right: x1 = x0 - f * 0.9 / 2 (fronto-parallel plane at 2 m)
    T = np.linalg.inv(_pose(0.9))
    xs = np.arange(0, 640, 4)
    expected = np.mean((np.floor(xs - 585 * 0.45 + 0.5) >= 0))
    assert covisible_share(depth, depth, K, T, step=4) == pytest.approx(expected, abs=1e-9)
    # occluded: image 1 sees a wall at 1 m instead of the plane
    assert covisible_share(depth, np.full_like(depth, 1.0), K, T) == 0.0
    assert covisible_share(np.zeros_like(depth), depth, K, T) == 0.0


def _fake_scene(root, shifts):
    """7-Scenes layout: one frame per sequence, plane at 2 m, camera shifted in x."""
    depth = np.full((480, 640), 2000, np.uint16)
    depth[:10] = 65535  # invalid rows
    img = sample_photo(0, 640)[:480]
    for s, tx in enumerate(shifts, 1):
        d = root / f'seq-{s:02d}'
        d.mkdir(parents=True)
        cv2.imwrite(str(d / 'frame-000000.color.png'), img[..., ::-1])
        cv2.imwrite(str(d / 'frame-000000.depth.png'), depth)
        np.savetxt(d / 'frame-000000.pose.txt', _pose(tx))
    return root


def test_seven_scenes_pairs_select_by_overlap_and_warp_exactly(tmp_path):
    # shifts 0, 0.9, 3 m: share 1-2 = 1 - 263 / 640 ~ 0.59, 1-3 zero, 2-3 0.04
    ds = DATASETS.build(dict(type='SevenScenesPairsDataset',
                             data_root=str(_fake_scene(tmp_path / 'scene', [0.0, 0.9, 3.0])),
                             with_depth=True))
    assert len(ds) == 1
    item = ds[0]
    assert (item['name0'], item['name1']) == ('seq-01/frame-000000', 'seq-02/frame-000000')
    assert 0.55 < item["overlap"] < 0.62
    assert ds.all_overlaps[(0, 2)] == 0.0  # 3 m apart: 877 px > 640
    assert ds.all_overlaps[(1, 2)] == pytest.approx(1 - 585 * 1.05 / 640, abs=0.01)
    T = item['T_0to1']
    assert is_rigid_transform(T)
    np.testing.assert_allclose(T[:3, 3], [-0.9, 0, 0], atol=1e-12)
    # a pixel with depth lands where the plane point projects (x1 = x0 - f * 0.9 / 2)
    xy1, _ = warp_depth_pixels(np.array([[400.0, 100.0]]), item['depth0'][100, 400:401],
                               item['K_depth'], item['K_depth'], T)
    np.testing.assert_allclose(xy1, [[400.0 - 585 * 0.45, 100.0]], atol=1e-3)
    assert item['depth0'][0, 0] == 0  # 65535 = invalid
    assert item['image0'].shape == (478, 640, 3) and item['K0'][0, 0] == 525
    with pytest.raises(IndexError):
        ds[1]
    with pytest.raises(ValueError, match='min_overlap'):
        SevenScenesPairsDataset(str(tmp_path / 'scene'), min_overlap=0.8, max_overlap=0.2)


@needs_stairs
def test_seven_scenes_stairs_pairs_and_pose_convention():
    ds = SevenScenesPairsDataset(str(STAIRS))
    assert len(ds) == 8
    names = [(p['name0'].split('/')[0], p['name1'].split('/')[0])
             for p in (ds[i] for i in range(len(ds)))]
    assert len(set(names)) == 4  # two pairs from each of 4 sequence pairs
    for i, j, ov in ds.pairs:
        assert 0.15 <= ov <= 0.7
    item = SevenScenesPairsDataset(str(STAIRS), with_depth=True)[0]
    assert is_rigid_transform(item['T_0to1'], atol=1e-4)
    # the GT convention is the one under which the depth maps agree: the inverse
    # (0.51 of the pixels agree in depth, 0.03 with the inverse pose)
    good = covisible_share(item['depth0'], item['depth1'], item['K_depth'], item['T_0to1'])
    wrong = covisible_share(item['depth0'], item['depth1'], item['K_depth'],
                            np.linalg.inv(item['T_0to1']))
    assert good >= ds.pairs[0][2] - 1e-9  # the pair's share is the smaller direction
    assert wrong < 0.5 * good


@pytest.mark.skipif(ROOT is None, reason='ScanNet sample photos not found')
def test_homography_eval_pairs_are_fixed_and_exact():
    ds = homography_eval_pairs()
    assert len(ds) == 12
    a, b = ds[3], homography_eval_pairs()[3]
    np.testing.assert_array_equal(a['H_0to1'], b['H_0to1'])
    np.testing.assert_array_equal(a['image1'], b['image1'])
    ref = make_homography_pair(sample_photo(3, 640), seed=1003)
    np.testing.assert_allclose(a['H_0to1'], ref['H_0to1'])
    # image1 = image0 warped by H: pixel values agree at the warped position
    g0 = cv2.cvtColor(a['image0'], cv2.COLOR_RGB2GRAY).astype(np.float64)
    g1 = cv2.cvtColor(a['image1'], cv2.COLOR_RGB2GRAY).astype(np.float64)
    back = cv2.warpPerspective(g1, np.linalg.inv(a['H_0to1']), g0.shape[::-1])
    inner = back[60:-60, 80:-80] > 0
    assert np.median(np.abs(back - g0)[60:-60, 80:-80][inner]) < 3.0
