"""MESA and DMESA on homography-warped photos: the matched target areas lie on
the true warped source areas."""
import numpy as np
import pytest

from vision_sparse.evaluation.functional.area_metrics import (area_overlap_ratios,
                                                              warp_box_homography)
from vision_sparse.models.area_matchers import DMESA, MESA, merge_area_pairs
from vision_sparse.models.matchers import SIFTMatcher
from vision_sparse.registry import MODELS
from vision_sparse.structures.areas import AreaSet, clip_boxes
from vision_sparse.structures.results import check_result
from vision_sparse.testing import shared_data_root
from vision_sparse.testing.synthetic_pairs import (make_homography_pair, procedural_texture,
                                                   sample_photo)

no_data = pytest.mark.skipif(shared_data_root() is None,
                             reason='shared sample data (../shared/data) not available')


def _pair(image, seed=3):
    pair = make_homography_pair(image, seed=seed, max_rotation_deg=12,
                                scale_range=(0.9, 1.1), perspective=0.05,
                                max_translation=0.05)
    h, w = image.shape[:2]
    # a 3x3 grid of level-3 sized areas in image 0, their true boxes in image 1
    boxes0 = []
    for gy in range(3):
        for gx in range(3):
            x1, y1 = 20 + gx * (w - 40) / 3, 20 + gy * (h - 40) / 3
            boxes0.append([x1 + 5, y1 + 5, x1 + (w - 40) / 3 - 5, y1 + (h - 40) / 3 - 5])
    boxes0 = np.array(boxes0)
    boxes1 = clip_boxes(np.stack([warp_box_homography(b, pair['H_0to1']) for b in boxes0]),
                        (h, w))
    return pair, AreaSet(boxes0, (h, w)), AreaSet(boxes1, (h, w))


def _covered(box, by):
    iw = max(0, min(box[2], by[2]) - max(box[0], by[0]))
    ih = max(0, min(box[3], by[3]) - max(box[1], by[1]))
    return iw * ih / max((box[2] - box[0]) * (box[3] - box[1]), 1)


def _precision(out, H):
    """Per pair, the fraction of the estimated box lying on the true area: the
    target box (image 1 for forward pairs, image 0 for reverse ones) inside the
    warped other box; the better of both readings is taken as the direction
    is not recorded."""
    Hinv = np.linalg.inv(H)
    return np.array([max(_covered(b1, warp_box_homography(b0, H)),
                         _covered(b0, warp_box_homography(b1, Hinv)))
                     for b0, b1 in zip(out['boxes0'], out['boxes1'])])


def _check(out, pair, min_pairs):
    assert len(out['boxes0']) >= min_pairs, out.get('reason')
    assert check_result(out)['success'] and out['reason'] == ''
    assert set(out['timings']) == {'graphs', 'area_matching'}
    prec = _precision(out, pair['H_0to1'])
    assert np.mean(prec > 0.5) >= 0.8, prec
    aor = area_overlap_ratios(out['boxes0'], out['boxes1'], H_0to1=pair['H_0to1'])
    assert np.median(aor) > 0.4, aor
    assert ((out['scores'] >= 0) & (out['scores'] <= 1)).all()


@no_data
def test_dmesa_on_warped_photo():
    pair, a0, a1 = _pair(sample_photo(0, max_side=640))
    dmesa = MODELS.build(dict(type='DMESA', coarse_matcher=dict(type='SIFTMatcher', ratio=0.9)))
    out = dmesa(dict(image0=pair['image0'], image1=pair['image1'], areas0=a0, areas1=a1))
    assert out['num_matcher_calls'] == 2
    _check(out, pair, min_pairs=6)


def test_dmesa_on_warped_texture_any_size():
    img = procedural_texture((500, 330), seed=4)
    pair, a0, a1 = _pair(img, seed=5)
    dmesa = DMESA(coarse_matcher=SIFTMatcher(ratio=0.9), reverse_call=False)
    out = dmesa(dict(image0=pair['image0'], image1=pair['image1'], areas0=a0, areas1=a1))
    assert out['num_matcher_calls'] == 1
    _check(out, pair, min_pairs=6)


