"""Drawing helpers: sizes, where pixels change, colours, PNG output."""
import cv2
import numpy as np
import pytest
import torch

from vision_sparse.structures.bbox import (CameraBoxes3D, LiDARBoxes3D,
                                           RotatedBoxes)
from vision_sparse.testing.data import shared_data_root
from vision_sparse.visualization import (draw_areas, draw_bev,
                                         draw_boxes3d_on_image, draw_matches,
                                         draw_points, draw_polygons,
                                         draw_rotated_boxes, label_color,
                                         make_grid, palette, put_text_block,
                                         save_image)

DATA = shared_data_root()
DOTA = None if DATA is None else DATA / 'oriented' / 'dota'
NUS = None if DATA is None else DATA / 'lidar_camera' / 'nuscenes'
needs_dota = pytest.mark.skipif(
    DOTA is None or not DOTA.is_dir(),
    reason='DOTA sample (../shared/data/oriented/dota) not found; '
    'set VISION_SPARSE_DATA')
needs_nus = pytest.mark.skipif(
    NUS is None or not NUS.is_dir(),
    reason='nuScenes sample (../shared/data/lidar_camera/nuscenes) not found;'
    ' set VISION_SPARSE_DATA')


def gray_img(h: int = 60, w: int = 80, value: int = 40) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=-1)


def near(img: np.ndarray, y: int, x: int, color, r: int = 1,
         tol: float = 40.0) -> bool:
    """A pixel within ``r`` of (y, x) has (about) ``color`` (lines are
    anti-aliased, so exact values are only reached on the line centre)."""
    patch = img[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
    dist = np.linalg.norm(patch.astype(float) - np.asarray(color, float),
                          axis=-1)
    return bool(dist.min() <= tol)


def test_palette_deterministic_and_distinct():
    p = palette(20)
    assert p == palette(20) and palette(5) == p[:5]
    assert len(set(p)) == 20
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in p)
    assert palette(0) == []
    assert label_color(3) == p[3]
    with pytest.raises(ValueError, match='n'):
        palette(-1)


def test_draw_matches_layout_and_colors():
    img0, img1 = gray_img(60, 80), gray_img(40, 50, value=90)[..., 0]
    k0 = np.array([[10.0, 10.0], [70.0, 50.0]])
    k1 = np.array([[5.0, 5.0], [45.0, 35.0]])
    out = draw_matches(img0, img1, k0, k1, inlier_mask=[True, False],
                       margin=10)
    assert out.shape == (60, 80 + 10 + 50, 3) and out.dtype == np.uint8
    # padding below the shorter image, gap between the images
    assert np.all(out[55:, 125:] == 255) and np.all(out[15:30, 82:88] == 255)
    # the inlier line is green near its start, the outlier red
    assert near(out, 10, 10, (0, 255, 0))
    assert near(out, 50, 70, (255, 0, 0))
    assert np.all(img0 == 40)  # input untouched
    # scores -> colour map; explicit colours; max_lines; text
    s = draw_matches(img0, img1, k0, k1, color=np.array([0.0, 1.0]))
    assert not np.array_equal(s[10, 10], s[50, 70])
    c = draw_matches(img0, img1, k0, k1, color=(0, 0, 255))
    assert near(c, 10, 10, (0, 0, 255))
    none = draw_matches(img0, img1, k0, k1, max_lines=0)
    base = draw_matches(img0, img1, np.zeros((0, 2)), np.zeros((0, 2)))
    assert np.array_equal(none, base)
    texted = draw_matches(img0, img1, np.zeros((0, 2)), np.zeros((0, 2)),
                          text=['pair 0', 'inliers 1/2'])
    assert changed(texted, base)[:30, :60].any()
    with pytest.raises(ValueError, match='kpts0 and kpts1'):
        draw_matches(img0, img1, k0, k1[:1])
    with pytest.raises(ValueError, match='inlier_mask'):
        draw_matches(img0, img1, k0, k1, inlier_mask=[True])


def test_draw_rotated_boxes_marks_edges_and_heading():
    img = gray_img(100, 100)
    boxes = np.array([[50.0, 50.0, 40.0, 20.0, 0.0]])
    out = draw_rotated_boxes(img, boxes, labels=[1], scores=[0.9],
                             class_names=['a', 'car'], thickness=1)
    assert out.shape == img.shape
    color = label_color(1)
    assert near(out, 60, 50, color)  # bottom edge (y = 50 + 10)
    assert near(out, 50, 69, color)  # heading line toward +x end
    assert tuple(out[50, 35]) == (40, 40, 40)  # inside, behind the centre
    # torch and RotatedBoxes inputs, explicit colour
    out2 = draw_rotated_boxes(img, RotatedBoxes(torch.from_numpy(boxes)),
                              color=(255, 0, 255), thickness=1)
    assert near(out2, 60, 50, (255, 0, 255))
    assert np.array_equal(draw_rotated_boxes(img, np.zeros((0, 5))), img)
    with pytest.raises(ValueError, match='boxes'):
        draw_rotated_boxes(img, np.zeros((2, 4)))
    with pytest.raises(ValueError, match='labels'):
        draw_rotated_boxes(img, boxes, labels=[0, 1])


