"""The ``boxes`` tab: samples, points, rotated NMS and PointOBB handlers (no browser)."""
import os.path as osp

import cv2
import numpy as np
import pytest

from vision_sparse.app import boxes as B
from vision_sparse.app.common import AppError
from vision_sparse.testing.data import shared_data_path

needs_data = pytest.mark.skipif(shared_data_path('oriented') is None,
                                reason='the oriented samples (../shared/data/oriented) are absent')
SYNTH = next(k for k in B.SAMPLES if k.startswith('Synthetic'))
PATCH = next(k for k in B.SAMPLES if k.startswith('DOTA patch'))
P0706 = next(k for k in B.SAMPLES if 'P0706' in k)

#: a tiny training run (the cache key is the iteration count, so the app's own is untouched)
TEST_ITERS = 2


def _separated_boxes(n=6):
    """Boxes far apart from each other (a correct NMS keeps one detection per box)."""
    xs = np.arange(n) * 120.0 + 60
    boxes = np.stack([xs, np.full(n, 80.0), np.full(n, 50.0), np.full(n, 20.0),
                      np.linspace(-1.2, 1.2, n)], 1).astype(np.float32)
    return boxes, np.array([0, 1, 0, 1, 0, 1])


# ------------------------------------------------------------------------------ points
def test_parse_points_text_values_and_classes():
    pts, labels = B.parse_points_text('10,20,ship\n\n# a comment\n 30.5 , 40 , plane\n5,6',
                                      (100, 200, 3))
    np.testing.assert_allclose(pts, [[10, 20], [30.5, 40], [5, 6]])
    assert labels.tolist() == [B.MODEL_CLASSES.index('ship'), B.MODEL_CLASSES.index('plane'), 0]


@pytest.mark.parametrize('text, words', [
    ('10,20,ship\n30,40,harbor', ['Points, line 2', 'harbor']),
    ('10,20,ship\n300,40,ship', ['Points, line 2', 'outside', '200x100']),
    ('ten,20,ship', ['Points, line 1', 'numbers']),
    ('10;20', ['Points, line 1']),
    ('nan,3,ship', ['Points, line 1']),
])
def test_parse_points_text_errors_name_the_field_and_line(text, words):
    with pytest.raises(AppError) as err:
        B.parse_points_text(text, (100, 200, 3))
    for word in words:
        assert word in str(err.value)


def test_add_point_appends_and_checks():
    text = B.add_point('', 10.26, 20, 'ship', (100, 200, 3))
    assert text == '10.3,20.0,ship'
    text = B.add_point(text + '\n', 199, 99, 'plane', (100, 200, 3))
    assert text.splitlines() == ['10.3,20.0,ship', '199.0,99.0,plane']
    with pytest.raises(AppError, match='^Class: unknown class'):
        B.add_point(text, 1, 1, 'harbor', (100, 200, 3))
    with pytest.raises(AppError, match='^Points: .*outside the 200 x 100'):
        B.add_point(text, 200.5, 1, 'ship', (100, 200, 3))


def test_points_view_scales_large_images_and_skips_bad_lines():
    img = np.zeros((500, 3200, 3), np.uint8)
    view, scale = B.draw_points_view(img, '100,100,ship\nbad line\n5000,1,ship')
    assert view.shape == (250, 1600, 3) and scale == pytest.approx(0.5)
    assert view[50, 50].sum() > 0 and view[200, 1000].sum() == 0  # only the valid point drawn


# ------------------------------------------------------------------------------ uploads
def test_upload_errors_and_formats(tmp_path):
    bad = tmp_path / 'notes.txt'
    bad.write_text('not an image')
    with pytest.raises(AppError, match='^Aerial image: .*not an image file'):
        B.load_input(None, str(bad))
    grey = tmp_path / 'grey.png'
    cv2.imwrite(str(grey), np.full((60, 80), 90, np.uint8))
    rgba = tmp_path / 'rgba.png'
    cv2.imwrite(str(rgba), np.dstack([np.full((60, 80, 3), 30, np.uint8),
                                      np.zeros((60, 80), np.uint8)]))  # transparent
    for path, value in ((grey, 90), (rgba, 255)):
        data = B.load_input(B.DEFAULT_SAMPLE, str(path))  # the upload wins over the sample
        assert data['image'].shape == (60, 80, 3) and data['boxes'] is None
        assert int(data['image'][0, 0, 0]) == value
    with pytest.raises(AppError, match='^Points: none given'):
        B.run_boxes(None, str(grey), '')
    with pytest.raises(AppError, match='^Points, line 1'):
        B.run_boxes(None, str(grey), '100,10,ship')  # x beyond the 80 px width
    with pytest.raises(AppError, match='^Sample: unknown sample'):
        B.load_input('no such sample')


def test_bad_checkpoint_and_iterations_name_the_field(tmp_path):
    with pytest.raises(AppError, match="^Checkpoint: file '/nonexistent/w.pth' does not exist"):
        B.get_inferencer('/nonexistent/w.pth')
    with pytest.raises(AppError, match='^Training iterations: expected 1 to 150, got 0'):
        B.get_inferencer(None, iters=0)
    not_weights = tmp_path / 'w.pth'
    not_weights.write_text('not a checkpoint')
    with pytest.raises(AppError, match='^Checkpoint: w.pth does not load'):
        B.get_inferencer(str(not_weights))


