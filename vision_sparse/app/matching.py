"""The Matching tab: A2PM (MESA / DMESA) area-to-point matching of two images.

Inputs: a sample pair (the ScanNet sample pairs of the shared data, with intrinsics and
ground-truth pose, or a synthetic homography pair with its exact homography) or two uploaded
images (optionally with their intrinsics); the point matcher (SIFT, XFeat, XFeat +
LighterGlue, ALIKED + LightGlue); bare / MESA / DMESA; the area source (SAM-free
segmentation, SAM from a checkpoint path, or uploaded mask files).

Outputs: the point matches of A2PM above the bare matcher's (green / red = correct / wrong
under the ground truth; without it, pose inliers or the matcher's score), the areas of each
image, the matched area pairs numbered with one highlighted (``matching-pair`` slider:
redraws from the cached result, no re-matching), a grid of the matched crop pairs, the
matches as ``.npz`` + ``.csv``, and a status with counts, time per stage and the pose error.

Handlers (plain values in, plain values out; no browser needed): :func:`run_matching`
(or :func:`iter_matching`, which yields progress between stages), :func:`draw_pair`,
:func:`sample_choices`, :func:`load_sample`.
"""
import csv
import logging
import os
import os.path as osp
import shutil
import threading
import traceback
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from . import common
from .common import AppError, Timings, read_image

logger = logging.getLogger('vision_sparse.app')

TITLE = 'Matching (A2PM)'
#: the default-sample run on a 2-core CPU: ~10 s model loading + ~15-20 s matching
BROWSER_CHECK = dict(timeout_s=150)

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
#: point matcher label -> (A2PM config under configs/a2pm, config overrides)
MATCHERS: 'OrderedDict[str, Tuple[str, Dict[str, Any]]]' = OrderedDict([
    ('XFeat', ('a2pm/a2pm_xfeat-mesa-dmesa_test_scannet-sample.py', {})),
    ('XFeat + LighterGlue', ('a2pm/a2pm_xfeat-mesa-dmesa_test_scannet-sample.py',
                             {'model.point_matcher.matcher': 'lighterglue'})),
    ('SIFT', ('a2pm/a2pm_sift-mesa-dmesa_test_scannet-sample.py', {})),
    ('ALIKED + LightGlue', ('a2pm/a2pm_aliked-lightglue-mesa-dmesa_test_scannet-sample.py', {})),
])
#: area matcher label -> MatchInferencer method
AREA_MATCHERS = OrderedDict([('DMESA', 'dmesa'), ('MESA', 'mesa'), ('bare (no areas)', 'matcher')])
AREA_SOURCES = ('SAM-free (segmentation)', 'SAM (checkpoint)', 'Mask files (upload)')
SAM_TYPES = ('auto', 'vit_h', 'vit_l', 'vit_b')
SYNTHETIC = 'Synthetic homography pair (exact ground truth)'
#: a match is correct under the ground-truth pose when its symmetric epipolar error is below
EPIPOLAR_THRESH = 5e-4
#: ... or, for a homography pair, when its reprojection error is below (px)
HOMOGRAPHY_THRESH_PX = 5.0
#: at most this many crop pairs in the grid
GRID_MAX_PAIRS = 24
MASK_SUFFIXES = ('.npy', '.png', '.tif', '.tiff', '.bmp')
#: pictures are drawn on the images shrunk to at most this many pixels a side
DISPLAY_MAX_SIDE = 800

__all__ = ['TITLE', 'BROWSER_CHECK', 'build', 'run_matching', 'iter_matching', 'draw_pair',
           'sample_choices', 'load_sample', 'parse_intrinsics', 'MATCHERS', 'AREA_MATCHERS',
           'AREA_SOURCES']


# ---------------------------------------------------------------------------- samples
def _scannet_pairs() -> List[List[str]]:
    from vision_sparse.testing import shared_data_path
    path = shared_data_path('matching', 'scannet_pairs', 'scannet_sample_pairs_with_gt.txt')
    if path is None:
        return []
    return [line.split() for line in path.read_text().splitlines() if len(line.split()) >= 38]


def sample_choices() -> List[str]:
    """Sample labels for the dropdown: the ScanNet pairs (when the shared data is there) and
    the synthetic homography pair; the first is the default."""
    labels = [f'ScanNet pair {i}: {Path(p[0]).stem} / {Path(p[1]).stem}'
              for i, p in enumerate(_scannet_pairs())]
    return labels + [SYNTHETIC]


