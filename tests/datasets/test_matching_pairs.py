"""Pair datasets (ScanNet pair lists, HPatches) and synthetic homography pairs."""
import os

import cv2
import numpy as np
import pytest
from mmengine.dataset import pseudo_collate

from vision_sparse.datasets.matching_pairs import (HPatchesDataset, ScanNetPairsDataset,
                                                   parse_pairs_with_gt, rotate_image_and_K)
from vision_sparse.evaluation.functional import warp_points_homography
from vision_sparse.models.matchers import to_pair_list
from vision_sparse.registry import DATASETS
from vision_sparse.structures.cameras import is_rigid_transform, project_points
from vision_sparse.testing import shared_data_root
from vision_sparse.testing.synthetic_pairs import (SyntheticHomographyPairs, make_homography_pair,
                                                   procedural_texture, random_homography)

ROOT = shared_data_root()
SCANNET = None if ROOT is None else ROOT / 'matching' / 'scannet_pairs'
needs_scannet = pytest.mark.skipif(
    SCANNET is None or not SCANNET.is_dir(),
    reason='ScanNet sample pairs not found under ../shared/data; set VISION_SPARSE_DATA')
PAIRS = 'scannet_sample_pairs_with_gt.txt'
IMAGES = 'scannet_sample_images'


def _scannet(**kw):
    return ScanNetPairsDataset(str(SCANNET), PAIRS, IMAGES, **kw)


@needs_scannet
def test_scannet_samples_load_and_are_rigid():
    ds = DATASETS.build(dict(type='ScanNetPairsDataset', data_root=str(SCANNET),
                             pair_file=PAIRS, image_dir=IMAGES))
    assert len(ds) == 15
    item = ds[0]
    assert item['image0'].shape == (968, 1296, 3) and item['image0'].dtype == np.uint8
    np.testing.assert_array_equal(item['image_size0'], [1296, 968])
    assert item['K0'].shape == (3, 3) and item['K0'].dtype == np.float64
    assert item['H_0to1'] is None and item['name0'].endswith('.jpg')
    # the first line of the list, parsed exactly
    np.testing.assert_allclose(item['K0'], [[1163.45, 0, 653.626], [0, 1164.79, 481.6], [0, 0, 1]])
    np.testing.assert_allclose(item['T_0to1'][0], [0.78593, -0.35128, 0.50884, -1.51061])
    for p in ds.pairs:
        assert is_rigid_transform(p['T_0to1'], atol=1e-3)
        assert 0.05 < np.linalg.norm(p['T_0to1'][:3, 3]) < 10  # metres


@needs_scannet
def test_resize_scales_intrinsics():
    full, small = _scannet(max_pairs=2), _scannet(resize=(640, 480), max_pairs=2)
    assert len(small) == 2
    a, b = full[1], small[1]
    assert b['image0'].shape == (480, 640, 3)
    np.testing.assert_array_equal(b['image_size1'], [640, 480])
    sx, sy = 640 / 1296, 480 / 968
    # a 3-D point in front of camera 0 lands at the same relative image position
    X = np.array([[0.3, -0.2, 2.5]])
    uv_full, _ = project_points(a['K0'], X)
    uv_small, _ = project_points(b['K0'], X)
    np.testing.assert_allclose(uv_small, (uv_full + 0.5) * [sx, sy] - 0.5, atol=1e-9)
    np.testing.assert_array_equal(a['T_0to1'], b['T_0to1'])
    capped = _scannet(resize=500, max_pairs=1)[0]
    assert max(capped['image0'].shape[:2]) == 500


def test_pair_file_errors_name_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        ScanNetPairsDataset(str(tmp_path), 'missing.txt')
    K = '500 0 320 0 500 240 0 0 1'
    T = '1 0 0 0.1 0 1 0 0 0 0 1 0 0 0 0 1'
    good = f'a.png b.png 0 0 {K} {K} {T}\n'
    (tmp_path / 'short.txt').write_text('# comment\n\n' + good + 'a.png b.png 0 0 1 2 3\n')
    with pytest.raises(ValueError, match=r'short.txt:4: expected 38'):
        parse_pairs_with_gt(str(tmp_path / 'short.txt'))
    (tmp_path / 'nan.txt').write_text(good.replace('0.1', 'abc'))
    with pytest.raises(ValueError, match=r'nan.txt:1: non-numeric'):
        parse_pairs_with_gt(str(tmp_path / 'nan.txt'))
    (tmp_path / 'ok.txt').write_text(good)
    assert len(parse_pairs_with_gt(str(tmp_path / 'ok.txt'))) == 1
    with pytest.raises(FileNotFoundError, match='a.png'):
        ScanNetPairsDataset(str(tmp_path), 'ok.txt')


