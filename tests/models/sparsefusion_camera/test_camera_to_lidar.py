"""Camera representation <-> LiDAR boxes: exact round trip on the real nuScenes
calibration, agreement with LiDARBoxes3D.convert_to, the ViewTransformer at
initialisation, bad input."""
import numpy as np
import pytest
import torch

from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info
from vision_sparse.models.layers.fusion import (ViewTransformer, bev_preds_to_boxes,
                                                boxes_to_bev_preds, camera_info_vector,
                                                camera_repr_to_lidar, lidar_to_camera_repr)
from vision_sparse.structures.bbox import LiDARBoxes3D
from vision_sparse.testing.data import shared_data_path

from .synthetic import rig, scene

NUS = shared_data_path('lidar_camera', 'nuscenes')
needs_nus = pytest.mark.skipif(NUS is None or not any(NUS.glob('*.pkl')),
                               reason='nuScenes sample (../shared/data/lidar_camera/nuscenes) '
                               'not found; set VISION_SPARSE_DATA')


def _wrap(a):
    return torch.atan2(torch.sin(a), torch.cos(a))


def _round_trip(boxes, k, t):
    rep = lidar_to_camera_repr(boxes, k, t)
    n = boxes.shape[0]
    back = camera_repr_to_lidar(rep['uv'], rep['depth'], rep['dims'], rep['rot'], rep['vel'],
                                k.expand(n, *k.shape[-2:]), t.expand(n, 4, 4))
    return rep, back


@needs_nus
@pytest.mark.parametrize('dtype', [torch.float64, torch.float32])
def test_round_trip_real_calibration_all_six_views(dtype):
    sample = load_det3d_info(next(NUS.glob('*.pkl')))[0]
    vel = torch.from_numpy(sample['velocity'])
    boxes = torch.cat([sample['gt_bboxes_3d'].tensor, vel], 1).to(dtype)
    assert len(sample['cameras']) == 6
    for name, cam in sample['cameras'].items():
        k = torch.from_numpy(np.asarray(cam['cam2img'])).to(dtype)
        t = torch.from_numpy(np.asarray(cam['lidar2cam'])).to(dtype)
        rep, back = _round_trip(boxes, k, t)
        diff = back - boxes
        diff[:, 6] = _wrap(diff[:, 6])
        known = torch.isfinite(boxes)
        assert torch.equal(torch.isfinite(back), known), name  # NaN velocity stays NaN
        # float64: exact to rounding; float32: 1e-5 relative to the coordinate size (~50 m)
        scale = boxes.abs().nan_to_num().clamp_min(1.0)
        tol = 1e-10 if dtype == torch.float64 else 1e-5
        assert (diff[known].abs() / scale[known]).max() < tol, name
        # the camera yaw / velocity are those of LiDARBoxes3D.convert_to
        cb = LiDARBoxes3D(boxes.double()).convert_to('camera', cam['lidar2cam']).tensor
        ry = torch.atan2(rep['rot'][:, 0], rep['rot'][:, 1]).double()
        assert _wrap(ry - cb[:, 6]).abs().max() < (1e-10 if dtype == torch.float64 else 1e-5)
        fin = torch.isfinite(cb[:, 7])
        assert torch.allclose(rep['vel'].double()[fin], cb[fin, 7:9], atol=1e-5)
        # the centre projects where the camera sees it
        ctr = torch.cat([boxes[:, :3], torch.ones_like(boxes[:, :1])], 1).double()
        proj = ctr @ torch.from_numpy(np.asarray(cam['lidar2img'])).double().T
        front = proj[:, 2] > 1
        assert torch.allclose(rep['uv'].double()[front], proj[front, :2] / proj[front, 2:3],
                              rtol=1e-5, atol=1e-3)


def test_round_trip_tilted_camera_is_exact():
    """A 7-degree tilt: the official full-rotation yaw would be off, ours is exact."""
    cam2img, l2c, _ = rig(tilt_deg=7.0)
    boxes, _ = scene()
    boxes = boxes.double()
    rep, back = _round_trip(boxes, cam2img[0].double(), l2c[0].double())
    diff = (back - boxes).nan_to_num()
    diff[:, 6] = _wrap(diff[:, 6])
    assert diff.abs().max() < 1e-10


def test_bev_pred_layout_round_trip():
    boxes, _ = scene()
    boxes = boxes.nan_to_num()[None]
    pcr, vs, s = (-16.0, -16.0, -3.0, 16.0, 16.0, 3.0), (0.25, 0.25, 0.2), 4
    preds = boxes_to_bev_preds(boxes, pcr, vs, s)
    assert preds['center'].shape == (1, 2, 3) and preds['dim'].shape == (1, 3, 3)
    # x = -2 m is 14 m from x0 = -16, cells are 1 m -> 14.0 (cell 14 starts there)
    assert preds['center'][0, 0, 0].item() == pytest.approx(14.0)
    back = bev_preds_to_boxes(preds, pcr, vs, s)
    back[..., 6] = back[..., 6] - boxes[..., 6]
    assert torch.allclose(_wrap(back[..., 6]), torch.zeros(1, 3), atol=1e-6)
    assert torch.allclose(back[..., [0, 1, 2, 3, 4, 5, 7, 8]],
                          boxes[..., [0, 1, 2, 3, 4, 5, 7, 8]], atol=1e-5)


def test_view_transformer_starts_at_the_geometric_transform():
    torch.manual_seed(0)
    cam2img, l2c, _ = rig()
    boxes, _ = scene()
    boxes = boxes.nan_to_num()[None]
    vt = ViewTransformer(16, 3, (-16.0, -16.0, -3.0, 16.0, 16.0, 3.0), (0.25, 0.25, 0.2), 4)
    info = camera_info_vector(cam2img[[0, 0, 1]], l2c[[0, 0, 1]], (64, 96))[None]
    out = vt(torch.randn(1, 16, 3), boxes, info)
    ref = boxes_to_bev_preds(boxes, (-16.0, -16.0, -3.0, 16.0, 16.0, 3.0), (0.25, 0.25, 0.2), 4)
    for key in ('center', 'height', 'dim', 'rot', 'vel'):
        assert torch.equal(out[key], ref[key]), key
    assert out['heatmap'].shape == (1, 3, 3) and out['query_feat'].shape == (1, 16, 3)
    assert torch.equal(out['query_pos'], ref['center'].transpose(1, 2))


def test_bad_matrices_raise_naming_them():
    cam2img, l2c, _ = rig()
    boxes, _ = scene()
    with pytest.raises(ValueError, match='cam2img'):
        lidar_to_camera_repr(boxes, torch.zeros(4, 4), l2c[0])
    with pytest.raises(ValueError, match='lidar2cam'):
        lidar_to_camera_repr(boxes, cam2img[0], l2c[0, :3])
    singular = l2c[0].clone()
    singular[:3, :3] = 0
    with pytest.raises(ValueError, match='lidar2cam'):
        lidar_to_camera_repr(boxes, cam2img[0], singular)
    up = torch.eye(4)  # camera z = lidar z: looks straight up, no ground yaw
    with pytest.raises(ValueError, match='straight up'):
        lidar_to_camera_repr(boxes, cam2img[0], up)
    with pytest.raises(ValueError, match='boxes'):
        lidar_to_camera_repr(boxes[:, :5], cam2img[0], l2c[0])