def load_sample(label: str) -> Dict[str, Any]:
    """The images and ground truth of a sample (a label of :func:`sample_choices`).

    Returns:
        dict: ``img0``, ``img1`` (RGB uint8), ``name0``, ``name1``, ``K0``, ``K1``
        (``(3, 3)`` or None), ``T_0to1`` (``(4, 4)`` or None), ``H_0to1`` (``(3, 3)`` or
        None), ``label``.

    Raises:
        AppError: an unknown label.
    """
    if label == SYNTHETIC:
        from vision_sparse.testing.synthetic_pairs import make_homography_pair, sample_photo
        pair = make_homography_pair(sample_photo(3, max_side=640), seed=1)
        return dict(img0=pair['image0'], img1=pair['image1'], name0='synthetic0.png',
                    name1='synthetic1.png', K0=None, K1=None, T_0to1=None,
                    H_0to1=pair['H_0to1'], label=label)
    pairs = _scannet_pairs()
    for i, p in enumerate(pairs):
        if label == f'ScanNet pair {i}: {Path(p[0]).stem} / {Path(p[1]).stem}':
            from vision_sparse.testing import shared_data_path
            folder = shared_data_path('matching', 'scannet_pairs', 'scannet_sample_images')
            return dict(img0=read_image(str(folder / p[0]), 'Sample image 0'),
                        img1=read_image(str(folder / p[1]), 'Sample image 1'),
                        name0=p[0], name1=p[1],
                        K0=np.array(p[4:13], float).reshape(3, 3),
                        K1=np.array(p[13:22], float).reshape(3, 3),
                        T_0to1=np.array(p[22:38], float).reshape(4, 4), H_0to1=None, label=label)
    raise AppError(f'Sample: unknown sample {label!r}; choose one of the list')


def parse_intrinsics(text: Optional[str], field: str) -> Optional[np.ndarray]:
    """Intrinsics typed by a user: empty -> None; ``fx, fy, cx, cy`` or 9 numbers (row-major).

    Raises:
        AppError: anything else (naming ``field``).
    """
    if text is None or not str(text).strip():
        return None
    parts = str(text).replace(';', ' ').replace(',', ' ').split()
    try:
        vals = np.array([float(v) for v in parts], np.float64)
    except ValueError:
        raise AppError(f'{field}: expected numbers (fx, fy, cx, cy or 9 numbers of K), '
                       f'got {str(text)[:60]!r}') from None
    if vals.size == 4:
        fx, fy, cx, cy = vals
        vals = np.array([fx, 0, cx, 0, fy, cy, 0, 0, 1], np.float64)
    if vals.size != 9:
        raise AppError(f'{field}: expected 4 numbers (fx, fy, cx, cy) or 9 (K row-major), got '
                       f'{vals.size}')
    K = vals.reshape(3, 3)
    if not np.isfinite(K).all() or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise AppError(f'{field}: focal lengths must be positive and finite, got '
                       f'fx={K[0, 0]:g}, fy={K[1, 1]:g}')
    return K


# ---------------------------------------------------------------------------- models
_INFERENCERS: 'OrderedDict[tuple, Any]' = OrderedDict()
_LOCK = threading.Lock()
_MAX_CACHED = 3


def _mask_root() -> str:
    """The one folder uploaded mask files are copied to (fixed, so the model is cached)."""
    path = common.app_root('matching_masks')
    os.makedirs(path, exist_ok=True)
    return path


def _area_source_cfg(area_source: str, sam_checkpoint: Optional[str],
                     sam_type: str) -> Optional[Dict[str, Any]]:
    """The ``model.area_source`` override (None: the config's SAM-free default)."""
    if area_source == AREA_SOURCES[0]:
        return None
    if area_source == AREA_SOURCES[1]:
        ckpt = (sam_checkpoint or '').strip()
        if not ckpt:
            raise AppError('SAM checkpoint: SAM areas need a checkpoint - type the path of a '
                           'Segment Anything .pth file on this machine (e.g. '
                           'sam_vit_h_4b8939.pth; weights are never downloaded), or choose '
                           "'SAM-free (segmentation)' areas")
        ckpt = osp.expanduser(ckpt)
        if not osp.isfile(ckpt):
            raise AppError(f'SAM checkpoint: no file at {ckpt!r} on this machine')
        import importlib.util
        if importlib.util.find_spec('segment_anything') is None:
            raise AppError('SAM checkpoint: the segment_anything package is not installed '
                           '(pip install segment-anything), or choose SAM-free areas')
        if sam_type not in SAM_TYPES:
            raise AppError(f'SAM model: expected one of {", ".join(SAM_TYPES)}, got {sam_type!r}')
        if sam_type == 'auto':
            base = osp.basename(ckpt).lower()
            sam_type = next((t for t in ('vit_b', 'vit_l', 'vit_h') if t in base), 'vit_h')
        import torch
        return dict(_delete_=True, type='SAMAreaSource', checkpoint=ckpt, model_type=sam_type,
                    device='cuda' if torch.cuda.is_available() else 'cpu')
    if area_source == AREA_SOURCES[2]:
        return dict(_delete_=True, type='MaskFileAreaSource', root=_mask_root(), pattern='{name}')
    raise AppError(f'Areas: expected one of {", ".join(AREA_SOURCES)}, got {area_source!r}')


