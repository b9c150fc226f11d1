"""LiDAR + camera datasets and transforms: the real nuScenes / KITTI samples, synthetic
scenes, the packed-sample contract and bad input."""
import copy
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from vision_sparse.datasets.det3d import (GlobalRotScaleTransFusion, LoadMultiViewImages,
                                          LoadPointsFromFile, ObjectNameFilter,
                                          ObjectRangeFilter, PackFusionInputs,
                                          PointsRangeFilter, ResizeMultiView,
                                          info_to_results)
from vision_sparse.datasets.synthetic.multimodal import make_fusion_scene
from vision_sparse.registry import DATASETS
from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D
from vision_sparse.testing import shared_data_path

NUSC = shared_data_path('lidar_camera', 'nuscenes')
KITTI = shared_data_path('lidar_camera', 'kitti', '000008.pkl')
CONFIGS = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / 'datasets'
PIPELINE = [dict(type='LoadPointsFromFile', use_dim=5), dict(type='LoadMultiViewImages'),
            dict(type='PackFusionInputs')]


def _build(cfg):
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        return DATASETS.build(cfg)


def _project(lidar2img, xyz):
    hom = np.concatenate([xyz, np.ones((len(xyz), 1))], 1) @ np.asarray(lidar2img).T
    return hom[:, :2] / hom[:, 2:3], hom[:, 2]


@pytest.mark.skipif(NUSC is None, reason='needs ../shared/data/lidar_camera/nuscenes')
def test_real_keyframe_loads_and_packs():
    ds = _build(dict(type='NuScenesFusionDataset', ann_file=str(next(NUSC.glob('*.pkl'))),
                     pipeline=PIPELINE))
    assert len(ds) == 1
    out = ds[0]
    pts, imgs = out['inputs']['points'], out['inputs']['imgs']
    assert pts.shape == (34688, 5) and pts.dtype == torch.float32
    assert set(pts[:, 4].tolist()) == set(range(32))  # the ring index, kept by default
    assert imgs.shape == (6, 3, 900, 1600) and imgs.dtype == torch.uint8
    sample = out['data_samples']
    gt = sample.gt_instances_3d
    assert gt.bboxes_3d.shape == (69, 9) and gt.bboxes_3d.dtype == torch.float32
    assert gt.labels_3d.dtype == torch.int64
    meta = sample.metainfo
    assert meta['cam_names'][0] == 'CAM_FRONT' and len(meta['cam_names']) == 6
    assert meta['img_shape'] == (900, 1600) and meta['ori_shapes'] == [(900, 1600)] * 6
    assert meta['box_type_3d'] == 'LiDAR'
    for key in ('lidar2img', 'cam2img', 'lidar2cam'):
        assert meta[key].shape == (6, 4, 4) and meta[key].dtype == np.float32
    np.testing.assert_allclose(meta['lidar2img'],
                               meta['cam2img'].astype(np.float64) @ meta['lidar2cam'],
                               rtol=1e-5, atol=1e-3)
    # the boxes count the LiDAR points as the annotation says (61 of 69 exactly)
    counts = LiDARBoxes3D(gt.bboxes_3d[:, :7].double()).points_in_boxes(pts.double()).sum(0)
    info = ds.get_data_info(0)
    assert (counts.numpy() == info['num_lidar_pts']).sum() >= 61


@pytest.mark.skipif(NUSC is None, reason='needs ../shared/data/lidar_camera/nuscenes')
def test_class_filtering_by_name():
    pipe = [dict(type='LoadPointsFromFile', use_dim=4), dict(type='ObjectNameFilter'),
            dict(type='PackFusionInputs')]
    ds = _build(dict(type='NuScenesFusionDataset', ann_file=str(next(NUSC.glob('*.pkl'))),
                     metainfo=dict(classes=['pedestrian', 'car']), pipeline=pipe))
    info = ds.get_data_info(0)
    want = sum(n in ('pedestrian', 'car') for n in info['gt_names'])
    out = ds[0]
    labels = out['data_samples'].gt_instances_3d.labels_3d
    assert len(labels) == want > 0 and set(labels.tolist()) == {0, 1}
    assert out['inputs']['points'].shape[1] == 4 and 'imgs' not in out['inputs']
    ped = [i for i, n in enumerate(info['gt_names']) if n == 'pedestrian']
    assert (info['gt_labels_3d'][ped] == 0).all()


