"""demo/fusion_demo.py on the real nuScenes keyframe: the ground-truth geometry self-check
(in-box LiDAR points project inside the box's 2-D hull; projected centres equal the
center_2d nuScenes stored), and the pictures and .ply files it writes."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from vision_sparse.testing.data import shared_data_path

DEMO = Path(__file__).resolve().parents[2] / 'demo' / 'fusion_demo.py'
pytestmark = pytest.mark.skipif(shared_data_path('lidar_camera', 'nuscenes') is None,
                                reason='no shared nuScenes keyframe')


@pytest.fixture(scope='module')
def demo():
    spec = importlib.util.spec_from_file_location('fusion_demo', DEMO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def frame(demo):
    return demo.load_frame(demo.default_info())


def test_real_keyframe_geometry(demo, frame):
    check = demo.geometry_check(frame)
    # every camera sees boxes; most boxes are whole in the image
    assert all(v > 0 for v, _, _ in check['per_camera'].values())
    assert check['visible'] >= 60 and check['all_corners_inside'] >= 0.9 * check['visible']
    assert check['points_in_boxes'] >= 1000
    assert check['hull_fraction'] >= 0.95
    # independent: nuScenes' converter projected the same gravity centres
    errs = check['center_errors_px']
    assert len(errs) >= 60 and np.median(errs) < 0.01 and errs.max() < 0.5


def test_geometry_check_catches_a_wrong_box_convention(demo, frame):
    """Boxes moved down by half their height (bottom centre read as the gravity centre): the
    projected centres no longer match nuScenes' center_2d."""
    from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D
    moved = frame['gt_bboxes_3d'].tensor.clone()
    moved[:, 2] -= moved[:, 5] / 2
    check = demo.geometry_check(dict(frame, gt_bboxes_3d=LiDARBoxes3D(moved)))
    assert np.median(check['center_errors_px']) > 3


def test_demo_writes_the_pictures(demo, tmp_path, capsys):
    check = demo.main(['--out', str(tmp_path), '--config', str(tmp_path / 'absent.py')])
    text = capsys.readouterr().out
    assert 'does not exist' in text and 'ground truth only' in text
    assert check['hull_fraction'] >= 0.95
    for name in ('gt_cameras.png', 'gt_bev.png', 'gt_bev_zoom.png', 'gt_points.ply',
                 'gt_boxes.ply'):
        assert (tmp_path / name).is_file(), name
    o3d = pytest.importorskip('open3d')
    assert len(o3d.io.read_point_cloud(str(tmp_path / 'gt_points.ply')).points) == 34688
    assert len(o3d.io.read_line_set(str(tmp_path / 'gt_boxes.ply')).lines) == 69 * 14


def test_demo_runs_the_default_fusion_model(demo, tmp_path, capsys):
    """The default config (tiny fused model, untrained) on the keyframe given only
    lidar2img: the camera branch gets K and the extrinsics split from it."""
    demo.main(['--out', str(tmp_path)])
    text = capsys.readouterr().out
    assert 'model (fusion): success=True' in text, text
    for name in ('pred_cameras.png', 'pred_bev.png'):
        assert (tmp_path / name).is_file(), name