def _inferencer(matcher: str, source_cfg: Optional[Dict[str, Any]]) -> Tuple[Any, bool]:
    """``(MatchInferencer, cached)`` for a point matcher and an area source, built once."""
    from vision_sparse.apis import MatchInferencer
    if matcher not in MATCHERS:
        raise AppError(f'Point matcher: expected one of {", ".join(MATCHERS)}, got {matcher!r}')
    config, options = MATCHERS[matcher]
    options = dict(options)
    if source_cfg is not None:
        options['model.area_source'] = dict(source_cfg)
    key = (matcher, tuple(sorted((k, str(v)) for k, v in (source_cfg or {}).items())))
    with _LOCK:
        if key in _INFERENCERS:
            _INFERENCERS.move_to_end(key)
            return _INFERENCERS[key], True
        path = CONFIG_DIR / config
        if not path.is_file():
            raise AppError(f'Point matcher: config {config} not found under {CONFIG_DIR}')
        inferencer = MatchInferencer(str(path), cfg_options=options)
        _INFERENCERS[key] = inferencer
        while len(_INFERENCERS) > _MAX_CACHED:
            _INFERENCERS.popitem(last=False)
        return inferencer, False


def _stage_mask(value: Any, index: int, image: np.ndarray) -> str:
    """Copy an uploaded mask file into :func:`_mask_root`; returns its file name there."""
    from vision_sparse.models.area_matchers.area_sources import load_mask_file
    field = f'Mask {index}'
    path = common.upload_path(value)
    if not path:
        raise AppError(f'{field}: no mask file given - upload one per image (.npy SAM masks or '
                       'a label .npy / .png) or choose another area source')
    suffix = Path(path).suffix.lower()
    if suffix not in MASK_SUFFIXES:
        raise AppError(f'{field}: {osp.basename(path)!r} is not a mask file (expected '
                       f'{", ".join(MASK_SUFFIXES)})')
    name = f'{uuid.uuid4().hex}_{index}{suffix}'
    dest = osp.join(_mask_root(), name)
    shutil.copyfile(path, dest)
    try:
        areas = load_mask_file(dest, image.shape[:2])
    except (ValueError, OSError) as err:
        os.remove(dest)
        raise AppError(f'{field}: {osp.basename(path)!r} - {str(err).replace(dest, "the file")}'
                       ) from None
    if len(areas) == 0:
        os.remove(dest)
        raise AppError(f'{field}: {osp.basename(path)!r} holds no area')
    return name


# ---------------------------------------------------------------------------- evaluation
def _correct(res: Dict[str, Any], gt: Dict[str, Any]) -> Tuple[Optional[np.ndarray], str]:
    """Per-match correctness under the ground truth (None without one) and its rule."""
    k0 = np.asarray(res['kpts0'], np.float64).reshape(-1, 2)
    k1 = np.asarray(res['kpts1'], np.float64).reshape(-1, 2)
    if gt.get('T_0to1') is not None and gt.get('K0') is not None:
        from vision_sparse.evaluation.functional.pose import symmetric_epipolar_distance
        err = (symmetric_epipolar_distance(k0, k1, gt['T_0to1'], gt['K0'], gt['K1'])
               if len(k0) else np.zeros(0))
        return err < EPIPOLAR_THRESH, f'epipolar error < {EPIPOLAR_THRESH:g} under the true pose'
    if gt.get('H_0to1') is not None:
        if not len(k0):
            return np.zeros(0, bool), ''
        p = np.c_[k0, np.ones(len(k0))] @ np.asarray(gt['H_0to1'], np.float64).T
        proj = p[:, :2] / np.where(np.abs(p[:, 2:]) < 1e-12, 1e-12, p[:, 2:])
        err = np.linalg.norm(proj - k1, axis=1)
        return err < HOMOGRAPHY_THRESH_PX, (f'reprojection error < {HOMOGRAPHY_THRESH_PX:g} px '
                                            'under the true homography')
    return None, ''


def _pose_error(res: Dict[str, Any], gt: Dict[str, Any]) -> Optional[Tuple[float, float]]:
    if gt.get('T_0to1') is None or np.asarray(res.get('R')).shape != (3, 3):
        return None
    from vision_sparse.evaluation.functional.pose import relative_pose_error
    err_R, err_t = relative_pose_error(gt['T_0to1'], res['R'], res['t'])
    return float(err_R), float(err_t)


def _summary(title: str, res: Dict[str, Any], correct: Optional[np.ndarray], rule: str,
             pose_err: Optional[Tuple[float, float]]) -> List[str]:
    n = int(res['num_matches'])
    if correct is not None:
        line = (f'{title}: {n} matches, {int(correct.sum())} correct '
                f'({100 * correct.mean() if n else 0:.0f} %; green: {rule})')
    elif len(res['inliers']) == n and n and np.asarray(res['R']).shape == (3, 3):
        line = f'{title}: {n} matches, {res["num_inliers"]} pose inliers (green; no ground truth)'
    else:
        line = f'{title}: {n} matches (coloured by score, blue low - red high; no ground truth)'
    lines = [line]
    if pose_err is not None:
        lines.append(f'pose error: rotation {pose_err[0]:.1f} deg, translation '
                     f'{pose_err[1]:.1f} deg')
    return lines


