"""Point sampling from boxes and the point-label file format."""
import numpy as np
import pytest

from vision_sparse.datasets.oriented import (load_point_txt, parse_point_lines, point_rng,
                                             sample_points, write_point_txt)

BOXES = np.array([[100.0, 50.0, 60.0, 20.0, 0.5], [10.0, 10.0, 4.0, 4.0, -1.2],
                  [300.0, 200.0, 200.0, 40.0, -np.pi / 2]])


def _box_frame(points, boxes):
    d = points - boxes[:, :2]
    cos, sin = np.cos(boxes[:, 4]), np.sin(boxes[:, 4])
    return np.stack([d[:, 0] * cos + d[:, 1] * sin, -d[:, 0] * sin + d[:, 1] * cos], -1)


def test_center_mode_gives_the_centres():
    np.testing.assert_allclose(sample_points(BOXES, 'center'), BOXES[:, :2], atol=1e-5)


@pytest.mark.parametrize('mode', ['ellipse', 'gaussian'])
def test_points_lie_inside_their_boxes(mode):
    boxes = np.repeat(BOXES, 400, axis=0)
    pts = sample_points(boxes, mode, 0.1, np.random.default_rng(3))
    uv = _box_frame(pts.astype(np.float64), boxes) / boxes[:, 2:4]
    assert np.abs(uv).max() <= 0.5 + 1e-5
    if mode == 'ellipse':  # official rule: uniform in the ellipse of semi-axes 0.1 w, 0.1 h
        r = np.hypot(uv[:, 0], uv[:, 1]) / 0.1
        assert r.max() <= 1 + 1e-4
        assert abs(np.mean(r ** 2) - 0.5) < 0.03  # uniform in a disc: E[r^2] = 1/2
    else:
        assert abs(uv.std(0) - 0.1).max() < 0.01


def test_points_are_deterministic_per_image():
    a = sample_points(BOXES, 'ellipse', 0.1, point_rng(7, 'P0706'))
    b = sample_points(BOXES, 'ellipse', 0.1, point_rng(7, 'P0706'))
    c = sample_points(BOXES, 'ellipse', 0.1, point_rng(7, 'P1888'))
    d = sample_points(BOXES, 'ellipse', 0.1, point_rng(8, 'P0706'))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, d)


def test_empty_and_bad_arguments():
    assert sample_points(np.zeros((0, 5)), 'gaussian').shape == (0, 2)
    with pytest.raises(ValueError, match='rboxes must have shape'):
        sample_points(np.zeros((3, 4)))
    with pytest.raises(ValueError, match='point mode'):
        sample_points(BOXES, 'corner')
    with pytest.raises(ValueError, match='point scale'):
        sample_points(BOXES, 'ellipse', 0.7)


def test_point_file_round_trip(tmp_path):
    pts = np.array([[12.5, 3.25], [100.0, 7.0]])
    write_point_txt(tmp_path / 'a.txt', pts, ['ship', 'plane'], [0, 1])
    out = load_point_txt(tmp_path / 'a.txt')
    np.testing.assert_allclose(out['points'], pts)
    assert out['labels'] == ['ship', 'plane'] and out['difficult'].tolist() == [False, True]
    write_point_txt(tmp_path / 'empty.txt', np.zeros((0, 2)), [])
    assert load_point_txt(tmp_path / 'empty.txt')['points'].shape == (0, 2)


def test_point_file_bad_lines():
    lines = ['# header', '1 2 ship', '3 nan ship', '4 5', 'x 1 ship', '1 2 ship 7', '', '8 9 car 1']
    with pytest.raises(ValueError, match=r'f.txt:3: non-finite coordinate'):
        parse_point_lines(lines, 'f.txt')
    out = parse_point_lines(lines, 'f.txt', on_error='skip')
    assert out['labels'] == ['ship', 'car'] and out['difficult'].tolist() == [False, True]
    assert [m.split(':')[1] for m in out['skipped']] == ['3', '4', '5', '6']
    assert 'difficult must be 0 or 1' in out['skipped'][3]


def test_point_writer_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match='same length'):
        write_point_txt(tmp_path / 'a.txt', np.zeros((2, 2)), ['ship'])
    with pytest.raises(ValueError, match='NaN'):
        write_point_txt(tmp_path / 'a.txt', [[np.nan, 1.0]], ['ship'])
    with pytest.raises(ValueError, match='one word'):
        write_point_txt(tmp_path / 'a.txt', [[1.0, 1.0]], ['small vehicle'])
