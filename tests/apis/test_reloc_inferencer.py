import numpy as np
import pytest
from mmengine.config import Config

from vision_sparse.apis import RelocInferencer
from vision_sparse.evaluation.functional.relocalization import absolute_pose_error
from vision_sparse.structures.results import check_result

from .conftest import FAVOR_CONFIG, SIFT_CONFIG

RELOC_KEYS = ('T_c2w', 'T_init', 'init_name', 'keypoints', 'landmarks', 'landmark_ids', 'inliers',
              'num_inliers', 'num_matches', 'num_keypoints', 'iterations', 'iteration_poses')


@pytest.fixture(scope='module')
def favor(map_file):
    return RelocInferencer(FAVOR_CONFIG, str(map_file))


def _check(res):
    check_result(res)
    for key in RELOC_KEYS:
        assert key in res, key
    n = res['num_matches']
    assert res['keypoints'].shape == (n, 2) and res['landmarks'].shape == (n, 3)
    assert res['inliers'].shape == (n,) and res['inliers'].dtype == bool
    assert res['num_inliers'] == int(res['inliers'].sum())
    assert {'load', 'relocalize', 'total'} <= set(res['timings'])


def test_relocalizes_the_queries_of_the_synthetic_room(favor, scene):
    for frame in scene['test']:
        res = favor(frame['image'], frame['K'])
        _check(res)
        assert res['success'] and res['reason'] == ''
        assert res['T_c2w'].shape == (4, 4) and res['init_name']
        dt, dr = absolute_pose_error(res['T_c2w'], frame['T_c2w'])
        assert dt < 0.02 and dr < 0.5, (dt, dr)
        assert res['num_inliers'] >= 20


def test_a_query_that_sees_no_landmark_fails_with_a_reason(favor, scene):
    frame = scene['test'][0]
    away = frame['T_c2w'].copy()
    away[:3, :3] = away[:3, :3] @ np.diag([-1.0, 1.0, -1.0])  # turn around (yaw 180 deg)
    res = favor(frame['image'], frame['K'], T_init=away)
    _check(res)
    assert not res['success'] and 'no landmark projects' in res['reason']
    assert res['T_c2w'].shape == (0, 4) and res['num_matches'] == 0


def test_file_input_and_config_dict(map_file, scene, favor, tmp_path):
    import cv2
    frame = scene['test'][1]
    path = tmp_path / 'query.png'
    cv2.imwrite(str(path), frame['image'][..., ::-1])
    from_dict = RelocInferencer(Config.fromfile(FAVOR_CONFIG).to_dict(), map_file)
    res = from_dict(path, frame['K'].tolist())
    ref = favor(frame['image'], frame['K'])
    np.testing.assert_array_equal(res['T_c2w'], ref['T_c2w'])
    np.testing.assert_array_equal(res['inliers'], ref['inliers'])


def test_bad_inputs_raise_clear_errors(favor, scene, map_file, tmp_path):
    frame = scene['test'][0]
    with pytest.raises(FileNotFoundError, match='favor_build_map'):
        RelocInferencer(FAVOR_CONFIG, str(tmp_path / 'missing.pth'))
    with pytest.raises(ValueError, match='needs a FaVoR config'):
        RelocInferencer(SIFT_CONFIG, map_file)
    with pytest.raises(ValueError, match='K is required|K .*required'):
        favor(frame['image'], None)
    with pytest.raises(ValueError, match=r'K must have shape \(3, 3\)'):
        favor(frame['image'], np.eye(4))
    with pytest.raises(ValueError, match='query_img.*does not exist'):
        favor(str(tmp_path / 'missing.png'), frame['K'])
    with pytest.raises(ValueError, match=r'T_init must have shape \(4, 4\)'):
        favor(frame['image'], frame['K'], T_init=np.eye(3))