def _match_picture(img0, img1, res, correct, lines) -> np.ndarray:
    from vision_sparse.visualization import draw_matches
    n = int(res['num_matches'])
    if correct is not None:
        return draw_matches(img0, img1, res['kpts0'], res['kpts1'], inlier_mask=correct,
                            max_lines=600, text=lines)
    if len(res['inliers']) == n and n and np.asarray(res['R']).shape == (3, 3):
        return draw_matches(img0, img1, res['kpts0'], res['kpts1'], inlier_mask=res['inliers'],
                            max_lines=600, text=lines)
    return draw_matches(img0, img1, res['kpts0'], res['kpts1'], color=res['scores'],
                        max_lines=600, text=lines)


# ---------------------------------------------------------------------------- pair pictures
def draw_pair(state: Optional[Dict[str, Any]], index: Any) -> Optional[np.ndarray]:
    """The area-pair picture of a cached run: pair ``index`` highlighted, or every pair
    numbered for ``index < 0``. Draws only (no matching); None before any run.

    Args:
        state (dict | None): the ``state`` a run returned.
        index (int | float): the slider's pair index (clipped to the pairs there are).
    """
    from vision_sparse.visualization import draw_area_pairs
    if not state or state.get('areas0') is None:
        return None
    b0, b1, kept = state['areas0'], state['areas1'], state['area_kept']
    m = len(b0)
    idx = int(round(float(index))) if index is not None else -1
    if m == 0:
        return common.fit_width(draw_area_pairs(state['img0'], state['img1'], b0, b1, text=[
            'no matched area pairs' + (f": {state['fallback']}" if state.get('fallback') else '')]))
    if idx < 0:
        text = [f'{m} matched area pairs, numbered 0-{m - 1} (same number and colour in both '
                f'images); {int(kept.sum())} kept (thick), {m - int(kept.sum())} rejected by the '
                'geometric filter (grey, thin)', 'move the pair slider to highlight one pair']
        return common.fit_width(draw_area_pairs(state['img0'], state['img1'], b0, b1, kept=kept,
                                                text=text))
    idx = min(idx, m - 1)
    n_matches = int((state['from_area'] == idx).sum())
    text = [f'area pair {idx} of 0-{m - 1}: '
            + ('kept by the geometric filter' if kept[idx] else 'rejected by the geometric filter')
            + f', area-matcher score {float(state["area_scores"][idx]):.2f}, '
            f'{n_matches} of the final matches come from it']
    return common.fit_width(draw_area_pairs(state['img0'], state['img1'], b0, b1, kept=kept,
                                            highlight=idx, text=text))


def _display(img: np.ndarray) -> Tuple[np.ndarray, float]:
    """``img`` shrunk to at most :data:`DISPLAY_MAX_SIDE` px a side, and the scale."""
    import cv2
    h, w = img.shape[:2]
    scale = min(1.0, DISPLAY_MAX_SIDE / max(h, w))
    if scale == 1.0:
        return img, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA), scale


def _scaled(res: Dict[str, Any], s0: float, s1: float) -> Dict[str, Any]:
    """A shallow copy of a result with its keypoints / area boxes in display pixels."""
    out = dict(res)
    out['kpts0'] = np.asarray(res['kpts0'], np.float64) * s0
    out['kpts1'] = np.asarray(res['kpts1'], np.float64) * s1
    return out


def _areas_picture(img0, img1, res) -> np.ndarray:
    from vision_sparse.visualization import draw_areas, make_grid, put_text_block
    pics = []
    for i, (img, areas) in enumerate(((img0, res['area_set0']), (img1, res['area_set1']))):
        if areas.image_size != img.shape[:2]:
            areas = areas.rescale(img.shape[:2])
        shapes = areas.masks if areas.masks is not None else areas.boxes
        pics.append(put_text_block(draw_areas(img, shapes, alpha=0.35),
                                   f'image {i}: {len(areas)} areas', font_scale=0.6))
    return common.fit_width(make_grid(pics, ncols=2))


def _grid_picture(img0, img1, res) -> np.ndarray:
    from vision_sparse.visualization import draw_area_pair_grid, put_text_block
    m = len(res['areas0'])
    kept = np.asarray(res['area_kept'], bool)
    order = list(np.nonzero(kept)[0]) + list(np.nonzero(~kept)[0])  # kept pairs first
    shown = [int(i) for i in order[:GRID_MAX_PAIRS]]
    grid = draw_area_pair_grid(img0, img1, res['areas0'], res['areas1'], kept=kept,
                               indices=shown, kpts0=res['kpts0'], kpts1=res['kpts1'],
                               from_area=res['from_area'], cell_size=160, ncols=3)
    if m > len(shown):
        grid = put_text_block(grid, f'{len(shown)} of {m} pairs shown (kept first)',
                              origin=(5, grid.shape[0] - 28))
    return common.fit_width(grid)


