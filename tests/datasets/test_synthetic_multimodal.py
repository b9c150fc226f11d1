"""Synthetic LiDAR + camera scenes: exact ground truth in both modalities."""
import time

import numpy as np
import pytest
import torch

from vision_sparse.datasets.synthetic.multimodal import (
    CLASS_SPECS, FUSION_CLASSES, NUSCENES_AZIMUTH_STEP_DEG, NUSCENES_BEAM_ELEVATIONS_DEG,
    NUSCENES_SENSOR_HEIGHT, default_camera_rig, load_camera_rig, make_fusion_scene)
from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D
from vision_sparse.testing import shared_data_path

NUSC = shared_data_path('lidar_camera', 'nuscenes')


@pytest.fixture(scope='module')
def scene():
    return make_fusion_scene(seed=0, index=0)


def _rel(boxes: LiDARBoxes3D, points: np.ndarray, margin: float) -> torch.Tensor:
    t = boxes.tensor.clone()
    t[:, 3:6] += 2 * margin
    return LiDARBoxes3D(t).points_in_boxes(torch.from_numpy(points[:, :3].astype(np.float64)))


def test_layout_is_a_det3d_info_entry(scene):
    assert scene['num_pts_feats'] == 5 and scene['box_frame'] == 'lidar'
    pts = scene['points']
    assert pts.dtype == np.float32 and pts.ndim == 2 and pts.shape[1] == 5 and len(pts) > 10000
    assert set(np.unique(pts[:, 4])) <= set(range(32))
    assert pts[:, 3].min() >= 0 and pts[:, 3].max() <= 255
    boxes = scene['gt_bboxes_3d']
    assert isinstance(boxes, LiDARBoxes3D) and boxes.tensor.shape[1] == 7
    m = len(boxes)
    assert 8 <= m <= 16
    assert scene['gt_labels_3d'].shape == (m,) and scene['velocity'].shape == (m,  2)
    assert scene['gt_names'] == [FUSION_CLASSES[k] for k in scene['gt_labels_3d']]
    assert list(scene['cameras']) == list(scene['images']) and len(scene['images']) == 6
    for name, cam in scene['cameras'].items():
        img = scene['images'][name]
        assert img.shape == (112, 200, 3) and img.dtype == np.uint8
        assert (cam['height'], cam['width']) == (112, 200)
        K4 = np.eye(4)
        K4[:3, :3] = cam['cam2img']
        np.testing.assert_allclose(cam['lidar2img'], K4 @ cam['lidar2cam'])
    # boxes stand on the ground, moving classes move along their heading
    ground = -NUSCENES_SENSOR_HEIGHT
    np.testing.assert_allclose(boxes.bottom_height.numpy(), ground, atol=1e-9)
    v = scene['velocity']
    speed = np.hypot(v[:, 0], v[:, 1])
    yaw = boxes.yaw.numpy()
    moving = speed > 0
    np.testing.assert_allclose(v[moving, 0], speed[moving] * np.cos(yaw[moving]), atol=1e-9)
    for k, name in enumerate(scene['gt_names']):
        assert speed[k] <= CLASS_SPECS[name]['speed'] + 1e-9


def test_deterministic_and_seeded():
    a = make_fusion_scene(seed=3, index=2, num_objects=(3, 4))
    b = make_fusion_scene(seed=3, index=2, num_objects=(3, 4))
    c = make_fusion_scene(seed=3, index=3, num_objects=(3, 4))
    np.testing.assert_array_equal(a['points'], b['points'])
    for n in a['images']:
        np.testing.assert_array_equal(a['images'][n], b['images'][n])
    assert not torch.equal(a['gt_bboxes_3d'].tensor, c['gt_bboxes_3d'].tensor)


