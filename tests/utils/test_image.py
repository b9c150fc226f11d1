"""The one image check and the one aspect-keeping resize (vision_sparse.utils.image)."""
import numpy as np
import pytest
import torch

from vision_sparse.utils.image import check_image, resize_long_side


def test_check_image_gray_rgb_and_tensor():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert check_image(gray).shape == (3, 4)
    assert check_image(gray[..., None]).shape == (3, 4)
    rgb = check_image(gray, rgb=True)
    assert rgb.shape == (3, 4, 3) and (rgb == gray[..., None]).all()
    np.testing.assert_array_equal(check_image(torch.from_numpy(gray)), gray)
    view = np.zeros((4, 6, 3), np.uint8)[:, ::2]
    assert check_image(view).flags['C_CONTIGUOUS']


@pytest.mark.parametrize('bad, msg', [
    (None, 'None'), ([[1, 2]], 'numpy'), (np.zeros((4, 4), np.float32), 'uint8'),
    (np.zeros((4, 4, 4), np.uint8), 'shape'), (np.zeros((4,), np.uint8), 'shape'),
    (np.zeros((0, 4, 3), np.uint8), 'empty')])
def test_check_image_rejects(bad, msg):
    with pytest.raises(ValueError, match=msg):
        check_image(bad, 'img')
    with pytest.raises(ValueError, match='img'):
        check_image(bad, 'img')


def test_resize_long_side_scale_maps_coordinates():
    """``scale`` is new / old: a pixel centre x maps to (x + 0.5) * s - 0.5."""
    img = np.zeros((968, 1296), np.uint8)
    img[484, 648] = 255
    out, s = resize_long_side(img, 648)
    assert s == 0.5 and out.shape == (484, 648)
    y, x = np.unravel_index(np.argmax(out), out.shape)
    assert (x, y) == (int((648 + 0.5) * s - 0.5 + 0.5), int((484 + 0.5) * s - 0.5 + 0.5))
    # non-integer sizes: the output is rounded, the scale is the nominal factor
    out, s = resize_long_side(np.zeros((480, 641), np.uint8), 320)
    assert out.shape == (240, 320) and s == 320 / 641
    # no-ops
    assert resize_long_side(img, None)[1] == 1.0 and resize_long_side(img, 1296)[1] == 1.0
    assert resize_long_side(img, 2000, upscale=False) == (img, 1.0)
    big, s = resize_long_side(img, 2592)
    assert big.shape == (1936, 2592) and s == 2.0
