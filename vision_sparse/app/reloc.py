"""Relocalization tab (FaVoR): build or load a landmark map, localise a query image.

Samples: the synthetic textured room (exact ground truth) and the 7-Scenes "stairs" samples
of the shared data. The map of a sample is built once with a *reduced* schedule (fewer
training steps and landmarks than the config, so that it takes about a minute on a CPU;
``tools/favor_build_map.py`` builds the full one), saved under the app folder and reused by
later runs and later app processes; a saved map file can be given instead. The query is
one of the sample's test views (true pose known: the error is shown) or an uploaded image
with its intrinsics ``fx, fy, cx, cy``.

Handlers (plain values in and out, no browser): :func:`prepare_map`, :func:`run_reloc`,
:func:`parse_intrinsics`, :func:`reloc_figure`. They call
:func:`vision_sparse.apis.build_landmark_map` and :class:`vision_sparse.apis.RelocInferencer`.
"""
import os
import os.path as osp
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .cancel import StopFlags, reporter, session_key
from .common import (AppError, Timings, app_root, fit_width, guarded, read_image, status_error,
                     status_ok)

TITLE = 'Relocalization (FaVoR)'

#: the default-sample run on a 2-core CPU, first time: rendering the synthetic room, the
#: reduced map build (tracking 16 frames, 30 training steps) and one query
BROWSER_CHECK = dict(timeout_s=420)

#: reduced map-building options of the app (the configs train 100 steps, up to 500 /
#: 1500 landmarks); ``supersample`` of the synthetic room's renderer (config: 2)
REDUCED = dict(iterations=30, max_landmarks=200, supersample=1)

#: the samples: label -> config (relative to the repository root), data and query count
SAMPLES: Dict[str, Dict[str, Any]] = {
    'Synthetic room (exact ground truth)': dict(
        key='synthetic', config='configs/favor/favor_xfeat-g3_100it_synthetic.py',
        data=None, num_queries=8),
    '7-Scenes stairs samples (6 mapping, 6 query frames)': dict(
        key='7scenes', config='configs/favor/favor_xfeat-g3_100it_7scenes-stairs.py',
        data=('relocalization', '7scenes_stairs', 'stairs'), num_queries=6,
        max_landmarks=400),
}
DEFAULT_SAMPLE = next(iter(SAMPLES))

_STOP = StopFlags()
_LOCK = threading.Lock()
#: (sample, map file) -> loaded map state (inferencer, how it was obtained)
_MAPS: Dict[Tuple[str, str], Dict[str, Any]] = {}
#: sample -> list of query frames (image, K, T_c2w, name)
_QUERIES: Dict[str, List[Dict[str, Any]]] = {}


# ------------------------------------------------------------------------------ samples
def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _sample(sample: Optional[str]) -> Dict[str, Any]:
    if sample not in SAMPLES:
        raise AppError(f'Sample: choose one of {", ".join(SAMPLES)} (got {sample!r})')
    spec = SAMPLES[sample]
    if spec['data'] is not None and _data_dir(spec) is None:
        raise AppError(f'Sample: {sample} needs the shared data folder '
                       f'({"/".join(spec["data"])} under ../shared/data or $VISION_SPARSE_DATA), '
                       'which is not there')
    return spec


def _data_dir(spec: Dict[str, Any]) -> Optional[str]:
    from vision_sparse.testing.data import shared_data_path
    path = shared_data_path(*spec['data']) if spec['data'] else None
    return None if path is None else str(path)


def available_samples() -> List[str]:
    """The sample labels whose data is on this machine (the synthetic room always is)."""
    return [label for label, spec in SAMPLES.items()
            if spec['data'] is None or _data_dir(spec) is not None]