# ---------------------------------------------------------------------------- downloads
def _write_downloads(res, bare, gt, correct, bare_correct, label) -> List[str]:
    folder = common.output_dir('matching')
    npz = osp.join(folder, 'matches.npz')
    arrays = dict(kpts0=res['kpts0'], kpts1=res['kpts1'], scores=res['scores'],
                  method=np.array(res['method']),
                  image_size0=res['image_size0'], image_size1=res['image_size1'],
                  R=res['R'], t=res['t'], inliers=res['inliers'])
    if 'from_area' in res:
        arrays.update(from_area=res['from_area'], areas0=res['areas0'], areas1=res['areas1'],
                      area_kept=res['area_kept'], area_scores=res['area_scores'])
    if bare is not None:
        arrays.update(bare_kpts0=bare['kpts0'], bare_kpts1=bare['kpts1'],
                      bare_scores=bare['scores'])
    for key in ('K0', 'K1', 'T_0to1', 'H_0to1'):
        if gt.get(key) is not None:
            arrays[key] = np.asarray(gt[key], np.float64)
    if correct is not None:
        arrays['correct'] = correct
    np.savez_compressed(npz, **arrays)
    path_csv = osp.join(folder, 'matches.csv')
    with open(path_csv, 'w', newline='') as f:
        writer = csv.writer(f)
        f.write(f'# {label}; x, y in pixels of each image; area_pair -1 = full-image match; '
                'correct: 1/0 under the ground truth, empty without one\n')
        writer.writerow(['method', 'x0', 'y0', 'x1', 'y1', 'score', 'area_pair', 'correct'])
        for r, corr in ((res, correct), (bare, bare_correct)):
            if r is None:
                continue
            src = r.get('from_area', np.full(len(r['kpts0']), -1))
            for i in range(len(r['kpts0'])):
                writer.writerow([r['method'], f'{r["kpts0"][i, 0]:.2f}', f'{r["kpts0"][i, 1]:.2f}',
                                 f'{r["kpts1"][i, 0]:.2f}', f'{r["kpts1"][i, 1]:.2f}',
                                 f'{r["scores"][i]:.4f}', int(src[i]),
                                 '' if corr is None else int(corr[i])])
    return [npz, path_csv]


# ---------------------------------------------------------------------------- the run
def _inputs(img0, img1, sample, K0_text, K1_text) -> Dict[str, Any]:
    """Uploads (both) win over the sample; returns the :func:`load_sample` dict."""
    if img0 is None and img1 is None:
        if not sample:
            raise AppError('Sample: pick a sample pair or upload two images')
        return load_sample(sample)
    a = read_image(img0, 'Image 0')
    b = read_image(img1, 'Image 1')
    names = []
    for value, default in ((img0, 'image0.png'), (img1, 'image1.png')):
        path = common.upload_path(value)
        names.append(osp.basename(path) if path else default)
    K0 = parse_intrinsics(K0_text, 'K0 (intrinsics of image 0)')
    K1 = parse_intrinsics(K1_text, 'K1 (intrinsics of image 1)')
    if (K0 is None) != (K1 is None):
        missing = 'K1 (intrinsics of image 1)' if K1 is None else 'K0 (intrinsics of image 0)'
        raise AppError(f'{missing}: give the intrinsics of both images, or of neither')
    return dict(img0=a, img1=b, name0=names[0], name1=names[1], K0=K0, K1=K1, T_0to1=None,
                H_0to1=None, label=f'{names[0]} / {names[1]}')


