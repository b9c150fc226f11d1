"""The ``fusion`` tab: SparseFusion 3-D boxes on six cameras and a bird's-eye view.

Samples:

* the real nuScenes keyframe of the shared data (6 cameras + a LiDAR sweep + 69
  ground-truth boxes). No SparseFusion weights ship with the package and none can be
  trained on this CPU for real data, so without a checkpoint the tab draws the ground
  truth only (a tick box adds the boxes of the model trained here on synthetic scenes,
  labelled in the picture as *not detections*);
* synthetic multi-modal scenes
  (:func:`~vision_sparse.datasets.synthetic.multimodal.make_fusion_scene`, validation
  seed: held out from training) with exact boxes: the tiny model of the chosen
  modality is trained here once per process (:func:`vision_sparse.apis.train_fusion_quickly`,
  ~a minute on two cores, cached), so the tab shows real detections with mAP and matches
  against the exact truth.

Uploads: a LiDAR point file (``.bin`` float32 x, y, z, intensity[, ring/time] or ``.npy``
``(N, >=4)``) runs the LiDAR-only model; a nuScenes-style info ``.pkl`` path runs its first
sample. A checkpoint path runs the chosen config with trained weights.

The score slider re-draws the cached result of the last run without running the model.
"""
import os
import os.path as osp
import threading
import time
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .common import (AppError, Timings, choices_from, fit_width, guarded, status_error,
                     upload_path)

__all__ = ['TITLE', 'BROWSER_CHECK', 'build', 'run_fusion', 'redraw', 'read_points',
           'load_info_frame', 'synthetic_frame', 'trained_model', 'checkpoint_model',
           'match_boxes', 'frame_map', 'box_colors', 'sample_choices', 'resolve_sample',
           'config_path', 'nuscenes_info', 'check_upload', 'stop', 'train_more',
           'TRAIN', 'DEFAULT_SCORE']

TITLE = '3-D boxes (SparseFusion)'
#: the default sample (nuScenes keyframe, no checkpoint: ground truth) takes a few seconds;
#: without the shared data it is a synthetic scene, whose first run trains the model
#: (TRAIN: at most ~80 s of training, more with scene making on a loaded CPU)
BROWSER_CHECK = dict(timeout_s=120)

MODALITIES = ('fusion', 'lidar', 'camera')
SIZES = (('tiny (CPU; synthetic-scene configs, trained here when no checkpoint)', 'tiny'),
         ('paper size (ResNet-50 + FPN, nuScenes; needs your checkpoint)', 'paper'))
#: the configs of ``configs/sparsefusion`` per (size, modality)
TINY_CONFIG = 'sparsefusion_tiny-{}_600it_synthetic-fusion.py'
PAPER_CONFIG = 'sparsefusion_r50-fpn_6e_nuscenes-fusion.py'
#: in-process training of the synthetic-scene model (per modality, once per process); the
#: time limit (seconds, scene making included) can be set with $VISION_SPARSE_APP_FUSION_TRAIN_S
TRAIN = dict(iters=150, time_limit=float(os.environ.get('VISION_SPARSE_APP_FUSION_TRAIN_S', 80)),
             num_scenes=12, batch_size=2, lr=2e-3)
#: below this many iterations the status warns that the model is barely trained
MIN_GOOD_ITERS = 100
#: the validation seed of the synthetic configs (the training scenes use seed 0)
SYNTHETIC_SEED = 1
SYNTHETIC_SCENES = 3
#: BEV picture: area (metres) and resolution (metres a pixel)
BEV_RANGE = {'nuscenes': (-50.0, -50.0, -5.0, 50.0, 50.0, 3.0),
             'synthetic': (-44.0, -44.0, -5.0, 44.0, 44.0, 3.0),
             'upload': (-50.0, -50.0, -5.0, 50.0, 50.0, 3.0)}
BEV_RESOLUTION = 0.1
TILE_WIDTH = 480
#: default score threshold: the tiny model trained here for ~150 iterations gives its true
#: boxes scores of about 0.05-0.3 (ranking is what its mAP measures)
DEFAULT_SCORE = 0.05
#: a prediction matches a ground-truth box of its class within this BEV centre distance (m)
MATCH_DIST = 2.0
#: largest accepted point file (bytes) and point count
MAX_POINT_BYTES = 400 * 2 ** 20
MAX_POINTS = 5_000_000

NUSCENES = 'nuScenes keyframe (real: 6 cameras + LiDAR, 69 ground-truth boxes)'

_STOP = threading.Event()
_LOCK = threading.RLock()
_TRAINED: Dict[str, Tuple[Any, Dict[str, Any]]] = {}
_LOADED: Dict[Tuple, Any] = {}


# --------------------------------------------------------------------------- data
def configs_dir() -> Path:
    """``configs/sparsefusion`` of the repository this package runs from."""
    return Path(__file__).resolve().parents[2] / 'configs' / 'sparsefusion'