def sample_config(sample: str):
    """The sample's FaVoR config (mmengine ``Config``) with the app's reduced build options
    and absolute data paths (the configs' paths are relative to the repository root).

    Raises:
        AppError: unknown sample, missing data or config file.
    """
    from vision_sparse.apis import load_config
    spec = _sample(sample)
    path = _repo_root() / spec['config']
    if not path.is_file():
        raise AppError(f'Sample: the config {spec["config"]} is not there (run the app from a '
                       'source checkout of vision_sparse)')
    cfg = load_config(str(path))
    trainer = cfg.model.mapping.setdefault('trainer', {})
    trainer['iterations'] = REDUCED['iterations']
    trainer['max_landmarks'] = spec.get('max_landmarks', REDUCED['max_landmarks'])
    if spec['key'] == 'synthetic':
        from vision_sparse.testing.data import shared_data_path
        root = shared_data_path()
        synthetic = dict(cfg.test_dataloader.dataset.synthetic)
        synthetic.update(supersample=REDUCED['supersample'],
                         texture_root=None if root is None else str(root))
        cfg.model.mapping.dataset.synthetic = synthetic
        cfg.test_dataloader.dataset.synthetic = dict(synthetic)
    else:
        cfg.model.mapping.dataset.data_root = _data_dir(spec)
        cfg.test_dataloader.dataset.data_root = _data_dir(spec)
    return cfg


def default_map_file(sample: str) -> str:
    """Where the app keeps the reduced map of ``sample`` (under ``$VISION_SPARSE_APP_DIR``
    or the system temp folder), named after the reduced options."""
    spec = _sample(sample)
    root = app_root()
    lm = spec.get('max_landmarks', REDUCED['max_landmarks'])
    name = f'{spec["key"]}_it{REDUCED["iterations"]}_lm{lm}'
    if spec['key'] == 'synthetic':
        from vision_sparse.testing.data import shared_data_path
        # the room's walls are the sample photos when the shared data is there, else
        # procedural textures: two different rooms, two map files
        textures = 'photos' if shared_data_path() is not None else 'procedural'
        name += f'_ss{REDUCED["supersample"]}_{textures}'
    return osp.join(root, 'reloc_maps', name + '.pth')


def _queries_file(map_file: str) -> str:
    return osp.splitext(map_file)[0] + '.queries.npz'


def sample_queries(sample: str, map_file: Optional[str] = None) -> List[Dict[str, Any]]:
    """The sample's query frames (``image``, ``K``, ``T_c2w``, ``name``), cached per
    process; read from the file saved next to the app's map when there is one (the
    synthetic room is rendered only once)."""
    if sample in _QUERIES:
        return _QUERIES[sample]
    cached = _queries_file(map_file or default_map_file(sample))
    frames: List[Dict[str, Any]] = []
    if osp.isfile(cached):
        try:
            with np.load(cached) as data:
                frames = [dict(image=data['images'][i], K=data['K'][i], T_c2w=data['T_c2w'][i],
                               name=str(data['names'][i])) for i in range(len(data['names']))]
        except (OSError, KeyError, ValueError):
            frames = []
    if not frames:
        from mmengine.registry import DefaultScope
        from vision_sparse.registry import DATASETS
        from vision_sparse.utils import register_all_modules
        cfg = sample_config(sample)
        register_all_modules(init_default_scope=False)
        test_cfg = cfg.test_dataloader.dataset.to_dict()
        test_cfg['lazy_init'] = False
        with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'vision_sparse')):
            dataset = DATASETS.build(test_cfg)
        frames = [dataset.load_frame(i) for i in range(len(dataset))]
        frames = [dict(image=f['image'], K=f['K'], T_c2w=f['T_c2w'], name=f['name'])
                  for f in frames]
        if map_file is None or osp.abspath(map_file) == osp.abspath(default_map_file(sample)):
            _save_queries(cached, frames)
    _QUERIES[sample] = frames
    return frames


def _save_queries(path: str, frames: List[Dict[str, Any]]) -> None:
    if not frames or len({f['image'].shape for f in frames}) != 1:
        return
    os.makedirs(osp.dirname(path), exist_ok=True)
    np.savez_compressed(path, images=np.stack([f['image'] for f in frames]),
                        K=np.stack([f['K'] for f in frames]),
                        T_c2w=np.stack([f['T_c2w'] for f in frames]),
                        names=np.array([f['name'] for f in frames]))


def query_labels(sample: str) -> List[str]:
    """Dropdown labels of the sample's queries (``query 1`` ... without loading them)."""
    n = SAMPLES[sample]['num_queries'] if sample in SAMPLES else 1
    return [f'query {i + 1}' for i in range(n)]


