"""Bad or extreme inputs to the matchers: each case has one defined outcome.

Tiny images: the size check runs on the *input*, before any resizing. Upsampling
an 8 x 8 noise patch to the working size used to invent texture, and XFeat
returned 123-138 "matches" against a real photo (A2PM 6-7); now the result is
the defined empty one with a reason naming the image and its size.
"""
import numpy as np
import pytest

from vision_sparse.models.area_matchers import A2PMMatcher
from vision_sparse.models.matchers import SIFTMatcher, XFeatMatcher
from vision_sparse.structures.results import check_result
from vision_sparse.testing.synthetic_pairs import procedural_texture


@pytest.fixture(scope='module')
def photo():
    return procedural_texture((320, 240), seed=1)


@pytest.fixture(scope='module')
def xfeat():
    return XFeatMatcher(device='cpu', num_threads=1)


def noise(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), np.uint8)


def assert_empty(out, name, shape):
    check_result(out)
    assert not out['success']
    assert out['kpts0'].shape == (0, 2) and out['kpts1'].shape == (0, 2)
    assert out['scores'].shape == (0,)
    assert f'{name} is too small: input size (H, W) = {shape}' in out['reason']


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_xfeat_tiny_noise_patch_is_not_upsampled_into_matches(xfeat, photo, seed):
    out = xfeat.match(noise(8, 8, seed), photo)
    assert_empty(out, 'image0', (8, 8))
    out = xfeat.match(photo, noise(8, 8, seed))
    assert_empty(out, 'image1', (8, 8))


def test_xfeat_thin_strip_is_too_small(xfeat, photo):
    # 20 px high: below XFeat's min_size=32 before the upsample to 640 x 20 * 640 / 600
    out = xfeat.match(noise(20, 600), photo)
    assert_empty(out, 'image0', (20, 600))


def test_xfeat_extract_of_a_tiny_patch_has_no_features(xfeat):
    f = xfeat.extract(noise(8, 8))
    assert f['feats'] is None and 'image is too small: input size (H, W) = (8, 8)' in f['reason']


def test_sift_checks_the_input_size_before_upsampling(photo):
    # resize_max=640 would upsample 8 x 8 to 640 x 640 (working size above min_size=16)
    out = SIFTMatcher(resize_max=640).match(noise(8, 8), photo)
    assert_empty(out, 'image0', (8, 8))


def test_min_size_bound_is_inclusive(photo):
    m = SIFTMatcher(min_size=16)  # resize_max=640: both would be upsampled
    assert 'too small' in m.match(noise(15, 40), photo)['reason']
    out = m.match(noise(16, 40), photo)  # allowed: not refused for its size
    assert 'too small' not in out['reason']


def test_a2pm_tiny_noise_patch_gives_the_defined_empty_result(xfeat, photo):
    a2pm = A2PMMatcher(point_matcher=xfeat)
    K = np.array([[300.0, 0, 160], [0, 300.0, 120], [0, 0, 1]])
    out = a2pm(noise(8, 8), photo, K0=K, K1=K)
    assert_empty(out, 'image0', (8, 8))
    assert out['from_area'].shape == (0,) and out['areas0'].shape == (0, 4)
    assert len(out['area_set0']) == 0 and len(out['area_set1']) == 0
    assert out['R'] is None and out['num_inliers'] == 0
    out = a2pm(photo, noise(12, 12))
    assert_empty(out, 'image1', (12, 12))