@pytest.mark.skipif(KITTI is None, reason='needs ../shared/data/lidar_camera/kitti')
def test_kitti_frame_boxes_come_to_lidar():
    ds = _build(dict(type='KittiFusionDataset', ann_file=str(KITTI), pipeline=[
        dict(type='LoadPointsFromFile', use_dim=4), dict(type='LoadMultiViewImages'),
        dict(type='PackFusionInputs')]))
    out = ds[0]
    assert out['inputs']['imgs'].shape == (1, 3, 375, 1242)
    assert out['data_samples'].metainfo['cam_names'] == ['CAM2']
    boxes = out['data_samples'].gt_instances_3d.bboxes_3d
    assert out['data_samples'].gt_instances_3d.labels_3d.tolist() == [2] * 6  # Car
    # in LiDAR (x forward), the cars lie ahead; the points in them match the annotation
    assert (boxes[:, 0] > 0).all()
    counts = LiDARBoxes3D(boxes[:, :7].double()).points_in_boxes(
        out['inputs']['points'].double()).sum(0).numpy()
    ref = ds.get_data_info(0)['num_lidar_pts']
    assert (np.abs(counts - ref) <= 0.1 * ref + 10).all()


@pytest.fixture(scope='module')
def synthetic_scene():
    return make_fusion_scene(seed=0, index=0, image_scale=0.25)


def test_resize_keeps_boxes_on_their_objects(synthetic_scene):
    s = synthetic_scene
    res = LoadMultiViewImages()(info_to_results(s, ['car', 'truck', 'pedestrian',
                                                    'traffic_cone', 'barrier']))
    before = copy.deepcopy(res['lidar2img'])
    res = ResizeMultiView(scale=(200, 112))(res)
    packed = PackFusionInputs()(res)
    meta = packed['data_samples'].metainfo
    assert packed['inputs']['imgs'].shape == (6, 3, 112, 200)
    centres = s['gt_bboxes_3d'].gravity_center.numpy()
    sx, sy = 200 / 400, 112 / 225
    hits = tries = 0
    for v, name in enumerate(meta['cam_names']):
        uv0, z = _project(before[v], centres)
        uv1, _ = _project(meta['lidar2img'][v], centres)
        ok = z > 0
        np.testing.assert_allclose(uv1[ok, 0], (uv0[ok, 0] + 0.5) * sx - 0.5,
                                   rtol=1e-5, atol=1e-3)  # float32 packed matrices
        np.testing.assert_allclose(uv1[ok, 1], (uv0[ok, 1] + 0.5) * sy - 0.5,
                                   rtol=1e-5, atol=1e-3)
        inst = s['instance_maps'][name]
        small = inst[np.clip(((np.arange(112) + 0.5) / sy).astype(int), 0, 224)][
            :, np.clip(((np.arange(200) + 0.5) / sx).astype(int), 0, 399)]
        for k in np.nonzero(ok)[0]:
            u0, v0 = np.round(uv0[k]).astype(int)
            if not (0 <= u0 < 400 and 0 <= v0 < 225) or inst[v0, u0] != k:
                continue  # centre not visible before
            u1, v1 = np.round(uv1[k]).astype(int)
            tries += 1
            hits += small[v1, u1] == k
    assert tries >= 5 and hits >= 0.9 * tries


def test_global_rot_scale_trans_keeps_images_consistent(synthetic_scene):
    res = LoadMultiViewImages()(info_to_results(synthetic_scene, ['car', 'truck', 'pedestrian',
                                                                  'traffic_cone', 'barrier']))
    res = LoadPointsFromFile(use_dim=5)(res)
    pts0, boxes0 = res['points'].copy(), res['gt_bboxes_3d'].copy()
    l2i0 = res['lidar2img'].copy()
    np.random.seed(0)
    res = GlobalRotScaleTransFusion(rot_range=(0.3, 0.5), scale_ratio_range=(1.05, 1.1),
                                    translation_std=(0.5, 0.5, 0.2))(res)
    A = res['lidar_aug_matrix']
    assert not np.allclose(A, np.eye(4))
    for v in range(6):
        a, za = _project(l2i0[v], pts0[:, :3].astype(np.float64))
        b, zb = _project(res['lidar2img'][v], res['points'][:, :3].astype(np.float64))
        ok = za > 1
        np.testing.assert_allclose(a[ok], b[ok], atol=2e-2)  # float32 points
    inside0 = LiDARBoxes3D(boxes0[:, :7].astype(np.float64)).points_in_boxes(
        pts0.astype(np.float64)).sum(0)
    inside1 = LiDARBoxes3D(res['gt_bboxes_3d'][:, :7].astype(np.float64)).points_in_boxes(
        res['points'].astype(np.float64)).sum(0)
    assert (inside0 - inside1).abs().max() <= 2  # float32 rounding at the faces
    speed0 = np.hypot(boxes0[:, 7], boxes0[:, 8])
    speed1 = np.hypot(res['gt_bboxes_3d'][:, 7], res['gt_bboxes_3d'][:, 8])
    np.testing.assert_allclose(speed1, speed0 * np.linalg.det(A[:2, :2]) ** 0.5, rtol=1e-5,
                               atol=1e-6)