def _query_index(query: Any, sample: str) -> int:
    labels = query_labels(sample)
    if query is None or query == '':
        return 0
    if isinstance(query, str) and query in labels:
        return labels.index(query)
    try:
        index = int(query)
    except (TypeError, ValueError):
        raise AppError(f'Query: choose one of {", ".join(labels)} (got {query!r})') from None
    if not 0 <= index < len(labels):
        raise AppError(f'Query: index {index} out of range 0..{len(labels) - 1}')
    return index


# ------------------------------------------------------------------------------ the map
def prepare_map(sample: str = DEFAULT_SAMPLE, map_file: Optional[str] = None,
                rebuild: bool = False, progress: Optional[Callable[[float, str], None]] = None
                ) -> Dict[str, Any]:
    """The sample's map as a :class:`~vision_sparse.apis.RelocInferencer`: cached in this
    process, else loaded from ``map_file`` (or the app's saved map), else built (reduced).

    Args:
        sample (str): a :data:`SAMPLES` label.
        map_file (str, optional): a saved map of this sample's config to load (must exist).
        rebuild (bool): build the app's map again even if it is saved.
        progress (callable, optional): ``progress(fraction, text)`` while building; raise
            from it to cancel.

    Returns:
        dict: ``inferencer``, ``map_file``, ``how`` (``'cached'``, ``'loaded'`` or
        ``'built'``), ``seconds`` (this call) and ``build_seconds`` (the build, if any).

    Raises:
        AppError: unknown sample / missing data, a map file that does not exist or does
            not fit the sample's config, or a build that failed.
    """
    from vision_sparse.apis import RelocInferencer, build_landmark_map
    spec = _sample(sample)
    user_file = str(map_file).strip() if map_file else ''
    if user_file:
        user_file = osp.abspath(osp.expanduser(user_file))
        if not osp.isfile(user_file):
            raise AppError(f'Map file: {user_file} does not exist (leave it empty to build '
                           'the reduced map of the sample)')
        path = user_file
    else:
        path = default_map_file(sample)
    key = (sample, path)
    t0 = time.perf_counter()
    with _LOCK:
        if key in _MAPS and not (rebuild and not user_file):
            state = dict(_MAPS[key], how='cached')
            state['seconds'] = time.perf_counter() - t0
            return state
    cfg = sample_config(sample)
    build_seconds = None
    if not osp.isfile(path) or (rebuild and not user_file):
        tb = time.perf_counter()
        try:
            build_landmark_map(cfg, path, progress=progress)
        except AppError:
            raise
        except ValueError as exc:
            raise AppError(f'Map: building the {spec["key"]} map failed: {exc}') from exc
        build_seconds = time.perf_counter() - tb
        how = 'built'
        _QUERIES.pop(sample, None)
    else:
        how = 'loaded'
    try:
        inferencer = RelocInferencer(cfg, map_file=path)
    except (ValueError, KeyError, RuntimeError) as exc:
        field = 'Map file' if user_file else 'Map'
        raise AppError(f'{field}: {osp.basename(path)} cannot be used with the '
                       f'{spec["key"]} config: {exc}') from exc
    state = dict(inferencer=inferencer, map_file=path, how=how, build_seconds=build_seconds)
    with _LOCK:
        _MAPS[key] = state
    return dict(state, seconds=time.perf_counter() - t0)


def map_summary(state: Dict[str, Any]) -> str:
    """One status line about the map (size, how it was obtained, reduced build)."""
    inf = state['inferencer']
    lmap = inf.landmark_map
    how = dict(cached='already in memory (cached in this app process)',
               loaded='loaded from the saved file',
               built=f'built now in {state.get("build_seconds") or 0:.0f} s')[state['how']]
    reduced = (f'reduced build: {REDUCED["iterations"]} training steps per landmark, '
               'fewer landmarks than the config; `tools/favor_build_map.py` builds the full map')
    psnr = lmap.psnr[np.isfinite(lmap.psnr.numpy())]
    psnr_txt = f', median PSNR {float(psnr.median()):.1f} dB' if len(psnr) else ''
    return (f'**Map:** {len(lmap)} landmarks, {len(inf.mapping_poses)} mapping images'
            f'{psnr_txt}; {how} (`{state["map_file"]}`). The app\'s own maps are a {reduced}.')


