"""Matching attention tab (FramePainter): dense correspondences of an image and its warp.

An image (a held-out ScanNet sample photo, a procedural texture or an upload) is warped
with a known smooth warp (shift, rotation + scale, or affine + sinusoidal wobble, of a
chosen strength), so the true correspondence of every pixel is exact. The matching
attention of ``configs/framepainter`` (:class:`vision_sparse.apis.AttentionInferencer`)
matches every target token to a source token; the page shows the matches (green: within
one token of the truth, red: wrong), the accuracy, and the attention map of one target
pixel (clicked, or typed in ``attention-x`` / ``attention-y``) over the source.

No trained weights ship with the package: the first run trains the attention briefly
(:meth:`AttentionInferencer.fit`, about a minute on a CPU), saves the weights under the
app folder and reuses them; a checkpoint path can be given instead.
"""
import os.path as osp
import threading
import time
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .cancel import StopFlags, reporter, session_key
from .common import (AppError, Timings, app_root, config_file, guarded, read_image, read_number,
                     status_error, status_ok)

TITLE = 'Matching attention (FramePainter)'

#: the default-sample run on a 2-core CPU, first time: model build and the brief training
BROWSER_CHECK = dict(timeout_s=300)

CONFIG = 'configs/framepainter/framepainter_matching-attention_300it_synthetic-warp.py'
#: the brief training of the app (the config trains 300 steps of 4 pairs)
TRAIN_STEPS = 120
TRAIN_BATCH = 2
#: pictures are drawn at this multiple of the working size (192 x 256)
ZOOM = 2

#: sample images: label -> sample_photo index (held out of training: photos 25-30) or None
SAMPLES: Dict[str, Optional[int]] = {
    'ScanNet photo 28 (not seen in training)': 27,
    'ScanNet photo 25 (not seen in training)': 24,
    'Procedural texture': None,
}
DEFAULT_SAMPLE = next(iter(SAMPLES))

#: warp presets: label -> function of the strength in [0, 1] -> warp_grid arguments
WARPS: Dict[str, Callable[[float], Dict[str, Any]]] = {
    'shift': lambda s: dict(shift=(0.3 * s, 0.2 * s)),
    'rotate + scale': lambda s: dict(rotation=25.0 * s, scale=1.0 - 0.2 * s),
    'affine + wobble': lambda s: dict(rotation=10.0 * s, scale=1.0 + 0.1 * s,
                                      shift=(0.08 * s, -0.05 * s), wobble=0.04 * s,
                                      wobble_freq=(1.5, 1.0), wobble_phase=(0.5, 1.2)),
}
DEFAULT_WARP = 'affine + wobble'

_STOP = StopFlags()
_LOCK = threading.Lock()
#: checkpoint key -> (inferencer, how, seconds)
_MODELS: Dict[str, Dict[str, Any]] = {}


# ------------------------------------------------------------------------------ model
def _config_path() -> str:
    return config_file(CONFIG, 'Checkpoint')


def default_checkpoint() -> str:
    """Where the app keeps its briefly trained weights (under ``$VISION_SPARSE_APP_DIR`` or
    the system temp folder)."""
    return app_root('attention', f'fit_{TRAIN_STEPS}x{TRAIN_BATCH}.pth')


