"""SparseVisualizer: built from a config through VISUALIZERS, draws our data."""
import numpy as np
import pytest
import torch

from vision_sparse.registry import VISUALIZERS
from vision_sparse.structures.bbox import CameraBoxes3D
from vision_sparse.visualization import (SparseVisualizer, draw_bev,
                                         draw_matches, draw_rotated_boxes)


def build(name, **cfg):
    vis = VISUALIZERS.build(dict(type='SparseVisualizer', name=name, **cfg))
    assert isinstance(vis, SparseVisualizer)
    return vis


def gray(h, w, value=40):
    return np.full((h, w, 3), value, np.uint8)


def test_build_from_config_and_draw_rotated_boxes():
    vis = build('test_vis_rboxes', line_width=2)
    img = gray(80, 120)
    vis.set_image(img)
    # box centred at (60, 40), 60 x 30, theta = 0: edges x in {30, 90},
    # y in {25, 55}
    out = vis.draw_rotated_boxes(np.array([[60.0, 40.0, 60.0, 30.0, 0.0]]),
                                 color=(255, 0, 0))
    assert out.shape == img.shape and np.array_equal(out, vis.get_image())
    assert out[25, 60, 0] > 200 and out[25, 60, 1] < 60  # top edge red
    assert out[40, 30, 0] > 200  # left edge
    assert np.array_equal(out[5:15, 5:15], img[5:15, 5:15])  # far: untouched
    assert np.array_equal(out[35:45, 35:45], img[35:45, 35:45])  # inside
    # the same pixels as the plain function
    ref = draw_rotated_boxes(img, np.array([[60.0, 40.0, 60.0, 30.0, 0.0]]),
                             color=(255, 0, 0), thickness=2)
    assert np.array_equal(out, ref)


def test_draw_matches_sets_side_by_side_canvas():
    vis = build('test_vis_matches', max_matches=10)
    k0 = np.array([[10.0, 10.0], [40.0, 30.0]])
    k1 = np.array([[5.0, 20.0], [25.0, 15.0]])
    out = vis.draw_matches(gray(50, 60), gray(40, 30, 90), k0, k1,
                           inlier_mask=[True, False])
    assert out.shape == (50, 60 + 10 + 30, 3)
    assert np.array_equal(vis.get_image(), out)
    assert np.array_equal(
        out, draw_matches(gray(50, 60), gray(40, 30, 90), k0, k1,
                          inlier_mask=[True, False]))
    assert tuple(out[10, 10]) == (0, 255, 0)  # inlier end point green
    assert tuple(out[30, 40]) == (255, 0, 0)  # outlier end point red


def test_draw_boxes3d_and_bev():
    vis = build('test_vis_3d', bev_range=(-10, -10, 10, 10),
                bev_resolution=0.1)
    img = gray(100, 100, 0)
    vis.set_image(img)
    # a camera box 5 m ahead, projected around the image centre
    boxes = CameraBoxes3D(torch.tensor([[0.0, 0.5, 5.0, 2.0, 1.0, 1.0, 0.0]]))
    cam2img = np.array([[50.0, 0, 50], [0, 50.0, 50], [0, 0, 1]])
    out = vis.draw_boxes3d(boxes, cam2img, color=(0, 0, 255))
    changed = np.any(out != img, axis=-1)
    ys, xs = np.nonzero(changed)
    assert changed.any()
    # the box spans x in [-1, 1] m at depths 4.5..5.5 m -> u in [41, 61] px
    assert xs.min() >= 35 and xs.max() <= 65
    assert ys.min() >= 35 and ys.max() <= 65
    drawn = out[changed]  # (M, 3): blue lines (anti-aliased edges darker)
    assert drawn[:, 2].max() == 255 and drawn[:, :2].max() == 0

    bev = vis.draw_bev(points=np.array([[5.0, 0.0, 0.0]]),
                       boxes=np.array([[5.0, 5.0, 2.0, 1.0, 0.0]]))
    assert bev.shape == (200, 200, 3) and np.array_equal(vis.get_image(), bev)
    ref = draw_bev(points=np.array([[5.0, 0.0, 0.0]]),
                   boxes=np.array([[5.0, 5.0, 2.0, 1.0, 0.0]]),
                   range_m=(-10, -10, 10, 10), resolution=0.1)
    assert np.array_equal(bev, ref)
    # the point at x=5 (forward), y=0: row (10 - 5) / 0.1 = 50, col 100
    assert tuple(bev[50, 100]) == (160, 160, 160)


def test_add_datasample_writes_file(tmp_path):
    vis = build('test_vis_sample')
    img = gray(60, 80)
    sample = dict(rboxes=np.array([[40.0, 30.0, 20.0, 10.0, 0.3]]),
                  labels=np.array([1]),
                  image1=gray(60, 80, 100),
                  kpts0=np.array([[10.0, 10.0]]),
                  kpts1=np.array([[20.0, 20.0]]))
    out_file = tmp_path / 'vis' / 'sample.png'
    drawn = vis.add_datasample('s', img, sample, out_file=str(out_file))
    assert out_file.is_file() and drawn.shape == (60, 170, 3)
    assert np.any(drawn[20:40, 25:55] != 40)  # the box on the left image
    assert np.all(drawn[40:, 100:] == 100)  # right image untouched there
    with pytest.raises(ValueError, match='cam2img'):
        vis.add_datasample('s', img, dict(boxes3d=CameraBoxes3D(
            torch.zeros((1, 7)))))


def test_bad_options_and_no_image():
    with pytest.raises(ValueError, match='alpha'):
        SparseVisualizer(name='test_vis_bad1', alpha=2.0)
    with pytest.raises(ValueError, match='forward_axis'):
        SparseVisualizer(name='test_vis_bad2', forward_axis='z')
    vis = SparseVisualizer(name='test_vis_empty')
    with pytest.raises(ValueError, match='set_image'):
        vis.draw_rotated_boxes(np.zeros((0, 5)))