# ------------------------------------------------------------------------------ query
def parse_intrinsics(text: Optional[str], default: Optional[np.ndarray] = None,
                     image_size: Optional[Sequence[int]] = None) -> np.ndarray:
    """``"fx, fy, cx, cy"`` (pixels) as a ``(3, 3)`` K; empty text gives ``default``.

    Raises:
        AppError: not four positive finite numbers, or a principal point outside the image
            (``image_size`` = ``(W, H)``), or no text and no default.
    """
    field = 'Intrinsics (fx, fy, cx, cy)'
    if text is None or not str(text).strip():
        if default is None:
            raise AppError(f'{field}: needed for an uploaded query - give the focal lengths '
                           'and principal point in pixels, e.g. "525, 525, 320, 240"')
        return np.asarray(default, np.float64)
    parts = [p for p in str(text).replace(';', ',').replace(',', ' ').split() if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise AppError(f'{field}: expected four numbers like "525, 525, 320, 240", got '
                       f'{text!r}') from None
    if len(values) != 4 or not np.all(np.isfinite(values)):
        raise AppError(f'{field}: expected four finite numbers fx, fy, cx, cy (pixels), got '
                       f'{len(values)} value(s)')
    fx, fy, cx, cy = values
    if fx <= 0 or fy <= 0:
        raise AppError(f'{field}: focal lengths must be > 0 pixels, got fx={fx:g}, fy={fy:g}')
    if image_size is not None:
        w, h = image_size
        if not (0 <= cx <= w and 0 <= cy <= h):
            raise AppError(f'{field}: the principal point ({cx:g}, {cy:g}) is outside the '
                           f'{w} x {h} image')
    return np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float64)


def intrinsics_text(K: np.ndarray) -> str:
    """``"fx, fy, cx, cy"`` of a K."""
    return ', '.join(f'{v:g}' for v in (K[0, 0], K[1, 1], K[0, 2], K[1, 2]))


def default_intrinsics(sample: str) -> str:
    """The intrinsics text of the sample's queries (without rendering anything)."""
    spec = SAMPLES.get(sample, {})
    if spec.get('key') == '7scenes':
        return '525, 525, 320, 240'
    w, h = 320, 240  # the synthetic room's query size; focal = width
    return intrinsics_text(np.array([[w, 0, (w - 1) / 2], [0, w, (h - 1) / 2], [0, 0, 1]]))


def _rotation_text(T: np.ndarray) -> str:
    R = T[:3, :3]
    angle = np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))
    axis = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    norm = np.linalg.norm(axis)
    axis = axis / norm if norm > 1e-9 else np.array([0.0, 0.0, 1.0])
    return f'{angle:.1f} deg about ({axis[0]:+.2f}, {axis[1]:+.2f}, {axis[2]:+.2f})'


def _pose_line(T: np.ndarray) -> str:
    t = T[:3, 3]
    return f'position ({t[0]:+.3f}, {t[1]:+.3f}, {t[2]:+.3f}) m, rotation {_rotation_text(T)}'


def _scaled(result: Dict[str, Any], K: np.ndarray, image: np.ndarray, min_width: int = 640
            ) -> Tuple[Dict[str, Any], np.ndarray, np.ndarray]:
    """Result, K and image upscaled so that the picture is at least ``min_width`` wide."""
    s = max(1, int(np.ceil(min_width / image.shape[1])))
    if s == 1:
        return result, K, image
    big = cv2.resize(image, (image.shape[1] * s, image.shape[0] * s),
                     interpolation=cv2.INTER_LINEAR)
    res = dict(result, keypoints=(result['keypoints'] + 0.5) * s - 0.5)
    Ks = K.copy()
    Ks[:2] *= s
    Ks[:2, 2] += (s - 1) / 2
    return res, Ks, big


