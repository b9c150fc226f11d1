"""The Matching (A2PM) tab's handlers, without a browser."""
import csv
import time

import cv2
import numpy as np
import pytest

from vision_sparse.app import build_app
from vision_sparse.app import matching as M
from vision_sparse.app.common import AppError
from vision_sparse.testing import shared_data_path
from vision_sparse.utils import torch_threads

HAS_SCANNET = shared_data_path('matching', 'scannet_pairs') is not None


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope='module')
def synthetic_run():
    """XFeat + DMESA on the synthetic homography sample (exact ground truth)."""
    return M.run_matching(sample=M.SYNTHETIC, matcher='XFeat', area_matcher='DMESA')


def _png(path, img):
    cv2.imwrite(str(path), np.ascontiguousarray(img[..., ::-1]))
    return str(path)


def test_sample_choices_and_default():
    choices = M.sample_choices()
    assert choices[-1] == M.SYNTHETIC
    if HAS_SCANNET:
        assert len(choices) == 16 and choices[0].startswith('ScanNet pair 0')
        sample = M.load_sample(choices[0])
        assert sample['K0'].shape == (3, 3) and sample['T_0to1'].shape == (4, 4)
        assert sample['img0'].shape == (968, 1296, 3)
    with pytest.raises(AppError, match='Sample'):
        M.load_sample('no such sample')


def test_synthetic_pair_matches_are_checked_against_the_true_homography(synthetic_run):
    r = synthetic_run
    res, H = r['result'], M.load_sample(M.SYNTHETIC)['H_0to1']
    assert res['method'] == 'dmesa' and res['num_matches'] > 50
    # correctness is the reprojection error under the exact homography, recomputed here
    p = np.c_[res['kpts0'], np.ones(res['num_matches'])] @ H.T
    err = np.linalg.norm(p[:, :2] / p[:, 2:] - res['kpts1'], axis=1)
    np.testing.assert_array_equal(r['correct'], err < M.HOMOGRAPHY_THRESH_PX)
    # the full image is well supported here (58 % of XFeat's matches within 5 px), so
    # consensus fusion keeps its geometry: never worse than bare - its correct matches and
    # its precision
    p = np.c_[r['bare']['kpts0'], np.ones(r['bare']['num_matches'])] @ H.T
    bare_ok = np.linalg.norm(p[:, :2] / p[:, 2:] - r['bare']['kpts1'], axis=1) < 5.0
    assert res['fusion_info']['selection'] == 'strong_full'
    # ... and, as it won, A2PM returns exactly the bare matches (said on the page)
    assert res['fusion_info']['full_won'] and 'own matches' in r['status']
    np.testing.assert_array_equal(res['kpts0'], r['bare']['kpts0'])
    assert r['correct'].sum() >= 0.95 * bare_ok.sum()
    assert r['correct'].mean() >= bare_ok.mean() - 0.01
    for key in ('output', 'areas', 'pairs', 'grid'):
        img = r[key]
        assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8, key
    # A2PM above the bare matcher: two rows of the two images side by side
    assert r['output'].shape[0] > r['pairs'].shape[0]
    assert r['num_pairs'] == len(res['areas0']) > 0
    assert 'correct' in r['status'] and 'time:' in r['status'] and 'Error' not in r['status']
    assert {'model loading', 'DMESA areas', 'DMESA area_matching', 'drawing'} <= set(r['timings'])


def test_download_holds_the_matches_in_both_images(synthetic_run):
    r = synthetic_run
    npz_path, csv_path = r['download']
    data = np.load(npz_path)
    np.testing.assert_array_equal(data['kpts0'], r['result']['kpts0'])
    np.testing.assert_array_equal(data['kpts1'], r['result']['kpts1'])
    np.testing.assert_array_equal(data['from_area'], r['result']['from_area'])
    assert data['H_0to1'].shape == (3, 3) and data['bare_kpts0'].shape[1] == 2
    with open(csv_path) as f:
        rows = [row for row in csv.reader(line for line in f if not line.startswith('#'))]
    assert rows[0] == ['method', 'x0', 'y0', 'x1', 'y1', 'score', 'area_pair', 'correct']
    a2pm = [row for row in rows[1:] if row[0] == 'dmesa']
    assert len(a2pm) == r['result']['num_matches']
    assert len(rows) - 1 - len(a2pm) == r['bare']['num_matches']
    assert np.allclose([float(v) for v in a2pm[0][1:5]],
                       np.r_[r['result']['kpts0'][0], r['result']['kpts1'][0]], atol=0.01)


def test_pair_slider_redraws_from_the_cache_only(synthetic_run, monkeypatch):
    state = synthetic_run['state']
    m = synthetic_run['num_pairs']
    # no model may run: redrawing uses the cached result
    monkeypatch.setattr(M, '_inferencer', lambda *a, **k: pytest.fail('re-matched'))
    t0 = time.perf_counter()
    first = M.draw_pair(state, 0)
    last = M.draw_pair(state, m - 1)
    every = M.draw_pair(state, -1)
    assert time.perf_counter() - t0 < 5.0
    assert first.shape == last.shape == every.shape
    if m > 1:
        assert (first != last).any()
    assert (every != first).any()
    np.testing.assert_array_equal(M.draw_pair(state, m + 5), last)  # clipped
    assert M.draw_pair(None, 0) is None