def iter_matching(img0: Any = None, img1: Any = None, sample: Optional[str] = None,
                  matcher: str = 'XFeat', area_matcher: str = 'DMESA',
                  area_source: str = AREA_SOURCES[0], sam_checkpoint: Optional[str] = None,
                  sam_type: str = 'auto', mask0: Any = None, mask1: Any = None,
                  K0_text: Optional[str] = None, K1_text: Optional[str] = None,
                  pair_index: int = 0, progress: Optional[Callable] = None
                  ) -> Iterator[Any]:
    """:func:`run_matching` stage by stage: yields a progress line (str) before each stage
    and finally the result dict (so that a caller can stop between stages)."""
    def step(frac: float, text: str) -> str:
        if progress is not None:
            progress(frac, desc=text)
        return text

    timings = Timings()
    if area_matcher not in AREA_MATCHERS:
        raise AppError(f'Area matcher: expected one of {", ".join(AREA_MATCHERS)}, got '
                       f'{area_matcher!r}')
    method = AREA_MATCHERS[area_matcher]
    with timings('inputs'):
        gt = _inputs(img0, img1, sample, K0_text, K1_text)
        source_cfg = _area_source_cfg(area_source, sam_checkpoint, sam_type) \
            if method != 'matcher' else None
        names = (gt['name0'], gt['name1'])
        if source_cfg is not None and source_cfg['type'] == 'MaskFileAreaSource':
            names = (_stage_mask(mask0, 0, gt['img0']), _stage_mask(mask1, 1, gt['img1']))
    yield step(0.05, f'loading {matcher}')
    with timings('model loading'):
        inferencer, cached = _inferencer(matcher, source_cfg)
    K0, K1 = gt['K0'], gt['K1']
    res = None
    if method != 'matcher':
        yield step(0.15, f'{area_matcher}: areas, area matching, point matching, fusion')
        try:
            res = inferencer(gt['img0'], gt['img1'], K0=K0, K1=K1, method=method,
                             name0=names[0], name1=names[1])
        except Exception as err:  # noqa: BLE001 - SAM loads its checkpoint on the first call
            if source_cfg is None or source_cfg['type'] != 'SAMAreaSource':
                raise
            raise AppError(f'SAM checkpoint: could not run SAM from '
                           f'{osp.basename(source_cfg["checkpoint"])!r} '
                           f'({source_cfg["model_type"]}): {type(err).__name__}: '
                           f'{str(err)[:300]}') from err
        timings.add({k: v for k, v in res['timings'].items()
                     if k in ('areas', 'area_matching', 'point_matching', 'fusion')},
                    prefix=f'{area_matcher} ')
        if 'relative_pose' in res['timings']:
            timings.add({'relative pose': res['timings']['relative_pose']})
    yield step(0.75, f'bare {matcher} on the full images')
    bare = inferencer(gt['img0'], gt['img1'], K0=K0, K1=K1, method='matcher')
    timings.add({f'bare {matcher}': bare['timings'].get('total', 0.0)})
    yield step(0.85, 'drawing')
    with timings('drawing'):
        main = res if res is not None else bare
        correct, rule = _correct(main, gt)
        bare_correct, _ = _correct(bare, gt)
        pose_err, bare_pose_err = _pose_error(main, gt), _pose_error(bare, gt)
        # pictures are drawn on images shrunk for the page (readable text, fast redraws)
        d0, s0 = _display(gt['img0'])
        d1, s1 = _display(gt['img1'])
        rows = []
        if res is not None:
            lines = _summary(f'A2PM-{area_matcher} + {matcher}', res, correct, rule, pose_err)
            if res.get('fallback'):
                lines.append(f'note: {res["fallback"]}')
            rows.append(_match_picture(d0, d1, _scaled(res, s0, s1), correct, lines))
        rows.append(_match_picture(d0, d1, _scaled(bare, s0, s1), bare_correct,
                                   _summary(f'bare {matcher}', bare, bare_correct, rule,
                                            bare_pose_err)))
        from vision_sparse.visualization import make_grid
        output = common.fit_width(make_grid(rows, ncols=1))
        state = None
        areas_pic = grid_pic = pairs_pic = None
        n_pairs = 0
        if res is not None:
            n_pairs = len(res['areas0'])
            state = dict(img0=d0, img1=d1,
                         areas0=np.asarray(res['areas0'], np.float64).reshape(-1, 4) * s0,
                         areas1=np.asarray(res['areas1'], np.float64).reshape(-1, 4) * s1,
                         area_kept=np.asarray(res['area_kept'], bool),
                         area_scores=np.asarray(res['area_scores'], np.float64),
                         from_area=np.asarray(res['from_area'], np.int64),
                         fallback=res.get('fallback', ''))
            areas_pic = _areas_picture(d0, d1, res)
            pair_index = int(min(max(int(pair_index), -1), n_pairs - 1)) if n_pairs else -1
            pairs_pic = draw_pair(state, pair_index)
            grid_pic = _grid_picture(gt['img0'], gt['img1'], res)
    with timings('download files'):
        files = _write_downloads(main, bare if res is not None else None, gt, correct,
                                 bare_correct if res is not None else None, gt['label'])
    # status
    parts = [f'**{gt["label"]}** - {matcher}, '
             + (f'A2PM-{area_matcher}, {area_source} areas' if res is not None
                else 'bare matcher (no areas)')]
    counts = []
    if res is not None:
        kept = np.asarray(res['area_kept'], bool)
        counts.append(f'areas {len(res["area_set0"])} / {len(res["area_set1"])}, '
                      f'{n_pairs} matched area pairs, {int(kept.sum())} kept')
        counts.append(f'A2PM matches {res["num_matches"]}'
                      + (f' ({int(correct.sum())} correct)' if correct is not None else ''))
    counts.append(f'bare matches {bare["num_matches"]}'
                  + (f' ({int(bare_correct.sum())} correct)' if bare_correct is not None else ''))
    parts.append(' · '.join(counts))
    if pose_err is not None:
        parts.append(f'pose error ({"A2PM" if res is not None else "bare"}): rotation '
                     f'{pose_err[0]:.1f} deg, translation {pose_err[1]:.1f} deg'
                     + (f' (bare: {bare_pose_err[0]:.1f} / {bare_pose_err[1]:.1f} deg)'
                        if res is not None and bare_pose_err is not None else ''))
    elif gt.get('T_0to1') is not None:
        parts.append('pose error: no pose could be estimated')
    for r in (res, bare):
        if r is not None and r.get('reason'):
            parts.append(f'note ({r["method"]}): {r["reason"]}')
    if res is not None and res.get('fallback'):
        parts.append(f'note: {res["fallback"]}')
    if (res is not None and (res.get('fusion_info') or {}).get('full_won')
            and np.asarray(res['area_kept'], bool).any()):
        parts.append("note: the full image's geometry won the consensus and the area pairs "
                     'agree with it, so A2PM returns the point matcher\'s own matches (adding '
                     "the area pairs' matches would only re-draw the RANSAC; "
                     "`consensus=dict(full_winner_output='merge')` adds them)")
    parts.append(f'time: {timings.markdown()} (total {timings.total:.1f} s; model '
                 + ('cached from an earlier run' if cached else 'loaded now, cached for the next '
                    'runs') + ')')
    if res is not None and n_pairs:
        parts.append(f'area pairs are numbered 0-{n_pairs - 1}; the pair slider highlights one '
                     '(-1: all); the grid shows each pair as crop in image 0 | crop in image 1')
    step(1.0, 'done')
    yield dict(output=output, areas=areas_pic, pairs=pairs_pic, grid=grid_pic, download=files,
               status=common.status_ok('\n\n'.join(parts)), state=state, num_pairs=n_pairs,
               pair_index=pair_index if res is not None else -1, result=main, bare=bare,
               correct=correct, pose_error=pose_err, timings=dict(timings.stages),
               cached=cached)


