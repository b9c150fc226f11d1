"""Relocalization loaders: 7-Scenes and COLMAP on the real samples, Cambridge and bad inputs."""
import shutil

import numpy as np
import pytest
import torch

from vision_sparse.datasets.relocalization import (SEVEN_SCENES_K, RelocalizationDataset,
                                                   load_7scenes, load_cambridge, load_colmap,
                                                   read_colmap_text_model)
from vision_sparse.structures.cameras import rotation_to_quaternion
from vision_sparse.testing import shared_data_path, shared_data_root

NO_DATA = pytest.mark.skipif(shared_data_root() is None,
                             reason='shared sample data (../shared/data) is absent')
STAIRS = ('relocalization', '7scenes_stairs', 'stairs')
MAUPERTUIS = ('relocalization', 'maupertuis_colmap')


@NO_DATA
def test_7scenes_splits_and_poses():
    root = shared_data_path(*STAIRS)
    train = load_7scenes(root, 'train')
    test = load_7scenes(root, 'test')
    assert [r['name'] for r in train][:4] == ['seq-02/frame-000000', 'seq-02/frame-000001',
                                              'seq-02/frame-000002', 'seq-03/frame-000000']
    assert len(train) == 6 and len(test) == 6
    assert {r['name'][:6] for r in test} == {'seq-01', 'seq-04'}
    for r in train + test:
        raw = np.loadtxt(root / (r['name'] + '.pose.txt'))
        assert np.allclose(r['T_c2w'], raw, atol=1e-3)  # file pose, re-orthonormalised
        R = r['T_c2w'][:3, :3]
        assert np.allclose(R.T @ R, np.eye(3), atol=1e-12)
        assert np.array_equal(r['K'], SEVEN_SCENES_K)


@NO_DATA
def test_7scenes_dataset_items_and_depth():
    ds = RelocalizationDataset('7scenes', default_subdir='/'.join(STAIRS), split='test',
                               load_depth=True)
    frame = ds.load_frame(0)
    assert frame['image'].shape == (480, 640, 3) and frame['image'].dtype == np.uint8
    d = frame['depth']
    assert d.shape == (480, 640) and d.dtype == np.float32
    valid = d[d > 0]
    assert 0.3 < np.median(valid) < 5.0  # millimetres converted to metres; 0 / 65535 invalid
    assert d.max() < 65.0
    assert frame['K_depth'][0, 0] == 585.0
    item = ds[0]
    assert item['inputs'].shape == (3, 480, 640) and item['inputs'].dtype == torch.uint8
    assert set(item['data_samples']) == {'T_c2w', 'K', 'name'}
    half = RelocalizationDataset('7scenes', default_subdir='/'.join(STAIRS), split='test',
                                 resize_width=320, load_depth=True).load_frame(0)
    assert half['image'].shape == (240, 320, 3) and half['depth'].shape == (240, 320)
    assert half['K'][0, 0] == pytest.approx(262.5) and half['K'][0, 2] == pytest.approx(159.75)


@NO_DATA
def test_colmap_model_reprojects_its_points():
    root = shared_data_path(*MAUPERTUIS)
    model = read_colmap_text_model(root / 'reconstruction')
    assert len(model['cameras']) == 1 and len(model['images']) == 4
    assert len(model['points3D']) == 1039
    cam = model['cameras'][1]
    assert cam['model'] == 'SIMPLE_PINHOLE' and cam['K'][0, 2] == pytest.approx(959.0)
    errs = []
    for im in model['images'].values():
        ok = im['point3D_ids'] >= 0
        X = np.stack([model['points3D'][p]['xyz'] for p in im['point3D_ids'][ok]])
        Xc = X @ im['T_w2c'][:3, :3].T + im['T_w2c'][:3, 3]
        uv = Xc @ cam['K'].T
        errs.append(np.linalg.norm(uv[:, :2] / uv[:, 2:] - im['xys'][ok], axis=1))
    errs = np.concatenate(errs)
    assert np.median(errs) < 1.0  # COLMAP's pseudo ground truth: ~0.25 px median
    recs = load_colmap(root, split='test', test_images=['02.jpg'])
    assert [r['name'] for r in recs] == ['02.jpg']
    assert len(load_colmap(root, split='train', test_images=['02.jpg'])) == 3
    with pytest.raises(ValueError, match='not in the model'):
        load_colmap(root, split='test', test_images=['99.jpg'])


def test_colmap_malformed_line(tmp_path):
    (tmp_path / 'cameras.txt').write_text('1 PINHOLE 100 80 50 50 50 40\n')
    (tmp_path / 'images.txt').write_text('# header\n1 1 0 0 0 0 0 oops 1 a.jpg\n\n')
    (tmp_path / 'points3D.txt').write_text('')
    with pytest.raises(ValueError, match=r'images.txt:2'):
        read_colmap_text_model(tmp_path)
    (tmp_path / 'images.txt').write_text('1 1 0 0 0 0 0 1 1 a.jpg\n10 20 -1\n')
    model = read_colmap_text_model(tmp_path)
    assert model['images'][1]['xys'].tolist() == [[9.5, 19.5]]
    with pytest.raises(FileNotFoundError, match='points3D'):
        (tmp_path / 'points3D.txt').unlink()
        read_colmap_text_model(tmp_path)


