"""A2PMMatcher end to end on homography pairs, the evaluation model, and bad inputs."""
import numpy as np
import pytest

from vision_sparse.models.area_matchers import A2PMEvalModel, A2PMMatcher
from vision_sparse.models.matchers import SIFTMatcher
from vision_sparse.registry import MODELS
from vision_sparse.structures.results import check_result
from vision_sparse.testing import shared_data_root
from vision_sparse.testing.synthetic_pairs import (make_homography_pair, procedural_texture,
                                                   sample_photo)

no_data = pytest.mark.skipif(shared_data_root() is None,
                             reason='shared sample data (../shared/data) not available')


def _project(H, k):
    p = np.concatenate([k, np.ones((len(k), 1))], 1) @ H.T
    return p[:, :2] / p[:, 2:]


@pytest.fixture(scope='module')
def sift():
    return SIFTMatcher()


def _check_matches(out, H, max_matches):
    k0, k1 = out['kpts0'], out['kpts1']
    assert k0.dtype == np.float32 and k0.shape == k1.shape and k0.shape[1] == 2
    assert out['scores'].shape == (len(k0),) and len(k0) <= max_matches
    err = np.linalg.norm(_project(H, k0.astype(float)) - k1, axis=1)
    assert (err < 3.0).mean() > 0.9, np.percentile(err, [50, 90])
    for k in (k0, k1) if not out['fusion_info'].get('full_won') else ():  # 3 px NMS
        d = np.linalg.norm(k[:, None] - k[None], axis=-1) + 1e3 * np.eye(len(k))
        assert d.min() >= 3.0


@no_data
def test_a2pm_dmesa_on_warped_photo_any_size(sift):
    img = sample_photo(2, max_side=600)[:380, :560]  # not 4:3
    pair = make_homography_pair(img, seed=11, max_rotation_deg=10, scale_range=(0.9, 1.1),
                                perspective=0.05, max_translation=0.05)
    # 'merge': the agreeing area pairs' matches are added even when the full image wins
    m = MODELS.build(dict(type='A2PMMatcher',
                          point_matcher=dict(type='SIFTMatcher', resize_max=320),
                          area_matcher=dict(type='DMESA'), crop_size=320, max_matches=400,
                          consensus=dict(full_winner_output='merge')))
    out = m(pair['image0'], pair['image1'])
    check_result(out)
    assert out['success'] and out['fallback'] == '', out['fallback']
    assert out['area_kept'].any() and out['areas0'].shape == out['areas1'].shape
    assert len(out['area_scores']) == len(out['areas0'])
    assert (out['from_area'] >= 0).any()
    _check_matches(out, pair['H_0to1'], 400)
    assert set(out['timings']) >= {'areas', 'area_matching', 'point_matching', 'fusion', 'total'}
    assert 'R' not in out  # no intrinsics, no pose


@no_data
def test_a2pm_returns_the_bare_matches_when_the_full_image_wins():
    # default full_winner_output='bare': a well-matched pair gets exactly the point
    # matcher's own matches back (same order), not a re-drawn set
    img = sample_photo(2, max_side=600)[:380, :560]
    pair = make_homography_pair(img, seed=11, max_rotation_deg=10, scale_range=(0.9, 1.1),
                                perspective=0.05, max_translation=0.05)
    pm = MODELS.build(dict(type='SIFTMatcher', resize_max=320))
    bare = pm(dict(image0=pair['image0'], image1=pair['image1']))
    m = MODELS.build(dict(type='A2PMMatcher', point_matcher=pm, area_matcher=dict(type='DMESA'),
                          crop_size=320, max_matches=5000))
    out = m(pair['image0'], pair['image1'])
    check_result(out)
    info = out['fusion_info']
    assert info['winner'] == -1 and info['full_inlier_share'] > 0.3, info
    assert out['fallback'] == '' and info['full_won'] and (out['from_area'] == -1).all()
    assert out['area_kept'].any()  # area pairs agree with the geometry; they add no matches
    np.testing.assert_allclose(out['kpts0'], bare['kpts0'], atol=1e-4)
    np.testing.assert_allclose(out['kpts1'], bare['kpts1'], atol=1e-4)
    # no area pair at all: the same matches, and the result says why no area was used
    none = dict(boxes0=np.zeros((0, 4)), boxes1=np.zeros((0, 4)), scores=np.zeros(0))
    alone = m(pair['image0'], pair['image1'], area_matches=none)
    assert alone['fallback'] and not alone['area_kept'].any()
    np.testing.assert_allclose(alone['kpts0'], bare['kpts0'], atol=1e-4)