def config_path(modality: str, size: str = 'tiny') -> str:
    """The SparseFusion config of a modality and model size.

    Raises:
        AppError: an unknown modality / size or a config file that is not there.
    """
    if modality not in MODALITIES:
        raise AppError(f'modality: expected one of {", ".join(MODALITIES)}, got {modality!r}')
    if size == 'tiny':
        path = configs_dir() / TINY_CONFIG.format(modality)
    elif size == 'paper':
        path = configs_dir() / PAPER_CONFIG
    else:
        raise AppError(f'model size: expected tiny or paper, got {size!r}')
    if not path.is_file():
        raise AppError(f'config {path.name} not found under {path.parent} (run the app from '
                       'the repository)')
    return str(path)


def nuscenes_info() -> Optional[str]:
    """The shared nuScenes keyframe's info pickle, or None when the shared data is absent."""
    from vision_sparse.testing.data import shared_data_path
    folder = shared_data_path('lidar_camera', 'nuscenes')
    pkl = sorted(folder.glob('*.pkl')) if folder else []
    return str(pkl[0]) if pkl else None


def sample_choices() -> List[Tuple[str, str]]:
    """``(label, key)`` of the samples: the nuScenes keyframe (when present) and the
    held-out synthetic scenes."""
    items = [(NUSCENES, 'nuscenes')] if nuscenes_info() else []
    items += [(f'synthetic scene {k} (held out from training; exact truth)', f'synthetic:{k}')
              for k in range(SYNTHETIC_SCENES)]
    return items


def resolve_sample(sample: Optional[str]) -> str:
    """The key of a sample given by key or label (None / empty: the first sample).

    Raises:
        AppError: an unknown sample.
    """
    items = sample_choices()
    if not sample:
        return items[0][1]
    for label, key in items:
        if sample in (label, key):
            return key
    raise AppError(f'sample: unknown sample {sample!r}; choose one of '
                   f'{", ".join(k for _, k in items)}')