def test_draw_polygons_points_areas():
    img = gray_img(100, 100)[..., 0]  # grayscale input is converted
    poly = np.array([[10, 10, 60, 10, 60, 40, 10, 40]], np.float64)
    out = draw_polygons(img, poly, color=(255, 0, 0), thickness=1)
    assert out.shape == (100, 100, 3)
    assert near(out, 10, 30, (255, 0, 0))
    assert tuple(out[25, 30]) == (40, 40, 40)
    filled = draw_polygons(img, [poly[0].reshape(4, 2)], fill_alpha=0.5)
    assert changed(filled, out)[25, 30]
    pts = draw_points(img, np.array([[80.0, 80.0]]), color=(0, 0, 255),
                      radius=2)
    assert near(pts, 80, 80, (0, 0, 255))
    assert tuple(pts[50, 50]) == (40, 40, 40)
    masks = np.zeros((2, 100, 100), bool)
    masks[0, 20:40, 20:40] = True
    masks[1, 60:80, 60:90] = True
    areas = draw_areas(img, masks, alpha=0.5, labels=['a', 'b'])
    diff = changed(areas, np.repeat(img[..., None], 3, 2))
    assert diff[30, 30] and diff[70, 75] and not diff[50, 50]
    assert not diff[5, 95]
    boxed = draw_areas(img, np.array([[20.0, 20.0, 40.0, 40.0]]),
                       colors=(255, 0, 0), alpha=1.0, draw_contours=False)
    assert near(boxed, 30, 30, (255, 0, 0))
    rot = draw_areas(img, np.array([[50.0, 50.0, 30.0, 10.0, 0.5]]))
    assert changed(rot, np.repeat(img[..., None], 3, 2))[50, 50]
    with pytest.raises(ValueError, match='masks'):
        draw_areas(img, np.zeros((1, 10, 10), bool))
    for fn in (lambda: draw_polygons(img, np.zeros((0, 8))),
               lambda: draw_points(img, np.zeros((0, 2))),
               lambda: draw_areas(img, np.zeros((0, 100, 100)))):
        assert np.array_equal(fn(), np.repeat(img[..., None], 3, 2))


def test_draw_boxes3d_front_and_behind():
    img = gray_img(200, 200)
    k = np.array([[100.0, 0, 100], [0, 100.0, 100], [0, 0, 1]])
    front = CameraBoxes3D(np.array([[0.0, 1.0, 8.0, 3.0, 2.0, 2.0, 0.3]]))
    out = draw_boxes3d_on_image(img, front, k, color=(255, 0, 0))
    assert out.shape == img.shape
    uv, _ = front.project_to_image(k)
    u, v = uv[0, 0].round().long().tolist()
    assert tuple(out[v, u]) == (255, 0, 0)  # a corner is on a drawn edge
    behind = CameraBoxes3D(np.array([[0.0, 1.0, -8.0, 3.0, 2.0, 2.0, 0.3]]))
    assert np.array_equal(draw_boxes3d_on_image(img, behind, k), img)
    # straddling the camera: clipped, still drawn, no crash
    straddle = CameraBoxes3D(np.array([[0.0, 1.0, 0.5, 2.0, 2.0, 6.0, 0.0]]))
    assert changed(draw_boxes3d_on_image(img, straddle, k), img).any()
    lidar = front.convert_to('lidar')
    l2c = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1.]])
    out_l = draw_boxes3d_on_image(img, lidar, k, l2c, color=(255, 0, 0))
    assert np.array_equal(out_l, out)
    empty = draw_boxes3d_on_image(img, LiDARBoxes3D(np.zeros((0, 7))), k,
                                  l2c)
    assert np.array_equal(empty, img)
    with pytest.raises(ValueError, match='lidar2cam'):
        draw_boxes3d_on_image(img, lidar, k)
    with pytest.raises(TypeError, match='boxes3d'):
        draw_boxes3d_on_image(img, np.zeros((1, 7)), k)