def run_matching(img0: Any = None, img1: Any = None, sample: Optional[str] = None,
                 matcher: str = 'XFeat', area_matcher: str = 'DMESA',
                 area_source: str = AREA_SOURCES[0], sam_checkpoint: Optional[str] = None,
                 sam_type: str = 'auto', mask0: Any = None, mask1: Any = None,
                 K0_text: Optional[str] = None, K1_text: Optional[str] = None,
                 pair_index: int = 0, progress: Optional[Callable] = None) -> Dict[str, Any]:
    """Match two images (uploads, or the ``sample`` when none is uploaded) with A2PM.

    Args:
        img0, img1: uploaded images (file paths / Gradio file values / arrays), both or none.
        sample (str): a label of :func:`sample_choices` (used when nothing is uploaded).
        matcher (str): a key of :data:`MATCHERS`.
        area_matcher (str): a key of :data:`AREA_MATCHERS` (``'bare (no areas)'``: the
            point matcher alone).
        area_source (str): one of :data:`AREA_SOURCES`.
        sam_checkpoint (str, optional): SAM ``.pth`` path (SAM areas).
        sam_type (str): ``'auto'`` (from the file name, default vit_h) or a SAM type.
        mask0, mask1: uploaded mask files (mask-file areas): SAM ``.npy`` or label
            ``.npy`` / ``.png``.
        K0_text, K1_text (str, optional): intrinsics of uploads (``fx, fy, cx, cy`` or 9
            numbers); with them the relative pose is estimated.
        pair_index (int): the area pair to highlight (-1: all numbered).
        progress (callable, optional): ``progress(fraction, desc=...)``.

    Returns:
        dict: ``output`` (the point-match picture, RGB uint8), ``areas``, ``pairs``,
        ``grid`` (pictures, None for the bare matcher), ``download`` (``[.npz, .csv]``
        paths), ``status`` (markdown), ``state`` (what :func:`draw_pair` needs),
        ``num_pairs``, ``pair_index``, ``result`` / ``bare`` (the ``MatchInferencer``
        results), ``correct`` (``(N,)`` bool or None), ``pose_error`` (``(deg, deg)``
        or None), ``timings`` (seconds per stage), ``cached`` (model from an earlier run).

    Raises:
        AppError: a bad upload or option (the message names the field).
    """
    out = None
    for out in iter_matching(img0, img1, sample, matcher, area_matcher, area_source,
                             sam_checkpoint, sam_type, mask0, mask1, K0_text, K1_text,
                             pair_index, progress):
        pass
    return out


# ---------------------------------------------------------------------------- the page
OUTPUT_KEYS = ('output', 'areas', 'pairs', 'grid', 'download', 'status')