def _rgb(images: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    return {n: np.ascontiguousarray(im[..., ::-1]) for n, im in images.items()}


def load_info_frame(info: str, index: int = 0) -> Dict[str, Any]:
    """A frame of a nuScenes-style info pickle: points, RGB views, calibration, truth.

    Raises:
        AppError: the file is missing, not an info pickle, or the sample has no data.
    """
    import cv2
    from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info, load_points
    if not info or not osp.isfile(info):
        raise AppError(f'info .pkl: file {info!r} does not exist')
    try:
        samples = load_det3d_info(info)
    except Exception as exc:  # noqa: BLE001 - any unreadable pickle is the user's file
        raise AppError(f'info .pkl: {osp.basename(info)!r} is not a readable nuScenes-style '
                       f'info pickle ({type(exc).__name__}: {exc})') from exc
    if not samples:
        raise AppError(f'info .pkl: {osp.basename(info)!r} holds no sample')
    sample = samples[index]
    points = None
    if sample.get('lidar_path'):
        try:
            points = load_points(sample['lidar_path'], sample.get('num_pts_feats') or None)
        except (OSError, ValueError) as exc:
            raise AppError(f'info .pkl: its LiDAR file: {exc}') from exc
    images, lidar2img = {}, {}
    for name, cam in (sample.get('cameras') or {}).items():
        path = cam.get('img_path')
        img = cv2.imread(path) if path else None
        if img is not None and cam.get('lidar2img') is not None:
            images[name] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            lidar2img[name] = np.asarray(cam['lidar2img'], np.float64)
    gt = sample.get('gt_bboxes_3d')
    gt = np.zeros((0, 7), np.float32) if gt is None else _box_array(gt)
    names = list(sample.get('class_names') or [])
    labels = np.asarray(sample.get('gt_labels_3d', np.zeros(0)), np.int64).reshape(-1)
    return dict(kind='nuscenes', source=f'{osp.basename(info)} [{index}]', points=points,
                images=images or None, lidar2img=lidar2img or None, gt_boxes=gt,
                gt_names=[names[i] if 0 <= i < len(names) else 'ignored' for i in labels])


@lru_cache(maxsize=1)
def _rig():
    from vision_sparse.datasets.synthetic.multimodal import load_camera_rig
    info = nuscenes_info()
    return load_camera_rig(info) if info else None


@lru_cache(maxsize=SYNTHETIC_SCENES + 2)
def synthetic_frame(index: int) -> Dict[str, Any]:
    """Held-out synthetic scene ``index`` (validation seed, the configs' 1/8 image scale)
    as a frame with its exact boxes (cached)."""
    from vision_sparse.datasets.synthetic.multimodal import make_fusion_scene
    scene = make_fusion_scene(seed=SYNTHETIC_SEED, index=int(index), camera_rig=_rig(),
                              image_scale=0.125)
    names = list(scene['class_names'])
    return dict(kind='synthetic', source=f'synthetic scene {index} (seed {SYNTHETIC_SEED}, '
                f'held out)', points=scene['points'], images=_rgb(scene['images']),
                lidar2img={n: c['lidar2img'] for n, c in scene['cameras'].items()},
                gt_boxes=_box_array(scene['gt_bboxes_3d']),
                gt_names=[names[i] for i in scene['gt_labels_3d']])


def _box_array(boxes) -> np.ndarray:
    t = getattr(boxes, 'tensor', boxes)
    t = t.detach().cpu().numpy() if hasattr(t, 'detach') else np.asarray(t)
    return np.asarray(t, np.float32).reshape(len(t), -1)


def read_points(value: Any, field: str = 'LiDAR points', dim: Optional[int] = None
                ) -> Tuple[np.ndarray, str]:
    """An uploaded point file as ``(N, C)`` float32 and a note on how it was read.

    ``.npy``: an ``(N, >=4)`` numeric array. Anything else is read as a raw float32 ``.bin``
    of ``dim`` values a point (x, y, z, intensity[, ring or time]); ``dim`` None infers 4
    or 5 from the size, and when both divide it, keeps the reading whose z column looks
    like heights above a road.

    Raises:
        AppError: no file, a size that is not a whole number of points, too many points,
            non-finite or implausible coordinates, an array of the wrong shape.
    """
    from vision_sparse.datasets.formats.nuscenes_info import load_points
    path = upload_path(value)
    if not path:
        raise AppError(f'{field}: no file given')
    if not osp.isfile(path):
        raise AppError(f'{field}: file {osp.basename(path)!r} does not exist')
    name, size = osp.basename(path), osp.getsize(path)
    if size > MAX_POINT_BYTES:
        raise AppError(f'{field}: {name!r} is {size / 2 ** 20:.0f} MiB; at most '
                       f'{MAX_POINT_BYTES // 2 ** 20} MiB are accepted')
    if size == 0:
        raise AppError(f'{field}: {name!r} is empty')
    with open(path, 'rb') as f:
        head = f.read(64)
    for magic, what in ((b'\x89PNG', 'a PNG image'), (b'\xff\xd8\xff', 'a JPEG image'),
                        (b'GIF8', 'a GIF image'), (b'%PDF', 'a PDF document'),
                        (b'PK\x03\x04', 'a zip archive (.npz?)')):
        if head.startswith(magic):
            raise AppError(f'{field}: {name!r} is {what}, not a LiDAR point file (.bin '
                           'float32 x, y, z, intensity[, ring] or .npy)')
    if not path.lower().endswith('.npy') and all(32 <= b < 127 or b in (9, 10, 13)
                                                 for b in head):
        raise AppError(f'{field}: {name!r} looks like a text file (e.g. an ASCII .pcd), not a '
                       'binary float32 .bin point file; convert it to .bin or .npy')
    note = ''
    if path.lower().endswith('.npy'):
        try:
            arr = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001
            raise AppError(f'{field}: {name!r} is not a readable .npy array ({exc})') from exc
        if arr.ndim != 2 or arr.shape[1] < 4 or not np.issubdtype(arr.dtype, np.number):
            raise AppError(f'{field}: {name!r} must hold an (N, >=4) numeric array (x, y, z, '
                           f'intensity, ...), got shape {arr.shape} of {arr.dtype}')
        pts = arr.astype(np.float32)
        note = f'.npy array {arr.shape}'
    else:
        if dim is not None and dim not in (4, 5):
            raise AppError(f'{field}: values per point must be 4 or 5, got {dim}')
        values = size // 4
        dims = [dim] if dim else [d for d in (5, 4) if size % 4 == 0 and values % d == 0]
        if size % 4 or not dims:
            what = f'{dim}' if dim else '4 or 5'
            raise AppError(f'{field}: {name!r} is {size} bytes, not a whole number of points '
                           f'of {what} float32 values (x, y, z, intensity[, ring]); is it a '
                           'LiDAR .bin file?')
        reads = []
        for d in dims:
            try:
                reads.append((d, load_points(path, d)))
            except ValueError as exc:
                reads.append((d, exc))
        good = [(d, p) for d, p in reads if isinstance(p, np.ndarray)]
        if not good:
            raise AppError(f'{field}: {name!r} is not a point cloud: {reads[0][1]}')
        if len(good) > 1:  # both 4 and 5 divide the size: the plausible z column wins
            good.sort(key=lambda dp: -float(np.mean(np.abs(dp[1][:, 2]) < 10.0)))
            note = f'{good[0][0]} values a point (guessed; set it if wrong)'
        else:
            note = f'{good[0][0]} values a point'
        pts = good[0][1]
    if len(pts) == 0:
        raise AppError(f'{field}: {name!r} holds no point')
    if len(pts) > MAX_POINTS:
        raise AppError(f'{field}: {name!r} holds {len(pts)} points; at most {MAX_POINTS} '
                       'are accepted')
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise AppError(f'{field}: {int(bad.sum())} of {len(pts)} points hold NaN or inf')
    if np.abs(pts[:, :3]).max() > 1e4:
        raise AppError(f'{field}: coordinates up to {np.abs(pts[:, :3]).max():.3g} m: not a '
                       'LiDAR sweep in metres (wrong values per point?)')
    return np.ascontiguousarray(pts), note


if nuscenes_info() is None:  # pragma: no cover - depends on the shared data
    BROWSER_CHECK['timeout_s'] = 420


def check_upload(value: Any, dim: Optional[int] = None) -> str:
    """Status line for a freshly uploaded point file (read at once, so a bad file is
    reported before Run).

    Raises:
        AppError: as :func:`read_points`.
    """
    pts, how = read_points(value, 'LiDAR points', dim)
    return (f'LiDAR points: {len(pts)} points read ({how}); press Run for a LiDAR-only run '
            '(no ground truth)')


# --------------------------------------------------------------------------- models
def stop() -> None:
    """Ask a running training to stop after its current iteration (the Stop button)."""
    _STOP.set()


def trained_model(modality: str, progress: Optional[Callable] = None,
                  **train: Any) -> Tuple[Any, Dict[str, Any], bool]:
    """The tiny model of ``modality`` trained here on synthetic scenes, once per process.

    Args:
        modality (str): lidar, camera or fusion.
        progress (callable, optional): ``progress(fraction, desc=...)`` (``gr.Progress``).
        **train: overrides of :data:`TRAIN` (tests use a handful of iterations).

    Returns:
        tuple: (FusionInferencer, training info of :func:`train_fusion_quickly`, whether it
        came from the cache).

    Raises:
        AppError: the training was stopped (nothing is cached then).
    """
    from vision_sparse.apis import train_fusion_quickly
    with _LOCK:
        if modality in _TRAINED:
            inf, info = _TRAINED[modality]
            return inf, info, True
        opts = dict(TRAIN, **train)
        folder = Path(nuscenes_info()).parent if nuscenes_info() else None

        def report(done: int, total: int, loss: float) -> None:
            if progress is not None:
                progress(done / total, desc=f'training the tiny {modality} model on synthetic '
                         f'scenes (once): iteration {done}/{total}, loss {loss:.2f}')

        if progress is not None:
            progress(0.0, desc=f'making {opts["num_scenes"]} synthetic training scenes')
        _STOP.clear()
        inf, info = train_fusion_quickly(config_path(modality, 'tiny'), progress=report,
                                         should_stop=_STOP.is_set,
                                         data_root=str(folder) if folder else None, **opts)
        if info['stopped_by'] == 'request':
            raise AppError(f'training stopped after {info["iters"]} iterations (Stop); press '
                           'Run to train again')
        _TRAINED[modality] = (inf, info)
        return inf, info, False


def train_more(modality: str, progress: Optional[Callable] = None, **train: Any) -> str:
    """Continue training the cached synthetic-scene model of ``modality`` (or train it) for
    another :data:`TRAIN` budget; returns a status line.

    Stop ends a round early; the iterations done are kept (the first training of a
    modality, when stopped, is not).

    Raises:
        AppError: a bad modality, or the first training was stopped.
    """
    from vision_sparse.apis import train_fusion_quickly
    if modality not in MODALITIES:
        raise AppError(f'modality: expected one of {", ".join(MODALITIES)}, got {modality!r}')
    with _LOCK:
        if modality not in _TRAINED:
            _, info, _ = trained_model(modality, progress, **train)
            return (f'Trained the tiny {modality} model: {info["iters"]} iterations '
                    f'({info["seconds"]:.0f} s). Press Run.')
        inf, old = _TRAINED[modality]
        opts = dict(TRAIN, **train)
        folder = Path(nuscenes_info()).parent if nuscenes_info() else None
        done0 = old['iters']

        def report(done: int, total: int, loss: float) -> None:
            if progress is not None:
                progress(done / total, desc=f'training the tiny {modality} model more: '
                         f'iteration {done0 + done} ({done}/{total} of this round), '
                         f'loss {loss:.2f}')

        _STOP.clear()
        _, info = train_fusion_quickly(config_path(modality, 'tiny'), progress=report,
                                       should_stop=_STOP.is_set, inferencer=inf,
                                       seed=len(old.get('rounds', [])) + 1,
                                       data_root=str(folder) if folder else None, **opts)
        merged = dict(old, iters=done0 + info['iters'], seconds=old['seconds'] + info['seconds'],
                      stopped_by=info['stopped_by'], losses=old['losses'] + info['losses'],
                      rounds=old.get('rounds', [done0]) + [info['iters']])
        _TRAINED[modality] = (inf, merged)
        return (f'Trained the tiny {modality} model {info["iters"]} iterations more: '
                f'{merged["iters"]} in all ({merged["seconds"]:.0f} s). Press Run.')


def checkpoint_model(modality: str, size: str, checkpoint: str) -> Tuple[Any, bool]:
    """A FusionInferencer of the chosen config with the user's checkpoint (cached by path
    and modification time).

    Raises:
        AppError: no such file, or weights that do not fit the config.
    """
    from vision_sparse.apis import FusionInferencer
    checkpoint = osp.expanduser(checkpoint.strip())
    if not osp.isfile(checkpoint):
        raise AppError(f'checkpoint: file {checkpoint!r} does not exist')
    cfg = config_path(modality, size)
    key = (cfg, modality, osp.abspath(checkpoint), os.stat(checkpoint).st_mtime)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key], True
        try:
            inf = FusionInferencer(cfg, checkpoint, cfg_options={'model.modality': modality})
        except (RuntimeError, ValueError, KeyError) as exc:
            raise AppError(f'checkpoint: {osp.basename(checkpoint)!r} does not fit '
                           f'{osp.basename(cfg)} ({modality}): {str(exc).splitlines()[0]}'
                           ) from exc
        _LOADED.clear()  # one user model at a time (the paper-size one is large)
        _LOADED[key] = inf
        return inf, False


