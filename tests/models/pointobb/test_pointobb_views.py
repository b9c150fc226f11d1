"""The three PointOBB views move image, points and boxes consistently."""
import math

import cv2
import numpy as np
import pytest
import torch

from vision_sparse.models.detectors.pointobb_views import (flip_view, resize_view, rotate_view,
                                                           wrap_angle)
from vision_sparse.structures.bbox.rotated_boxes import rbox2poly


def _mask(box, h, w):
    m = np.zeros((h, w), np.uint8)
    poly = rbox2poly(torch.as_tensor(box, dtype=torch.float32)[None]).numpy().reshape(4, 2)
    # pixel (i, j) covers [j, j+1): cv2 draws at integer centres, so shift by -0.5
    cv2.fillPoly(m, [np.round((poly - 0.5) * 16).astype(np.int32)], 1, shift=4)
    return m.astype(bool)


def _iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


BOX = [52.0, 40.0, 40.0, 14.0, 0.4]


def _image(h=96, w=128):
    return torch.from_numpy(_mask(BOX, h, w).astype(np.float32))[None, None].repeat(1, 3, 1, 1)


@pytest.mark.parametrize('phi_deg', [30.0, 90.0, 135.0, -60.0])
def test_rotated_box_lies_on_rotated_image(phi_deg):
    img = _image()
    box = torch.tensor([BOX])
    out, pts, boxes, valid = rotate_view(img, [box[:, :2]], math.radians(phi_deg), boxes=[box])
    drawn = _mask(boxes[0][0].tolist(), *img.shape[-2:])
    assert _iou(out[0, 0].numpy() > 0.5, drawn) > 0.9
    assert torch.allclose(pts[0], boxes[0][:, :2])
    assert valid[0].all()
    assert abs(float(boxes[0][0, 4]) - float(wrap_angle(torch.tensor(0.4 + math.radians(phi_deg))))) < 1e-6


@pytest.mark.parametrize('direction', ['vertical', 'horizontal'])
def test_flipped_box_lies_on_flipped_image(direction):
    img = _image()
    box = torch.tensor([BOX])
    out, pts, boxes = flip_view(img, [box[:, :2]], direction, boxes=[box])
    drawn = _mask(boxes[0][0].tolist(), *img.shape[-2:])
    assert _iou(out[0, 0].numpy() > 0.5, drawn) > 0.95
    assert float(boxes[0][0, 4]) == pytest.approx(-0.4)


@pytest.mark.parametrize('scale', [0.5, 0.75, 1.5])
def test_resized_box_lies_on_resized_image(scale):
    img = _image()
    box = torch.tensor([BOX])
    out, pts, boxes, (sx, sy) = resize_view(img, [box[:, :2]], scale, boxes=[box])
    assert out.shape[-2:] == (round(96 * scale), round(128 * scale))
    drawn = _mask(boxes[0][0].tolist(), *out.shape[-2:])
    assert _iou(out[0, 0].numpy() > 0.5, drawn) > 0.85
    assert torch.allclose(pts[0], box[:, :2] * torch.tensor([sx, sy]))


def test_compositions_and_batching():
    pts = [torch.tensor([[10.0, 20.0], [60.0, 50.0]]), torch.tensor([[5.0, 5.0]])]
    boxes = [torch.tensor([[10.0, 20.0, 8.0, 4.0, 0.3], [60.0, 50.0, 8.0, 4.0, -1.2]]),
             torch.tensor([[5.0, 5.0, 3.0, 2.0, 1.0]])]
    img = torch.rand(2, 3, 64, 80)
    _, p1, b1, _ = rotate_view(img, pts, 0.3, boxes=boxes)
    _, p2, b2, _ = rotate_view(img, p1, 0.5, boxes=b1)
    _, p3, b3, _ = rotate_view(img, pts, 0.8, boxes=boxes)
    for a, b in zip(p2 + b2, p3 + b3):
        assert torch.allclose(a, b, atol=1e-4)
    # per-image angles equal separate calls
    _, pb, _, _ = rotate_view(img, pts, torch.tensor([0.3, -0.7]))
    assert torch.allclose(pb[1], rotate_view(img[1:], pts[1:], -0.7)[1][0])
    # two flips are the identity; rotation by pi equals a double flip (points)
    f2 = flip_view(*flip_view(img, pts, 'vertical', boxes=boxes)[:2], 'vertical')
    assert torch.equal(f2[0], img) and torch.allclose(f2[1][0], pts[0])
    _, pr, _, _ = rotate_view(img, pts, math.pi)
    _, pf, _ = flip_view(*flip_view(img, pts, 'vertical')[:2], 'horizontal')
    assert torch.allclose(pr[0], pf[0], atol=1e-4)


def test_points_leaving_the_image_are_invalid():
    img = torch.rand(1, 3, 64, 128)
    pts = [torch.tensor([[2.0, 32.0], [64.0, 32.0], [float('nan'), 3.0]])]
    _, _, _, valid = rotate_view(img, pts, math.pi / 2)
    assert valid[0].tolist() == [False, True, False]
    # points in the padded part of a batch image are invalid too
    _, _, _, valid = rotate_view(img, [torch.tensor([[100.0, 32.0]])], 0.0, img_shapes=[(64, 90)])
    assert valid[0].tolist() == [False]


def test_bad_inputs():
    img = torch.rand(1, 3, 8, 8)
    with pytest.raises(ValueError, match='images'):
        resize_view(torch.rand(3, 8, 8), [torch.zeros(0, 2)], 0.5)
    with pytest.raises(ValueError, match='scale'):
        resize_view(img, [torch.zeros(0, 2)], 0.0)
    with pytest.raises(ValueError, match='points'):
        rotate_view(img, [torch.zeros(3, 3)], 0.1)
    with pytest.raises(ValueError, match='phi'):
        rotate_view(img, [torch.zeros(0, 2)], float('nan'))
    with pytest.raises(ValueError, match='direction'):
        flip_view(img, [torch.zeros(0, 2)], 'diagonal')
