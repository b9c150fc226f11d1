""".ply export: write with vision_sparse, read back with open3d, compare."""
import numpy as np
import pytest
import torch

from vision_sparse.structures.bbox import CameraBoxes3D, LiDARBoxes3D
from vision_sparse.visualization import (palette, save_boxes3d_ply,
                                         save_point_cloud_ply)
from vision_sparse.visualization.boxes3d import box_edges

o3d = pytest.importorskip(
    'open3d', reason='open3d (and its system libusb-1.0) is not installed')


def test_point_cloud_roundtrip_with_colors(tmp_path):
    rng = np.random.default_rng(0)
    lidar = np.concatenate([rng.normal(0, 20, (500, 3)),
                            rng.uniform(0, 1, (500, 1))], 1)  # x y z i
    colors = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    path = save_point_cloud_ply(tmp_path / 'sub' / 'sweep.ply', lidar, colors)
    assert path.is_file()
    cloud = o3d.io.read_point_cloud(str(path))
    # float64 coordinates come back bit for bit, uchar colours exactly
    np.testing.assert_array_equal(np.asarray(cloud.points), lidar[:, :3])
    np.testing.assert_array_equal(
        np.round(np.asarray(cloud.colors) * 255).astype(np.uint8), colors)


def test_point_cloud_float_colors_and_tensor_input(tmp_path):
    pts = torch.tensor([[0.0, 1.0, 2.0], [3.5, -4.0, 5.25]])  # e.g. landmarks
    path = save_point_cloud_ply(tmp_path / 'landmarks.ply', pts,
                                np.array([[1.0, 0.0, 0.0], [0.0, 0.5, 1.0]]))
    cloud = o3d.io.read_point_cloud(str(path))
    np.testing.assert_array_equal(np.asarray(cloud.points), pts.numpy())
    np.testing.assert_array_equal(
        np.round(np.asarray(cloud.colors) * 255),
        [[255, 0, 0], [0, 128, 255]])
    no_colors = o3d.io.read_point_cloud(
        str(save_point_cloud_ply(tmp_path / 'plain.ply', pts)))
    assert not no_colors.has_colors() and len(no_colors.points) == 2


def test_boxes3d_roundtrip(tmp_path):
    boxes = LiDARBoxes3D(torch.tensor([[1.0, 2.0, 0.5, 4.0, 2.0, 1.5, 0.3],
                                       [-5.0, 0.0, 1.0, 1.0, 1.0, 2.0,
                                        -1.2]], dtype=torch.float64))
    path = save_boxes3d_ply(tmp_path / 'boxes.ply', boxes)
    ls = o3d.io.read_line_set(str(path))
    np.testing.assert_array_equal(np.asarray(ls.points),
                                  boxes.corners.numpy().reshape(-1, 3))
    edges = box_edges()
    assert edges.shape == (14, 2)
    np.testing.assert_array_equal(np.asarray(ls.lines),
                                  np.concatenate([edges, edges + 8]))
    got = np.round(np.asarray(ls.colors) * 255).astype(int)
    np.testing.assert_array_equal(got[:14], np.tile(palette(2)[0], (14, 1)))
    np.testing.assert_array_equal(got[14:], np.tile(palette(2)[1], (14, 1)))
    # camera boxes and raw corners, one colour for all
    cam = CameraBoxes3D(torch.tensor([[0.0, 1.0, 8.0, 4.0, 1.5, 2.0, 0.2]]))
    corners = cam.corners.numpy().astype(np.float64)
    ls2 = o3d.io.read_line_set(str(save_boxes3d_ply(
        tmp_path / 'corners.ply', corners, colors=(0, 255, 0))))
    np.testing.assert_array_equal(np.asarray(ls2.points), corners[0])
    assert np.all(np.asarray(ls2.colors) == [0.0, 1.0, 0.0])


@pytest.mark.parametrize('points, match', [
    (np.zeros((5, 2)), r'\(N, 3\)'),
    (np.zeros(3), r'\(N, 3\)'),
    (np.zeros((0, 3)), 'at least one'),
    (np.array([[0.0, np.nan, 1.0]]), 'finite'),
])
def test_point_cloud_bad_input(tmp_path, points, match):
    with pytest.raises(ValueError, match=match):
        save_point_cloud_ply(tmp_path / 'x.ply', points)


def test_bad_colors_suffix_and_boxes(tmp_path):
    with pytest.raises(ValueError, match=r'colors must have shape \(2, 3\)'):
        save_point_cloud_ply(tmp_path / 'x.ply', np.zeros((2, 3)),
                             np.zeros((3, 3)))
    with pytest.raises(ValueError, match='.ply'):
        save_point_cloud_ply(tmp_path / 'x.pcd', np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r'\(N, 8, 3\)'):
        save_boxes3d_ply(tmp_path / 'b.ply', np.zeros((2, 7)))
    with pytest.raises(ValueError, match='at least one'):
        save_boxes3d_ply(tmp_path / 'b.ply', LiDARBoxes3D(torch.zeros((0, 7))))
