"""The relocalization tab's handlers, on a tiny synthetic room (exact poses) and the 7-Scenes
samples; readable errors for bad inputs; the tab builds."""
import numpy as np
import pytest

from vision_sparse.app import reloc
from vision_sparse.app.cancel import Cancelled, StopFlags, reporter
from vision_sparse.app.common import AppError
from vision_sparse.testing.data import shared_data_path

SYNTH = reloc.DEFAULT_SAMPLE
STAIRS = [s for s in reloc.SAMPLES if reloc.SAMPLES[s]['key'] == '7scenes'][0]


def _tiny_config(sample):
    """The sample's config made tiny: 8 mapping frames, 2 queries at 240 x 180, 15 training
    steps (the app's reduced build of the full room takes minutes on this CPU)."""
    cfg = _REAL_SAMPLE_CONFIG(sample)
    if reloc.SAMPLES[sample]['key'] == 'synthetic':
        synthetic = dict(num_train=8, num_test=2, image_size=(240, 180), supersample=1, seed=0,
                         trajectory='strafe', texture_root=None)
        cfg.model.mapping.dataset.synthetic = synthetic
        cfg.test_dataloader.dataset.synthetic = dict(synthetic)
        cfg.model.mapping.tracker.min_track_length = 4
        cfg.model.mapping.triangulator.min_track_length = 4
        cfg.model.mapping.trainer.update(iterations=15, max_landmarks=100, psnr_threshold=15.0)
    return cfg


_REAL_SAMPLE_CONFIG = reloc.sample_config


@pytest.fixture(scope='module', autouse=True)
def app_dir(tmp_path_factory):
    """The tiny configs and a fresh app folder for the whole module."""
    folder = tmp_path_factory.mktemp('app_reloc')
    mp = pytest.MonkeyPatch()
    mp.setattr(reloc, 'sample_config', _tiny_config)
    mp.setenv('VISION_SPARSE_APP_DIR', str(folder))
    saved = dict(reloc._MAPS), dict(reloc._QUERIES)
    reloc._MAPS.clear()
    reloc._QUERIES.clear()
    yield str(folder)
    mp.undo()
    reloc._MAPS.clear()
    reloc._QUERIES.clear()
    reloc._MAPS.update(saved[0])
    reloc._QUERIES.update(saved[1])


@pytest.fixture(scope='module')
def first_run(app_dir):
    """The default run (the tiny map built once) with its progress reports."""
    seen = []
    out = reloc.run_reloc(progress=lambda f, text='': seen.append((f, text)))
    return out, seen


def test_default_run_builds_the_map_and_localizes_with_exact_truth(first_run):
    out, seen = first_run
    res = out['result']
    assert res['success'], out['status']
    assert out['T_gt'] is not None and out['error'] is not None
    t_err, r_err = out['error']
    assert t_err < 0.05 and r_err < 2.0, out['status']  # the room's exact poses
    assert out['image'].dtype == np.uint8 and out['image'].shape[1] >= 640  # upscaled 240 px
    assert 'built now' in out['status'] and 'reduced build' in out['status']
    assert '**Pose error:** initial' in out['status'] and 'Estimated pose' in out['status']
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any('training landmarks' in text for _, text in seen)
    # the 3-D figure: landmarks, mapping cameras and the three query cameras
    names = [trace.name for trace in out['figure'].data]
    for name in ('landmarks', 'mapping cameras', 'initial (retrieved) pose', 'estimated pose',
                 'true pose'):
        assert name in names, names
    lm = out['figure'].data[names.index('landmarks')]
    assert len(lm.x) == len(reloc.prepare_map()['inferencer'].landmark_map)


def test_second_run_is_cached_and_a_new_process_loads_the_saved_map(first_run):
    out = reloc.run_reloc(query='query 2')
    assert 'cached in this app process' in out['status'] and out['result']['success']
    assert out['timings']['map'] < 1.0
    # a fresh process: nothing in memory, the map and the queries come from the files
    saved_maps, saved_queries = dict(reloc._MAPS), dict(reloc._QUERIES)
    reloc._MAPS.clear()
    reloc._QUERIES.clear()
    try:
        again = reloc.run_reloc(query=1)
        assert 'loaded from the saved file' in again['status']
        np.testing.assert_allclose(again['result']['T_c2w'], out['result']['T_c2w'], atol=1e-9)
    finally:
        reloc._MAPS.update(saved_maps)
        reloc._QUERIES.update(saved_queries)


def test_uploaded_query_with_intrinsics_and_a_given_map_file(first_run, tmp_path):
    import cv2
    frame = reloc.sample_queries(SYNTH)[0]
    path = tmp_path / 'query.png'
    cv2.imwrite(str(path), frame['image'][..., ::-1])
    k_text = reloc.intrinsics_text(frame['K'])
    out = reloc.run_reloc(upload=str(path), intrinsics=k_text,
                          map_file=reloc.default_map_file(SYNTH))
    assert out['T_gt'] is None and out['error'] is None
    assert 'No ground truth' in out['status'] and 'your intrinsics' in out['status']
    ref = reloc.run_reloc(query=0)
    np.testing.assert_allclose(out['result']['T_c2w'], ref['result']['T_c2w'], atol=1e-6)


