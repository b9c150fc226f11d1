"""The pair match cache: a repeated unmasked pair skips the descriptor
matching and returns exactly the same matches."""
import numpy as np
import pytest

from vision_sparse.models.matchers import SIFTMatcher
from vision_sparse.testing.synthetic_pairs import make_homography_pair, procedural_texture


@pytest.fixture(scope='module')
def pair():
    return make_homography_pair(procedural_texture((320, 240), seed=3), seed=1,
                                max_rotation_deg=10, scale_range=(0.9, 1.1), perspective=0.03)


def test_match_cache_repeats_exactly_and_skips_matching(pair):
    m = SIFTMatcher(resize_max=320)
    calls = []
    original = m._match_features
    m._match_features = lambda *a: calls.append(1) or original(*a)
    img0, img1 = pair['image0'], pair['image1']
    first = m(dict(image0=img0, image1=img1))
    again = m(dict(image0=img0, image1=img1))
    assert len(calls) == 1 and len(first['scores']) > 10
    for key in ('kpts0', 'kpts1', 'scores'):
        np.testing.assert_array_equal(first[key], again[key])
    # the swapped pair, a masked call and a changed image are matched anew
    m(dict(image0=img1, image1=img0))
    assert len(calls) == 2
    m(dict(image0=img0, image1=img1, mask0=np.ones(img0.shape[:2], bool)))
    assert len(calls) == 3
    changed = img1.copy()
    changed[100:120, 100:140] = 255 - changed[100:120, 100:140]
    m(dict(image0=img0, image1=changed))
    assert len(calls) == 4
    # cleared with the feature cache, off with either cache size at 0
    m.clear_feature_cache()
    m(dict(image0=img0, image1=img1))
    assert len(calls) == 5
    m.match_cache_size = 0
    m(dict(image0=img0, image1=img1))
    assert len(calls) == 6
    m.match_cache_size, m.feature_cache_size = 2, 0
    m(dict(image0=img0, image1=img1))
    m(dict(image0=img0, image1=img1))
    assert len(calls) == 8