def test_lidar_points_lie_on_the_surfaces(scene):
    pts, owner = scene['points'], scene['point_owner']
    boxes = scene['gt_bboxes_3d']
    noise = 0.02
    on_box = owner >= 0
    assert on_box.sum() > 100
    grown = _rel(boxes, pts[on_box], 5 * noise)
    assert grown[torch.arange(int(on_box.sum())), torch.from_numpy(owner[on_box])].all()
    # ... and on the faces, not inside: the box shrunk by 5 sigma holds none of them
    shrunk = _rel(boxes, pts[on_box], -5 * noise)
    assert not shrunk.any()
    ground = pts[owner == -1]
    assert np.abs(ground[:, 2] + NUSCENES_SENSOR_HEIGHT).max() < 5 * noise
    # the exact per-box point count (faces included)
    counts = boxes.points_in_boxes(torch.from_numpy(pts[:, :3].astype(np.float64))).sum(0)
    np.testing.assert_array_equal(counts.numpy(), scene['num_lidar_pts'])
    np.testing.assert_array_equal(scene['valid_flag'], scene['num_lidar_pts'] > 0)
    assert scene['valid_flag'].mean() >= 0.5


def test_beam_pattern(scene):
    pts = scene['points'].astype(np.float64)
    # range noise is along the ray: each point keeps its beam's elevation exactly
    el = np.degrees(np.arctan2(pts[:, 2], np.hypot(pts[:, 0], pts[:, 1])))
    np.testing.assert_allclose(el, NUSCENES_BEAM_ELEVATIONS_DEG[pts[:, 4].astype(int)],
                               atol=1e-3)
    ring = pts[pts[:, 4] == 25]
    az = np.sort(np.degrees(np.arctan2(ring[:, 1], ring[:, 0])))
    assert np.median(np.diff(az)) == pytest.approx(NUSCENES_AZIMUTH_STEP_DEG, abs=1e-3)


@pytest.mark.skipif(NUSC is None, reason='needs ../shared/data/lidar_camera/nuscenes')
def test_beam_constants_match_the_real_sweep():
    from vision_sparse.datasets.formats.nuscenes_info import load_points
    real = load_points(next(NUSC.glob('*.pcd.bin')), dim=5).astype(np.float64)
    r = np.hypot(real[:, 0], real[:, 1])
    el = np.degrees(np.arctan2(real[:, 2], r))
    # the HDL-32E's linear fan; the low rings, seen mostly at a few metres, read up to
    # 0.32 degrees lower (the beams do not start exactly at the LiDAR origin)
    for k in range(32):
        sel = (real[:, 4] == k) & (r > 3)
        assert np.median(el[sel]) == pytest.approx(NUSCENES_BEAM_ELEVATIONS_DEG[k], abs=0.35)
        far = sel & (r > 15)
        if far.sum() > 100:
            assert np.median(el[far]) == pytest.approx(NUSCENES_BEAM_ELEVATIONS_DEG[k], abs=0.03)
    ring = real[real[:, 4] == 20]
    az = np.sort(np.degrees(np.arctan2(ring[:, 1], ring[:, 0])))
    assert np.median(np.diff(az)) == pytest.approx(NUSCENES_AZIMUTH_STEP_DEG, abs=0.01)
    near = (real[:, 4] <= 12) & (r > 3) & (r < 25)
    hist, edges = np.histogram(real[near, 2], bins=np.arange(-2.5, -1.0, 0.02))
    assert edges[hist.argmax()] + 0.01 == pytest.approx(-NUSCENES_SENSOR_HEIGHT, abs=0.03)


