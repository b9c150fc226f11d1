"""FusionInferencer: packing as the contract says (points, BGR views resized with a
consistent lidar2img), modalities, the result contract, bad input, the CLI. The model is
a stand-in (tests/apis/fusion_standin.py) whose right answer is known."""
import json

import cv2
import numpy as np
import pytest

from tests.apis.fusion_standin import StandInFusionModel
from vision_sparse.apis import FusionInferencer
from vision_sparse.apis.fusion import prepare_points, resolve_modality
from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D
from vision_sparse.structures.results import check_result
from vision_sparse.testing.data import shared_data_path

CLASSES = ('car', 'pedestrian')
CAMS = {'CAM_FRONT': 0, 'CAM_FRONT_RIGHT': -55, 'CAM_FRONT_LEFT': 55, 'CAM_BACK': 180,
        'CAM_BACK_LEFT': 110, 'CAM_BACK_RIGHT': -110}
# (x, y, z, l, w, h, yaw): A in front (points, painted), B behind right (points, painted),
# C on the left (no points, not painted): the right answer is A and B.
BOXES = np.array([[0.0, 12.0, -1.0, 4.5, 1.9, 1.6, 0.3],
                  [8.0, -6.0, -0.9, 0.8, 0.8, 1.8, 0.0],
                  [-10.0, 5.0, -1.0, 4.0, 2.0, 1.5, 0.0]])
LABELS = np.array([0, 1, 0])
RANGE = [-20.0, -20.0, -3.0, 20.0, 20.0, 3.0]
RED = (255, 0, 0)


def _calib(yaw_deg, size=(400, 240), f=300.0):
    """lidar2cam of a camera at the origin looking along +y rotated by yaw, and K."""
    a = np.deg2rad(yaw_deg)
    R = np.array([[np.cos(a), np.sin(a), 0], [0, 0, -1], [-np.sin(a), np.cos(a), 0]])
    lidar2cam = np.eye(4)
    lidar2cam[:3, :3] = R
    w, h = size
    K = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1.0]])
    return K, lidar2cam


def _scene(sizes=None, seed=0):
    """Points in boxes A, B + ground; six views with A, B painted red."""
    rng = np.random.default_rng(seed)
    pts = [np.zeros((0, 3))]
    for box in BOXES[:2]:
        local = (rng.random((150, 3)) - 0.5) * box[3:6] * 0.95
        c, s = np.cos(box[6]), np.sin(box[6])
        pts.append(local @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]]) + box[:3])
    ground = np.c_[rng.uniform(-19, 19, (400, 2)), np.full(400, -1.95)]
    ground = ground[~LiDARBoxes3D(BOXES).points_in_boxes(ground).any(1).numpy()]
    xyz = np.concatenate(pts + [ground])
    points = np.c_[xyz, rng.random(len(xyz)), rng.integers(0, 32, len(xyz))].astype(np.float32)
    images, cam2img, lidar2cam = {}, {}, {}
    corners = LiDARBoxes3D(BOXES[:2]).corners.numpy()
    for name, yaw in CAMS.items():
        size = (sizes or {}).get(name, (400, 240))
        K, E = _calib(yaw, size, f=300.0 * size[0] / 400)
        img = np.full((size[1], size[0], 3), 90, np.uint8)
        for c in corners:
            cam = c @ E[:3, :3].T + E[:3, 3]
            if (cam[:, 2] > 0.5).all():
                uv = cam @ K.T
                uv = uv[:, :2] / uv[:, 2:]
                cv2.fillConvexPoly(img, cv2.convexHull(np.round(uv).astype(np.int32)), RED)
        images[name], cam2img[name], lidar2cam[name] = img, K, E
    return dict(points=points, images=images, cam2img=cam2img, lidar2cam=lidar2cam)


def _inferencer(modality='fusion', img_size=(200, 120), **kw):
    model = StandInFusionModel(BOXES, LABELS, modality=modality)
    cfg = dict(model=dict(), point_cloud_range=RANGE, class_names=list(CLASSES),
               test_pipeline=[dict(type='LoadPointsFromFile', use_dim=[0, 1, 2, 3, 4],
                                   time_dim=4)])
    if img_size is not None:
        cfg['img_size'] = img_size
    return FusionInferencer(cfg, model=model, **kw)