def test_cancel_stops_the_build_and_keeps_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv('VISION_SPARSE_APP_DIR', str(tmp_path))
    flags = StopFlags()
    stop = flags.start('session')

    def progress(fraction, desc=''):
        if 'tracking' in desc:
            flags.stop('session')  # the Stop button, pressed during tracking

    with pytest.raises(Cancelled, match='Stop button'):
        reloc.prepare_map(SYNTH, progress=reporter(progress, stop))
    assert not (tmp_path / 'reloc_maps').exists() or not any((tmp_path / 'reloc_maps').iterdir())
    assert (SYNTH, reloc.default_map_file(SYNTH)) not in reloc._MAPS


@pytest.mark.parametrize('kwargs,match', [
    (dict(sample='nope'), 'Sample:'),
    (dict(query='query 99'), 'Query:'),
    (dict(query=42), 'Query:'),
    (dict(map_file='/no/such/map.pth'), 'Map file:'),
])
def test_bad_choices_name_the_field(kwargs, match):
    with pytest.raises(AppError, match=match):
        reloc.run_reloc(**kwargs)


def test_bad_uploads_and_intrinsics_name_the_field(tmp_path):
    text = tmp_path / 'notes.txt'
    text.write_text('not an image')
    with pytest.raises(AppError, match=r'Query image \(upload\).*not an image'):
        reloc.run_reloc(upload=str(text))
    img = np.zeros((120, 160, 3), np.uint8)
    for k_text, match in (('1, 2, 3', 'four finite numbers'), ('a b c d', 'four numbers'),
                          ('0, 100, 80, 60', 'focal lengths must be > 0'),
                          ('100, 100, 500, 60', 'principal point')):
        with pytest.raises(AppError, match=r'Intrinsics \(fx, fy, cx, cy\).*' + match):
            reloc.run_reloc(upload=img, intrinsics=k_text)


def test_parse_intrinsics():
    K = reloc.parse_intrinsics('525, 520; 320 240')
    np.testing.assert_array_equal(K, [[525, 0, 320], [0, 520, 240], [0, 0, 1]])
    default = np.eye(3)
    assert reloc.parse_intrinsics('  ', default) is not None
    np.testing.assert_array_equal(reloc.parse_intrinsics('', default), default)
    with pytest.raises(AppError, match='needed for an uploaded query'):
        reloc.parse_intrinsics('')
    np.testing.assert_array_equal(reloc.parse_intrinsics(reloc.intrinsics_text(K)), K)


def test_default_intrinsics_are_the_samples_own():
    assert reloc.default_intrinsics(SYNTH) == '320, 320, 159.5, 119.5'
    assert reloc.default_intrinsics(STAIRS) == '525, 525, 320, 240'


@pytest.mark.skipif(shared_data_path('relocalization', '7scenes_stairs') is None,
                    reason='the 7-Scenes samples of ../shared/data are not there')
def test_7scenes_sample_queries_and_config_paths(tmp_path, monkeypatch):
    monkeypatch.setenv('VISION_SPARSE_APP_DIR', str(tmp_path))
    reloc._QUERIES.pop(STAIRS, None)
    queries = reloc.sample_queries(STAIRS)
    assert len(queries) == reloc.SAMPLES[STAIRS]['num_queries'] == 6
    assert len(reloc.query_labels(STAIRS)) == 6
    K = reloc.parse_intrinsics(reloc.default_intrinsics(STAIRS))
    for frame in queries:
        assert frame['image'].shape == (480, 640, 3)
        np.testing.assert_allclose(frame['K'], K)
        assert np.allclose(frame['T_c2w'][3], [0, 0, 0, 1])
    cfg = _REAL_SAMPLE_CONFIG(STAIRS)
    assert cfg.model.mapping.trainer.iterations == reloc.REDUCED['iterations']
    assert str(shared_data_path()) in cfg.model.mapping.dataset.data_root
    assert STAIRS in reloc.available_samples()


def test_the_tab_builds():
    from vision_sparse.app import build_app
    app = build_app(tabs=['reloc'])
    ids = {getattr(block, 'elem_id', None) for block in app.blocks.values()}
    for elem in ('reloc-sample', 'reloc-upload', 'reloc-run', 'reloc-stop', 'reloc-output',
                 'reloc-status', 'reloc-plot', 'reloc-intrinsics', 'reloc-map-file',
                 'reloc-query'):
        assert elem in ids, elem
    assert reloc.BROWSER_CHECK['timeout_s'] > 0
