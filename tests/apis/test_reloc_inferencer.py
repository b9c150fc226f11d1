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


def _tiny_build_options():
    """A 6-frame synthetic room (160 x 120) and a 4-step training: seconds, not minutes."""
    synthetic = dict(num_train=6, num_test=1, image_size=(160, 120), supersample=1, seed=0,
                     trajectory='strafe', texture_root=None)
    return {'model.mapping.dataset.synthetic': synthetic,
            'model.mapping.tracker.min_track_length': 4,
            'model.mapping.triangulator.min_track_length': 4,
            'model.mapping.trainer.iterations': 4, 'model.mapping.trainer.max_landmarks': 40,
            'model.mapping.trainer.psnr_threshold': 10.0}


def test_build_landmark_map_reports_progress_saves_and_can_be_cancelled(tmp_path):
    from vision_sparse.apis import build_landmark_map

    class Stop(Exception):
        pass

    def cancel(fraction, stage):
        if stage.startswith('training'):
            raise Stop(stage)

    out = tmp_path / 'sub' / 'map.pth'
    with pytest.raises(Stop, match='training landmarks'):
        build_landmark_map(FAVOR_CONFIG, out, cfg_options=_tiny_build_options(), progress=cancel)
    assert not out.exists()  # nothing saved from a cancelled build

    seen = []
    lmap = build_landmark_map(FAVOR_CONFIG, out, cfg_options=_tiny_build_options(),
                              progress=lambda f, stage: seen.append((f, stage)))
    assert out.is_file() and 0 < len(lmap) <= 40
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = ' '.join(stage for _, stage in seen)
    assert 'tracking: frame 6/6' in stages and 'training landmarks: step 4/4' in stages
    favor = RelocInferencer(FAVOR_CONFIG, str(out))
    assert len(favor.landmark_map) == len(lmap)
    poses = favor.mapping_poses
    assert poses.shape == (6, 4, 4) and np.allclose(poses[:, 3], [0, 0, 0, 1])


def test_build_landmark_map_bad_arguments(tmp_path):
    from vision_sparse.apis import build_landmark_map
    with pytest.raises(ValueError, match='no model.mapping.dataset'):
        build_landmark_map(SIFT_CONFIG, tmp_path / 'm.pth')
    with pytest.raises(ValueError, match='max_frames must be an int >= 2'):
        build_landmark_map(FAVOR_CONFIG, tmp_path / 'm.pth', max_frames=1)
    with pytest.raises(FileNotFoundError, match='data_root'):
        build_landmark_map(FAVOR_CONFIG, tmp_path / 'm.pth', data_root=tmp_path / 'nope')


def test_project_landmarks_and_draw_with_K(favor, scene):
    frame = scene['test'][0]
    res = favor(frame['image'], frame['K'])
    h, w = frame['image'].shape[:2]
    proj = favor.project_landmarks(frame['T_c2w'], frame['K'], (w, h))
    assert len(proj['uv']) > 10
    assert (proj['uv'] >= 0).all() and (proj['uv'][:, 0] <= w - 1).all()
    assert (proj['depth'] > 0).all()
    # the matched landmarks project, with the true pose, near the query keypoints they matched
    if res['num_inliers']:
        lm = res['landmarks'][res['inliers']]
        T = np.linalg.inv(frame['T_c2w'])
        cam = lm @ T[:3, :3].T + T[:3, 3]
        uv = cam[:, :2] / cam[:, 2:] * np.diag(frame['K'])[:2] + frame['K'][:2, 2]
        assert np.median(np.linalg.norm(uv - res['keypoints'][res['inliers']], axis=1)) < 3
    plain = favor.draw(res, frame['image'])
    with_k = favor.draw(res, frame['image'], K=frame['K'])
    assert plain.shape == with_k.shape == frame['image'].shape
    assert (plain != with_k).any()  # the projected landmarks were drawn
    with pytest.raises(ValueError, match='image_size'):
        favor.project_landmarks(frame['T_c2w'], frame['K'], (w,))