@pytest.mark.skipif(not HAS_SCANNET, reason='ScanNet sample pairs (../shared/data) not found; '
                    'set VISION_SPARSE_DATA')
def test_default_scannet_sample_reports_the_pose_error():
    r = M.run_matching(sample=M.sample_choices()[0])
    assert r['pose_error'] is not None and all(np.isfinite(r['pose_error']))
    assert 'pose error' in r['status'] and 'rotation' in r['status']
    assert r['correct'] is not None and r['correct'].shape == (r['result']['num_matches'], )
    assert r['result']['num_matches'] > 30


def test_uploaded_images_of_very_different_sizes_are_matched(tmp_path):
    sample = M.load_sample(M.SYNTHETIC)
    small = cv2.resize(sample['img1'], (160, 120), interpolation=cv2.INTER_AREA)
    r = M.run_matching(_png(tmp_path / 'big.png', sample['img0']),
                       _png(tmp_path / 'small.png', small), area_matcher='bare (no areas)')
    assert r['result']['method'] == 'matcher' and r['output'].ndim == 3
    assert r['areas'] is None and r['state'] is None and 'big.png / small.png' in r['status']


@pytest.mark.parametrize('make,kwargs,match', [
    (lambda p: (_text(p / 'notes.txt'), None), {}, 'Image 0'),
    (lambda p: (None, _text(p / 'notes.txt')), {}, 'Image 0: no image'),
    (lambda p: (_png(p / 'a.png', _noise(64, 80)), _text(p / 'b.txt')), {}, 'Image 1'),
    (lambda p: (_png(p / 'a.png', _noise(64, 80)), _png(p / 'b.png', _noise(9000, 40))), {},
     'Image 1.*at most'),
    (lambda p: (_png(p / 'a.png', _noise(64, 80)), _png(p / 'b.png', _noise(64, 80))),
     dict(K0_text='500, 500, 40'), 'K0'),
    (lambda p: (_png(p / 'a.png', _noise(64, 80)), _png(p / 'b.png', _noise(64, 80))),
     dict(K0_text='500, 500, 40, 30'), 'K1'),
    (lambda p: (None, None), dict(area_source=M.AREA_SOURCES[1]), 'SAM checkpoint.*path'),
    (lambda p: (None, None), dict(area_source=M.AREA_SOURCES[1], sam_checkpoint='/no/sam.pth'),
     'SAM checkpoint: no file'),
    (lambda p: (None, None), dict(area_source=M.AREA_SOURCES[2]), 'Mask 0: no mask'),
    (lambda p: (None, None), dict(matcher='LoFTR'), 'Point matcher'),
])
def test_bad_inputs_give_readable_errors_naming_the_field(tmp_path, make, kwargs, match):
    img0, img1 = make(tmp_path)
    with pytest.raises(AppError, match=match):
        M.run_matching(img0, img1, sample=M.SYNTHETIC, **kwargs)


def test_mask_files_are_checked_and_used(tmp_path):
    sample = M.load_sample(M.SYNTHETIC)
    h, w = sample['img0'].shape[:2]
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'not a png')
    with pytest.raises(AppError, match="Mask 0: 'bad.png'"):
        M.run_matching(sample=M.SYNTHETIC, area_source=M.AREA_SOURCES[2], mask0=str(bad),
                       mask1=str(bad))
    labels = np.zeros((h, w), np.uint8)
    labels[:h // 2], labels[h // 2:] = 1, 2  # two halves
    m0 = tmp_path / 'm0.png'
    cv2.imwrite(str(m0), labels)
    r = M.run_matching(sample=M.SYNTHETIC, matcher='XFeat', area_source=M.AREA_SOURCES[2],
                       mask0=str(m0), mask1=str(m0))
    for areas in (r['result']['area_set0'], r['result']['area_set1']):
        assert 1 <= len(areas) <= 3  # the halves (and maybe their union)
        ys = areas.boxes[:, [1, 3]]
        assert (np.abs(ys[..., None] - np.array([0, h / 2, h])).min(-1) <= 1).all()


def test_a_file_that_is_no_sam_checkpoint_is_named_in_the_error(tmp_path):
    fake = tmp_path / 'sam_vit_b_01ec64.pth'
    fake.write_text('not a checkpoint')
    with pytest.raises(AppError, match=r"SAM checkpoint: could not run SAM from "
                       r"'sam_vit_b_01ec64.pth' \(vit_b\)"):
        M.run_matching(sample=M.SYNTHETIC, area_source=M.AREA_SOURCES[1],
                       sam_checkpoint=str(fake))


def test_tab_builds():
    app = build_app(tabs=['matching'])
    ids = {getattr(b, 'elem_id', None) for b in app.blocks.values()}
    assert {'matching-sample', 'matching-upload', 'matching-run', 'matching-stop',
            'matching-output', 'matching-status', 'matching-pair', 'matching-areas',
            'matching-pairs', 'matching-grid', 'matching-download'} <= ids
    assert M.BROWSER_CHECK['timeout_s'] > 0


def _text(path):
    path.write_text('not an image')
    return str(path)


def _noise(h, w):
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