@pytest.fixture(scope='module')
def scene():
    return _scene()


def test_fusion_finds_the_boxes_both_modalities_see(scene):
    inf = _inferencer()
    res = inf(points=scene['points'], images=scene['images'], cam2img=scene['cam2img'],
              lidar2cam=scene['lidar2cam'])
    check_result(res)
    assert res['success'] and res['reason'] == '' and res['modality'] == 'fusion'
    assert res['bboxes_3d'].shape == (2, 9) and res['bboxes_3d'].dtype == np.float32
    np.testing.assert_allclose(res['bboxes_3d'][:, :7], BOXES[:2], atol=1e-5)
    assert np.isnan(res['bboxes_3d'][:, 7:]).all()  # the stand-in gives no velocity
    assert res['labels'].tolist() == [0, 1] and res['class_names'] == ['car', 'pedestrian']
    assert res['scores'].shape == (2,) and {'load', 'predict', 'total'} <= set(res['timings'])
    seen = inf.model.seen[-1]
    imgs, meta = seen['imgs'], seen['meta']
    # views resized to img_size (200 x 120), uint8 BGR (V, 3, H, W), in the images' order
    assert tuple(imgs.shape) == (6, 3, 120, 200) and str(imgs.dtype) == 'torch.uint8'
    assert meta['cam_names'] == list(CAMS) and meta['img_shape'] == (120, 200)
    assert meta['ori_shapes'] == [(240, 400)] * 6 and meta['box_type_3d'] == 'LiDAR'
    assert meta['lidar2img'].shape == (6, 4, 4) and meta['lidar2img'].dtype == np.float32
    # lidar2img == cam2img @ lidar2cam, cam2img the scale_intrinsics of the K given
    from vision_sparse.structures.cameras import scale_intrinsics
    K = scale_intrinsics(scene['cam2img']['CAM_FRONT'], 0.5, 0.5)
    np.testing.assert_allclose(meta['cam2img'][0, :3, :3], K, rtol=1e-6)
    np.testing.assert_allclose(meta['lidar2img'][0], meta['cam2img'][0] @ meta['lidar2cam'][0],
                               rtol=1e-5, atol=1e-4)
    # points: the use_dim columns inside the range, the time column zeroed
    assert tuple(seen['points'].shape) == (len(scene['points']), 5)
    assert (seen['points'][:, 4] == 0).all() and (seen['points'][:, 3] != 0).any()


def test_views_of_different_sizes_are_resized_each_with_its_own_calibration():
    sc = _scene(sizes={'CAM_BACK_RIGHT': (320, 200), 'CAM_FRONT': (480, 270)})
    res = _inferencer(modality='camera')(images=sc['images'], cam2img=sc['cam2img'],
                                         lidar2cam=sc['lidar2cam'])
    assert res['success'] and res['labels'].tolist() == [0, 1]  # red pixels still under A, B
    with pytest.raises(ValueError, match='one size'):
        _inferencer(modality='camera', img_size=None)(images=sc['images'], cam2img=sc['cam2img'],
                                                      lidar2cam=sc['lidar2cam'])


def test_lidar2img_alone_and_as_an_array(scene):
    l2i = np.stack([np.pad(scene['cam2img'][n], ((0, 1), (0, 1))) @ scene['lidar2cam'][n]
                    for n in CAMS])
    l2i[:, 3, 3] = 1
    inf = _inferencer(modality='camera')
    res = inf(images=scene['images'], lidar2img=l2i)
    assert res['success'] and res['labels'].tolist() == [0, 1]


