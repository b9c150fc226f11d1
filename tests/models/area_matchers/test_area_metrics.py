"""AOR / AMP (vision_sparse.evaluation.functional.area_metrics) with exact answers."""
import numpy as np
import pytest

from vision_sparse.evaluation.functional.area_metrics import (area_matching_precision,
                                                              area_metrics,
                                                              area_overlap_ratios,
                                                              warp_box_depth,
                                                              warp_box_homography)


def test_aor_with_homography_exact():
    H = np.array([[1.0, 0, 30], [0, 1, -10], [0, 0, 1]])  # a shift
    b0 = np.array([[0, 20, 100, 120], [200, 200, 300, 300]])
    b1 = np.array([[30, 10, 130, 110],                     # the true match
                   [280, 190, 380, 290]])                  # shifted by 50 px in x
    np.testing.assert_allclose(warp_box_homography(b0[0], H), b1[0])
    aor = area_overlap_ratios(b0, b1, H_0to1=H)
    np.testing.assert_allclose(aor, [1.0, 0.5])
    amp = area_matching_precision(aor)
    assert amp == {'amp@0.6': 0.5, 'amp@0.7': 0.5, 'amp@0.8': 0.5}
    # an oversized match covers the warped area fully, but not the other way
    big = area_overlap_ratios(b0[:1], [[0, 0, 400, 400]], H_0to1=H)
    np.testing.assert_allclose(big, [(1.0 + 100 * 100 / 400 ** 2) / 2])


def test_aor_with_depth_and_pose_exact():
    K = np.array([[200.0, 0, 160], [0, 200, 120], [0, 0, 1]])
    T = np.eye(4)
    T[0, 3] = 0.5                                          # x-translation
    depth = np.full((240, 320), 2.0)                       # fronto-parallel plane
    shift = 200 * 0.5 / 2.0                                # f * tx / Z = 50 px
    b0 = np.array([[20.0, 30, 120, 130]])
    w = warp_box_depth(b0[0], depth, K, K, T, step=2)
    np.testing.assert_allclose(w, b0[0] + [shift, 0, shift, 0], atol=1e-9)
    m = area_metrics(b0, b0 + [shift, 0, shift, 0], depth0=depth, depth1=depth,
                     K0=K, K1=K, T_0to1=T, step=2)
    assert m['aor'] == pytest.approx(1.0) and m['amp@0.8'] == 1.0 and m['num_area_pairs'] == 1
    # no valid depth in image 0: that direction scores 0; image 1's box moved
    # back by 50 px covers half of b0
    bad = area_overlap_ratios(b0, b0, depth0=np.zeros((240, 320)), depth1=depth,
                              K0=K, K1=K, T_0to1=T)
    np.testing.assert_allclose(bad, [(0.0 + 0.5) / 2])


def test_area_metric_errors_and_empty():
    with pytest.raises(ValueError, match='H_0to1'):
        area_overlap_ratios(np.zeros((1, 4)), np.zeros((1, 4)))
    with pytest.raises(ValueError, match='same length'):
        area_overlap_ratios(np.zeros((2, 4)), np.zeros((1, 4)), H_0to1=np.eye(3))
    with pytest.raises(ValueError, match='boxes0'):
        area_overlap_ratios(np.zeros((1, 3)), np.zeros((1, 4)), H_0to1=np.eye(3))
    out = area_metrics(np.zeros((0, 4)), np.zeros((0, 4)), H_0to1=np.eye(3))
    assert out['aor'] == 0 and out['amp@0.6'] == 0 and out['num_area_pairs'] == 0
