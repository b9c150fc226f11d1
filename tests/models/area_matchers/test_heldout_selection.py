"""Held-out selection of the consensus geometry (``select='auto'`` picks it when
the full image's own geometry explains few of its matches): planted synthetic
scenes with exact geometry."""
import numpy as np
import pytest

from vision_sparse.models.area_matchers import consensus_fusion
from vision_sparse.models.area_matchers.fusion import _heldout_scores, estimate_area_geometry

from .test_consensus_fusion import (SIZE, _full, _geometry_is_true, _planted_wrong_pair,
                                    _quadrant_areas, _scene, _true_share)


def _weak_full_with_wrong_structure(scene, seed):
    """A weak full image: few true matches, a denser self-consistent wrong
    structure (its own geometry is the wrong one) and many random matches."""
    true0, true1, _ = _full(scene, n_true=25, n_out=0, seed=seed)
    w0, w1, _ = _planted_wrong_pair(n=70, seed=seed + 1)
    rng = np.random.default_rng(seed + 2)
    o0 = rng.uniform([0, 0], [639, 479], (300, 2))
    o1 = rng.uniform([0, 0], [639, 479], (300, 2))
    k0 = np.concatenate([true0, w0, o0])
    return k0, np.concatenate([true1, w1, o1]), rng.uniform(0.3, 0.9, len(k0))


def test_weak_full_image_is_replaced_by_the_held_out_winner():
    scene = _scene(seed=11)
    full = _weak_full_with_wrong_structure(scene, seed=12)
    areas = _quadrant_areas(scene, n=100, which=(0, 1, 2))
    res = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE)
    assert res['full_inlier_share'] < 0.3 and res['selection'] == 'heldout'
    assert 0 <= res['winner'] < 3 and _geometry_is_true(scene, res['F'])
    assert res['area_kept'].all()
    assert _true_share(scene, res['kpts0'], res['kpts1']) > 0.95
    # every area hypothesis is vouched for by the two other areas; the full
    # image's (wrong) one by none of them
    assert np.all(res['hypothesis_scores'][:3] >= 1.0 - 1e-9)
    assert res['hypothesis_scores'][3] < 1.0


def test_dense_wrong_pair_gets_no_held_out_votes():
    scene = _scene(seed=13)
    full = _full(scene, n_true=40, n_out=300, seed=14)   # weak: 12 % correct
    wrong = _planted_wrong_pair(n=2000, seed=15)          # dense, self-consistent
    areas = [wrong] + _quadrant_areas(scene, n=100, which=(0, 1))
    res = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE)
    assert res['selection'] == 'heldout'
    assert res['winner'] != 0 and _geometry_is_true(scene, res['F'])
    # scored on the other sources only, the dense pair's geometry gets no vote
    assert res['hypothesis_scores'][0] < 0.5 - 1.0    # (after the one-vote margin)
    assert res['area_kept'].tolist() == [False, True, True]
    assert not (res['from_area'] == 0).any()


def test_strong_full_image_keeps_the_coverage_vote_and_options():
    scene = _scene(seed=16)
    full = _full(scene, n_true=200, n_out=40, seed=17)
    areas = _quadrant_areas(scene, n=60, which=(0, 3))
    res = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE)
    assert res['full_inlier_share'] > 0.7 and res['selection'] == 'strong_full'
    assert _geometry_is_true(scene, res['F'])
    vote = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE,
                            full_stands=False)
    assert vote['selection'] == 'coverage' and _geometry_is_true(scene, vote['F'])
    forced = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE,
                              select='heldout')
    assert forced['selection'] == 'heldout' and _geometry_is_true(scene, forced['F'])
    for bad in (dict(select='vote'), dict(weak_full_share=1.5), dict(heldout_margin=-1)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            consensus_fusion(areas, full, None, None, **bad)


def test_held_out_scores_cap_each_source_at_one_vote():
    scene = _scene(seed=18)
    k0, k1 = scene['kpts0'], scene['kpts1']
    src = [(k0[:1500], k1[:1500], np.ones(1500)), (k0[1500:1530], k1[1500:1530], np.ones(30)),
           (k0[1530:1560], k1[1530:1560], np.ones(30))]
    hyps = [estimate_area_geometry(a, b, scene['K0'], scene['K1'], 1.0)[0] for a, b, _ in src]
    sc = _heldout_scores(hyps, src, thr=2.0)
    # all three fit the same true geometry: each is vouched for by the two others,
    # the 1500-match source counting once like the 30-match ones
    np.testing.assert_allclose(sc, 2.0, atol=0.1)
    assert np.isnan(_heldout_scores([None] + hyps[1:], src, 2.0)[0])