def test_modalities_use_only_what_they_need(scene):
    lidar = _inferencer(modality='lidar')
    res = lidar(points=scene['points'])  # no images needed
    assert res['success'] and res['modality'] == 'lidar' and res['cam_names'] == []
    np.testing.assert_allclose(res['bboxes_3d'][:, :7], BOXES[:2], atol=1e-5)
    cam = _inferencer(modality='camera')
    res = cam(images=scene['images'], cam2img=scene['cam2img'], lidar2cam=scene['lidar2cam'])
    assert res['success'] and res['num_points'] == 0
    res = cam(points=scene['points'])
    check_result(res)
    assert not res['success'] and 'camera images' in res['reason']
    assert res['bboxes_3d'].shape == (0, 9) and res['labels'].dtype == np.int64
    res = _inferencer()(points=scene['points'])
    assert not res['success'] and 'camera images' in res['reason']
    res = _inferencer()(images=scene['images'], cam2img=scene['cam2img'],
                        lidar2cam=scene['lidar2cam'])
    assert not res['success'] and 'point cloud' in res['reason']


def test_modality_from_the_config():
    from mmengine.config import Config
    assert resolve_modality(Config(dict(model=dict(modality='camera')))) == 'camera'
    assert resolve_modality(Config(dict(model=dict(), input_modality=dict(
        use_lidar=True, use_camera=False)))) == 'lidar'
    assert resolve_modality(Config(dict(model=dict()))) == 'fusion'
    with pytest.raises(ValueError, match='modality'):
        resolve_modality(Config(dict(model=dict(modality='radar'))))


def test_missing_camera_is_a_defined_failure(scene):
    images = dict(scene['images'])
    del images['CAM_BACK']
    inf = _inferencer(cam_names=list(CAMS))
    res = inf(points=scene['points'], images=images, cam2img=scene['cam2img'],
              lidar2cam=scene['lidar2cam'])
    check_result(res)
    assert not res['success'] and 'CAM_BACK' in res['reason'] and res['num_boxes'] == 0


def test_bad_points(scene):
    inf = _inferencer(modality='lidar')
    for empty in (np.zeros((0, 5), np.float32), np.zeros((0, 4))):
        res = inf(points=empty)
        check_result(res)
        assert not res['success'] and 'no point' in res['reason']
        assert res['bboxes_3d'].shape == (0, 9) and res['scores'].shape == (0,)
    bad = scene['points'].copy()
    bad[3, 1] = np.nan
    bad[7, 0] = np.inf
    with pytest.raises(ValueError, match=r'points: 2 of .* NaN or inf'):
        inf(points=bad)
    with pytest.raises(ValueError, match=r'points must have shape \(N, >=4\)'):
        inf(points=scene['points'][:, :3])
    with pytest.raises(ValueError, match='at least 5 columns'):
        inf(points=scene['points'][:, :4])
    far = scene['points'].copy()
    far[:, :2] += 1000.0
    res = inf(points=far)
    assert not res['success'] and 'inside point_cloud_range' in res['reason']
    # far points among good ones are dropped like the test pipeline's PointsRangeFilter
    mixed = np.concatenate([scene['points'], far[:50]])
    res = inf(points=mixed)
    assert res['success'] and res['num_points'] == len(scene['points'])
    assert len(prepare_points(mixed, np.asarray(RANGE))) == len(scene['points'])


def test_points_from_a_bin_file(scene, tmp_path):
    path = tmp_path / 'sweep.bin'
    scene['points'].astype('<f4').tofile(path)
    with pytest.raises(ValueError, match='points: .*cannot infer the point dimension'):
        _inferencer(modality='lidar')(points=str(path))  # 3500 values: 4 or 5 a point?
    res = _inferencer(modality='lidar')(points=str(path), load_dim=5)
    assert res['success'] and res['num_points'] == len(scene['points'])
    with pytest.raises(ValueError, match='points'):
        _inferencer(modality='lidar')(points=str(tmp_path / 'nope.bin'))


