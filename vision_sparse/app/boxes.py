"""Tab ``boxes``: oriented boxes on aerial images - the DOTA / DIOR-R samples, rotated NMS,
and PointOBB boxes from points clicked on the image.

* The samples (DOTA P1888 and P0706, the DOTA 1024-px patch, DIOR-R 00001, a held-out image of
  the synthetic aerial set) are loaded by the package's datasets (``DOTADataset``,
  ``DIORDataset``, ``SyntheticAerialDataset``) with their true oriented boxes and their
  annotated points (one per object, the official ellipse rule).
* Rotated NMS (:func:`vision_sparse.ops.batched_nms_rotated`, class-aware) on noisy duplicate
  detections made from the true boxes with a fixed seed (an upload without truth: from the
  PointOBB boxes of the last run); the IoU-threshold slider re-runs only the NMS.
* PointOBB (:class:`vision_sparse.apis.OBBInferencer`): one oriented box per point
  ``x,y,class``. Points come from the sample, from clicks on the image, or are typed.
  No trained weights ship with the package: give a checkpoint of :data:`CONFIG`, or the tab
  trains that CPU recipe on the synthetic aerial set for :data:`TRAIN_ITERS` iterations
  once per process (boxes from such a short run are rough; the full schedule is
  ``python tools/train.py CONFIG``).

Handlers (plain values in, plain values out; no browser needed): :func:`load_input`,
:func:`sample_points_text`, :func:`add_point`, :func:`parse_points_text`,
:func:`draw_points_view`, :func:`run_nms`, :func:`run_boxes`, :func:`get_inferencer`.
"""
import functools
import os
import os.path as osp
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .common import (AppError, Timings, app_root, config_file, fit_width, guarded, output_dir,
                     read_image, read_number, status_ok)

TITLE = 'Oriented boxes (PointOBB)'

#: the PointOBB CPU recipe (frozen XFeat encoder + FPN + MIL heads), 6 synthetic-aerial classes
CONFIG = 'configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py'
#: iterations of the in-app training when no checkpoint is given (full recipe: 150). Measured
#: on the shared 2-core CPU under load: ~8 s an iteration (about 1 s unloaded); pseudo-box mIoU
#: on the DOTA P1888 sample 0.38 after 20 iterations, 0.51 after 40 (measured with an earlier
#: recipe, without test views; prediction now runs 6 views per image)
TRAIN_ITERS = 20
#: the iterations a user may ask for in the page
MAX_TRAIN_ITERS = 150
#: at most this many sample objects become preset points (P0706 has 536)
MAX_SAMPLE_POINTS = 40
#: noisy duplicates per true box for the NMS view, their jitter and seed
NMS_COPIES, NMS_JITTER, NMS_SEED = 6, 0.06, 0
#: the classes the model is trained on (``SyntheticAerialDataset``'s; a checkpoint of
#: :data:`CONFIG` has the same)
MODEL_CLASSES = ('plane', 'ship', 'small-vehicle', 'large-vehicle', 'storage-tank', 'golf-field')
#: sample class names (DOTA / DIOR-R) -> model class; others have no model class
CLASS_ALIASES = {'airplane': 'plane', 'golffield': 'golf-field', 'storagetank': 'storage-tank',
                 'vehicle': 'small-vehicle'}
GREY = (175, 175, 175)
#: top-left of the text blocks in the pictures (below the label the page draws on a picture)
TEXT_ORIGIN = (5, 30)
SUPPRESSED = (0, 230, 255)

#: sample label -> how the dataset loads it (folder under ``oriented/``, image id)
SAMPLES: Dict[str, Dict[str, Any]] = {
    'DOTA P1888: 64 vehicles (712 x 557)':
        dict(type='DOTADataset', folder='dota', img_id='P1888'),
    'DOTA P0706: 531 ships, 5 harbors (1111 x 1182)':
        dict(type='DOTADataset', folder='dota', img_id='P0706'),
    'DOTA patch P2805: 4 planes (170 x 170, labels made at 1024 px)':
        dict(type='DOTADataset', folder='dota_patch', img_id='P2805__1024__0___0',
             ann_image_size=1024),
    'DIOR-R 00001: a golf field (800 x 800)':
        dict(type='DIORDataset', folder='dior', img_id='00001'),
    'Synthetic aerial, held-out image 0 (exact boxes, the model\'s classes)':
        dict(type='SyntheticAerialDataset', folder='', index=0, seed=1),
}
DEFAULT_SAMPLE = next(iter(SAMPLES))

#: a run checks this between training iterations; the Stop button sets it
_STOP = threading.Event()
_TRAIN_LOCK = threading.Lock()

BROWSER_CHECK = dict(timeout_s=400)  # 20 iterations at ~8 s on the loaded CPU + loading

