import numpy as np
import pytest
from mmengine.config import Config

from vision_sparse.apis import MatchInferencer
from vision_sparse.evaluation.functional.pose import relative_pose_error
from vision_sparse.structures.results import check_result
from vision_sparse.testing import shared_data_path

from .conftest import A2PM_SIFT_CONFIG, SIFT_CONFIG, TOY_CONFIG

MATCH_KEYS = ('kpts0', 'kpts1', 'scores', 'num_matches', 'R', 't', 'inliers', 'num_inliers',
              'method', 'image_size0', 'image_size1')


@pytest.fixture(scope='module')
def sift():
    return MatchInferencer(SIFT_CONFIG)


def _check_matches(res):
    check_result(res)
    for key in MATCH_KEYS:
        assert key in res, key
    n = res['num_matches']
    assert res['kpts0'].shape == res['kpts1'].shape == (n, 2)
    assert res['kpts0'].dtype == res['kpts1'].dtype == res['scores'].dtype == np.float32
    assert res['scores'].shape == (n,)
    assert {'load', 'match', 'total'} <= set(res['timings'])


def test_sift_recovers_the_relative_pose_of_a_synthetic_pair(sift, pair):
    res = sift(pair['image0'], pair['image1'], K0=pair['K0'], K1=pair['K1'])
    _check_matches(res)
    assert res['success'] and res['reason'] == ''
    assert res['method'] == 'matcher' and res['num_matches'] > 100
    assert res['R'].shape == (3, 3) and res['t'].shape == (3,)
    assert res['inliers'].shape == (res['num_matches'],) and res['num_inliers'] > 50
    err_R, err_t = relative_pose_error(pair['T_0to1'], res['R'], res['t'])
    assert err_R < 2.0 and err_t < 5.0, (err_R, err_t)
    # matches are correct: the inliers satisfy the true epipolar geometry
    x0 = np.c_[res['kpts0'], np.ones(res['num_matches'])] @ np.linalg.inv(pair['K0']).T
    x1 = np.c_[res['kpts1'], np.ones(res['num_matches'])] @ np.linalg.inv(pair['K1']).T
    R, t = pair['T_0to1'][:3, :3], pair['T_0to1'][:3, 3]
    tx = np.array([[0, -t[2], t[1]], [t[2], 0, -t[0]], [-t[1], t[0], 0]])
    err = np.abs(np.einsum('ni,ij,nj->n', x1, tx @ R, x0))
    assert np.median(err[res['inliers']]) < 1e-3


def test_without_intrinsics_there_is_no_pose(sift, pair):
    res = sift(pair['image0'], pair['image1'])
    _check_matches(res)
    assert res['success'] and 'relative_pose' not in res['timings']
    assert res['R'].shape == (0, 3) and res['t'].shape == (0,) and res['num_inliers'] == 0


def test_config_dict_and_files_give_the_file_configs_result(sift, pair, pair_files):
    ref = sift(pair['image0'], pair['image1'], K0=pair['K0'], K1=pair['K1'])
    from_dict = MatchInferencer(Config.fromfile(SIFT_CONFIG).to_dict())
    res = from_dict(pair_files['img0'], str(pair_files['img1']), K0=pair['K0'],
                    K1=pair['K1'].tolist())
    for key in ('kpts0', 'kpts1', 'scores', 'R', 't', 'inliers'):
        np.testing.assert_array_equal(res[key], ref[key], err_msg=key)


def test_a_uniform_image_fails_with_a_reason(sift, pair):
    flat = np.full_like(pair['image1'], 128)
    res = sift(pair['image0'], flat, K0=pair['K0'], K1=pair['K1'])
    _check_matches(res)
    assert not res['success'] and 'uniform' in res['reason']
    assert res['num_matches'] == 0 and res['R'].shape == (0, 3) and res['inliers'].shape == (0,)


def test_bad_inputs_raise_clear_errors(sift, pair, tmp_path):
    img = pair['image0']
    with pytest.raises(ValueError, match='img0.*does not exist'):
        sift(str(tmp_path / 'missing.png'), img)
    not_an_image = tmp_path / 'notes.png'
    not_an_image.write_text('not an image')
    with pytest.raises(ValueError, match='img1.*not an image file'):
        sift(img, not_an_image)
    with pytest.raises(ValueError, match=r'img1 must have shape \(H, W, 3\)'):
        sift(img, np.zeros((240, 320, 4), np.uint8))
    with pytest.raises(ValueError, match='img0 must have dtype uint8'):
        sift(img.astype(np.float32), img)
    with pytest.raises(ValueError, match='img1 must be an image file path or a numpy array'):
        sift(img, img.tolist())
    with pytest.raises(ValueError, match='both K0 and K1'):
        sift(img, img, K0=pair['K0'])
    with pytest.raises(ValueError, match=r'K1 must have shape \(3, 3\)'):
        sift(img, img, K0=pair['K0'], K1=np.eye(4))


def test_a_config_dict_whose_model_is_a_matcher(sift, pair):
    bare = MatchInferencer(dict(default_scope='vision_sparse', model=dict(
        type='SIFTMatcher', resize_max=640, ratio=0.8, max_keypoints=4096)))
    assert list(bare.methods) == ['matcher']
    res = bare(pair['image0'], pair['image1'])
    ref = sift(pair['image0'], pair['image1'])
    np.testing.assert_array_equal(res['kpts0'], ref['kpts0'])