def test_draw_bev_geometry():
    pts = np.array([[10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    out = draw_bev(pts, range_m=(-20, -20, 20, 20), resolution=0.5,
                   point_color=(200, 200, 200), ring_step_m=None)
    assert out.shape == (80, 80, 3)
    # x forward = up, y left = left
    assert near(out, 20, 40, (200, 200, 200), r=0)  # (10, 0): row (20-10)/0.5
    assert near(out, 40, 20, (200, 200, 200), r=0)  # (0, 10): col (20-10)/0.5
    boxes = LiDARBoxes3D(np.array([[10.0, -10.0, 0.0, 4.0, 2.0, 1.5, 0.0]]))
    out = draw_bev(None, boxes, gt_boxes=np.array([[-10.0, 10.0, 4, 2, 0.0]]),
                   range_m=(-20, -20, 20, 20), resolution=0.5,
                   box_color=(255, 0, 0), ring_step_m=None, thickness=1)
    assert near(out, 16, 58, (255, 0, 0))  # front edge x = 12 -> row 16
    assert near(out, 56, 20, (0, 255, 0))  # gt (x = -12 .. -8) in green
    # nuScenes-style frame: y forward points up, x right points right
    out_y = draw_bev(pts, range_m=(-20, -20, 20, 20), resolution=0.5,
                     point_color=(200, 200, 200), ring_step_m=None,
                     forward_axis='y')
    assert near(out_y, 40, 60, (200, 200, 200), r=0)  # (10, 0) -> right
    assert near(out_y, 20, 40, (200, 200, 200), r=0)  # (0, 10) -> up
    empty = draw_bev(None, None, range_m=(0, -10, 20, 10), resolution=1.0)
    assert empty.shape == (20, 20, 3)
    with pytest.raises(TypeError, match='CameraBoxes3D'):
        draw_bev(None, CameraBoxes3D(np.zeros((1, 7))))
    with pytest.raises(ValueError, match='resolution'):
        draw_bev(None, None, resolution=0.0)
    with pytest.raises(ValueError, match='range_m'):
        draw_bev(None, None, range_m=(0, 0, -1, 1))


def test_grid_text_and_save(tmp_path):
    a, b = gray_img(30, 40), gray_img(20, 50, 200)
    grid = make_grid([a, b, a], ncols=2, pad=2)
    assert grid.shape == (2 * (30 + 2) + 2, 2 * (50 + 2) + 2, 3)
    assert np.array_equal(grid[2:32, 2:42], a)
    assert make_grid([]).shape == (0, 0, 3)
    with pytest.raises(ValueError, match='ncols'):
        make_grid([a], ncols=0)
    t = put_text_block(a, 'hello\nworld')
    assert t.shape == a.shape and changed(t, a).any()
    assert np.array_equal(put_text_block(a, []), a)
    path = save_image(tmp_path / 'sub' / 'dir' / 'x.png', t)
    assert path.is_file()
    back = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, t)
    with pytest.raises(ValueError, match='png'):
        save_image(tmp_path / 'x.jpg', t)


@needs_dota
def test_dota_picture(tmp_path):
    from vision_sparse.datasets.formats import load_dota_txt
    ann = load_dota_txt(DOTA / 'labelTxt' / 'P1888.txt')
    img = cv2.cvtColor(cv2.imread(str(DOTA / 'images' / 'P1888.png')),
                       cv2.COLOR_BGR2RGB)
    out = draw_rotated_boxes(img, ann['rboxes'], color=(255, 0, 0),
                             thickness=1, show_heading=False)
    assert out.shape == img.shape
    # every box outline passes through changed pixels at its corners
    diff = changed(out, img)
    corners = ann['polys'].reshape(-1, 4, 2)
    hits = [diff[max(0, int(round(y)) - 1):int(round(y)) + 2,
                 max(0, int(round(x)) - 1):int(round(x)) + 2].any()
            for x, y in corners.reshape(-1, 2)]
    assert np.mean(hits) > 0.9
    assert save_image(tmp_path / 'p1888.png', out).stat().st_size > 1000


@needs_nus
def test_nuscenes_pictures(tmp_path):
    from vision_sparse.datasets.formats import load_det3d_info, load_points
    info = load_det3d_info(next(NUS.glob('*.pkl')))[0]
    cam = info['cameras']['CAM_FRONT']
    img = cv2.cvtColor(cv2.imread(cam['img_path']), cv2.COLOR_BGR2RGB)
    out = draw_boxes3d_on_image(img, info['gt_bboxes_3d'], cam['cam2img'],
                                cam['lidar2cam'],
                                labels=info['gt_labels_3d'],
                                class_names=info['class_names'])
    assert out.shape == img.shape and changed(out, img).mean() > 0.005
    pts = load_points(info['lidar_path'], info['num_pts_feats'])
    bev = draw_bev(pts, info['gt_bboxes_3d'], labels=info['gt_labels_3d'],
                   forward_axis='y', resolution=0.2)
    assert bev.shape == (540, 540, 3)
    assert save_image(tmp_path / 'bev.png', bev).is_file()