__all__ = ['TITLE', 'build', 'BROWSER_CHECK', 'SAMPLES', 'DEFAULT_SAMPLE', 'CONFIG',
           'MODEL_CLASSES', 'TRAIN_ITERS', 'MAX_TRAIN_ITERS', 'load_input', 'sample_points_text',
           'add_point', 'parse_points_text', 'draw_points_view', 'input_view', 'make_detections',
           'run_nms', 'run_boxes', 'get_inferencer', 'train_checkpoint']


# ---------------------------------------------------------------------------------- inputs
def _oriented_root() -> Optional[Path]:
    from vision_sparse.testing.data import shared_data_path
    return shared_data_path('oriented')


def model_class(name: str) -> Optional[str]:
    """The model class of a sample's class name (None: the model has no such class)."""
    name = CLASS_ALIASES.get(str(name), str(name))
    return name if name in MODEL_CLASSES else None


@functools.lru_cache(maxsize=8)
def _load_sample(sample: str) -> Dict[str, Any]:
    """Image (RGB), true boxes, their class names and annotated points of one sample."""
    if sample not in SAMPLES:
        raise AppError(f'Sample: unknown sample {sample!r}; choose one of the list')
    root = _oriented_root()
    if root is None:
        raise AppError('Sample: the sample data (../shared/data/oriented, or '
                       '$VISION_SPARSE_DATA) is not there - upload an aerial image instead')
    import cv2
    from mmengine.registry import DefaultScope
    from vision_sparse.registry import DATASETS
    from vision_sparse.utils import register_all_modules
    spec = dict(SAMPLES[sample])
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        if spec['type'] == 'SyntheticAerialDataset':
            ds = DATASETS.build(dict(type='SyntheticAerialDataset', data_root=str(root),
                                     num_images=spec['index'] + 1, seed=spec['seed'],
                                     test_mode=True, pipeline=[]))
            data = ds[spec['index']]
            image = np.ascontiguousarray(data['img'][..., ::-1])  # BGR -> RGB
            info = ds.get_data_info(spec['index'])
        else:
            kwargs = {k: spec[k] for k in ('ann_image_size',) if k in spec}
            ds = DATASETS.build(dict(type=spec['type'], data_root=str(root / spec['folder']),
                                     pipeline=[], **kwargs))
            idx = next((i for i in range(len(ds))
                        if ds.get_data_info(i)['img_id'] == spec['img_id']), None)
            if idx is None:
                raise AppError(f'Sample: image {spec["img_id"]} is missing from {root}')
            info = ds.get_data_info(idx)
            bgr = cv2.imread(info['img_path'], cv2.IMREAD_COLOR)
            if bgr is None:
                raise AppError(f'Sample: cannot read {info["img_path"]}')
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    classes = list(ds.metainfo['classes'])
    inst = info['instances']
    boxes = np.array([i['bbox'] for i in inst], np.float32).reshape(-1, 5)
    names = [str(classes[i['bbox_label']]) for i in inst]
    points = np.array([i['point'] for i in inst], np.float32).reshape(-1, 2)
    return dict(image=image, boxes=boxes, class_names=names, points=points,
                name=sample.split(':')[0])


def load_input(sample: Optional[str], upload: Any = None) -> Dict[str, Any]:
    """The image to work on: the upload when there is one, else the sample.

    Args:
        sample (str | None): a key of :data:`SAMPLES`.
        upload: an uploaded image (file path, Gradio file value or array); RGB, grey or RGBA.

    Returns:
        dict: ``image`` ``(H, W, 3)`` RGB uint8, ``boxes`` ``(N, 5)`` true boxes or None,
        ``class_names`` (N names, the dataset's), ``points`` ``(N, 2)`` annotated points or
        None, ``name``.

    Raises:
        AppError: an unreadable / unsupported upload (names ``Aerial image``), an unknown sample.
    """
    if upload is not None:
        image = read_image(upload, 'Aerial image')
        return dict(image=image, boxes=None, class_names=[], points=None, name='your image')
    if not sample:
        raise AppError('Sample: pick a sample or upload an aerial image')
    data = _load_sample(sample)
    return dict(data, image=data['image'].copy())


