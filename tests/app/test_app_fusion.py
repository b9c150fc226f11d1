"""The fusion tab's handlers: point uploads, matches / mAP against exact truth, the default
nuScenes run (ground truth, honest without a checkpoint), a synthetic run with a model
trained here for a couple of iterations, re-drawing at a new score, and bad inputs."""
import numpy as np
import pytest

from vision_sparse.app import fusion as F
from vision_sparse.app.common import AppError
from vision_sparse.testing.data import shared_data_path
from vision_sparse.utils import torch_threads

NUSCENES = shared_data_path('lidar_camera', 'nuscenes')


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture
def sweep(tmp_path):
    """A 5-column float32 sweep written as .bin: a ground ring and a box-shaped cluster."""
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform(-20, 20, (996, 2)), rng.uniform(-1.8, -1.6, (996, 1)),
                          rng.uniform(0, 255, (996, 1)), rng.integers(0, 32, (996, 1))], 1)
    path = tmp_path / 'sweep.bin'
    pts.astype(np.float32).tofile(path)
    return path, pts.astype(np.float32)


def test_read_points_bin_npy_and_the_column_guess(sweep, tmp_path):
    path, pts = sweep
    assert '996 points read' in F.check_upload(str(path))
    got, note = F.read_points(str(path))  # 996 * 5 values: 4 divides too -> guess
    assert got.shape == (996, 5) and np.array_equal(got, pts) and 'guessed' in note
    got4, _ = F.read_points(str(path), dim=4)
    assert got4.shape == (1245, 4)
    np.save(tmp_path / 'p.npy', pts[:, :4])
    got, note = F.read_points({'path': str(tmp_path / 'p.npy')})
    assert got.shape == (996, 4) and '.npy' in note
    pts[:7, :4].tofile(tmp_path / 'odd.bin')  # 28 values: 4 divides, 5 does not
    assert F.read_points(str(tmp_path / 'odd.bin'))[0].shape == (7, 4)


@pytest.mark.parametrize('content, match', [
    (b'\x00\x01\x02', 'not a whole number of points'),
    (b'not a point cloud at all, just text', 'text file'),
    (b'\x89PNG\r\n\x1a\n' + bytes(24), 'PNG image'),
    (np.full(20, np.nan, np.float32).tobytes(), 'NaN|not a point cloud'),
    (np.full(20, 3e9, np.float32).tobytes(), 'not a point cloud|not a LiDAR'),
    (b'', 'empty'),
], ids=['size', 'text', 'png', 'nan', 'huge', 'empty'])
def test_bad_point_files_are_named(tmp_path, content, match):
    path = tmp_path / 'bad.bin'
    path.write_bytes(content)
    with pytest.raises(AppError, match='LiDAR points') as err:
        F.run_fusion(upload=str(path))
    assert err.match(match)
    with pytest.raises(AppError, match='LiDAR points'):  # reported at upload already
        F.check_upload({'path': str(path)})


def test_bad_npy_and_missing_file(tmp_path):
    np.save(tmp_path / 'flat.npy', np.zeros(12, np.float32))
    with pytest.raises(AppError, match=r'LiDAR points.*\(N, >=4\)'):
        F.read_points(str(tmp_path / 'flat.npy'))
    (tmp_path / 'x.npy').write_text('hello')
    with pytest.raises(AppError, match='not a readable .npy'):
        F.read_points(str(tmp_path / 'x.npy'))
    with pytest.raises(AppError, match='does not exist'):
        F.read_points(str(tmp_path / 'none.bin'))


def test_matches_and_map_against_exact_truth():
    gt = np.array([[0, 10, 0, 4, 2, 1.5, 0], [5, -8, 0, 4, 2, 1.5, 1], [-6, 3, 0, .6, .6, 1.7, 0]],
                  np.float32)
    names = ['car', 'car', 'pedestrian']
    pred = np.concatenate([gt, np.zeros((3, 2), np.float32)], 1)
    m = F.match_boxes(pred, names, np.array([.9, .8, .7]), gt, names)
    assert (m['tp'], m['fp'], m['fn']) == (3, 0, 0) and m['mean_dist'] == 0
    # wrong class, too far, duplicate: no match
    moved = pred.copy()
    moved[1, 0] += 3.0
    m = F.match_boxes(moved, ['pedestrian', 'car', 'car'], np.array([.9, .8, .7]), gt, names)
    assert (m['tp'], m['fp'], m['fn']) == (0, 3, 3)
    m = F.match_boxes(pred[[0, 0]], ['car', 'car'], np.array([.9, .5]), gt, names)
    assert (m['tp'], m['fp'], m['fn']) == (1, 1, 2)
    classes = ['car', 'truck', 'pedestrian']
    ev = F.frame_map(dict(boxes=pred, scores=np.array([.9, .8, .7]), labels=np.array([0, 0, 2])),
                     gt, names, classes)
    assert ev['mAP_present'] == pytest.approx(1.0) and ev['mAP'] == pytest.approx(2 / 3)
    assert F.frame_map(dict(boxes=pred, scores=np.ones(3), labels=np.zeros(3, int)), gt,
                       ['bus'] * 3, classes) is None