def test_pixels_of_an_object_lie_on_its_box(scene):
    """Every pixel that sees object k, lifted with its depth, lies on box k's surface, and
    inside the 2-D box of k's projected corners."""
    boxes = scene['gt_bboxes_3d']
    corners = boxes.corners.numpy()
    seen = 0
    for name, cam in scene['cameras'].items():
        inst, depth = scene['instance_maps'][name], scene['depth_maps'][name]
        Kinv = np.linalg.inv(cam['cam2img'])
        c2l = np.linalg.inv(cam['lidar2cam'])
        for k in np.unique(inst[inst >= 0]):
            v, u = np.nonzero(inst == k)
            xyz_cam = (np.stack([u, v, np.ones_like(u)], 1) @ Kinv.T) * depth[v, u, None]
            xyz = xyz_cam @ c2l[:3, :3].T + c2l[:3, 3]
            assert _rel(boxes, xyz, 1e-3)[:, k].all()
            assert not _rel(boxes, xyz, -1e-3)[:, k].any()
            hom = np.concatenate([corners[k], np.ones((8, 1))], 1) @ cam['lidar2img'].T
            if (hom[:, 2] > 0).all():
                uv = hom[:, :2] / hom[:, 2:3]
                assert u.min() >= uv[:, 0].min() - 0.5 and u.max() <= uv[:, 0].max() + 0.5
                assert v.min() >= uv[:, 1].min() - 0.5 and v.max() <= uv[:, 1].max() + 0.5
            seen += 1
    assert seen >= len(boxes)  # every object is visible somewhere (most in several views)


def test_classes_look_different():
    """Mean colour of each class's pixels (pooled over scenes): pairwise far apart."""
    sums = {c: np.zeros(3) for c in FUSION_CLASSES}
    counts = dict.fromkeys(FUSION_CLASSES, 0)
    for i in range(3):
        s = make_fusion_scene(seed=5, index=i)
        for name, img in s['images'].items():
            inst = s['instance_maps'][name]
            for k in np.unique(inst[inst >= 0]):
                cls = s['gt_names'][k]
                pix = img[inst == k].astype(np.float64)
                sums[cls] += pix.sum(0)
                counts[cls] += len(pix)
    means = {c: sums[c] / counts[c] for c in FUSION_CLASSES if counts[c] > 50}
    assert len(means) == len(FUSION_CLASSES)
    names = list(means)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.linalg.norm(means[a] - means[b]) > 30, (a, b)


def test_fast_enough():
    make_fusion_scene(seed=9, index=0)  # warm-up (texture cache)
    start = time.perf_counter()
    make_fusion_scene(seed=9, index=1, image_scale=0.125)
    assert time.perf_counter() - start < 3.0  # ~0.5 s on one quiet core


@pytest.mark.skipif(NUSC is None, reason='needs ../shared/data/lidar_camera/nuscenes')
def test_real_calibration_and_picture():
    import cv2
    rig = load_camera_rig(next(NUSC.glob('*.pkl')))
    assert len(rig) == 6
    s = make_fusion_scene(seed=0, index=0, camera_rig=rig, image_scale=0.25)
    front = s['cameras']['CAM_FRONT']
    np.testing.assert_allclose(front['cam2img'][0, 0], rig['CAM_FRONT']['cam2img'][0, 0] / 4)
    assert s['images']['CAM_FRONT'].shape == (225, 400, 3)
    row = [np.concatenate([s['images'][n] for n in names], 1) for names in (
        ('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'),
        ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))]
    try:
        cv2.imwrite('/tmp/sf-data/cameras_test.png', np.concatenate(row, 0))
    except cv2.error:  # pragma: no cover - only a picture for people
        pass


def test_bad_input():
    with pytest.raises(ValueError, match='classes'):
        make_fusion_scene(classes=('car', 'bus'))
    rig = default_camera_rig()
    rig['CAM_FRONT']['cam2img'] = np.eye(4)[:2]
    with pytest.raises(ValueError, match='CAM_FRONT: cam2img'):
        make_fusion_scene(camera_rig=rig)
    rig = default_camera_rig()
    rig['CAM_BACK']['lidar2cam'] = np.zeros((4, 4))
    with pytest.raises(ValueError, match='CAM_BACK: lidar2cam'):
        make_fusion_scene(camera_rig=rig)
    with pytest.raises(ValueError, match='image_scale'):
        make_fusion_scene(image_scale=0)