def sample_points_text(data: Dict[str, Any], max_points: int = MAX_SAMPLE_POINTS
                       ) -> Tuple[str, str]:
    """Preset points of a sample (its annotated points, with the model's class names).

    Objects whose class the model lacks are left out (e.g. DOTA's harbors); at most
    ``max_points`` (largest objects first).

    Returns:
        tuple[str, str]: the points text (``x,y,class`` a line) and a note on what was left out.
    """
    if data.get('points') is None or not len(data['points']):
        return '', ''
    keep, unknown = [], {}
    for i, name in enumerate(data['class_names']):
        if model_class(name) is None:
            unknown[name] = unknown.get(name, 0) + 1
        else:
            keep.append(i)
    notes = [f'{n} {name} point(s) left out (not a class of the model)'
             for name, n in unknown.items()]
    if len(keep) > max_points:
        area = data['boxes'][keep, 2] * data['boxes'][keep, 3]
        keep = sorted(np.asarray(keep)[np.argsort(-area, kind='stable')[:max_points]].tolist())
        notes.append(f'the {max_points} largest objects of {len(data["class_names"])} get points')
    lines = [f'{data["points"][i, 0]:.1f},{data["points"][i, 1]:.1f},'
             f'{model_class(data["class_names"][i])}' for i in keep]
    return '\n'.join(lines), '; '.join(notes)


