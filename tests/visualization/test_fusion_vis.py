"""Pictures of a LiDAR + multi-camera frame: mosaic layout and box placement, BEV point
colours and geometry, the .ply pair read back by open3d."""
import numpy as np
import pytest

from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D
from vision_sparse.structures.cameras import scale_intrinsics
from vision_sparse.visualization import (NUSCENES_CAMERA_LAYOUT, draw_bev, draw_camera_mosaic,
                                         draw_fusion_bev, point_colors, save_fusion_ply,
                                         scale_lidar2img)
from vision_sparse.visualization.colors import GREEN, label_color

K = np.array([[200.0, 0, 159.5], [0, 200.0, 89.5], [0, 0, 1]])
# camera looking along LiDAR +y (nuScenes LIDAR_TOP: x right, y forward, z up)
E = np.array([[1.0, 0, 0, 0], [0, 0, -1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
P = np.pad(K, ((0, 1), (0, 1))) @ E
P[3, 3] = 1.0


def test_scale_lidar2img_is_scale_intrinsics_times_extrinsics():
    want = np.pad(scale_intrinsics(K, 0.5, 0.25), ((0, 1), (0, 1))) @ E
    want[3] = E[3]
    np.testing.assert_allclose(scale_lidar2img(P, 0.5, 0.25), want)
    np.testing.assert_allclose(scale_lidar2img(np.stack([P, P]), 2.0)[1],
                               scale_lidar2img(P, 2.0))
    with pytest.raises(ValueError, match='lidar2img'):
        scale_lidar2img(np.eye(3), 2.0)


def test_point_colors():
    pts = np.array([[0, 0, -5.0, 0.0], [0, 0, 0.0, 0.5], [0, 0, 5.0, 1.0]])
    c = point_colors(pts, 'height')
    assert c.dtype == np.uint8 and c.shape == (3, 3)
    assert c[0, 2] > c[0, 0] and c[2, 0] > c[2, 2]  # low blue, high red
    ci = point_colors(pts, 'intensity', value_range=(0, 1))
    assert ci[0, 2] > ci[0, 0] and ci[2, 0] > ci[2, 2]
    assert point_colors(np.zeros((0, 4)), 'height').shape == (0, 3)
    with pytest.raises(ValueError, match='intensity'):
        point_colors(pts[:, :3], 'intensity')
    with pytest.raises(ValueError, match='height'):
        point_colors(pts, 'colour')


def _views():
    """Six 320x180 views, each a flat grey level of its own, all with calibration P."""
    names = [n for row in NUSCENES_CAMERA_LAYOUT for n in row]
    return ({n: np.full((180, 320, 3), 20 * (i + 1), np.uint8) for i, n in enumerate(names)},
            {n: P for n in names})


def test_mosaic_layout_and_box_placement():
    images, l2i = _views()
    box = np.array([[0.0, 10.0, 0.0, 2.0, 2.0, 2.0, 0.0]])  # 10 m ahead of every camera
    pic = draw_camera_mosaic(dict(reversed(list(images.items()))), l2i, boxes=box,
                             labels=[3], scores=[0.9], class_names=['a', 'b', 'c', 'd'],
                             tile_width=160, pad=4)
    assert pic.shape == (2 * (90 + 4) + 4, 3 * (160 + 4) + 4, 3)
    # tiles in the nuScenes layout whatever the dict order: grey level of a corner pixel
    for r, row in enumerate(NUSCENES_CAMERA_LAYOUT):
        for c, name in enumerate(row):
            y, x = 4 + r * 94 + 85, 4 + c * 164 + 150
            assert (pic[y, x] == images[name][0, 0]).all(), name
    # the near face (9 m away, +-1 m) spans u = 159.5 +- 200/9 px at full size, so
    # (159.5 + 0.5) / 2 - 0.5 +- 100/9 in the half-size tile; rows around the centre
    # (the tag is written above the box)
    tile = pic[4:94, 4 + 164:4 + 164 + 160]
    hits = np.argwhere((tile[40:50] == label_color(3)).all(-1))
    assert abs(hits[:, 1].min() - (79.5 - 100 / 9)) < 2
    assert abs(hits[:, 1].max() - (79.5 + 100 / 9)) < 2
    assert (tile[:34] == label_color(3)).all(-1).any()  # the tag above


def test_mosaic_missing_view_gt_style_and_errors():
    images, l2i = _views()
    del images['CAM_BACK']
    box = np.array([[0.0, 10.0, 0.0, 2.0, 2.0, 2.0, 0.0]])
    pic = draw_camera_mosaic(images, l2i, gt_boxes=box, tile_width=160,
                             layout=NUSCENES_CAMERA_LAYOUT)
    assert (pic[4 + 94 + 80, 4 + 164 + 150] == 128).all()  # empty grey tile
    tile = pic[4:94, 4 + 164:4 + 164 + 160]
    assert (tile == GREEN).all(-1).any()  # GT in green
    with pytest.raises(ValueError, match='labels'):
        draw_camera_mosaic(images, l2i, boxes=box, labels=[0, 1])
    with pytest.raises(ValueError, match='lidar2img'):
        draw_camera_mosaic(list(images.values()), np.eye(4)[None], boxes=box)
    with pytest.raises(ValueError, match='boxes'):
        draw_camera_mosaic(images, l2i, boxes=np.zeros((1, 5)))


def test_fusion_bev_geometry_and_colours():
    pts = np.array([[10.0, 20.0, 1.5, 0.2], [-10.0, -20.0, -1.8, 0.2]])
    box = LiDARBoxes3D(np.array([[0.0, 30.0, 0.0, 4.0, 2.0, 1.5, np.pi / 2]]))
    pic = draw_fusion_bev(pts, boxes=box, labels=[0], scores=[0.5],
                          point_cloud_range=(-40, -40, -5, 40, 40, 3), resolution=0.5)
    assert pic.shape == (160, 160, 3)
    # nuScenes orientation: +x right (col = (x + 40) / 0.5), +y up (row = (40 - y) / 0.5)
    high, low = pic[40, 100], pic[120, 60]
    assert high[0] > high[2] and low[2] > low[0]  # high red, low blue
    # the box (4 m along y at y = 30, 2 m along x): rows 16-24, columns 78-82; tag above
    col = np.argwhere((pic[:, 70:90] == label_color(0)).all(-1))
    assert abs(col[:, 0].max() - 24) <= 1  # lines 2 px thick
    body = col[col[:, 0] >= 17]
    assert abs(body[:, 1].min() + 70 - 78) <= 1 and abs(body[:, 1].max() + 70 - 82) <= 1
    assert (pic[80, 80] == 255).all()  # ego marker at the origin
    with pytest.raises(ValueError, match='point_color'):
        draw_bev(pts, point_color=np.zeros((3, 3), np.uint8))


def test_fusion_bev_box_colour_per_box_follows_the_range_cut():
    boxes = np.array([[0.0, 30.0, 0.0, 4.0, 2.0, 1.5, 0.0], [90.0, 0, 0, 4, 2, 1.5, 0],
                      [-20.0, 0, 0, 4, 2, 1.5, 0]])
    colors = np.array([[255, 0, 255], [0, 0, 255], [255, 255, 0]])
    pic = draw_fusion_bev(None, boxes=boxes, labels=[0, 0, 0], box_color=colors,
                          point_cloud_range=(-40, -40, -5, 40, 40, 3), resolution=0.5)
    has = lambda c: bool((pic == np.array(c)).all(-1).any())  # noqa: E731
    assert has((255, 0, 255)) and has((255, 255, 0))  # the out-of-range box's colour dropped
    assert not has((0, 0, 255)) and not has(label_color(0))
    one = draw_fusion_bev(None, boxes=boxes[:1], box_color=(255, 0, 255),
                          point_cloud_range=(-40, -40, -5, 40, 40, 3), resolution=0.5)
    assert (one == np.array((255, 0, 255))).all(-1).any()
    with pytest.raises(ValueError, match='box_color'):
        draw_fusion_bev(None, boxes=boxes, box_color=colors[:2])


def test_fusion_ply_pair_reads_back(tmp_path):
    o3d = pytest.importorskip('open3d')
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(50, 5)).astype(np.float32)
    pred = np.array([[0, 5, 0, 4, 2, 1.5, 0.3, 0, 0]], np.float32)
    gt = np.array([[0, 5, 0, 4, 2, 1.5, 0.3], [3, -5, 0, 1, 1, 1, 0]])
    files = save_fusion_ply(tmp_path, pts, pred, gt, labels=[2])
    cloud = o3d.io.read_point_cloud(str(files['points']))
    np.testing.assert_array_equal(np.asarray(cloud.points), pts[:, :3].astype(np.float64))
    assert np.asarray(cloud.colors).shape == (50, 3)
    lines = o3d.io.read_line_set(str(files['boxes']))
    np.testing.assert_allclose(np.asarray(lines.points).reshape(3, 8, 3),
                               LiDARBoxes3D(np.r_[pred[:, :7], gt]).corners.numpy(), atol=1e-6)
    colors = np.round(np.asarray(lines.colors) * 255).astype(int).reshape(3, 14, 3)
    assert (colors[0] == label_color(2)).all() and (colors[1:] == GREEN).all()
    assert save_fusion_ply(tmp_path / 'none', None, None, None) == {}