# --------------------------------------------------------------------------- scoring
def match_boxes(pred_boxes: np.ndarray, pred_names: Sequence[str], pred_scores: np.ndarray,
                gt_boxes: np.ndarray, gt_names: Sequence[str],
                max_dist: float = MATCH_DIST) -> Dict[str, Any]:
    """Greedy matches by score: each prediction takes the nearest unmatched ground-truth
    box of its class whose BEV centre lies within ``max_dist`` metres.

    Returns:
        dict: ``tp``, ``fp``, ``fn``, ``pairs`` list of (pred index, gt index, distance),
        ``mean_dist`` (NaN without a match).
    """
    order = np.argsort(-np.asarray(pred_scores, np.float64), kind='stable')
    used = np.zeros(len(gt_boxes), bool)
    gt_names = np.asarray(list(gt_names), object)
    pairs = []
    for i in order:
        if not len(gt_boxes):
            break
        d = np.linalg.norm(gt_boxes[:, :2] - pred_boxes[i, :2], axis=1)
        d[(gt_names != pred_names[i]) | used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= max_dist:
            used[j] = True
            pairs.append((int(i), j, float(d[j])))
    tp = len(pairs)
    return dict(tp=tp, fp=len(pred_boxes) - tp, fn=len(gt_boxes) - tp, pairs=pairs,
                mean_dist=float(np.mean([p[2] for p in pairs])) if pairs else float('nan'))


def frame_map(pred: Dict[str, Any], gt_boxes: np.ndarray, gt_names: Sequence[str],
              classes: Sequence[str]) -> Optional[Dict[str, Any]]:
    """nuScenes mAP / NDS of one frame (the model's classes; truth of other classes and
    the nuScenes per-class ranges ignored), plus ``mAP_present``: the mean AP over the
    classes with truth in the frame (``mAP`` counts the absent ones as 0). None without
    truth of the model's classes."""
    from vision_sparse.evaluation.functional.nuscenes_detection import nuscenes_detection_eval
    index = {c: i for i, c in enumerate(classes)}
    labels = np.array([index.get(n, -1) for n in gt_names], np.int64)
    if not (labels >= 0).any() or not len(classes):
        return None
    boxes = np.asarray(pred['boxes'], np.float32).reshape(-1, 9)
    gts = [dict(bboxes_3d=np.asarray(gt_boxes, np.float32)[:, :7], labels_3d=labels)]
    preds = [dict(bboxes_3d=np.nan_to_num(boxes[:, :7]), scores_3d=np.asarray(pred['scores']),
                  labels_3d=np.asarray(pred['labels'], np.int64))]
    ev = nuscenes_detection_eval(gts, preds, list(classes), class_range=None)
    present = [v['AP'] for v in ev['per_class'].values() if v.get('num_gts', 0)]
    ev['mAP_present'] = float(np.mean(present)) if present else float('nan')
    return ev


# --------------------------------------------------------------------------- handlers
def _model_inputs(frame: Dict[str, Any], modality: str) -> Dict[str, Any]:
    kw = {}
    if modality in ('lidar', 'fusion'):
        kw['points'] = frame['points']
    if modality in ('camera', 'fusion'):
        kw['images'], kw['lidar2img'] = frame['images'], frame['lidar2img']
    return kw


def run_fusion(sample: Optional[str] = None, upload: Any = None, modality: str = 'fusion',
               size: str = 'tiny', checkpoint: Optional[str] = None,
               score_thr: float = DEFAULT_SCORE,
               show_untrained: bool = False, info_pkl: Optional[str] = None,
               point_dim: Optional[int] = None, progress: Optional[Callable] = None,
               train: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Detect 3-D boxes on a sample or an upload and draw them.

    Args:
        sample (str): a key of :func:`sample_choices` (``'nuscenes'``, ``'synthetic:<k>'``)
            or its label; default the first.
        upload: a LiDAR point file (``.bin`` / ``.npy``): a LiDAR-only run (no truth).
        modality (str): lidar, camera or fusion (an upload forces lidar).
        size (str): ``'tiny'`` or ``'paper'`` (the latter needs ``checkpoint``).
        checkpoint (str, optional): trained weights of the chosen config.
        score_thr (float): boxes scoring below are not drawn or counted.
        show_untrained (bool): on the real keyframe without a checkpoint, also draw the
            boxes of the model trained here on synthetic scenes (labelled as not
            detections); an upload without a checkpoint always runs that model (labelled
            the same way).
        info_pkl (str, optional): a nuScenes-style info pickle (its first sample) instead of
            the sample.
        point_dim (int, optional): values per point of an uploaded ``.bin`` (None: infer).
        progress (callable, optional): ``progress(fraction, desc=...)``.
        train (dict, optional): overrides of :data:`TRAIN`.

    Returns:
        dict: ``cameras`` (mosaic RGB or None without views), ``bev`` (RGB), ``status``
        (markdown), ``state`` (the cached result for :func:`redraw`).

    Raises:
        AppError: bad inputs, naming the field.
    """
    timings = Timings()
    notes: List[str] = []
    modality = modality or 'fusion'
    if modality not in MODALITIES:
        raise AppError(f'modality: expected one of {", ".join(MODALITIES)}, got {modality!r}')
    checkpoint = (checkpoint or '').strip() or None
    with timings('load'):
        if upload is not None:
            pts, how = read_points(upload, 'LiDAR points', point_dim)
            frame = dict(kind='upload', source=f'uploaded point cloud ({len(pts)} points, '
                         f'{how})', points=pts, images=None, lidar2img=None,
                         gt_boxes=np.zeros((0, 7), np.float32), gt_names=[])
            if modality != 'lidar':
                notes.append(f'an uploaded point cloud has no camera views: the LiDAR-only '
                             f'model runs (not {modality})')
                modality = 'lidar'
        elif info_pkl and info_pkl.strip():
            frame = load_info_frame(info_pkl.strip())
        else:
            key = resolve_sample(sample)
            frame = load_info_frame(nuscenes_info()) if key == 'nuscenes' else \
                synthetic_frame(int(key.split(':')[1]))
    if modality in ('camera', 'fusion') and not frame['images']:
        raise AppError(f'modality: the {modality} model needs camera views; this frame has '
                       'none (choose lidar)')
    if modality in ('lidar', 'fusion') and frame['points'] is None:
        raise AppError(f'modality: the {modality} model needs a LiDAR sweep; this frame has '
                       'none (choose camera)')
    real = frame['kind'] != 'synthetic'
    inf, kind, model_line = None, 'detections', ''
    if checkpoint:
        with timings('model load'):
            inf, cached = checkpoint_model(modality, size, checkpoint)
        model_line = (f'{osp.basename(config_path(modality, size))} + `{osp.basename(checkpoint)}`'
                      + (' (cached)' if cached else ''))
    elif size == 'paper':
        raise AppError('checkpoint: the paper-size model needs your trained weights (none '
                       'ship with the package, and it does not train on a CPU): give a '
                       'checkpoint path or choose the tiny model')
    elif not real or show_untrained or frame['kind'] == 'upload':
        with timings('training (once)'):
            inf, info, cached = trained_model(modality, progress, **(train or {}))
        model_line = (f'tiny {modality} model trained here on {info["num_scenes"]} synthetic '
                      f'scenes for {info["iters"]} iterations ({info["seconds"]:.0f} s'
                      f'{", time limit reached" if info["stopped_by"] == "time" else ""})'
                      + ('; cached from an earlier run' if cached else ''))
        if cached:
            timings.stages.pop('training (once)', None)
        if info['iters'] < MIN_GOOD_ITERS:
            notes.append(f'**Barely trained:** only {info["iters"]} iterations fitted in the '
                         f'time limit (a busy CPU?); about {MIN_GOOD_ITERS}-150 are needed '
                         'before its true boxes stand out. Press "Train more" (or set '
                         '$VISION_SPARSE_APP_FUSION_TRAIN_S) and run again.')
        if real:
            kind = 'untrained'
            notes.append('No checkpoint given: the boxes come from the tiny model trained '
                         'here on synthetic scenes, **not detections** of real objects.')
    result = None
    if inf is not None:
        if progress is not None:
            progress(1.0, desc='detecting')
        frame_in = dict(frame)
        if frame_in['points'] is not None and inf.use_dim and \
                frame_in['points'].shape[1] <= max(inf.use_dim):
            missing = max(inf.use_dim) + 1 - frame_in['points'].shape[1]
            frame_in['points'] = np.concatenate(
                [frame_in['points'], np.zeros((len(frame_in['points']), missing), np.float32)], 1)
            notes.append(f'{missing} zero column(s) appended to the points (the model reads '
                         f'{max(inf.use_dim) + 1} values a point)')
        res = inf(**_model_inputs(frame_in, modality), score_thr=0.0)
        timings.add({k: v for k, v in res['timings'].items() if k != 'total'}, 'model ')
        if not res['success'] and res['num_boxes'] == 0 and res['reason']:
            notes.append(f'model: {res["reason"]}')
        result = dict(boxes=res['bboxes_3d'], scores=res['scores'], labels=res['labels'],
                      classes=list(inf.classes), num_points=res['num_points'])
    elif real:
        notes.append('**No checkpoint given: ground truth only.** No SparseFusion weights ship '
                     'with the package and a model trained on synthetic scenes does not '
                     'detect real nuScenes objects. Give a checkpoint of a config trained on '
                     'nuScenes (e.g. `sparsefusion_r50-fpn_6e_nuscenes-fusion.py`, model size '
                     '"paper"), pick a synthetic scene to see the model trained here detect, '
                     'or tick "draw the synthetic-trained model\'s boxes" to see them anyway '
                     '(labelled, not detections).')
    state = dict(frame=frame, result=result, kind=kind, modality=modality, model=model_line,
                 notes=notes, timings=dict(timings.stages))
    return redraw(state, score_thr)


def box_colors(labels: np.ndarray) -> np.ndarray:
    """``(N, 3)`` class colours of predicted boxes, greens replaced by magenta: green is
    the ground truth's colour."""
    from vision_sparse.visualization import label_color
    out = np.array([label_color(int(i)) for i in labels], np.int64).reshape(-1, 3)
    greenish = (out[:, 1] > 120) & (out[:, 1] > out[:, 0] + 60) & (out[:, 1] > out[:, 2] + 60)
    out[greenish] = (255, 0, 255)
    return out


def redraw(state: Optional[Dict[str, Any]], score_thr: float = DEFAULT_SCORE) -> Dict[str, Any]:
    """Draw the cached result of :func:`run_fusion` at a new score threshold (no model run).

    Returns:
        dict: ``cameras``, ``bev``, ``status``, ``state``.

    Raises:
        AppError: nothing has run yet.
    """
    from vision_sparse.visualization import draw_camera_mosaic, draw_fusion_bev, put_text_block
    if not state:
        raise AppError('score threshold: press Run first (there is no result to re-draw)')
    thr = float(score_thr)
    t0 = time.perf_counter()
    frame, result, kind = state['frame'], state['result'], state['kind']
    gt, gt_names = frame['gt_boxes'], frame['gt_names']
    boxes = np.zeros((0, 9), np.float32)
    scores = np.zeros(0, np.float32)
    labels = np.zeros(0, np.int64)
    classes: List[str] = []
    if result is not None:
        keep = result['scores'] >= thr
        boxes, scores, labels = result['boxes'][keep], result['scores'][keep], \
            result['labels'][keep]
        classes = result['classes']
    names = [classes[i] if 0 <= i < len(classes) else str(i) for i in labels]
    what = 'model boxes - NOT detections (synthetic-trained model on real data)' \
        if kind == 'untrained' else 'detections'
    legend = ['green: ground truth' if len(gt) else 'no ground truth']
    if result is not None:
        legend.append(f'colours: {what}, score >= {thr:.2f} ({len(boxes)})')
    else:
        legend.append('no model run (no checkpoint given): ground truth only')
    draw = dict(boxes=boxes, labels=labels, scores=scores, class_names=classes or None,
                gt_boxes=gt if len(gt) else None, box_color=box_colors(labels))
    warn = (255, 255, 255), (200, 0, 0)
    cameras = None
    if frame['images']:
        cameras = draw_camera_mosaic(frame['images'], frame['lidar2img'], tile_width=TILE_WIDTH,
                                     **draw)
        cameras = put_text_block(cameras, legend, origin=(8, cameras.shape[0] - 50),
                                 font_scale=0.55)
        if kind == 'untrained' and result is not None:
            cameras = put_text_block(cameras, 'NOT DETECTIONS: a model trained on synthetic '
                                     'scenes, run on real data', origin=(8, 30),
                                     font_scale=0.8, color=warn[0], bg_color=warn[1], alpha=0.85,
                                     thickness=2)
        cameras = fit_width(cameras)
    rng = BEV_RANGE[frame['kind']]
    bev = draw_fusion_bev(frame['points'], point_cloud_range=rng, resolution=BEV_RESOLUTION,
                          **draw)
    bev = put_text_block(bev, legend + ['+y forward (up), +x right; ego at the centre; rings '
                                       'every 10 m'],
                         origin=(8, 8), font_scale=0.5)
    if kind == 'untrained' and result is not None:
        bev = put_text_block(bev, 'NOT DETECTIONS (synthetic-trained model)',
                             origin=(8, bev.shape[0] - 40), font_scale=0.7, color=warn[0],
                             bg_color=warn[1], alpha=0.85, thickness=2)
    if cameras is None:  # no views (an uploaded sweep): the BEV is the main picture
        cameras = bev
    lines = [f'**{frame["source"]}**: '
             + (f'{len(frame["points"])} LiDAR points' if frame['points'] is not None
                else 'no LiDAR')
             + (f', {len(frame["images"])} cameras' if frame['images'] else ', no cameras')
             + (f', {len(gt)} ground-truth boxes (green)' if len(gt) else ', no ground truth')]
    if state['model']:
        lines.append(f'Model ({state["modality"]}): {state["model"]}')
    lines += list(state['notes'])
    if result is not None:
        per_class = Counter(names)
        counts = ', '.join(f'{c} {n}' for c, n in sorted(per_class.items())) or 'none'
        label = 'Boxes (NOT detections)' if kind == 'untrained' else 'Detections'
        lines.append(f'{label} with score >= {thr:.2f}: {len(boxes)} ({counts})')
        if len(gt):
            classes_set = set(classes)
            in_range = np.array([n in classes_set for n in gt_names], bool)
            m = match_boxes(boxes, names, scores, gt[in_range], np.asarray(gt_names)[in_range])
            lines.append(f'Matches vs truth (same class, BEV centre within {MATCH_DIST:g} m; '
                         f'{int(in_range.sum())} truth boxes of the model\'s classes): '
                         f'**{m["tp"]} matched**, {m["fp"]} false, {m["fn"]} missed'
                         + (f'; mean centre error {m["mean_dist"]:.2f} m' if m['tp'] else ''))
            ev = frame_map(result, gt, gt_names, classes)
            if ev is not None:
                aps = ', '.join(f'{c} {v["AP"]:.2f}' for c, v in ev['per_class'].items()
                                if v.get('num_gts', 0))
                lines.append(f'Frame mAP over the {len(aps.split(", "))} classes present '
                             f'(nuScenes 0.5-4 m thresholds, all scores): '
                             f'**{ev["mAP_present"]:.3f}** (AP {aps}); NDS {ev["NDS"]:.3f}')
    stages = dict(state['timings'])
    stages['draw'] = time.perf_counter() - t0
    lines.append('Time: ' + ' · '.join(f'{k} {v:.2f} s' for k, v in stages.items()))
    return dict(cameras=cameras, bev=bev, status='\n\n'.join(lines), state=state)


# --------------------------------------------------------------------------- UI
def build(gr) -> None:
    """The tab's components and events (inside the current ``gr.Tab``)."""
    labels, keys = choices_from(sample_choices())
    size_labels, size_keys = choices_from(SIZES)
    gr.Markdown('SparseFusion 3-D detection from a LiDAR sweep and six cameras. On the real '
                'nuScenes keyframe a **checkpoint is needed** for detections (none ship); '
                'the synthetic scenes use a tiny model trained here once (about a minute, '
                'cached) and compare with their exact boxes. Green: ground truth.')
    with gr.Row():
        with gr.Column(scale=1):
            sample = gr.Dropdown(labels, value=labels[0], label='Sample', elem_id='fusion-sample')
            upload = gr.File(label='Your LiDAR points (.bin float32 x,y,z,i[,ring] or .npy '
                             '(N, >=4)); LiDAR-only run', elem_id='fusion-upload')
            point_dim = gr.Dropdown(['auto', '4', '5'], value='auto',
                                    label='values per point of a .bin',
                                    elem_id='fusion-point-dim')
            info_pkl = gr.Textbox(label='or: path of a nuScenes-style info .pkl (first sample)',
                                  elem_id='fusion-info')
            modality = gr.Dropdown(list(MODALITIES), value='fusion', label='Modality',
                                   elem_id='fusion-modality')
            size = gr.Dropdown(size_labels, value=size_labels[0], label='Model',
                               elem_id='fusion-size')
            checkpoint = gr.Textbox(label='Checkpoint path (optional)',
                                    elem_id='fusion-checkpoint')
            untrained = gr.Checkbox(False, label="Real data without checkpoint: draw the "
                                    "synthetic-trained model's boxes anyway (labelled, not "
                                    'detections)', elem_id='fusion-untrained')
            score = gr.Slider(0.0, 1.0, value=DEFAULT_SCORE, step=0.01,
                              label='Score threshold (re-draws; the briefly trained tiny model '
                              'scores low, ~0.05-0.3)', elem_id='fusion-score')
            with gr.Row():
                run = gr.Button('Run', variant='primary', elem_id='fusion-run')
                stop_btn = gr.Button('Stop', elem_id='fusion-stop')
            more = gr.Button('Train more (the tiny model of the modality, another '
                             f'{TRAIN["time_limit"]:.0f} s)', elem_id='fusion-train-more')
        with gr.Column(scale=3):
            output = gr.Image(label='Six cameras (ground truth green)', format='png',
                              elem_id='fusion-output')
            bev = gr.Image(label="Bird's-eye view", format='png', elem_id='fusion-bev')
            status = gr.Markdown(elem_id='fusion-status')
    state = gr.State(None)

    @guarded(4, status_index=2)
    def on_run(sample_label, upload_value, modality_value, size_label, ckpt, thr, show,
               info_value, dim_value, progress=gr.Progress()):
        out = run_fusion(keys.get(sample_label, sample_label), upload_value, modality_value,
                         size_keys.get(size_label, size_label), ckpt, thr, show, info_value,
                         None if dim_value in (None, 'auto') else int(dim_value), progress)
        return out['cameras'], out['bev'], out['status'], out['state']

    def on_score(st, thr):
        if not st:
            return gr.update(), gr.update(), gr.update()
        try:
            out = redraw(st, thr)
        except (AppError, ValueError) as exc:
            return gr.update(), gr.update(), status_error(str(exc))
        return out['cameras'], out['bev'], out['status']

    def on_upload(value, dim_value):
        if value is None:
            return gr.update()
        try:
            return check_upload(value, None if dim_value in (None, 'auto') else int(dim_value))
        except (AppError, ValueError) as exc:
            return status_error(str(exc))

    upload.upload(on_upload, [upload, point_dim], [status])
    run_event = run.click(on_run, [sample, upload, modality, size, checkpoint, score, untrained,
                                   info_pkl, point_dim], [output, bev, status, state])

    def on_more(modality_value, progress=gr.Progress()):
        try:
            return train_more(modality_value, progress)
        except (AppError, ValueError) as exc:
            return status_error(str(exc))

    more_event = more.click(on_more, [modality], [status])
    score.release(on_score, [state, score], [output, bev, status])
    stop_btn.click(stop, None, None, cancels=[run_event, more_event])