def test_rotation_flags_keep_geometry_consistent(tmp_path):
    """Pairs with rot0/rot1 != 0: rotated images, K and T still project consistently."""
    rng = np.random.default_rng(0)
    K = np.array([[300.0, 0, 150.0], [0, 310.0, 95.0], [0, 0, 1]])
    img = procedural_texture((320, 200), seed=2)
    for k in range(4):
        rot, K_r, R = rotate_image_and_K(img, K, k)
        X = rng.uniform([-0.5, -0.3, 2], [0.5, 0.3, 4], (5, 3))
        uv, _ = project_points(K, X)
        uv_r, _ = project_points(K_r, X @ R.T)
        for (u, v), (ur, vr) in zip(np.round(uv).astype(int), np.round(uv_r).astype(int)):
            if 0 <= u < 320 and 0 <= v < 200:
                np.testing.assert_array_equal(rot[vr, ur], img[v, u])
    cv2.imwrite(str(tmp_path / 'a.png'), img[..., ::-1])
    cv2.imwrite(str(tmp_path / 'b.png'), img[..., ::-1])
    ks = ' '.join(str(v) for v in K.ravel())
    T = np.eye(4)
    T[:3, 3] = [0.2, 0.0, 0.05]
    ts = ' '.join(str(v) for v in T.ravel())
    (tmp_path / 'rot.txt').write_text(f'a.png b.png 1 3 {ks} {ks} {ts}\n')
    item = ScanNetPairsDataset(str(tmp_path), 'rot.txt')[0]
    assert item['image0'].shape == (320, 200, 3)
    X0 = np.array([[0.1, 0.05, 3.0]])
    _, K0r, R0 = rotate_image_and_K(img, K, 1)
    _, K1r, R1 = rotate_image_and_K(img, K, 3)
    X1 = X0 @ T[:3, :3].T + T[:3, 3]
    expect, _ = project_points(K1r, X1 @ R1.T)
    got, _ = project_points(item['K1'], (X0 @ R0.T) @ item['T_0to1'][:3, :3].T
                            + item['T_0to1'][:3, 3])
    np.testing.assert_allclose(got, expect, atol=1e-9)
    assert is_rigid_transform(item['T_0to1'])


def _write_hpatches(root, seqs=('i_a', 'v_b')):
    img = procedural_texture((200, 150), seed=0)
    for j, seq in enumerate(seqs):
        d = root / seq
        d.mkdir(parents=True)
        cv2.imwrite(str(d / '1.ppm'), img[..., ::-1])
        for k in range(2, 7):
            H = random_homography((200, 150), seed=10 * j + k, max_rotation_deg=10)
            cv2.imwrite(str(d / f'{k}.ppm'), make_homography_pair(img, H=H)['image1'][..., ::-1])
            np.savetxt(d / f'H_1_{k}', H)
    return img


def test_hpatches_items_and_resize(tmp_path):
    _write_hpatches(tmp_path)
    ds = HPatchesDataset(str(tmp_path))
    assert len(ds) == 10 and len(HPatchesDataset(str(tmp_path), sequences='v')) == 5
    item = ds[3]
    assert item['K0'] is None and item['T_0to1'] is None and item['H_0to1'].shape == (3, 3)
    assert item['name1'] == 'i_a/5.ppm'
    small = HPatchesDataset(str(tmp_path), resize=(100, 75))[3]
    # the same scene point maps consistently in both resolutions
    p0 = np.array([[50.0, 40.0], [120.0, 90.0]])
    s = np.array([100 / 200, 75 / 150])
    full_map = warp_points_homography(item['H_0to1'], p0)
    small_map = warp_points_homography(small['H_0to1'], (p0 + 0.5) * s - 0.5)
    np.testing.assert_allclose(small_map, (full_map + 0.5) * s - 0.5, atol=1e-9)
    # and the stored image really is warped by H_0to1 (interior pixel, exact-ish)
    p = warp_points_homography(item['H_0to1'], np.array([[100.0, 75.0]]))[0]
    np.testing.assert_allclose(item['image1'][int(round(p[1])), int(round(p[0]))],
                               item['image0'][75, 100], atol=40)


def test_hpatches_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere'):
        HPatchesDataset(str(tmp_path / 'nowhere'))
    with pytest.raises(FileNotFoundError, match='no HPatches sequences'):
        HPatchesDataset(str(tmp_path))
    _write_hpatches(tmp_path, seqs=('i_x',))
    (tmp_path / 'i_x' / 'H_1_4').write_text('1 2\n3 4\n')
    with pytest.raises(ValueError, match='H_1_4'):
        HPatchesDataset(str(tmp_path))
    os.remove(tmp_path / 'i_x' / 'H_1_4')
    with pytest.raises(FileNotFoundError, match='H_1_4'):
        HPatchesDataset(str(tmp_path))


def test_synthetic_homography_pairs_are_exact():
    ds = DATASETS.build(dict(type='SyntheticHomographyPairs', num_pairs=3, resize=320, seed=4))
    assert len(ds) == 3
    item = ds[1]
    assert item['K0'] is None and item['H_0to1'].shape == (3, 3)
    img0, img1, H = item['image0'], item['image1'], item['H_0to1']
    # warped pixels equal the source at integer source positions mapped through H
    h, w = img0.shape[:2]
    ys, xs = np.mgrid[40:h - 40:17, 40:w - 40:23]
    p0 = np.c_[xs.ravel(), ys.ravel()].astype(float)
    p1 = warp_points_homography(H, p0)
    inside = (p1[:, 0] > 1) & (p1[:, 0] < w - 2) & (p1[:, 1] > 1) & (p1[:, 1] < h - 2)
    sampled = cv2.remap(img1, p1[inside, 0].astype(np.float32)[None],
                        p1[inside, 1].astype(np.float32)[None], cv2.INTER_LINEAR)[0]
    diff = np.abs(sampled.astype(int) - img0[ys.ravel()[inside], xs.ravel()[inside]].astype(int))
    assert np.median(diff) <= 12
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(ValueError, match='scale_range'):
        SyntheticHomographyPairs(scale_range=(2.0, 1.0))


def test_pseudo_collate_round_trip():
    ds = SyntheticHomographyPairs(num_pairs=2, resize=160)
    batch = pseudo_collate([ds[0], ds[1]])
    assert isinstance(batch, dict) and len(batch['image0']) == 2
    items = to_pair_list(batch)
    assert len(items) == 2
    np.testing.assert_array_equal(items[1]['image_size0'], ds[1]['image_size0'])
    np.testing.assert_array_equal(items[1]['H_0to1'], ds[1]['H_0to1'])