def run_reloc(sample: str = DEFAULT_SAMPLE, query: Any = 0, upload: Any = None,
              intrinsics: Optional[str] = None, map_file: Optional[str] = None,
              progress: Optional[Callable[[float, str], None]] = None) -> Dict[str, Any]:
    """Localise a query in the sample's map (built / loaded / cached by :func:`prepare_map`).

    Args:
        sample (str): a :data:`SAMPLES` label.
        query (int | str): index or label of the sample query (ignored with ``upload``).
        upload: an uploaded query image (path or array); its pose is unknown.
        intrinsics (str, optional): ``"fx, fy, cx, cy"`` of an uploaded query (default the
            sample's queries'); ignored for sample queries (their own K is used).
        map_file (str, optional): a saved map to load instead of the app's own.
        progress (callable, optional): ``progress(fraction, text)``; raise to cancel.

    Returns:
        dict: ``image`` (RGB uint8 picture: the query, matches, projected landmarks),
        ``figure`` (plotly figure: landmarks and cameras in 3-D), ``status`` (markdown),
        ``result`` (the :class:`~vision_sparse.apis.RelocInferencer` result), ``T_gt``
        (``(4, 4)`` or None), ``error`` (``(metres, degrees)`` or None), ``timings``.

    Raises:
        AppError: bad sample / query / upload / intrinsics / map file.
    """
    from vision_sparse.evaluation.functional.relocalization import absolute_pose_error
    from vision_sparse.visualization import put_text_block
    report = progress or (lambda fraction, text='': None)
    timings = Timings()
    _sample(sample)  # an unknown sample is refused before any long work
    # check the cheap inputs before any long work
    upload_img = None
    K_user = None
    if upload is not None:
        upload_img = read_image(upload, 'Query image (upload)')
        default_K = parse_intrinsics(default_intrinsics(sample))
        K_user = parse_intrinsics(intrinsics, default_K, upload_img.shape[1::-1])
    else:
        index = _query_index(query, sample)
    with timings('map'):
        state = prepare_map(sample, map_file, progress=lambda f, t='': report(0.9 * f, t))
    inf = state['inferencer']
    report(0.92, 'localizing the query')
    if upload_img is not None:
        image, K, T_gt = upload_img, K_user, None
        name = 'uploaded query'
        k_note = ('your intrinsics' if intrinsics and str(intrinsics).strip()
                  else "the sample queries' intrinsics (give yours if they differ)")
    else:
        with timings('query'):
            frame = sample_queries(sample, map_file or None)[index]
        image, K, T_gt, name = frame['image'], frame['K'], frame['T_c2w'], frame['name']
        k_note = "the sample's intrinsics"
    with timings('relocalize'):
        result = inf(image, K)
    with timings('draw'):
        res_big, K_big, img_big = _scaled(result, K, image)
        picture = inf.draw(res_big, img_big, K=K_big)
        error = None
        lines = [f'{name}: ' + ('localized' if result['success'] else 'NOT localized')]
        if T_gt is not None:
            e0 = absolute_pose_error(result['T_init'], T_gt)
            lines.append(f'initial ({result["init_name"]}): {e0[0] * 100:.1f} cm, {e0[1]:.2f} deg')
            if result['success']:
                error = absolute_pose_error(result['T_c2w'], T_gt)
                lines.append(f'estimate: {error[0] * 100:.2f} cm, {error[1]:.3f} deg')
        h = picture.shape[0]
        picture = put_text_block(picture, lines, origin=(5, max(5, h - 22 * len(lines) - 5)),
                                 font_scale=0.5)
        figure = reloc_figure(inf, result, T_gt)
    report(1.0, 'done')
    md = [map_summary(state), '',
          f'**Query:** {name}, {image.shape[1]} x {image.shape[0]} px, K = '
          f'`{intrinsics_text(K)}` ({k_note}).']
    if result['success']:
        md.append(f'**Estimated pose** (camera-to-world): {_pose_line(result["T_c2w"])}.')
    else:
        md.append(f'**Not localized:** {result["reason"]}.')
    md.append(f'Initial pose: mapping image `{result["init_name"]}` (global retrieval).')
    if T_gt is not None:
        md.append(f'**True pose:** {_pose_line(T_gt)}.')
        e0 = absolute_pose_error(result['T_init'], T_gt)
        md.append(f'**Pose error:** initial {e0[0] * 100:.1f} cm / {e0[1]:.2f} deg'
                  + (f' -> estimate **{error[0] * 100:.2f} cm / {error[1]:.3f} deg**'
                     if error else ''))
    else:
        md.append('No ground truth for an uploaded query: no error is computed.')
    its = result.get('iterations') or []
    if its:
        md.append('Iterations (PnP inliers / matches): '
                  + ', '.join(f'{it["num_inliers"]}/{it["num_matches"]}' for it in its))
    md.append('Picture: green = PnP inliers, red = outliers, yellow / blue dots = landmarks '
              'seen from the initial / estimated pose. 3-D plot: grey = landmarks, '
              'blue = mapping cameras, orange = initial, red = estimate, green = truth.')
    md.append(f'Time: {timings.markdown()}')
    return dict(image=fit_width(picture), figure=figure, status=status_ok('\n\n'.join(md)),
                result=result, T_gt=T_gt, error=error, timings=dict(timings.stages))