# ---------------------------------------------------------------------------------- NMS
def test_nms_exact_on_separated_boxes():
    boxes, labels = _separated_boxes()
    img = np.zeros((200, 760, 3), np.uint8)
    res = B.run_nms(img, boxes, labels, ['a', 'b'], 0.3)
    n = len(boxes) * B.NMS_COPIES
    assert res['num_detections'] == n
    assert res['num_kept'] == len(boxes) and res['num_suppressed'] == n - len(boxes)
    assert res['duplicates'] == 0 and res['lost'] == 0
    # the kept detection of each box is its best-scoring copy (copy 0, the least jittered)
    det = B.make_detections(boxes, labels)
    best = [int(np.flatnonzero(det['source'] == i)[np.argmax(det['scores'][det['source'] == i])])
            for i in range(len(boxes))]
    assert sorted(res['kept'].tolist()) == sorted(best)
    assert res['picture'].shape == img.shape
    assert f'**{len(boxes)} kept**' in res['status']
    # threshold 1: no IoU exceeds it, every detection is kept
    assert B.run_nms(img, boxes, labels, ['a', 'b'], 1.0)['num_kept'] == n
    with pytest.raises(AppError, match='^NMS IoU threshold'):
        B.run_nms(img, boxes, labels, ['a', 'b'], 1.5)


def test_nms_is_class_aware():
    boxes = np.array([[100, 100, 40, 20, 0.0], [101, 100, 40, 20, 0.0]], np.float32)
    img = np.zeros((200, 200, 3), np.uint8)
    same = B.run_nms(img, boxes, np.array([0, 0]), ['a'], 0.3)
    other = B.run_nms(img, boxes, np.array([0, 1]), ['a', 'b'], 0.3)
    assert same['num_kept'] == 1 and other['num_kept'] == 2


# ------------------------------------------------------------------------------ samples
@needs_data
def test_samples_points_and_truth():
    text, view, scale, src, status = B.input_view(B.DEFAULT_SAMPLE)
    assert 'P1888' in status and '64 true boxes' in status
    pts, labels = B.parse_points_text(text, view.shape)
    assert len(pts) == B.MAX_SAMPLE_POINTS and scale == 1.0
    assert set(labels.tolist()) <= {B.MODEL_CLASSES.index('small-vehicle'),
                                    B.MODEL_CLASSES.index('large-vehicle')}
    assert len(src['boxes']) == 64
    text, _, _, _, status = B.input_view(P0706)
    assert '5 harbor point(s) left out' in status and 'harbor' not in text
    # the patch's labels were made at 1024 px: loaded rescaled into the 170 px image
    data = B.load_input(PATCH)
    assert data['image'].shape[:2] == (170, 170)
    assert (data['boxes'][:, :2] > 0).all() and (data['boxes'][:, :2] < 170).all()


@pytest.fixture(scope='module')
def trained():
    if shared_data_path('oriented') is None:
        pytest.skip('the oriented samples (../shared/data/oriented) are absent')
    calls = []
    path, secs, cached = B.train_checkpoint(TEST_ITERS, progress=lambda f, desc='': calls.append(f))
    return path, calls, cached


@needs_data
def test_training_is_cached_and_reports_progress(trained):
    path, calls, cached = trained
    assert osp.isfile(path) and not cached
    assert calls[0] == 0.0 and calls[-1] == pytest.approx(1.0) and len(calls) == TEST_ITERS + 1
    assert B.train_checkpoint(TEST_ITERS)[0:3:2] == (path, True)
    _, note = B.get_inferencer(None, TEST_ITERS)
    assert 'rough' in note and f'{TEST_ITERS} iterations' in note


@needs_data
def test_run_boxes_on_the_synthetic_sample(trained):
    res = B.run_boxes(SYNTH, None, '', iou_thr=0.3, iters=TEST_ITERS)
    pts, _ = B.parse_points_text(res['points_text'], res['output'].shape)
    assert res['result']['num_boxes'] == len(pts) > 0  # one box per point
    assert res['output'].shape == (512, 512, 3) and res['nms'].shape == (512, 512, 3)
    assert res['miou'] is not None and 0.0 <= res['miou'] <= 1.0
    assert 'mIoU vs the true boxes' in res['status'] and 'rough' in res['status']
    lines = open(res['file']).read().splitlines()
    assert len(lines) == 2 + len(pts) and lines[2].split()[-2] in B.MODEL_CLASSES
    # the same run through a checkpoint path gives the same boxes
    res2 = B.run_boxes(SYNTH, None, res['points_text'], checkpoint=trained[0], iters=TEST_ITERS)
    np.testing.assert_allclose(res2['result']['boxes'], res['result']['boxes'], atol=1e-4)


@needs_data
def test_run_boxes_on_an_upload_uses_the_boxes_for_nms(trained, tmp_path):
    img = B.load_input(SYNTH)['image']
    path = tmp_path / 'mine.png'
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))  # a grey upload
    res = B.run_boxes(None, str(path), '100,120,ship\n300,300,plane', iters=TEST_ITERS)
    assert res['miou'] is None and 'mIoU' not in res['status']
    assert res['nms_source']['source'] == 'PointOBB boxes'
    assert len(res['nms_source']['boxes']) == res['result']['num_boxes'] == 2


def test_build_app():
    from vision_sparse.app import build_app
    app = build_app(tabs=['boxes'])
    ids = {getattr(b, 'elem_id', None) for b in app.blocks.values()}
    for name in ('sample', 'upload', 'run', 'stop', 'output', 'status', 'nms', 'points',
                 'class', 'iou', 'iters', 'checkpoint', 'view'):
        assert f'boxes-{name}' in ids
    assert B.BROWSER_CHECK['timeout_s'] > 0