def get_inferencer(checkpoint: Optional[str] = None,
                   progress: Optional[Callable[[float, str], None]] = None) -> Dict[str, Any]:
    """The :class:`~vision_sparse.apis.AttentionInferencer`: cached in this process, else
    loaded from ``checkpoint`` (or the app's saved weights), else trained briefly.

    Args:
        checkpoint (str, optional): trained weights of the framepainter config.
        progress (callable, optional): ``progress(fraction, text)`` while training; raise
            from it to cancel.

    Returns:
        dict: ``inferencer``, ``checkpoint`` (path), ``how`` (``'cached'``, ``'loaded'``,
        ``'trained'``), ``train_seconds``, ``accuracy`` (last training steps, or None).

    Raises:
        AppError: a checkpoint that does not exist or does not fit the config.
    """
    from vision_sparse.apis import AttentionInferencer
    user = str(checkpoint).strip() if checkpoint else ''
    path = osp.abspath(osp.expanduser(user)) if user else default_checkpoint()
    if user and not osp.isfile(path):
        raise AppError(f'Checkpoint: {path} does not exist (leave it empty to train briefly)')
    with _LOCK:
        if path in _MODELS:
            return dict(_MODELS[path], how='cached')
    config = _config_path()
    state: Dict[str, Any] = dict(checkpoint=path, train_seconds=None, accuracy=None)
    if osp.isfile(path):
        try:
            inf = AttentionInferencer(config, checkpoint=path)
        except (ValueError, RuntimeError, KeyError, OSError) as exc:
            raise AppError(f'Checkpoint: {osp.basename(path)} does not fit the framepainter '
                           f'config: {str(exc)[:300]}') from exc
        state.update(inferencer=inf, how='loaded')
    else:
        from vision_sparse.testing.data import shared_data_path
        from vision_sparse.testing.synthetic_pairs import SCANNET_SAMPLE_DIR
        # the same initial q / k projections in every process (a reproducible brief
        # training), without touching the global random state of the server
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            torch.manual_seed(0)
            warnings.simplefilter('ignore', UserWarning)  # "untrained": trained just below
            inf = AttentionInferencer(config)
        image_dir = shared_data_path(*SCANNET_SAMPLE_DIR)
        report = progress or (lambda fraction, text='': None)
        from vision_sparse.utils import torch_threads
        t0 = time.perf_counter()
        with torch_threads(1):  # the fastest for these small matrices on a busy CPU
            history = inf.fit(
                steps=TRAIN_STEPS, batch_size=TRAIN_BATCH,
                dataset=dict(image_dir=None if image_dir is None else str(image_dir)),
                progress=lambda step, total, loss: report(
                    step / total, f'training the matching attention: step {step}/{total}, '
                    f'loss {loss:.2f}'))
        inf.save_checkpoint(path)
        acc = history['accuracy'][-10:]
        state.update(inferencer=inf, how='trained', train_seconds=time.perf_counter() - t0,
                     accuracy=float(np.mean(acc)) if acc else None)
    with _LOCK:
        _MODELS[path] = state
    return dict(state)


def _model_line(state: Dict[str, Any]) -> str:
    how = dict(cached='already in memory (cached in this app process)',
               loaded='loaded from the saved checkpoint',
               trained=f'trained now in {state.get("train_seconds") or 0:.0f} s')[state['how']]
    acc = state.get('accuracy')
    acc_txt = f', training accuracy {acc * 100:.0f} %' if acc is not None else ''
    return (f'**Model:** matching attention {how} (`{state["checkpoint"]}`){acc_txt}. The '
            f"app's own weights are a brief training ({TRAIN_STEPS} steps of {TRAIN_BATCH} "
            'warped pairs); `tools/train.py` trains the config fully (300 steps of 4).')


# ------------------------------------------------------------------------------ inputs
def load_source(sample: Optional[str] = DEFAULT_SAMPLE, upload: Any = None) -> np.ndarray:
    """The source image, RGB uint8 (an upload wins over the sample).

    Raises:
        AppError: unknown sample, or an upload that is not a usable image.
    """
    if upload is not None:
        return read_image(upload, 'Image (upload)')
    if sample not in SAMPLES:
        raise AppError(f'Sample: choose one of {", ".join(SAMPLES)} (got {sample!r})')
    from vision_sparse.testing.synthetic_pairs import procedural_texture, sample_photo
    index = SAMPLES[sample]
    if index is None:
        return procedural_texture((640, 480), seed=3)
    return sample_photo(index)