def test_bad_calibration(scene):
    inf = _inferencer(modality='camera')
    kw = dict(images=scene['images'])
    with pytest.raises(ValueError, match=r'lidar2img must hold one matrix per image'):
        inf(lidar2img=np.tile(np.eye(4), (5, 1, 1)), **kw)
    with pytest.raises(ValueError, match=r"lidar2cam\['CAM_FRONT'\] must have shape"):
        inf(cam2img=scene['cam2img'], lidar2cam=dict(scene['lidar2cam'], CAM_FRONT=np.eye(3)),
            **kw)
    singular = dict(scene['cam2img'], CAM_BACK=np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"cam2img\['CAM_BACK'\] is not invertible"):
        inf(cam2img=singular, lidar2cam=scene['lidar2cam'], **kw)
    flat = dict(scene['lidar2cam'], CAM_FRONT=np.diag([1.0, 1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match=r"lidar2cam\['CAM_FRONT'\] is not invertible"):
        inf(cam2img=scene['cam2img'], lidar2cam=flat, **kw)
    nan = dict(scene['cam2img'], CAM_FRONT=np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match='finite'):
        inf(cam2img=nan, lidar2cam=scene['lidar2cam'], **kw)
    with pytest.raises(ValueError, match='has no calibration'):
        inf(cam2img=scene['cam2img'], **kw)
    with pytest.raises(ValueError, match='images'):
        inf(images=[scene['images']['CAM_FRONT']])


def test_score_threshold_and_draw(scene):
    inf = _inferencer(modality='lidar')
    res = inf(points=scene['points'], score_thr=2.0)
    assert not res['success'] and 'no box scored' in res['reason']
    res = inf(points=scene['points'])
    l2i = {n: np.pad(scene['cam2img'][n], ((0, 1), (0, 1))) @ scene['lidar2cam'][n]
           for n in CAMS}
    for m in l2i.values():
        m[3, 3] = 1
    pics = inf.draw(res, points=scene['points'], images=scene['images'], lidar2img=l2i,
                    gt_boxes=BOXES, tile_width=200)
    assert pics['bev'].dtype == np.uint8 and pics['bev'].shape == (400, 400, 3)
    assert pics['cameras'].shape == (2 * 124 + 4, 3 * 204 + 4, 3)


def test_built_from_a_config_and_the_cli(scene, tmp_path):
    """A config file (custom import of the stand-in), run from the command line on an
    info pickle: prints the JSON summary and writes the pictures and .ply files."""
    import pickle
    from vision_sparse.apis.__main__ import main
    root = tmp_path / 'data'
    root.mkdir()
    scene['points'].astype('<f4').tofile(root / 'sweep.bin')
    images = {}
    for name, img in scene['images'].items():
        cv2.imwrite(str(root / f'{name}.png'), img[..., ::-1])
        images[name] = dict(img_path=f'{name}.png', cam2img=scene['cam2img'][name].tolist(),
                            lidar2cam=scene['lidar2cam'][name].tolist(), height=240, width=400)
    info = dict(metainfo=dict(categories=dict(car=0, pedestrian=1)), data_list=[dict(
        sample_idx=0, lidar_points=dict(lidar_path='sweep.bin', num_pts_feats=5),
        images=images, instances=[dict(bbox_3d=b.tolist(), bbox_label_3d=int(l))
                                  for b, l in zip(BOXES, LABELS)])])
    with open(root / 'info.pkl', 'wb') as f:
        pickle.dump(info, f)
    cfg = tmp_path / 'standin_cfg.py'
    cfg.write_text(
        "custom_imports = dict(imports=['tests.apis.fusion_standin'], "
        "allow_failed_imports=False)\n"
        f"model = dict(type='StandInFusionModel', templates={BOXES.tolist()}, "
        f"labels={LABELS.tolist()}, modality='fusion')\n"
        f"point_cloud_range = {RANGE}\nimg_size = (200, 120)\nclass_names = {list(CLASSES)}\n")
    out = tmp_path / 'out'
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(['fusion', str(cfg), '--info', str(root / 'info.pkl'), '--out', str(out)])
    summary = json.loads(buf.getvalue())
    assert rc == 0 and summary['success'] and summary['num_boxes'] == 2
    assert summary['boxes_per_class'] == {'car': 1, 'pedestrian': 1}
    assert summary['modality'] == 'fusion'
    for name in ('cameras.png', 'bev.png', 'scene_points.ply', 'scene_boxes.ply'):
        assert (out / name).is_file(), name
    import open3d as o3d
    assert len(o3d.io.read_point_cloud(str(out / 'scene_points.ply')).points) == len(
        scene['points'])
    # 2 predicted + 3 ground-truth boxes, 8 corners each
    assert len(o3d.io.read_line_set(str(out / 'scene_boxes.ply')).points) == 5 * 8
    assert main(['fusion', str(cfg), '--info', str(root / 'info.pkl'), '--index', '3']) == 2


@pytest.mark.skipif(shared_data_path('lidar_camera', 'nuscenes') is None,
                    reason='no shared nuScenes keyframe')
def test_real_keyframe_sample_dict():
    """The real keyframe through the sample-dict path: a LiDAR stand-in with the GT boxes
    as templates returns exactly the boxes holding >= 5 of the sweep's points."""
    from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info, load_points
    pkl = next(shared_data_path('lidar_camera', 'nuscenes').glob('*.pkl'))
    sample = load_det3d_info(pkl)[0]
    gt = sample['gt_bboxes_3d'].tensor.numpy()
    labels = np.maximum(sample['gt_labels_3d'], 0)
    model = StandInFusionModel(gt, labels, modality='fusion', min_points=5, mark_bgr=(0, 0, 0))
    import torch
    model._camera_keep = lambda imgs, l2i: torch.ones(len(gt), dtype=torch.bool)  # LiDAR rule only
    inf = FusionInferencer(dict(model=dict(), point_cloud_range=[-54, -54, -5, 54, 54, 3],
                                img_size=(400, 225)), model=model)
    res = inf(sample)
    assert res['success'] and res['cam_names'] == list(sample['cameras'])
    pts = prepare_points(load_points(sample['lidar_path'], 5), inf.point_cloud_range)
    counts = sample['gt_bboxes_3d'].points_in_boxes(pts).sum(0).numpy()
    np.testing.assert_allclose(res['bboxes_3d'][:, :7], gt[counts >= 5], atol=1e-4)
    meta = model.seen[-1]['meta']
    assert meta['img_shape'] == (225, 400) and meta['ori_shapes'] == [(900, 1600)] * 6


@pytest.mark.skipif(shared_data_path('lidar_camera', 'nuscenes') is None,
                    reason='no shared nuScenes keyframe')
def test_same_inputs_as_the_dataset_test_pipeline(tmp_path):
    """The inferencer's test-pipeline equivalent packs the real keyframe exactly as the
    dataset's test pipeline (configs/_base_/datasets/nuscenes-fusion.py: views resized to
    800 x 448, points cut to the range, time column zeroed) does."""
    pytest.importorskip('vision_sparse.datasets.det3d')
    from pathlib import Path

    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info
    from vision_sparse.registry import DATASETS
    from vision_sparse.utils import register_all_modules
    base = Path(__file__).resolve().parents[2] / 'configs' / '_base_' / 'datasets'
    if not (base / 'nuscenes-fusion.py').is_file():
        pytest.skip('no nuscenes-fusion dataset config')
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(str(base / 'nuscenes-fusion.py'))
    pkl = str(next(shared_data_path('lidar_camera', 'nuscenes').glob('*.pkl')))
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        item = DATASETS.build(dict(cfg.val_dataset, data_root='', ann_file=pkl))[0]
    model = StandInFusionModel(np.zeros((0, 7)), np.zeros(0), modality='fusion')
    inf = FusionInferencer(dict(model=dict(), test_pipeline=cfg.test_pipeline,
                                point_cloud_range=cfg.point_cloud_range), model=model)
    inf(load_det3d_info(pkl)[0])
    seen = model.seen[-1]
    want = item['data_samples'].metainfo
    assert seen['meta']['cam_names'] == want['cam_names']
    assert seen['meta']['img_shape'] == tuple(want['img_shape']) == (448, 800)
    for key in ('lidar2img', 'cam2img', 'lidar2cam'):
        np.testing.assert_allclose(seen['meta'][key], want[key], rtol=1e-6, atol=1e-5)
    assert (seen['imgs'] == item['inputs']['imgs']).all()
    np.testing.assert_array_equal(seen['points'].numpy(), item['inputs']['points'].numpy())