@no_data
def test_mesa_on_warped_photo():
    pair, a0, a1 = _pair(sample_photo(1, max_side=480), seed=7)
    mesa = MESA(coarse_matcher=SIFTMatcher(ratio=0.9, resize_max=128), crop_size=128)
    out = mesa(dict(image0=pair['image0'], image1=pair['image1'], areas0=a0, areas1=a1))
    g0, g1 = out['graph0'], out['graph1']
    assert 0 < out['num_matcher_calls'] < len(g0) * len(g1)  # pruning / level window
    assert out['activity'].shape == (len(g0), len(g1))
    assert out['activity'].min() == 0 and out['activity'].max() == 1
    _check(out, pair, min_pairs=4)


def test_area_matchers_empty_and_bad_inputs():
    img = procedural_texture((200, 150), seed=1)
    empty = AreaSet.empty((150, 200))
    dmesa = DMESA(coarse_matcher=SIFTMatcher())
    out = dmesa(dict(image0=img, image1=img, areas0=empty, areas1=empty))
    assert len(out['boxes0']) == 0 and not check_result(out)['success'] and out['reason']
    mesa = MESA(coarse_matcher=SIFTMatcher(resize_max=64), crop_size=64)
    out = mesa(dict(image0=img, image1=img, areas0=empty, areas1=empty))
    assert len(out['boxes0']) == 0 and 'match_level' in out['reason']
    with pytest.raises(ValueError, match='areas0'):
        dmesa(dict(image0=img, image1=img, areas0=None, areas1=empty))
    with pytest.raises(ValueError, match='size'):
        dmesa(dict(image0=img, image1=img, areas0=AreaSet.empty((10, 10)), areas1=empty))
    with pytest.raises(ValueError, match='coarse_matcher'):
        DMESA()(dict(image0=img, image1=img, areas0=empty, areas1=empty))
    with pytest.raises(ValueError, match='match_level'):
        DMESA(match_level=9)
    # a uniform image: no coarse matches -> a defined empty result with a reason
    flat = np.full((150, 200, 3), 90, np.uint8)
    a = AreaSet(np.array([[10, 10, 190, 140]]), (150, 200))
    out = dmesa(dict(image0=flat, image1=flat, areas0=a, areas1=a))
    assert len(out['boxes0']) == 0 and 'coarse matches' in out['reason']


def test_merge_area_pairs_fuses_repeats():
    b0 = np.array([[0, 0, 100, 100], [2, 2, 100, 102], [300, 300, 400, 400]], float)
    b1 = np.array([[10, 10, 110, 110], [500, 500, 600, 600], [0, 0, 50, 50]], float)
    m0, m1, s = merge_area_pairs(b0, b1, np.array([0.5, 0.9, 0.4]))
    assert len(m0) == 2
    np.testing.assert_allclose(m0[0], [0, 0, 100, 102])
    np.testing.assert_allclose(m1[0], [10, 10, 600, 600])
    np.testing.assert_allclose(s, [0.9, 0.4])


def test_mesa_cached_features_give_the_official_activity_map():
    """Features per crop once (cache_features) == one matcher call per crop pair."""
    img = procedural_texture((360, 270), seed=11)
    pair, a0, a1 = _pair(img, seed=2)
    data = dict(image0=pair['image0'], image1=pair['image1'], areas0=a0, areas1=a1)
    outs = []
    for cache in (True, False):
        mesa = MESA(coarse_matcher=SIFTMatcher(ratio=0.9, resize_max=96), crop_size=96,
                    cache_features=cache)
        outs.append(mesa(data))
    assert outs[0]['num_matcher_calls'] == outs[1]['num_matcher_calls'] > 0
    assert outs[0]['activity'].max() == 1
    np.testing.assert_array_equal(outs[0]['activity'], outs[1]['activity'])
    np.testing.assert_array_equal(outs[0]['boxes1'], outs[1]['boxes1'])