def _fit_crop(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """Centre crop to the aspect of ``size`` (H, W), then resize to it."""
    h, w = image.shape[:2]
    th, tw = size
    if w * th > h * tw:  # too wide
        cw = max(1, round(h * tw / th))
        image = image[:, (w - cw) // 2:(w - cw) // 2 + cw]
    else:
        ch = max(1, round(w * th / tw))
        image = image[(h - ch) // 2:(h - ch) // 2 + ch]
    shrink = image.shape[0] > th
    return cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def warp_arguments(warp: str, strength: float) -> Dict[str, Any]:
    """The :func:`~vision_sparse.datasets.warp_grid` arguments of a preset.

    Raises:
        AppError: unknown preset or a strength outside [0, 1].
    """
    if warp not in WARPS:
        raise AppError(f'Warp: choose one of {", ".join(WARPS)} (got {warp!r})')
    return WARPS[warp](read_number(strength, 'Strength', 0.0, 1.0))


def make_pair(image: np.ndarray, warp: str, strength: float, size: Tuple[int, int],
              zoom: int = 1) -> Dict[str, Any]:
    """Source (``image`` cropped / resized to ``size``) and its warp, at ``zoom`` x ``size``.

    Returns:
        dict: ``source``, ``target`` ``(zH, zW, 3)`` uint8 and ``grid`` ``(1, zH, zW, 2)``
        (``target(p) = source(grid(p))``, normalised, ``align_corners=False``).
    """
    from vision_sparse.datasets import warp_grid
    args = warp_arguments(warp, strength)
    big = (size[0] * zoom, size[1] * zoom)
    src = _fit_crop(image, big)
    grid = warp_grid(big, **args)
    t = torch.from_numpy(src).permute(2, 0, 1)[None].float()
    tgt = F.grid_sample(t, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
    tgt = tgt[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    return dict(source=src, target=np.ascontiguousarray(tgt), grid=grid)


# ------------------------------------------------------------------------------ run
def run_attention(sample: Optional[str] = DEFAULT_SAMPLE, upload: Any = None,
                  warp: str = DEFAULT_WARP, strength: float = 0.5,
                  x: Optional[float] = None, y: Optional[float] = None,
                  checkpoint: Optional[str] = None,
                  progress: Optional[Callable[[float, str], None]] = None) -> Dict[str, Any]:
    """Match an image to its warp with the matching attention; score it against the truth.

    Args:
        sample (str): a :data:`SAMPLES` label (ignored with ``upload``).
        upload: an uploaded image (path or array).
        warp (str): a :data:`WARPS` preset; ``strength`` in [0, 1] scales it.
        x, y (float, optional): a pixel of the target picture (the warped image as shown,
            ``ZOOM`` x the working size) whose attention map to draw; default the centre.
        checkpoint (str, optional): trained weights (default: the app's brief training).
        progress (callable, optional): ``progress(fraction, text)``; raise to cancel.

    Returns:
        dict: ``image`` (source | target with the matches), ``target`` (the target picture
        with the chosen pixel), ``map`` (attention heat map over the source), ``status``,
        ``pixel_status``, ``accuracy`` (fraction of valid target tokens matched within one
        token), ``epe`` (mean end-point error, working pixels), ``x``, ``y`` (the pixel
        used) and ``state`` (what :func:`attention_at_pixel` needs).

    Raises:
        AppError: bad sample / upload / warp / strength / pixel / checkpoint.
    """
    from vision_sparse.models.losses import match_accuracy, matches_from_grid
    report = progress or (lambda fraction, text='': None)
    timings = Timings()
    with timings('load'):
        image = load_source(sample, upload)
        warp_arguments(warp, strength)  # checked before the long work
    with timings('model'):
        model = get_inferencer(checkpoint, progress=lambda f, t='': report(0.9 * f, t))
    inf = model['inferencer']
    size = inf.image_size or (192, 256)
    p = inf.patch_size
    report(0.92, 'matching')
    with timings('warp'):
        small = make_pair(image, warp, strength, size)
        big = make_pair(image, warp, strength, size, zoom=ZOOM)
    result = inf(small['source'], small['target'], return_attention=True)
    timings.add({'match (API)': result['timings'].get('match')})
    with timings('score'):
        hw = tuple(int(v) for v in result['token_hw'])
        target, valid, coords = matches_from_grid(small['grid'], hw)
        pred_tok = torch.from_numpy((result['kpts0'] - (p - 1) / 2) / p).float()
        accuracy = float(match_accuracy(pred_tok, target[0], valid[0], hw))
        t = target[0].clamp(min=0)
        true_tok = torch.stack([t % hw[1], t // hw[1]], -1).float()
        ok = (((pred_tok - true_tok).abs().amax(-1) <= 1) & valid[0]).numpy()
        gt_px = coords[0].numpy() * p + (p - 1) / 2
        val = valid[0].numpy()
        epe = float(np.linalg.norm(result['kpts0'] - gt_px, axis=-1)[val].mean()) if val.any() \
            else float('nan')
    with timings('draw'):
        picture = _correspondences(big['source'], big['target'], result, ok, val, accuracy, p)
    state = dict(result=result, gt_px=gt_px, valid=val, ok=ok, source=big['source'],
                 target=big['target'], zoom=ZOOM, working=size)
    W, H = size[1] * ZOOM, size[0] * ZOOM
    x = W / 2 if x is None else x
    y = H / 2 if y is None else y
    pixel = attention_at_pixel(state, x, y)
    report(1.0, 'done')
    md = [_model_line(model), '',
          f'**Pair:** {"uploaded image" if upload is not None else sample}, warp '
          f'"{warp}" at strength {float(strength):.2f}; working size {size[1]} x {size[0]} px '
          f'= {hw[1]} x {hw[0]} tokens of {p} px, {int(val.sum())} with a true match '
          '(the rest left the source).',
          f'**Accuracy:** {accuracy * 100:.1f} % of the target tokens matched within one token '
          f'of the truth (green in the picture); mean end-point error {epe:.1f} px; mean '
          f'attention of the match {result["mean_score"]:.3f} (chance '
          f'{1 / (hw[0] * hw[1]):.4f}). The truth is exact: the warp is known.',
          f'Time: {timings.markdown()}']
    return dict(image=picture, target=pixel['target'], map=pixel['map'],
                status=status_ok('\n\n'.join(md)), pixel_status=pixel['status'],
                accuracy=accuracy, epe=epe, x=pixel['x'], y=pixel['y'], state=state,
                timings=dict(timings.stages))


def _correspondences(src: np.ndarray, tgt: np.ndarray, result: Dict[str, Any], ok: np.ndarray,
                     valid: np.ndarray, accuracy: float, patch: int, stride: int = 3
                     ) -> np.ndarray:
    from vision_sparse.visualization import draw_matches
    h, w = (int(v) for v in result['token_hw'])
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
    sel = np.flatnonzero((rows.reshape(-1) % stride == stride // 2)
                         & (cols.reshape(-1) % stride == stride // 2) & valid)
    z = src.shape[0] / (h * patch)
    k0 = (result['kpts0'][sel] + 0.5) * z - 0.5
    k1 = (result['kpts1'][sel] + 0.5) * z - 0.5
    text = [f'source | warped target: matches of one token in {stride} per axis',
            f'green = within 1 token of the truth ({accuracy * 100:.1f} % of all), red = wrong']
    return draw_matches(src, tgt, k0, k1, inlier_mask=ok[sel], text=text)


def attention_at_pixel(state: Dict[str, Any], x: Any, y: Any) -> Dict[str, Any]:
    """The attention map over the source of the target token under pixel ``(x, y)`` of the
    target picture (``state`` from :func:`run_attention`).

    Returns:
        dict: ``map`` (source picture with the heat map: white cross = truth, cyan ring =
        argmax match), ``target`` (target picture with the pixel marked), ``status``,
        ``x``, ``y`` (floats), ``index`` (the target token), ``correct`` (bool or None).

    Raises:
        AppError: no state (run first) or a pixel outside the target picture.
    """
    from vision_sparse.apis import AttentionInferencer
    from vision_sparse.visualization import put_text_block
    if not state or 'result' not in state:
        raise AppError('Pixel: press Run first (there is no attention to show yet)')
    tgt, src, zoom = state['target'], state['source'], state['zoom']
    H, W = tgt.shape[:2]
    try:
        xf, yf = float(x), float(y)
    except (TypeError, ValueError):
        raise AppError(f'Pixel (x, y): expected two numbers, got {x!r}, {y!r}') from None
    if not (np.isfinite(xf) and np.isfinite(yf) and 0 <= xf < W and 0 <= yf < H):
        raise AppError(f'Pixel (x, y): ({x}, {y}) is outside the target picture '
                       f'(x in 0..{W - 1}, y in 0..{H - 1})')
    res = state['result']
    at = AttentionInferencer.attention_at(res, ((xf + 0.5) / zoom - 0.5, (yf + 0.5) / zoom - 0.5))
    amap = at['map']
    heat = cv2.resize((amap / max(float(amap.max()), 1e-12) * 255).astype(np.uint8), (W, H),
                      interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(heat, cv2.COLORMAP_JET)[..., ::-1]
    overlay = np.ascontiguousarray((0.45 * src + 0.55 * heat).astype(np.uint8))
    to_pic = lambda xy: tuple(int(round((v + 0.5) * zoom - 0.5)) for v in xy)  # noqa: E731
    cv2.circle(overlay, to_pic(at['kpt0']), 9, (0, 255, 255), 2, cv2.LINE_AA)
    i = at['index']
    correct = None
    lines = [f'attention of target token {tuple(int(v) for v in at["token"])} '
             f'(max {float(amap.max()):.3f})']
    if state['valid'][i]:
        gt = state['gt_px'][i]
        cv2.drawMarker(overlay, to_pic(gt), (255, 255, 255), cv2.MARKER_CROSS, 16, 2)
        err = float(np.linalg.norm(at['kpt0'] - gt)) * zoom
        correct = bool(state['ok'][i])  # within one token, as the accuracy counts
        lines.append(f'cyan ring = argmax, white + = truth ({err:.0f} px apart)')
    else:
        lines.append('cyan ring = argmax; this token has no true match (outside the source)')
    overlay = put_text_block(overlay, lines, font_scale=0.45)
    marked = tgt.copy()
    cv2.circle(marked, (int(round(xf)), int(round(yf))), 8, (255, 255, 0), 2, cv2.LINE_AA)
    cv2.drawMarker(marked, (int(round(xf)), int(round(yf))), (255, 255, 0), cv2.MARKER_CROSS,
                   6, 1)
    marked = put_text_block(marked, 'target: click a pixel to see its attention', font_scale=0.45)
    status = (f'Pixel ({xf:.0f}, {yf:.0f}) of the target -> token {tuple(int(v) for v in at["token"])}; '
              f'argmax weight {at["score"]:.3f}'
              + ('' if correct is None else (' - **correct** match' if correct
                                             else ' - **wrong** match')))
    return dict(map=overlay, target=marked, status=status, x=xf, y=yf, index=i, correct=correct)


# ------------------------------------------------------------------------------ UI
def build(gr) -> None:
    """The tab's components and events (inside the current ``gr.Tab``)."""
    with gr.Row():
        with gr.Column(scale=1):
            gr.Markdown('Warp an image with a known warp and let the FramePainter matching '
                        'attention find the correspondences. The first run trains the '
                        f'attention briefly ({TRAIN_STEPS} steps, about a minute on a CPU; '
                        'progress below) and keeps it for later runs.')
            sample = gr.Dropdown(list(SAMPLES), value=DEFAULT_SAMPLE, label='Sample image',
                                 elem_id='attention-sample')
            upload = gr.File(label='Or upload an image (PNG, JPEG, ...; instead of the sample)',
                             type='filepath', elem_id='attention-upload')
            warp = gr.Dropdown(list(WARPS), value=DEFAULT_WARP, label='Warp',
                               elem_id='attention-warp')
            strength = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label='Warp strength',
                                 elem_id='attention-strength')
            checkpoint = gr.Textbox(value='', label='Checkpoint (optional; empty: brief '
                                    'training)', elem_id='attention-checkpoint')
            with gr.Row():
                run = gr.Button('Run', variant='primary', elem_id='attention-run')
                stop = gr.Button('Stop', elem_id='attention-stop')
            status = gr.Markdown('Press **Run**.', elem_id='attention-status')
        with gr.Column(scale=2):
            output = gr.Image(label='Correspondences', format='png', interactive=False,
                              elem_id='attention-output')
            with gr.Row():
                target = gr.Image(label='Target (click a pixel)', format='png',
                                  interactive=False, elem_id='attention-target')
                amap = gr.Image(label='Attention of that pixel over the source', format='png',
                                interactive=False, elem_id='attention-map')
            with gr.Row():
                x = gr.Number(value=256, label='Pixel x (target)', precision=0,
                              elem_id='attention-x')
                y = gr.Number(value=192, label='Pixel y (target)', precision=0,
                              elem_id='attention-y')
                show = gr.Button('Show attention', elem_id='attention-show')
            pixel = gr.Markdown('', elem_id='attention-pixel')
    state = gr.State(None)

    @guarded(6, 3)
    def on_run(name, up, w, s, xv, yv, ckpt, request: gr.Request, progress=gr.Progress()):
        stop_event = _STOP.start(session_key(request))
        out = run_attention(name, up, w, s, xv, yv, ckpt, reporter(progress, stop_event))
        return (out['image'], out['target'], out['map'], out['status'], out['pixel_status'],
                out['state'])

    def run_outputs(name, up, w, s, xv, yv, ckpt, request: gr.Request, progress=gr.Progress()):
        out = list(on_run(name, up, w, s, xv, yv, ckpt, request, progress))
        if out[0] is None:  # an error: keep the previous state
            out[5] = gr.update()
        return tuple(out)

    @guarded(5, 2)
    def pixel_outputs(st, xv, yv):
        out = attention_at_pixel(st, xv, yv)
        return out['target'], out['map'], out['status'], out['x'], out['y']

    def on_pixel(st, xv, yv):
        out = list(pixel_outputs(st, xv, yv))
        if out[0] is None:  # an error: keep the pictures and the typed numbers
            out = [gr.update(), gr.update(), out[2], gr.update(), gr.update()]
        return tuple(out)

    def on_select(st, evt: gr.SelectData):
        xv, yv = (evt.index if evt is not None and evt.index is not None else (None, None))
        return on_pixel(st, xv, yv)

    def on_stop(request: gr.Request):
        _STOP.stop(session_key(request))
        return status_error('stopped with the Stop button')

    run_event = run.click(run_outputs, [sample, upload, warp, strength, x, y, checkpoint],
                          [output, target, amap, status, pixel, state])
    target.select(on_select, [state], [target, amap, pixel, x, y])
    show.click(on_pixel, [state, x, y], [target, amap, pixel, x, y])
    x.submit(on_pixel, [state, x, y], [target, amap, pixel, x, y])
    y.submit(on_pixel, [state, x, y], [target, amap, pixel, x, y])
    stop.click(on_stop, None, [status], cancels=[run_event])


__all__ = ['TITLE', 'BROWSER_CHECK', 'SAMPLES', 'WARPS', 'build', 'run_attention',
           'attention_at_pixel', 'get_inferencer', 'load_source', 'make_pair', 'warp_arguments',
           'default_checkpoint']
