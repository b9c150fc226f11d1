"""SIFTMatcher on a real photo warped by a known homography."""
import numpy as np
import pytest

from vision_sparse.models.matchers import SIFTMatcher
from vision_sparse.testing.synthetic_pairs import make_homography_pair, sample_photo

from .helpers import WARP, check_output, inlier_ratio, needs_photo, photo_pair


@pytest.fixture(scope='module')
def sift():
    return SIFTMatcher(resize_max=320)


@needs_photo
def test_matches_agree_with_homography(sift):
    pair = photo_pair()
    out = sift.match(pair['image0'], pair['image1'])
    n = check_output(out)
    assert n >= 30, f'only {n} matches'
    assert inlier_ratio(out, pair['H_0to1'], 3.0) >= 0.6
    assert out['num_keypoints0'] >= n and out['num_keypoints1'] >= n


@needs_photo
def test_masks_restrict_keypoints(sift):
    pair = photo_pair()
    h, w = pair['image0'].shape[:2]
    mask0 = np.zeros((h, w), bool)
    mask0[:, : w // 2] = True
    mask1 = np.zeros(pair['image1'].shape[:2], bool)
    mask1[h // 3:, :] = True
    out = sift.match(pair['image0'], pair['image1'], mask0=mask0, mask1=mask1)
    n = check_output(out)
    assert n >= 10
    assert (out['kpts0'][:, 0] <= w / 2).all()
    assert (out['kpts1'][:, 1] >= h / 3 - 0.5).all()
    assert inlier_ratio(out, pair['H_0to1'], 3.0) >= 0.6


@needs_photo
def test_coordinates_map_back_to_input_sizes():
    """image1 at a different size and a working size != both: matches stay in input pixels."""
    photo = sample_photo(0, 480)
    H = np.array([[0.5, 0.02, 10.0], [-0.02, 0.5, 6.0], [0.0, 0.0, 1.0]])  # half size + shift
    pair = make_homography_pair(photo, H=H, output_size=(260, 200))
    out = SIFTMatcher(resize_max=400).match(pair['image0'], pair['image1'])
    assert check_output(out) >= 20
    assert inlier_ratio(out, H, 3.0) >= 0.6
    assert out['kpts1'][:, 0].max() < 260 and out['kpts1'][:, 1].max() < 200


def test_procedural_texture_without_data():
    """Runs without the shared data: a textured synthetic image and a known warp."""
    from vision_sparse.testing.synthetic_pairs import procedural_texture
    pair = make_homography_pair(procedural_texture((320, 240), seed=5), seed=1, **WARP)
    out = SIFTMatcher(resize_max=320).match(pair['image0'], pair['image1'])
    assert check_output(out) >= 20
    assert inlier_ratio(out, pair['H_0to1'], 3.0) >= 0.6