# ------------------------------------------------------------------------------ 3-D plot
def _camera_lines(T: np.ndarray, size: float) -> np.ndarray:
    """Polyline (with NaN breaks) of a small camera pyramid at pose ``T`` (z forward)."""
    c = T[:3, 3]
    R = T[:3, :3]
    corners = [c + R @ np.array([x * 0.6, y * 0.45, 1.0]) * size
               for x, y in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    nan = np.full(3, np.nan)
    pts = []
    for q in corners:
        pts += [c, q, nan]
    pts += corners + [corners[0], nan]
    return np.array(pts)


def reloc_figure(inferencer, result: Dict[str, Any], T_gt: Optional[np.ndarray] = None,
                 max_landmarks: int = 3000):
    """A plotly 3-D figure: landmarks (grey, matched inliers green), mapping cameras (blue),
    the initial (orange), estimated (red) and true (green) query cameras."""
    import plotly.graph_objects as go
    centers = inferencer.landmark_map.centers.numpy()
    if len(centers) > max_landmarks:
        centers = centers[np.linspace(0, len(centers) - 1, max_landmarks).astype(int)]
    poses = inferencer.mapping_poses
    allp = np.concatenate([centers.reshape(-1, 3), poses[:, :3, 3].reshape(-1, 3),
                           np.zeros((1, 3))])
    size = 0.06 * float(np.ptp(allp, axis=0).max() or 1.0)
    fig = go.Figure()
    fig.add_trace(go.Scatter3d(x=centers[:, 0], y=centers[:, 1], z=centers[:, 2], mode='markers',
                               marker=dict(size=2, color='rgb(150,150,150)'), name='landmarks'))
    inl = result['landmarks'][result['inliers']] if len(result['landmarks']) else np.zeros((0, 3))
    if len(inl):
        fig.add_trace(go.Scatter3d(x=inl[:, 0], y=inl[:, 1], z=inl[:, 2], mode='markers',
                                   marker=dict(size=3, color='rgb(0,170,0)'),
                                   name='matched landmarks (inliers)'))

    def camera(T, color, name, width=4):
        line = _camera_lines(np.asarray(T, np.float64), size)
        fig.add_trace(go.Scatter3d(x=line[:, 0], y=line[:, 1], z=line[:, 2], mode='lines',
                                   line=dict(color=color, width=width), name=name,
                                   connectgaps=False))

    if len(poses):
        lines = np.concatenate([_camera_lines(T, size * 0.8) for T in poses])
        fig.add_trace(go.Scatter3d(x=lines[:, 0], y=lines[:, 1], z=lines[:, 2], mode='lines',
                                   line=dict(color='rgb(60,110,220)', width=2),
                                   name='mapping cameras'))
    camera(result['T_init'], 'rgb(240,160,0)', 'initial (retrieved) pose')
    if np.shape(result['T_c2w']) == (4, 4):
        camera(result['T_c2w'], 'rgb(220,0,0)', 'estimated pose', width=6)
    if T_gt is not None:
        camera(T_gt, 'rgb(0,170,0)', 'true pose')
    fig.update_layout(scene=dict(aspectmode='data', xaxis_title='x (m)', yaxis_title='y (m)',
                                 zaxis_title='z (m)'),
                      margin=dict(l=0, r=0, t=30, b=0), height=520,
                      title='landmarks and cameras (drag to rotate)',
                      legend=dict(orientation='h', y=-0.02))
    return fig


# ------------------------------------------------------------------------------ UI
def build(gr) -> None:
    """The tab's components and events (inside the current ``gr.Tab``)."""
    samples = available_samples()
    with gr.Row():
        with gr.Column(scale=1):
            gr.Markdown('Localise a query image in a FaVoR landmark map. The first run of a '
                        'sample builds its map with a **reduced** schedule (about a minute or '
                        'more on a CPU; progress below) and saves it for later runs.')
            sample = gr.Dropdown(samples, value=DEFAULT_SAMPLE, label='Sample',
                                 elem_id='reloc-sample')
            query = gr.Dropdown(query_labels(DEFAULT_SAMPLE), value='query 1',
                                label='Sample query (true pose known)', elem_id='reloc-query')
            upload = gr.File(label='Or upload a query image (pose unknown; PNG, JPEG, ...)',
                             type='filepath', elem_id='reloc-upload')
            intrinsics = gr.Textbox(value=default_intrinsics(DEFAULT_SAMPLE),
                                    label='Intrinsics of an uploaded query: fx, fy, cx, cy (px)',
                                    elem_id='reloc-intrinsics')
            map_file = gr.Textbox(value='', label='Saved map file (optional, .pth of this '
                                  "sample's config; empty: the app's reduced map)",
                                  elem_id='reloc-map-file')
            with gr.Row():
                run = gr.Button('Localize', variant='primary', elem_id='reloc-run')
                build_btn = gr.Button('Build / load map', elem_id='reloc-build')
                rebuild = gr.Button('Rebuild map', elem_id='reloc-rebuild')
                stop = gr.Button('Stop', elem_id='reloc-stop')
            status = gr.Markdown('Press **Localize**.', elem_id='reloc-status')
        with gr.Column(scale=2):
            output = gr.Image(label='Query: matches and projected landmarks', format='png',
                              interactive=False, elem_id='reloc-output')
            plot = gr.Plot(label='Landmarks and cameras (3-D)', elem_id='reloc-plot')

    def on_sample(name):
        labels = query_labels(name) if name in SAMPLES else ['query 1']
        return gr.update(choices=labels, value=labels[0]), default_intrinsics(name)

    sample.change(on_sample, sample, [query, intrinsics])

    @guarded(3, 2)
    def on_run(name, q, up, k_text, mfile, request: gr.Request, progress=gr.Progress()):
        stop_event = _STOP.start(session_key(request))
        out = run_reloc(name, q, up, k_text, mfile, progress=reporter(progress, stop_event))
        return out['image'], out['figure'], out['status']

    @guarded(1, 0)
    def on_build(name, mfile, request: gr.Request, progress=gr.Progress()):
        return (_build_status(name, mfile, False, reporter(progress, _STOP.start(
            session_key(request)))),)

    @guarded(1, 0)
    def on_rebuild(name, request: gr.Request, progress=gr.Progress()):
        return (_build_status(name, '', True, reporter(progress, _STOP.start(
            session_key(request)))),)

    def on_stop(request: gr.Request):
        _STOP.stop(session_key(request))
        return status_error('stopped with the Stop button')

    run_event = run.click(on_run, [sample, query, upload, intrinsics, map_file],
                          [output, plot, status])
    build_event = build_btn.click(on_build, [sample, map_file], [status])
    rebuild_event = rebuild.click(on_rebuild, [sample], [status])
    stop.click(on_stop, None, [status], cancels=[run_event, build_event, rebuild_event])


def _build_status(sample: str, map_file: Optional[str], rebuild: bool,
                  progress: Callable[[float, str], None]) -> str:
    """Status markdown after building / loading the map (the Build buttons)."""
    state = prepare_map(sample, map_file, rebuild=rebuild, progress=progress)
    return status_ok(map_summary(state) + f'\n\nTime: {state["seconds"]:.1f} s. '
                     'Now press **Localize**.')


__all__ = ['TITLE', 'BROWSER_CHECK', 'SAMPLES', 'REDUCED', 'build', 'prepare_map', 'run_reloc',
           'parse_intrinsics', 'reloc_figure', 'sample_config', 'sample_queries',
           'default_map_file', 'available_samples', 'query_labels', 'default_intrinsics',
           'map_summary']