def test_a2pm_mesa_with_intrinsics_on_texture(sift):
    img = procedural_texture((320, 240), seed=8)
    pair = make_homography_pair(img, seed=2, max_rotation_deg=8, scale_range=(0.95, 1.05),
                                perspective=0.03, max_translation=0.04)
    K = np.array([[300.0, 0, 160], [0, 300, 120], [0, 0, 1]])
    m = A2PMMatcher(SIFTMatcher(resize_max=256), area_matcher=dict(type='MESA', crop_size=96),
                    coarse_matcher=SIFTMatcher(resize_max=96), crop_size=256,
                    area_source=dict(type='SegmentationAreaSource', max_side=160))
    out = m.match(pair['image0'], pair['image1'], K0=K, K1=K)
    assert out['num_area_matcher_calls'] > 0
    _check_matches(out, pair['H_0to1'], 5000)
    if out['R'] is not None:
        np.testing.assert_allclose(out['R'] @ out['R'].T, np.eye(3), atol=1e-6)
        assert np.linalg.norm(out['t']) == pytest.approx(1.0) and out['num_inliers'] > 0
    # precomputed areas and area matches (another point matcher, same area pairs)
    am = dict(boxes0=out['areas0'], boxes1=out['areas1'], scores=out['area_scores'])
    again = m.match(pair['image0'], pair['image1'], K0=K, K1=K, areas0=out['area_set0'],
                    areas1=out['area_set1'], area_matches=am)
    np.testing.assert_array_equal(again['kpts0'], out['kpts0'])
    assert again['num_area_matcher_calls'] == 0
    with pytest.raises(ValueError, match='area_matches'):
        m.match(pair['image0'], pair['image1'], area_matches=dict(boxes0=am['boxes0']))


def test_a2pm_bad_inputs_and_empty_results(sift):
    m = A2PMMatcher(sift, area_matcher='dmesa')
    img = procedural_texture((160, 120), seed=1)
    K = np.array([[100.0, 0, 80], [0, 100, 60], [0, 0, 1]])
    with pytest.raises(ValueError, match='image0'):
        m(None, img)
    with pytest.raises(ValueError, match='image1'):
        m(img, np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match='uint8'):
        m(img, img.astype(np.float32))
    with pytest.raises(ValueError, match='K0'):
        m(img, img, K0=np.eye(2), K1=K)
    with pytest.raises(ValueError, match='focal'):
        m(img, img, K0=-K, K1=K)
    with pytest.raises(ValueError, match='both'):
        m(img, img, K0=K)
    with pytest.raises(ValueError, match='area_matcher'):
        A2PMMatcher(sift, area_matcher='graphcut')
    with pytest.raises(ValueError, match='point_matcher'):
        A2PMMatcher(None)
    with pytest.raises(ValueError, match='unknown'):
        A2PMMatcher(sift, crop=3)
    flat = np.full((120, 160, 3), 100, np.uint8)  # no texture: nothing to match
    out = m(flat, flat, K0=K, K1=K)
    assert len(out['kpts0']) == 0 and not check_result(out)['success']
    assert 'no full-image matches' in out['reason'] and out['fallback']
    assert out['R'] is None and out['num_inliers'] == 0


@no_data
def test_eval_model_on_scannet_sample(sift):
    from vision_sparse.datasets.matching_pairs import ScanNetPairsDataset
    root = shared_data_root() / 'matching' / 'scannet_pairs'
    ds = ScanNetPairsDataset(str(root), 'scannet_sample_pairs_with_gt.txt',
                             'scannet_sample_images', resize=None, max_pairs=1)
    model = A2PMEvalModel(point_matcher=dict(type='SIFTMatcher'),
                          dmesa=dict(coarse_matcher=dict(type='SIFTMatcher', ratio=0.9)),
                          methods=('matcher', 'dmesa'), method_prefix='sift_',
                          eval_size=(640, 480))
    item = ds[0]
    res = model.test_step({k: [v] for k, v in item.items()})
    assert [r['method'] for r in res] == ['sift_matcher', 'sift_dmesa']
    sx = 640 / item['image0'].shape[1]
    for r in res:
        assert 'image0' not in r
        assert check_result(r)['success'] == (len(r['kpts0']) > 0)
        np.testing.assert_allclose(r['K0'][0, 0], item['K0'][0, 0] * sx)
        assert list(r['image_size0']) == [640, 480]
        if len(r['kpts0']):
            assert r['kpts0'][:, 0].max() < 640 and r['kpts1'][:, 1].max() < 480
    with pytest.raises(ValueError, match='methods'):
        A2PMEvalModel(point_matcher=dict(type='SIFTMatcher'), methods=('loftr',))
    with pytest.raises(ValueError, match='predict'):
        model.forward([item], mode='loss')