def test_cambridge_convention(tmp_path):
    """XYZ is the camera centre, WPQR the world-to-camera rotation (NVM convention)."""
    rng = np.random.default_rng(0)
    rows, truth = [], []
    for i in range(3):
        a = rng.normal(size=3)
        a /= np.linalg.norm(a)
        th = rng.uniform(0.2, 2.0)
        Kx = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
        R_w2c = np.eye(3) + np.sin(th) * Kx + (1 - np.cos(th)) * Kx @ Kx
        C = rng.normal(size=3) * 5
        q = rotation_to_quaternion(R_w2c)
        rows.append(f'seq1/frame{i:05d}.png ' + ' '.join(f'{v:.12f}' for v in [*C, *q]))
        truth.append((R_w2c, C))
    header = 'Visual Landmark Dataset V1\nImageFile, Camera Position [X Y Z W P Q R]\n\n'
    (tmp_path / 'dataset_train.txt').write_text(header + '\n'.join(rows) + '\n')
    (tmp_path / 'reconstruction.nvm').write_text('NVM_V3\n\n2\na.jpg 1600 1 0 0 0 0 0 0 0 0\n'
                                                 'b.jpg 1700 1 0 0 0 0 0 0 0 0\n')
    recs = load_cambridge(tmp_path, 'train')
    assert len(recs) == 3 and recs[0]['K'][0, 0] == pytest.approx(1650.0)
    for rec, (R_w2c, C) in zip(recs, truth):
        assert np.allclose(rec['T_c2w'][:3, 3], C, atol=1e-9)
        assert np.allclose(rec['T_c2w'][:3, :3], R_w2c.T, atol=1e-9)
    with pytest.raises(FileNotFoundError, match='dataset_test.txt'):
        load_cambridge(tmp_path, 'test')
    (tmp_path / 'dataset_train.txt').write_text(header + 'a.png 1 2 3\n')
    with pytest.raises(ValueError, match=r'dataset_train.txt:4'):
        load_cambridge(tmp_path, 'train')


@NO_DATA
def test_7scenes_bad_inputs(tmp_path):
    src = shared_data_path(*STAIRS) / 'seq-01'
    seq = tmp_path / 'seq-01'
    seq.mkdir()
    shutil.copy(src / 'frame-000000.color.jpg', seq)
    with pytest.raises(ValueError, match='has no pose'):
        load_7scenes(tmp_path, sequences=[1])
    bad = np.eye(4)
    bad[0, 0] = 2.0
    np.savetxt(seq / 'frame-000000.pose.txt', bad)
    with pytest.raises(ValueError, match='not a rigid transform'):
        load_7scenes(tmp_path, sequences=[1])
    with pytest.raises(FileNotFoundError, match='TrainSplit'):
        load_7scenes(tmp_path, 'train')


def test_dataset_arguments_and_lazy_init():
    with pytest.raises(ValueError, match='format'):
        RelocalizationDataset('kitti')
    lazy = RelocalizationDataset('7scenes', data_root='/nonexistent/stairs', lazy_init=True)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        len(lazy)


def test_synthetic_dataset():
    cfg = dict(num_train=2, num_test=1, image_size=(64, 48), supersample=1)
    train = RelocalizationDataset('synthetic', split='train', synthetic=cfg, load_depth=True)
    test = RelocalizationDataset('synthetic', split='test', synthetic=cfg)
    assert len(train) == 2 and len(test) == 1
    f = train.load_frame(1)
    assert f['image'].shape == (48, 64, 3) and f['depth'].shape == (48, 64)
    assert (f['depth'] > 0).all()
    frames = list(train.frames())
    assert [x['name'] for x in frames] == ['train-0000', 'train-0001']
    # the depth is exact: every back-projected pixel lies on one of the scene's rectangles
    from vision_sparse.datasets.relocalization import _freeze, _synthetic_cached
    quads = _synthetic_cached(_freeze(cfg))['scene'].quads
    v, u = np.mgrid[:48, :64]
    rays = np.stack([u, v, np.ones_like(u)], -1).reshape(-1, 3) @ np.linalg.inv(f['K']).T
    X = (rays * f['depth'].reshape(-1, 1)) @ f['T_c2w'][:3, :3].T + f['T_c2w'][:3, 3]
    on_surface = np.zeros(len(X), bool)
    for q in quads:
        n = np.cross(q.edge_u, q.edge_v)
        rel = X - q.origin
        a = rel @ q.edge_u / (q.edge_u @ q.edge_u)
        b = rel @ q.edge_v / (q.edge_v @ q.edge_v)
        on_surface |= ((np.abs(rel @ n) / np.linalg.norm(n) < 1e-4) & (a > -1e-6) & (a < 1 + 1e-6)
                       & (b > -1e-6) & (b < 1 + 1e-6))
    assert on_surface.all()


@NO_DATA
def test_7scenes_frame_ids_select_frames_of_each_sequence():
    root = shared_data_path('relocalization', '7scenes_stairs', 'stairs')
    recs = load_7scenes(root, 'all', sequences=[1, 2, 3, 4], frame_ids=[0, 2])
    assert [r['name'] for r in recs[:2]] == ['seq-01/frame-000000', 'seq-01/frame-000002']
    assert len(recs) == 8
    assert len(load_7scenes(root, 'all', sequences=[1, 4], frame_ids=[1])) == 2
