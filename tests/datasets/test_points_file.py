"""load_points: files that are not float32 point clouds are refused with the reason."""
import numpy as np
import pytest

from vision_sparse.datasets.formats import load_points


def test_text_file_is_not_a_point_cloud(tmp_path):
    # 4560 bytes of text: a whole number of 4-float points, read as 285 "points" before
    path = tmp_path / 'README.md'
    text = ('# Sample data\nThese files come from public datasets; see the licences.\n' * 80)
    path.write_bytes(text.encode()[:4560])
    with pytest.raises(ValueError, match=r'points lie more than 10000 m away.*not a float32 '
                       r'point file of dim=4'):
        load_points(path, 4)
    assert load_points(path, 4, max_abs_coord=None).shape == (285, 4)  # explicitly unchecked


def test_trailing_bytes_are_not_dropped(tmp_path):
    path = tmp_path / 'p.bin'
    path.write_bytes(np.zeros(8, '<f4').tobytes() + b'\x01\x02\x03')
    with pytest.raises(ValueError, match=r'35 bytes is not a whole number of float32 values '
                       r'\(3 trailing bytes\)'):
        load_points(path, 4)
    path.write_bytes(np.zeros(10, '<f4').tobytes())
    with pytest.raises(ValueError, match=r'2 points and 8 bytes left over'):
        load_points(path, 4)


def test_non_finite_coordinates(tmp_path):
    pts = np.zeros((3, 4), '<f4')
    pts[1, 2] = np.nan
    path = tmp_path / 'p.bin'
    pts.tofile(path)
    with pytest.raises(ValueError, match='1 of 3 points have NaN or infinite coordinates'):
        load_points(path, 4)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.bin'):
        load_points(tmp_path / 'nope.bin', 4)