def build(gr) -> None:
    """Create the tab's components (inside the current ``gr.Tab``) and wire the events."""
    samples = sample_choices()
    with gr.Row():
        with gr.Column(scale=1):
            sample = gr.Dropdown(samples, value=samples[0], label='Sample pair',
                                 info='used when no image is uploaded', elem_id='matching-sample')
            with gr.Row():
                up0 = gr.File(label='Image 0 (upload)', type='filepath',
                              elem_id='matching-upload')
                up1 = gr.File(label='Image 1 (upload)', type='filepath',
                              elem_id='matching-upload1')
            with gr.Accordion('Intrinsics of uploaded images (optional: relative pose)',
                              open=False):
                k0 = gr.Textbox(label='K0', placeholder='fx, fy, cx, cy  or 9 numbers',
                                elem_id='matching-K0')
                k1 = gr.Textbox(label='K1', placeholder='fx, fy, cx, cy  or 9 numbers',
                                elem_id='matching-K1')
            matcher = gr.Dropdown(list(MATCHERS), value='XFeat', label='Point matcher',
                                  info='XFeat is the fastest; the LightGlue variants are more '
                                  'accurate but take about 1 (LighterGlue) to 3 (ALIKED) '
                                  'minutes on a small CPU',
                                  elem_id='matching-matcher')
            area_matcher = gr.Radio(list(AREA_MATCHERS), value='DMESA', label='Area matcher',
                                    elem_id='matching-area-matcher')
            area_source = gr.Radio(list(AREA_SOURCES), value=AREA_SOURCES[0], label='Areas',
                                   info='SAM needs a checkpoint file (slow on a CPU); mask '
                                   'files: one per image, SAM .npy or a label .npy / .png',
                                   elem_id='matching-area-source')
            with gr.Accordion('SAM / mask files', open=False):
                sam_ckpt = gr.Textbox(label='SAM checkpoint (path on this machine)',
                                      placeholder='/path/to/sam_vit_h_4b8939.pth',
                                      elem_id='matching-sam-checkpoint')
                sam_type = gr.Dropdown(list(SAM_TYPES), value='auto', label='SAM model',
                                       elem_id='matching-sam-type')
                with gr.Row():
                    mask0 = gr.File(label='Mask 0 (.npy / .png)', type='filepath',
                                    elem_id='matching-mask0')
                    mask1 = gr.File(label='Mask 1 (.npy / .png)', type='filepath',
                                    elem_id='matching-mask1')
            with gr.Row():
                run = gr.Button('Match', variant='primary', elem_id='matching-run')
                stop = gr.Button('Stop', elem_id='matching-stop')
            status = gr.Markdown('Pick a sample (or upload two images) and press **Match**.',
                                 elem_id='matching-status')
            download = gr.File(label='Matches (.npz, .csv)', file_count='multiple',
                               interactive=False, elem_id='matching-download')
        with gr.Column(scale=2):
            output = gr.Image(label='Point matches: A2PM (top) and the bare matcher (bottom)',
                              format='png', type='numpy', interactive=False,
                              elem_id='matching-output')
            pair = gr.Slider(-1, 0, value=0, step=1, label='Area pair (-1: all, numbered)',
                             elem_id='matching-pair')
            pairs = gr.Image(label='Matched area pairs', format='png', type='numpy',
                             interactive=False, elem_id='matching-pairs')
            grid = gr.Image(label='Matched area pairs as crops: image 0 | image 1',
                            format='png', type='numpy', interactive=False,
                            elem_id='matching-grid')
            areas = gr.Image(label='Areas of each image', format='png', type='numpy',
                             interactive=False, elem_id='matching-areas')
    state = gr.State(None)

    outputs = [output, areas, pairs, grid, download, status, state, pair]
    n_out = len(outputs)
    status_index = OUTPUT_KEYS.index('status')

    def on_run(img0, img1, sample_v, matcher_v, am_v, src_v, ckpt_v, type_v, m0, m1, k0_v,
               k1_v, pair_v, progress=gr.Progress()):
        empty = [gr.skip()] * n_out
        try:
            for item in iter_matching(img0, img1, sample_v, matcher_v, am_v, src_v, ckpt_v,
                                      type_v, m0, m1, k0_v, k1_v,
                                      pair_v if pair_v is not None else 0, progress):
                if isinstance(item, str):
                    running = list(empty)
                    running[status_index] = f'Running: {item} ...'
                    yield tuple(running)
                    continue
                slider = gr.Slider(minimum=-1, maximum=max(item['num_pairs'] - 1, 0),
                                   value=item['pair_index'], step=1)
                outputs_now = [item[k] for k in OUTPUT_KEYS]
                common.record_pictures(__name__, outputs_now)
                yield tuple(outputs_now + [item['state'], slider])
        except (AppError, ValueError) as exc:
            failed = [None] * n_out
            failed[status_index] = common.status_error(str(exc))
            failed[-1] = gr.skip()
            yield tuple(failed)
        except Exception as exc:  # noqa: BLE001 - the app must keep serving
            logger.error('matching run failed:\n%s', traceback.format_exc())
            failed = [None] * n_out
            failed[status_index] = common.status_error(f'{type(exc).__name__}: {exc}')
            failed[-1] = gr.skip()
            yield tuple(failed)

    run_event = run.click(on_run, inputs=[up0, up1, sample, matcher, area_matcher, area_source,
                                          sam_ckpt, sam_type, mask0, mask1, k0, k1, pair],
                          outputs=outputs)
    stop.click(lambda: 'Stopped.', None, [status],
               cancels=[run_event])

    def on_pair(state_v, index):
        try:
            return draw_pair(state_v, index)
        except (AppError, ValueError) as exc:
            logger.warning('pair redraw failed: %s', exc)
            return gr.skip()

    # redraws the highlight from the cached run only (no re-matching)
    pair.change(on_pair, inputs=[state, pair], outputs=[pairs], show_progress='hidden')