def test_prediction_colours_are_never_the_ground_truth_green():
    cols = F.box_colors(np.arange(10))
    assert cols.shape == (10, 3)
    assert not ((cols[:, 1] > 150) & (cols[:, 0] < 100) & (cols[:, 2] < 100)).any()


def test_redraw_filters_by_score_without_running_a_model():
    gt = np.array([[0, 10, 0, 4, 2, 1.5, 0], [5, -8, 0, 4, 2, 1.5, 1]], np.float32)
    pts = np.random.default_rng(0).uniform(-20, 20, (500, 5)).astype(np.float32)
    state = dict(frame=dict(kind='synthetic', source='hand-made', points=pts, images=None,
                            lidar2img=None, gt_boxes=gt, gt_names=['car', 'car']),
                 result=dict(boxes=np.concatenate([gt, np.zeros((2, 2))], 1).astype(np.float32),
                             scores=np.array([.9, .2], np.float32), labels=np.array([0, 0]),
                             classes=['car']),
                 kind='detections', modality='lidar', model='test', notes=[], timings={})
    hi = F.redraw(state, 0.5)
    assert 'Detections with score >= 0.50: 1 (car 1)' in hi['status']
    assert '**1 matched**, 0 false, 1 missed' in hi['status']
    lo = F.redraw(state, 0.1)
    assert '**2 matched**' in lo['status'] and 'mAP' in lo['status']
    assert hi['cameras'].ndim == 3 and not np.array_equal(hi['bev'], lo['bev'])
    with pytest.raises(AppError, match='Run first'):
        F.redraw(None, 0.3)


@pytest.mark.skipif(NUSCENES is None, reason='shared nuScenes keyframe not present')
def test_default_sample_is_the_real_keyframe_with_ground_truth_only():
    assert F.resolve_sample(None) == 'nuscenes'
    out = F.run_fusion()
    assert out['cameras'].shape[0] > 200 and out['cameras'].shape[2] == 3
    assert '69 ground-truth boxes' in out['status'] and 'No checkpoint given' in out['status']
    assert 'Detections' not in out['status'] and out['state']['result'] is None
    # the paper-size model and a missing checkpoint: readable, naming the field
    with pytest.raises(AppError, match='checkpoint'):
        F.run_fusion(size='paper')
    with pytest.raises(AppError, match='checkpoint: file'):
        F.run_fusion(checkpoint='/nonexistent/model.pth')
    with pytest.raises(AppError, match='info .pkl'):
        F.run_fusion(info_pkl='/nonexistent/info.pkl')
    # the user's own info pickle (here: the same keyframe's)
    own = F.run_fusion(info_pkl=F.nuscenes_info())
    assert '69 ground-truth boxes' in own['status']


def test_synthetic_scene_with_a_briefly_trained_model_and_an_upload(sweep, monkeypatch):
    monkeypatch.setattr(F, '_TRAINED', {})
    train = dict(iters=2, num_scenes=1, time_limit=None)
    seen = []
    out = F.run_fusion('synthetic:0', modality='lidar', score_thr=0.0, train=train,
                       progress=lambda frac, desc='': seen.append(desc))
    assert any('iteration 2/2' in d for d in seen)
    status = out['status']
    assert 'trained here on 1 synthetic scenes for 2 iterations' in status
    assert 'Matches vs truth' in status and 'Frame mAP' in status
    assert out['cameras'].ndim == 3 and out['bev'].ndim == 3
    assert 'Barely trained' in status
    more = F.train_more('lidar', **train)
    assert '2 iterations more: 4 in all' in more
    assert F._TRAINED['lidar'][1]['iters'] == 4
    # cached: the second run does not train, an upload runs LiDAR-only (no truth)
    path, _ = sweep
    up = F.run_fusion(upload=str(path), modality='fusion', train=train, show_untrained=True)
    assert 'cached from an earlier run' in up['status']
    assert 'LiDAR-only model runs' in up['status'] and 'NOT detections' in up['status']
    assert up['cameras'] is up['bev'] or np.array_equal(up['cameras'], up['bev'])
    if NUSCENES is not None:  # real data, no checkpoint, boxes asked for: labelled
        real = F.run_fusion('nuscenes', modality='lidar', show_untrained=True, score_thr=0.0)
        assert real['state']['kind'] == 'untrained'
        assert 'Boxes (NOT detections)' in real['status'] and 'Matches vs truth' in real['status']
    with pytest.raises(AppError, match='modality'):
        F.run_fusion('synthetic:0', modality='radar')
    with pytest.raises(AppError, match='sample'):
        F.run_fusion('synthetic:99')


def test_build_app():
    from vision_sparse.app import build_app
    app = build_app(tabs=['fusion'])
    assert app is not None