def test_bad_configs_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        MatchInferencer(str(tmp_path / 'nope.py'))
    with pytest.raises(ValueError, match='needs a matcher config'):
        MatchInferencer(TOY_CONFIG)
    with pytest.raises(ValueError, match='method must be one of'):
        MatchInferencer(SIFT_CONFIG, method='dmesa')


def test_a2pm_config_runs_each_method(pair):
    inferencer = MatchInferencer(A2PM_SIFT_CONFIG)
    assert list(inferencer.methods) == ['matcher', 'mesa', 'dmesa']
    assert inferencer.method == 'dmesa'
    res = inferencer(pair['image0'], pair['image1'], K0=pair['K0'], K1=pair['K1'])
    _check_matches(res)
    assert res['method'] == 'dmesa'
    assert {'areas', 'area_matching', 'fusion'} <= set(res['timings'])
    for key in ('areas0', 'areas1', 'area_kept'):
        assert key in res
    assert res['success'], res['reason']
    assert res['area_kept'].any() and res['num_matches'] > 100
    err_R, err_t = relative_pose_error(pair['T_0to1'], res['R'], res['t'])
    assert err_R < 2.0 and err_t < 5.0, (err_R, err_t)


@pytest.mark.skipif(shared_data_path('matching', 'scannet_pairs') is None,
                    reason='ScanNet sample pairs (../shared/data) are needed; set VISION_SPARSE_DATA')
def test_scannet_sample_pair_equals_the_eval_model(sift):
    """On a ScanNet sample pair, the inferencer returns what tools/test.py's model computes."""
    from vision_sparse.registry import DATASETS
    cfg = Config.fromfile(SIFT_CONFIG)
    dataset_cfg = cfg.test_dataloader.dataset.to_dict()
    dataset_cfg.update(data_root=str(shared_data_path('matching', 'scannet_pairs')), max_pairs=1)
    item = DATASETS.build(dataset_cfg)[0]
    res = sift(item['image0'], item['image1'], K0=item['K0'], K1=item['K1'])
    _check_matches(res)
    ref = sift.model.forward([dict(item)])[0]
    for key in ('kpts0', 'kpts1', 'scores'):
        np.testing.assert_array_equal(res[key], ref[key], err_msg=key)
    assert res['num_matches'] > 0
    # with K, success means a pose (SIFT finds few matches on some of these pairs)
    assert res['success'] == (res['R'].shape == (3, 3)), res['reason']


def test_per_call_method_and_image_names_for_mask_file_areas(pair, tmp_path):
    """``method=`` runs another of the config's methods for one call; ``name0/1`` (default:
    the file names of path inputs) reach A2PM's area source, which picks mask files by them."""
    import cv2
    h, w = pair['image0'].shape[:2]
    labels = np.zeros((h, w), np.uint8)  # four quadrants, labels 1..4
    labels[:h // 2, :w // 2], labels[:h // 2, w // 2:] = 1, 2
    labels[h // 2:, :w // 2], labels[h // 2:, w // 2:] = 3, 4
    masks, images = tmp_path / 'masks', tmp_path / 'images'
    masks.mkdir(), images.mkdir()
    for name, img in (('a.png', pair['image0']), ('b.png', pair['image1'])):
        cv2.imwrite(str(masks / name), labels)
        cv2.imwrite(str(images / name), img[..., ::-1])
    inferencer = MatchInferencer(A2PM_SIFT_CONFIG, cfg_options={'model.area_source': dict(
        _delete_=True, type='MaskFileAreaSource', root=str(masks), pattern='{name}')})
    res = inferencer(pair['image0'], pair['image1'], name0='a.png', name1='b.png')
    from_files = inferencer(str(images / 'a.png'), str(images / 'b.png'))
    for r in (res, from_files):
        assert r['method'] == 'dmesa' and len(r['area_set0']) >= 1
        # every area is a quadrant (or a union of them): box sides on the quadrant grid
        for areas in (r['area_set0'], r['area_set1']):
            assert areas.image_size == (h, w)
            xs, ys = areas.boxes[:, [0, 2]], areas.boxes[:, [1, 3]]
            assert (np.abs(xs[..., None] - np.array([0, w / 2, w])).min(-1) <= 1).all()
            assert (np.abs(ys[..., None] - np.array([0, h / 2, h])).min(-1) <= 1).all()
        m = len(r['areas0'])
        assert r['areas1'].shape == (m, 4) and r['area_kept'].shape == (m, )
        assert r['from_area'].shape == (r['num_matches'], )
        assert (r['from_area'] >= -1).all() and (r['from_area'] < m).all()
    with pytest.raises(ValueError, match='image file name'):
        inferencer(pair['image0'], pair['image1'])  # arrays: no names, no mask file
    bare = inferencer(pair['image0'], pair['image1'], method='matcher')
    assert bare['method'] == 'matcher' and 'areas0' not in bare and bare['num_matches'] > 50
    assert inferencer.method == 'dmesa'  # the per-call method does not stick
    with pytest.raises(ValueError, match='method must be one of'):
        inferencer(pair['image0'], pair['image1'], method='loftr')
    with pytest.raises(ValueError, match='name0 must be a file name'):
        inferencer(pair['image0'], pair['image1'], name0=3)