def test_range_filters(synthetic_scene):
    res = LoadPointsFromFile(use_dim=5)(info_to_results(synthetic_scene, ['car']))
    pcr = [-10, -10, -3, 10, 10, 3]
    res = PointsRangeFilter(pcr)(res)
    assert (np.abs(res['points'][:, :2]) < 10).all()
    res = ObjectNameFilter()(ObjectRangeFilter(pcr)(res))
    b = res['gt_bboxes_3d']
    assert (np.abs(b[:, :2]) < 10).all() and (res['gt_labels_3d'] == 0).all()
    assert (b[:, 6] >= -np.pi).all() and (b[:, 6] < np.pi).all()
    assert len(res['gt_names']) == len(b)


def test_synthetic_dataset_is_cached_and_deterministic():
    cfg = dict(type='SyntheticFusionDataset', num_scenes=2, seed=4, pipeline=PIPELINE,
               scene_cfg=dict(num_objects=(2, 3)))
    a, b = _build(cfg), _build(cfg)
    assert len(a) == 2
    x, y = a[1], b[1]
    assert torch.equal(x['inputs']['points'], y['inputs']['points'])
    assert torch.equal(x['inputs']['imgs'], y['inputs']['imgs'])
    assert a.scene(1) is a.scene(1)
    # the pipeline gets copies: changing them leaves the cache intact
    info = a.get_data_info(1)
    info['points'][:] = 0
    assert a.scene(1)['points'].any()


@pytest.mark.skipif(NUSC is None, reason='needs ../shared/data (config paths)')
def test_synthetic_config_builds(monkeypatch):
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    cfg = Config.fromfile(str(CONFIGS / 'synthetic-fusion.py'))
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.num_scenes = 1
    out = _build(ds_cfg)[0]
    meta = out['data_samples'].metainfo
    assert out['inputs']['imgs'].shape == (6, 3, 112, 200)
    assert (out['inputs']['points'][:, 4] == 0).all()  # time_dim=4: keyframe time lag
    np.testing.assert_array_equal(meta['point_cloud_range'], cfg.point_cloud_range)
    assert (out['data_samples'].gt_instances_3d.labels_3d >= 0).all()
    Config.fromfile(str(CONFIGS / 'nuscenes-fusion.py'))


# ------------------------------------------------------------------ bad input
def _tiny_results(tmp_path, points=None):
    K = np.array([[100.0, 0, 49.5], [0, 100.0, 24.5], [0, 0, 1]])
    l2c = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    import cv2
    paths = {}
    for name in ('CAM_A', 'CAM_B'):
        paths[name] = str(tmp_path / f'{name}.png')
        cv2.imwrite(paths[name], np.full((50, 100, 3), 7, np.uint8))
    K4 = np.eye(4)
    K4[:3, :3] = K
    return dict(sample_idx=0, lidar_points=dict(lidar_path=None, num_pts_feats=5),
                points=np.zeros((0, 5), np.float32) if points is None else points,
                images={n: dict(img_path=p, cam2img=K4, lidar2cam=l2c, lidar2img=K4 @ l2c)
                        for n, p in paths.items()},
                gt_bboxes_3d=np.zeros((0, 9), np.float32), gt_labels_3d=np.zeros(0, np.int64),
                gt_names=[])