def parse_points_text(text: Optional[str], image_shape: Sequence[int],
                      classes: Sequence[str] = MODEL_CLASSES) -> Tuple[np.ndarray, np.ndarray]:
    """Points of the ``Points`` box: one ``x,y,class`` (or ``x,y``: the first class) a line.

    Blank lines and lines starting with ``#`` are skipped.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(N, 2)`` float32 pixels, ``(N,)`` int64 class indices.

    Raises:
        AppError: a malformed line, a point outside the image or an unknown class, naming
            ``Points`` and the line number.
    """
    from vision_sparse.apis.obb import parse_points
    pts, labels = [], []
    for k, line in enumerate((text or '').splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        try:
            p, lab = parse_points([line], classes=list(classes), image_shape=image_shape)
        except ValueError as exc:
            msg = str(exc).replace('points[0]', 'point').replace('points[0] ', '')
            raise AppError(f'Points, line {k} ({line!r}): {msg}') from None
        pts.append(p[0])
        labels.append(lab[0])
    return (np.asarray(pts, np.float32).reshape(-1, 2), np.asarray(labels, np.int64).reshape(-1))


def add_point(points_text: Optional[str], x: float, y: float, cls: Optional[str],
              image_shape: Sequence[int]) -> str:
    """The points text with one more point ``x,y,cls`` (a click on the image).

    Raises:
        AppError: ``cls`` not a model class (names ``Class``), the point outside the image
            (names ``Points``).
    """
    if cls not in MODEL_CLASSES:
        raise AppError(f'Class: unknown class {cls!r}; choose one of {", ".join(MODEL_CLASSES)}')
    h, w = image_shape[:2]
    if not (np.isfinite(x) and np.isfinite(y) and 0 <= x <= w - 1 and 0 <= y <= h - 1):
        raise AppError(f'Points: ({x:.1f}, {y:.1f}) lies outside the {w} x {h} image')
    line = f'{float(x):.1f},{float(y):.1f},{cls}'
    text = (points_text or '').rstrip('\n')
    return f'{text}\n{line}' if text.strip() else line


def _dot(img: np.ndarray, pts: np.ndarray, labels: Optional[np.ndarray] = None,
         numbers: bool = False) -> np.ndarray:
    import cv2
    from vision_sparse.visualization import label_color
    radius = max(3, int(round(max(img.shape[:2]) / 250)))
    for k, (x, y) in enumerate(np.asarray(pts, np.float64).reshape(-1, 2)):
        c = (int(round(x)), int(round(y)))
        fill = label_color(int(labels[k])) if labels is not None else (255, 255, 255)
        cv2.circle(img, c, radius, tuple(int(v) for v in fill), -1, cv2.LINE_AA)
        cv2.circle(img, c, radius, (0, 0, 0), 1, cv2.LINE_AA)
        if numbers:  # the point's line number in the Points box, dark outline for contrast
            at = (c[0] + radius + 1, c[1] - radius)
            for color, stroke in (((0, 0, 0), 3), ((255, 255, 255), 1)):
                cv2.putText(img, str(k + 1), at, cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, stroke,
                            cv2.LINE_AA)
    return img


def _legend(img: np.ndarray, items: Sequence[Tuple[str, Any]], origin: Tuple[int, int] = (5, 5)
            ) -> np.ndarray:
    """A legend block (colour swatch + name a line) on a translucent dark background."""
    import cv2
    out = img.copy()
    font, fs, line_h = cv2.FONT_HERSHEY_SIMPLEX, 0.5, 20
    width = max([cv2.getTextSize(t, font, fs, 1)[0][0] for t, _ in items] + [0]) + 34
    x0, y0 = origin
    y1, x1 = min(out.shape[0], y0 + line_h * len(items) + 6), min(out.shape[1], x0 + width)
    if y1 > y0 and x1 > x0:
        out[y0:y1, x0:x1] = (out[y0:y1, x0:x1] * 0.4).astype(np.uint8)
    for k, (text, color) in enumerate(items):
        y = y0 + 4 + k * line_h
        cv2.rectangle(out, (x0 + 5, y + 3), (x0 + 21, y + 15), tuple(int(c) for c in color), -1)
        cv2.putText(out, text, (x0 + 28, y + 14), font, fs, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def draw_points_view(image: np.ndarray, points_text: Optional[str]) -> Tuple[np.ndarray, float]:
    """The image to click on, with the current points (numbered, coloured per class).

    Invalid lines are ignored here (the run reports them).

    Returns:
        tuple[np.ndarray, float]: the picture and its scale (picture px per image px; clicks
        on it are divided by it).
    """
    from vision_sparse.apis.obb import parse_points
    pts, labels = [], []
    for line in (points_text or '').splitlines():
        if line.strip() and not line.strip().startswith('#'):
            try:
                p, lab = parse_points([line.strip()], classes=list(MODEL_CLASSES),
                                      image_shape=image.shape)
            except ValueError:
                continue
            pts.append(p[0])
            labels.append(lab[0])
    view = fit_width(image, 1600)
    scale = view.shape[1] / image.shape[1]
    view = np.ascontiguousarray(view.copy())
    if pts:
        view = _dot(view, np.asarray(pts) * scale, np.asarray(labels), numbers=True)
    return view, float(scale)


# ------------------------------------------------------------------------------------- NMS
def make_detections(boxes: np.ndarray, labels: np.ndarray, copies: int = NMS_COPIES,
                    jitter: float = NMS_JITTER, seed: int = NMS_SEED) -> Dict[str, np.ndarray]:
    """Noisy duplicate detections of ``boxes`` (fixed seed): the input of the NMS view.

    Returns:
        dict: ``boxes`` ``(N * copies, 5)``, ``scores``, ``labels``, ``source`` (index of the
        box each detection came from).
    """
    import torch
    from vision_sparse.testing import jittered_detections
    boxes = np.asarray(boxes, np.float32).reshape(-1, 5)
    det = jittered_detections(torch.as_tensor(boxes), copies=copies, jitter=jitter, seed=seed)
    source = det['gt_index'].numpy().astype(np.int64)
    return dict(boxes=det['boxes'].float().numpy(), scores=det['scores'].float().numpy(),
                labels=np.asarray(labels, np.int64).reshape(-1)[source], source=source)


def run_nms(image: np.ndarray, boxes: np.ndarray, labels: np.ndarray,
            class_names: Sequence[str], iou_thr: float, source: str = 'true boxes'
            ) -> Dict[str, Any]:
    """Class-aware rotated NMS on noisy duplicates of ``boxes``; kept vs suppressed.

    Args:
        image: ``(H, W, 3)`` RGB uint8.
        boxes: ``(N, 5)`` ``(cx, cy, w, h, theta)`` boxes the duplicates are made from.
        labels: ``(N,)`` class index per box (NMS never mixes classes).
        class_names: names of the class indices.
        iou_thr (float): IoU threshold in ``[0, 1]``: a detection overlapping a
            higher-scoring kept one of its class by more is suppressed.
        source (str): what ``boxes`` are (for the picture's legend).

    Returns:
        dict: ``picture`` (kept in class colours, suppressed thin cyan), ``status``,
        ``num_detections``, ``num_kept``, ``num_suppressed``, ``kept`` (indices),
        ``nms_ms``.

    Raises:
        AppError: an IoU threshold outside ``[0, 1]`` (names ``NMS IoU threshold``).
    """
    import torch
    from vision_sparse.ops import batched_nms_rotated
    from vision_sparse.visualization import draw_rotated_boxes, label_color, put_text_block
    iou_thr = read_number(iou_thr, 'NMS IoU threshold', 0.0, 1.0)
    det = make_detections(boxes, labels)
    t0 = time.perf_counter()
    keep = batched_nms_rotated(torch.as_tensor(det['boxes']), torch.as_tensor(det['scores']),
                               torch.as_tensor(det['labels']), iou_thr).numpy()
    nms_ms = (time.perf_counter() - t0) * 1e3
    n, n_obj = len(det['boxes']), len(np.asarray(boxes).reshape(-1, 5))
    suppressed = np.setdiff1d(np.arange(n), keep)
    canvas = draw_rotated_boxes(image, det['boxes'][suppressed], color=SUPPRESSED, thickness=1,
                                show_heading=False)
    colors = np.array([label_color(int(v)) for v in det['labels'][keep]], np.uint8).reshape(-1, 3)
    canvas = draw_rotated_boxes(canvas, det['boxes'][keep], color=colors, thickness=2)
    # objects left with more than one kept detection (threshold too high) or none
    per_obj = np.bincount(det['source'][keep], minlength=n_obj)
    dup, lost = int((per_obj > 1).sum()), int((per_obj == 0).sum())
    lines = [f'rotated NMS, IoU threshold {iou_thr:.2f} (class-aware)',
             f'{n} detections ({NMS_COPIES} noisy copies of {n_obj} {source}): '
             f'{len(keep)} kept, {len(suppressed)} suppressed',
             'kept, by class:']
    canvas = put_text_block(fit_width(canvas, 1600), lines, origin=TEXT_ORIGIN)
    present = sorted(set(np.asarray(labels, np.int64).reshape(-1).tolist()))
    canvas = _legend(canvas, [(str(class_names[i]) if i < len(class_names) else str(i),
                               label_color(i)) for i in present] + [('suppressed', SUPPRESSED)],
                     origin=(TEXT_ORIGIN[0], TEXT_ORIGIN[1] + 3 * 21 + 6))
    status = (f'NMS at IoU {iou_thr:.2f}: **{len(keep)} kept**, {len(suppressed)} suppressed of '
              f'{n} detections ({NMS_COPIES} noisy copies, seed {NMS_SEED}, of {n_obj} {source}); '
              f'objects with several kept detections: {dup}, with none: {lost}; '
              f'NMS {nms_ms:.1f} ms')
    return dict(picture=canvas, status=status, num_detections=n, num_kept=int(len(keep)),
                num_suppressed=int(len(suppressed)), kept=keep, duplicates=dup, lost=lost,
                nms_ms=nms_ms)


# -------------------------------------------------------------------------------- PointOBB
def _config_path() -> str:
    return config_file(CONFIG, 'Checkpoint')


def _train_dir() -> str:
    root = app_root()
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix='boxes_train_', dir=root)


_TRAINED: Dict[int, Tuple[str, float]] = {}


def train_checkpoint(iters: int = TRAIN_ITERS, progress: Optional[Callable] = None,
                     should_stop: Optional[Callable[[], bool]] = None) -> Tuple[str, float, bool]:
    """Train :data:`CONFIG` on the synthetic aerial set for ``iters`` iterations, once per
    process (mmengine ``Runner``), and save the weights.

    Args:
        iters (int): training iterations (the config's schedule: 150).
        progress (callable, optional): ``progress(fraction, desc=...)``.
        should_stop (callable, optional): checked after every iteration; True stops the
            training with an :class:`AppError` (nothing cached).

    Returns:
        tuple[str, float, bool]: the checkpoint path, the training seconds, and whether it
        came from this process's cache.
    """
    with _TRAIN_LOCK:
        if iters in _TRAINED:
            path, secs = _TRAINED[iters]
            if osp.isfile(path):
                return path, secs, True
        root = _oriented_root()
        if root is None:
            raise AppError('Checkpoint: none given, and the synthetic aerial set cannot be '
                           'made to train one here (the sample data ../shared/data/oriented is '
                           'missing); give a checkpoint path')
        import torch
        from mmengine.config import Config
        from mmengine.hooks import Hook
        from mmengine.runner import Runner

        class _Progress(Hook):
            priority = 'LOWEST'

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                done = runner.iter + 1
                if progress is not None:
                    progress(done / iters, desc=f'training PointOBB here: iteration {done}/{iters}')
                if should_stop is not None and should_stop():
                    raise AppError(f'stopped during training (iteration {done}/{iters}); '
                                   'nothing was cached')

        t0 = time.perf_counter()
        cfg = Config.fromfile(_config_path())
        cfg.train_dataloader.dataset.data_root = str(root)
        cfg.train_cfg.max_iters = iters
        cfg.train_cfg.val_interval = iters + 1
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
        cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
        cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=iters + 1,
                                            by_epoch=False)
        cfg.default_hooks.logger = dict(type='LoggerHook', interval=max(1, iters // 4))
        cfg.log_processor = dict(by_epoch=False)
        cfg.log_level = 'WARNING'
        work_dir = _train_dir()
        cfg.work_dir = work_dir
        cfg.env_cfg.dist_cfg = dict(backend='gloo')
        if progress is not None:
            progress(0.0, desc=f'training PointOBB here: {iters} iterations (once per process)')
        runner = Runner.from_cfg(cfg)
        runner.register_hook(_Progress())
        runner.train()
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        path = osp.join(work_dir, f'pointobb_app_{iters}it.pth')
        torch.save(dict(state_dict=model.state_dict(),
                        meta=dict(config=CONFIG, iters=iters, note='trained by the web app')),
                   path)
        secs = time.perf_counter() - t0
        _TRAINED[iters] = (path, secs)
        return path, secs, False


@functools.lru_cache(maxsize=2)
def _inferencer(checkpoint: str):
    from vision_sparse.apis import OBBInferencer
    return OBBInferencer(_config_path(), checkpoint, device='cpu')


def get_inferencer(checkpoint: Optional[str] = None, iters: int = TRAIN_ITERS,
                   progress: Optional[Callable] = None,
                   should_stop: Optional[Callable[[], bool]] = None) -> Tuple[Any, str]:
    """The PointOBB inferencer of ``checkpoint`` (trained here when None), cached per process.

    Returns:
        tuple: (:class:`~vision_sparse.apis.OBBInferencer`, a note for the status).

    Raises:
        AppError: a checkpoint path that does not exist or does not fit :data:`CONFIG`
            (names ``Checkpoint``).
    """
    checkpoint = (checkpoint or '').strip() or None
    try:
        iters = int(iters)
    except (TypeError, ValueError):
        raise AppError(f'Training iterations: expected a whole number, got {iters!r}') from None
    if not 1 <= iters <= MAX_TRAIN_ITERS:
        raise AppError(f'Training iterations: expected 1 to {MAX_TRAIN_ITERS}, got {iters}')
    if checkpoint is not None:
        path = osp.expanduser(checkpoint)
        if not osp.isfile(path):
            raise AppError(f'Checkpoint: file {checkpoint!r} does not exist')
        cached = _inferencer.cache_info().currsize
        try:
            inf = _inferencer(osp.abspath(path))
        except Exception as exc:  # noqa: BLE001 - any file a user names: say why, keep serving
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AppError(f'Checkpoint: {osp.basename(path)} does not load into {CONFIG}: '
                           f'{first}') from None
        again = _inferencer.cache_info().currsize == cached
        return inf, (f'weights: {osp.basename(path)}'
                     + (' (cached)' if again else ' (loaded)'))
    path, secs, cached = train_checkpoint(iters, progress, should_stop)
    inf = _inferencer(path)
    note = (f'weights: trained here for {iters} iterations in {secs:.0f} s '
            f'({"cached for this process" if cached else "now cached for this process"}) - '
            f'**boxes from such a short run are rough** (the recipe runs 150 iterations: '
            f'`python tools/train.py {CONFIG}`, then give its checkpoint)')
    return inf, note


def _write_dota(path: str, polygons: np.ndarray, names: Sequence[str]) -> str:
    with open(path, 'w', encoding='utf-8') as f:
        f.write('imagesource:vision_sparse app\ngsd:null\n')
        for poly, name in zip(np.asarray(polygons).reshape(-1, 8), names):
            f.write(' '.join(f'{v:.1f}' for v in poly) + f' {name} 0\n')
    return path


def run_boxes(sample: Optional[str], upload: Any = None, points_text: Optional[str] = None,
              checkpoint: Optional[str] = None, iou_thr: float = 0.3,
              iters: int = TRAIN_ITERS, progress: Optional[Callable] = None,
              should_stop: Optional[Callable[[], bool]] = None) -> Dict[str, Any]:
    """PointOBB boxes for the points, and the NMS view.

    Args:
        sample (str | None): a key of :data:`SAMPLES` (used when nothing is uploaded).
        upload: the user's aerial image (RGB, grey or RGBA), or None.
        points_text (str | None): ``x,y,class`` a line; None or blank: the sample's preset
            points (an upload needs points).
        checkpoint (str | None): weights of :data:`CONFIG`; None: trained here (cached).
        iou_thr (float): rotated-NMS IoU threshold of the NMS view.
        iters (int): training iterations when no checkpoint is given.
        progress, should_stop: see :func:`train_checkpoint`.

    Returns:
        dict: ``output`` (image with the predicted boxes in class colours, true boxes grey),
        ``nms`` (the NMS view), ``status`` (markdown), ``file`` (DOTA-format txt of the
        boxes), ``points_text`` (the points used), ``result`` (the
        :class:`~vision_sparse.apis.OBBInferencer` result), ``miou`` (mean IoU of each
        predicted box with its best true box, or None), ``nms_source`` (boxes, labels,
        class names and name the NMS view uses).

    Raises:
        AppError: bad upload, bad points, no points, bad checkpoint.
    """
    import torch
    from vision_sparse.ops import box_iou_rotated
    from vision_sparse.visualization import draw_rotated_boxes, put_text_block
    timings = Timings()
    with timings('load'):
        data = load_input(sample, upload)
        image = data['image']
        note = ''
        if not (points_text or '').strip():
            if data['points'] is None:
                raise AppError('Points: none given - click on the image (pick the class first) '
                               'or type "x,y,class" lines')
            points_text, note = sample_points_text(data)
        pts, labels = parse_points_text(points_text, image.shape)
        if not len(pts):
            raise AppError('Points: none given - click on the image or type "x,y,class" lines')
    with timings('model'):
        inferencer, model_note = get_inferencer(checkpoint, iters, progress, should_stop)
    if progress is not None:
        progress(1.0, desc=f'PointOBB on {len(pts)} points')
    result = inferencer(image, points=pts, labels=labels)
    timings.add({k: v for k, v in result['timings'].items() if k == 'predict'}, 'pointobb ')
    with timings('draw'):
        canvas = image
        miou = None
        if data['boxes'] is not None and len(data['boxes']):
            canvas = draw_rotated_boxes(canvas, data['boxes'], color=GREY, thickness=1,
                                        show_heading=False)
            if result['num_boxes']:
                iou = box_iou_rotated(torch.as_tensor(result['boxes']),
                                      torch.as_tensor(data['boxes'])).max(dim=1).values
                miou = float(iou.mean())
        canvas = inferencer.draw(result, canvas, points=pts)
        lines = [f'PointOBB: {result["num_boxes"]} boxes for {len(pts)} points (white dots) '
                 f'on {data["name"]}',
                 'colour: predicted' + ('  grey: true boxes' if data['boxes'] is not None else '')]
        if miou is not None:
            lines.append(f'mean IoU with the best true box: {miou:.2f}')
        output = put_text_block(fit_width(canvas, 1600), lines, origin=TEXT_ORIGIN)
        out_dir = output_dir('boxes')
        file = _write_dota(osp.join(out_dir, 'pointobb_boxes_dota.txt'), result['polygons'],
                           result['class_names'])
    if data['boxes'] is not None and len(data['boxes']):
        names = sorted(set(data['class_names']))
        nms_source = dict(boxes=data['boxes'],
                          labels=np.array([names.index(n) for n in data['class_names']], np.int64),
                          class_names=names, source='true boxes')
    else:
        nms_source = dict(boxes=result['boxes'], labels=result['labels'],
                          class_names=list(MODEL_CLASSES), source='PointOBB boxes')
    with timings('nms'):
        nms = run_nms(image, nms_source['boxes'], nms_source['labels'],
                      nms_source['class_names'], iou_thr, nms_source['source'])
    counts = {}
    for n in result['class_names']:
        counts[n] = counts.get(n, 0) + 1
    parts = [f'**{result["num_boxes"]} oriented boxes** for {len(pts)} points on {data["name"]}'
             + (' (' + ', '.join(f'{v} {k}' for k, v in counts.items()) + ')' if counts else '')]
    if not result['success']:
        parts.append(f'PointOBB: {result["reason"]}')
    if miou is not None:
        parts.append(f'mIoU vs the true boxes (best match per predicted box): **{miou:.3f}**')
    if note:
        parts.append(f'points: {note}')
    parts += [model_note, nms['status'], timings.markdown()]
    return dict(output=output, nms=nms['picture'], status=status_ok('  \n'.join(parts)),
                file=file, points_text=points_text, result=result, miou=miou,
                nms_source=nms_source)


# -------------------------------------------------------------------------------------- UI
def input_view(sample: Optional[str], upload: Any = None) -> Tuple[str, np.ndarray, float,
                                                                   Optional[Dict], str]:
    """What the page shows when the sample or the upload changes.

    Returns:
        tuple: the preset points text, the picture to click on, its scale, the NMS source
        (true boxes; None without truth) and a status line.
    """
    data = load_input(sample, upload)
    text, note = sample_points_text(data)
    picture, scale = draw_points_view(data['image'], text)
    h, w = data['image'].shape[:2]
    msg = f'{data["name"]}: {w} x {h} px' + (
        f', {len(data["boxes"])} true boxes' if data['boxes'] is not None else
        ' - click on objects to add points (class first), then Run') + (
        f'; {note}' if note else '')
    src = None
    if data['boxes'] is not None and len(data['boxes']):
        names = sorted(set(data['class_names']))
        src = dict(boxes=data['boxes'], class_names=names, source='true boxes',
                   labels=np.array([names.index(n) for n in data['class_names']], np.int64))
    return text, picture, scale, src, status_ok(msg)


def build(gr) -> None:
    """The tab's components and events (inside the current ``gr.Tab``)."""
    try:  # the default sample's points and picture, shown before any event
        text0, view0, scale0, src0, status0 = input_view(DEFAULT_SAMPLE)
    except AppError as exc:
        text0, view0, scale0, src0, status0 = '', None, 1.0, None, f'**Error:** {exc}'
    with gr.Row():
        with gr.Column(scale=1):
            sample = gr.Dropdown(list(SAMPLES), value=DEFAULT_SAMPLE, label='Sample',
                                 elem_id='boxes-sample')
            upload = gr.File(label='Your aerial image (optional, instead of the sample; RGB, '
                             'grey or RGBA; it appears on the right to click on)',
                             type='filepath', elem_id='boxes-upload')
            cls = gr.Dropdown(list(MODEL_CLASSES), value=MODEL_CLASSES[1],
                              label='Class of the next clicked point', elem_id='boxes-class')
            points = gr.Textbox(label='Points: x,y,class a line (click the image to add; '
                                'editable; empty = the sample\'s points)', lines=6,
                                max_lines=14, value=text0, elem_id='boxes-points')
            with gr.Row():
                clear = gr.Button('Clear points', elem_id='boxes-clear')
                reset = gr.Button('Sample points', elem_id='boxes-reset')
            checkpoint = gr.Textbox(label=f'Checkpoint of {osp.basename(CONFIG)} (optional; '
                                    'empty: train the recipe here, once per process)',
                                    elem_id='boxes-checkpoint')
            iters = gr.Slider(5, MAX_TRAIN_ITERS, value=TRAIN_ITERS, step=5,
                              label='Training iterations without a checkpoint (more: better '
                              'boxes, slower first run; each count is cached)',
                              elem_id='boxes-iters')
            iou = gr.Slider(0.0, 1.0, value=0.3, step=0.05, label='Rotated NMS IoU threshold',
                            elem_id='boxes-iou')
            with gr.Row():
                run = gr.Button('Run PointOBB', variant='primary', elem_id='boxes-run')
                stop = gr.Button('Stop', elem_id='boxes-stop')
        with gr.Column(scale=2):
            view = gr.Image(label='Click to add a point of the selected class', format='png',
                            interactive=False, value=view0, elem_id='boxes-view')
            status = gr.Markdown(status0, elem_id='boxes-status')
            output = gr.Image(label='PointOBB boxes', format='png', interactive=False,
                              elem_id='boxes-output')
            nms_img = gr.Image(label='Rotated NMS: kept vs suppressed', format='png',
                               interactive=False, elem_id='boxes-nms')
            file = gr.File(label='Boxes (DOTA txt)', elem_id='boxes-download')
    scale_state = gr.State(scale0)
    nms_state = gr.State(src0)

    on_input = guarded(5, 4)(input_view)
    in_outputs = [points, view, scale_state, nms_state, status]
    sample.change(on_input, [sample, upload], in_outputs)
    upload.change(on_input, [sample, upload], in_outputs)

    @guarded(3, 2)
    def on_click(text, cls_name, sample_name, upload_value, scale, evt: gr.SelectData):
        data = load_input(sample_name, upload_value)
        x, y = (float(v) / (scale or 1.0) for v in evt.index[:2])
        text = add_point(text, x, y, cls_name, data['image'].shape)
        picture, _ = draw_points_view(data['image'], text)
        return text, picture, status_ok(f'point {len(text.splitlines())}: {x:.0f},{y:.0f} '
                                        f'{cls_name}')

    view.select(on_click, [points, cls, sample, upload, scale_state], [points, view, status])

    @guarded(2, 1)
    def on_points(text, sample_name, upload_value):
        data = load_input(sample_name, upload_value)
        parse_points_text(text, data['image'].shape)  # report a bad line now
        return draw_points_view(data['image'], text)[0], status_ok('points updated')

    points.blur(on_points, [points, sample, upload], [view, status])
    points.submit(on_points, [points, sample, upload], [view, status])

    @guarded(3, 2)
    def on_clear(sample_name, upload_value):
        data = load_input(sample_name, upload_value)
        return ('', draw_points_view(data['image'], '')[0],
                status_ok('points cleared - click on the image to add some'))

    clear.click(on_clear, [sample, upload], [points, view, status])
    reset.click(on_input, [sample, upload], in_outputs)

    def on_run(sample_name, upload_value, text, ckpt, thr, n_iters, progress=gr.Progress()):
        _STOP.clear()
        return guarded(5, 3)(_run_outputs)(sample_name, upload_value, text, ckpt, thr, n_iters,
                                           progress)

    def _run_outputs(sample_name, upload_value, text, ckpt, thr, n_iters, progress):
        res = run_boxes(sample_name, upload_value, text, ckpt, thr, iters=n_iters,
                        progress=progress, should_stop=_STOP.is_set)
        return res['output'], res['nms'], res['file'], res['status'], res['nms_source']

    run_event = run.click(on_run, [sample, upload, points, checkpoint, iou, iters],
                          [output, nms_img, file, status, nms_state])
    stop.click(lambda: (_STOP.set(), status_ok('stopped'))[1], None, [status],
               cancels=[run_event])

    @guarded(2, 1)
    def on_iou(sample_name, upload_value, thr, src):
        if not src:
            return None, status_ok('NMS: no boxes yet - run PointOBB on your image first')
        data = load_input(sample_name, upload_value)
        res = run_nms(data['image'], src['boxes'], src['labels'], src['class_names'], thr,
                      src['source'])
        return res['picture'], status_ok(res['status'])

    iou.change(on_iou, [sample, upload, iou, nms_state], [nms_img, status],
               trigger_mode='always_last', show_progress='hidden')
