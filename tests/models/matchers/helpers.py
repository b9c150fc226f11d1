"""Shared inputs of the matcher tests: a real photo warped by a known homography."""
import numpy as np
import pytest

from vision_sparse.evaluation.functional import homography_reprojection_error
from vision_sparse.structures.results import check_result
from vision_sparse.testing import shared_data_root
from vision_sparse.testing.synthetic_pairs import make_homography_pair, sample_photo

needs_photo = pytest.mark.skipif(
    shared_data_root() is None,
    reason='the ScanNet sample photos (../shared/data) are needed; set VISION_SPARSE_DATA')

#: a moderate known warp: rotation, scale change and perspective
WARP = dict(max_rotation_deg=15.0, scale_range=(0.85, 1.15), perspective=0.05,
            max_translation=0.05)


def photo_pair(max_side: int = 320, seed: int = 3, index: int = 0) -> dict:
    """ScanNet photo (longer side ``max_side``) and its warp by a random known H."""
    return make_homography_pair(sample_photo(index, max_side), seed=seed, **WARP)


def inlier_ratio(out: dict, H: np.ndarray, thresh_px: float) -> float:
    """Fraction of matches within ``thresh_px`` of the ground-truth homography."""
    err = homography_reprojection_error(out['kpts0'], out['kpts1'], H)
    return float(np.mean(err <= thresh_px))


def check_output(out: dict) -> int:
    """Output contract: shapes, dtypes, score range, success / reason / timings; returns N."""
    n = len(out['scores'])
    check_result(out)
    assert out['success'] == (n > 0) and set(out['timings']) <= {'extract', 'match'}
    assert out['kpts0'].shape == (n, 2) and out['kpts1'].shape == (n, 2)
    assert out['kpts0'].dtype == np.float32 and out['kpts1'].dtype == np.float32
    assert out['scores'].dtype == np.float32
    if n:
        assert out['scores'].min() >= 0 and out['scores'].max() <= 1
    return n