def test_empty_point_cloud_packs_to_an_empty_tensor(tmp_path):
    res = _tiny_results(tmp_path)
    for t in (LoadPointsFromFile(use_dim=5), LoadMultiViewImages(),
              PointsRangeFilter([-5, -5, -3, 5, 5, 3])):
        res = t(res)
    out = PackFusionInputs()(res)
    assert out['inputs']['points'].shape == (0, 5)
    assert LoadPointsFromFile(use_dim=5, time_dim=4)(res)['points'].shape == (0, 5)
    assert out['data_samples'].gt_instances_3d.bboxes_3d.shape == (0, 9)
    # an empty file too
    f = tmp_path / 'empty.bin'
    f.write_bytes(b'')
    res = _tiny_results(tmp_path)
    res['lidar_points']['lidar_path'] = str(f)
    assert LoadPointsFromFile(use_dim=4)(res)['points'].shape == (0, 4)


def test_nan_points_are_dropped_and_counted(tmp_path):
    pts = np.ones((5, 5), np.float32)
    pts[1, 0], pts[3, 2] = np.nan, np.inf
    with mock.patch('vision_sparse.datasets.det3d.transforms.print_log') as log:
        res = LoadPointsFromFile(use_dim=5)(_tiny_results(tmp_path, pts))
    assert res['points'].shape == (3, 5)
    assert 'dropped 2 of 5 points' in log.call_args[0][0]


def test_missing_camera_file_names_the_camera(tmp_path):
    res = _tiny_results(tmp_path)
    res['images']['CAM_B']['img_path'] = str(tmp_path / 'nope.jpg')
    with pytest.raises(FileNotFoundError, match='CAM_B.*nope.jpg'):
        LoadMultiViewImages()(res)
    with pytest.raises(ValueError, match='CAM_C'):
        LoadMultiViewImages(cam_names=['CAM_A', 'CAM_C'])(_tiny_results(tmp_path))


@pytest.mark.parametrize('field,value,match', [
    ('cam2img', np.eye(2), r'CAM_A.cam2img must have shape'),
    ('cam2img', np.zeros((3, 3)), r'CAM_A.cam2img is not invertible'),
    ('lidar2cam', np.eye(3), r'CAM_A.lidar2cam must have shape'),
    ('lidar2cam', np.diag([1.0, 1, 0, 1]), r'CAM_A.lidar2cam is not invertible'),
    ('lidar2cam', np.full((4, 4), np.nan), r'CAM_A.lidar2cam has non-finite'),
])
def test_bad_calibration_names_the_field(tmp_path, field, value, match):
    res = _tiny_results(tmp_path)
    res['images']['CAM_A'][field] = value
    with pytest.raises(ValueError, match=match):
        LoadMultiViewImages()(res)


def test_zero_size_boxes_are_dropped_with_a_count(synthetic_scene):
    info = dict(synthetic_scene)
    t = info['gt_bboxes_3d'].tensor.clone()
    t[0, 3] = 0.0
    t[2, 5] = float('nan')
    info['gt_bboxes_3d'] = LiDARBoxes3D(t)
    with mock.patch('vision_sparse.datasets.det3d.dataset.print_log') as log:
        res = info_to_results(info, ['car', 'truck', 'pedestrian', 'traffic_cone', 'barrier'])
    assert len(res['gt_bboxes_3d']) == len(t) - 2 == len(res['gt_names'])
    assert 'dropped 2 of' in log.call_args[0][0]
    np.testing.assert_array_equal(res['gt_bboxes_3d'][0, :7], t[1, :7].float().numpy())


def test_views_of_different_sizes_cannot_be_packed(tmp_path):
    import cv2
    res = _tiny_results(tmp_path)
    cv2.imwrite(res['images']['CAM_B']['img_path'], np.zeros((40, 80, 3), np.uint8))
    res = LoadMultiViewImages()(res)
    assert 'img_shape' not in res
    with pytest.raises(ValueError, match='CAM_B'):
        PackFusionInputs()(res)
    with pytest.raises(ValueError, match='scale=\\(width, height\\)'):
        ResizeMultiView(scale_factor=0.5)(res)
    out = PackFusionInputs()(ResizeMultiView(scale=(64, 32))(res))
    assert out['inputs']['imgs'].shape == (2, 3, 32, 64)
    K = out['data_samples'].metainfo['cam2img']
    assert K[1, 0, 0] == pytest.approx(100 * 64 / 80) and K[0, 0, 0] == pytest.approx(64.0)
