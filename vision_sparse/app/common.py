"""What every tab of the web app shares: reading uploads, readable errors, timings, outputs.

A tab is a module of :mod:`vision_sparse.app` with

* ``TITLE`` (the tab's label) and ``build(gr)``: creates the tab's components inside the
  current ``gr.Tab`` context and wires its events;
* one or more *handlers*: plain functions of plain values (file paths, numpy arrays,
  numbers, strings) returning plain values, so that they run without a browser (the unit
  tests call them directly). Handlers call the public one-call API
  (:mod:`vision_sparse.apis`) and the drawing helpers (:mod:`vision_sparse.visualization`),
  never private helpers.

Errors: a handler raises :class:`AppError` (or ``ValueError`` from the API, which names the
bad input) for anything the user can fix; :func:`guarded` turns it into a status message in
the page (``**Error:** ...``) with empty outputs, logs unexpected exceptions with their
traceback on the server and shows their one-line summary: the page never shows a stack
trace and the app keeps serving.
"""
import functools
import inspect
import logging
import os
import os.path as osp
import tempfile
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional, Sequence, Tuple

import cv2
import numpy as np

logger = logging.getLogger('vision_sparse.app')

#: largest accepted image side (px) and pixel count of an upload
MAX_IMAGE_SIDE = 8192
MAX_IMAGE_PIXELS = 40_000_000
#: smallest accepted image side (px)
MIN_IMAGE_SIDE = 32

__all__ = ['AppError', 'read_image', 'read_number', 'upload_path', 'record_pictures', 'last_picture_sizes',
           'guarded', 'Timings', 'status_ok', 'status_error',
           'app_root', 'output_dir', 'repo_path', 'config_file', 'fit_width', 'MAX_IMAGE_SIDE', 'MAX_IMAGE_PIXELS', 'MIN_IMAGE_SIDE']


class AppError(ValueError):
    """A problem the user can fix (bad upload, missing option); its text is shown in the page."""


def upload_path(value: Any) -> Optional[str]:
    """The file path of an upload: str / PathLike, a Gradio ``{'path': ...}`` dict or a file
    object; None for anything else (arrays, None)."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, dict):
        for key in ('path', 'name'):
            if isinstance(value.get(key), str):
                return value[key]
    for key in ('path', 'name'):
        if isinstance(getattr(value, key, None), str):
            return getattr(value, key)
    return None


def read_image(value: Any, field: str, max_side: int = MAX_IMAGE_SIDE,
               max_pixels: int = MAX_IMAGE_PIXELS, min_side: int = MIN_IMAGE_SIDE) -> np.ndarray:
    """An uploaded or sample image as ``(H, W, 3)`` RGB uint8, or a readable :class:`AppError`.

    Accepts a file path (or a Gradio file value), or an array ``(H, W)`` gray, ``(H, W, 1)``,
    ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA (alpha composited on white), uint8 or float in
    [0, 1] / [0, 255]. Gray images are repeated into three channels.

    Args:
        value: the upload.
        field (str): the input's label, named in error messages.
        max_side, max_pixels, min_side (int): accepted size range.

    Raises:
        AppError: no image, not an image file, an unsupported shape, too large or too small.
    """
    if value is None:
        raise AppError(f'{field}: no image given - upload one or pick a sample')
    path = None if isinstance(value, np.ndarray) else upload_path(value)
    if path is not None:
        if not osp.isfile(path):
            raise AppError(f'{field}: file {osp.basename(path)!r} does not exist')
        # header-only size check first: a huge image is refused before it is decoded
        arr = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise AppError(f'{field}: {osp.basename(path)!r} is not an image file '
                           '(expected PNG, JPEG, BMP, TIFF or WebP)')
        if arr.ndim == 3 and arr.shape[2] == 4:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
        elif arr.ndim == 3 and arr.shape[2] == 3:
            arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
        value = arr
    if not isinstance(value, np.ndarray):
        raise AppError(f'{field}: expected an image file or an image array, got '
                       f'{type(value).__name__}')
    img = value
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)):
        raise AppError(f'{field}: expected a gray, RGB or RGBA image, got an array of shape '
                       f'{tuple(img.shape)}')
    h, w = img.shape[:2]
    if min(h, w) < min_side:
        raise AppError(f'{field}: image is {w} x {h} px; at least {min_side} px a side is needed')
    if max(h, w) > max_side or h * w > max_pixels:
        raise AppError(f'{field}: image is {w} x {h} px; at most {max_side} px a side and '
                       f'{max_pixels / 1e6:.0f} megapixels are accepted - downscale it first')
    if img.dtype != np.uint8:
        if img.dtype == np.uint16:
            img = (img / 257.0).round()
        elif np.issubdtype(img.dtype, np.floating):
            if not np.isfinite(img).all():
                raise AppError(f'{field}: image has NaN or infinite values')
            img = img * 255.0 if img.max() <= 1.0 else img
        elif not np.issubdtype(img.dtype, np.integer):
            raise AppError(f'{field}: unsupported pixel type {img.dtype}')
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)).round().astype(np.uint8)
    return np.ascontiguousarray(img)


def read_number(value: Any, field: str, lo: float, hi: float) -> float:
    """``value`` (a slider / textbox value) as a float in ``[lo, hi]``, or an :class:`AppError`
    naming ``field``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AppError(f'{field}: expected a number in [{lo:g}, {hi:g}], got {value!r}') from None
    if not lo <= number <= hi:  # also refuses NaN
        raise AppError(f'{field}: expected a number in [{lo:g}, {hi:g}], got {number:g}')
    return number


def status_ok(text: str) -> str:
    """Status markdown of a successful run."""
    return text


def status_error(message: str) -> str:
    """Status markdown of a failed run (the browser test looks for ``Error:``)."""
    return f'**Error:** {message}'


#: ``{tab module: [(H, W), ...]}``: sizes of the pictures the tab's last guarded callback
#: returned (the browser test checks that the page shows a picture of one of these sizes)
last_picture_sizes: Dict[str, list] = {}


def record_pictures(module: str, outputs: Any) -> None:
    """Remember the sizes of the pictures among ``outputs`` (for tab ``module``'s browser check)."""
    items = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
    sizes = [tuple(o.shape[:2]) for o in items if isinstance(o, np.ndarray) and o.ndim in (2, 3)]
    if sizes:
        last_picture_sizes[module.rsplit('.', 1)[-1]] = sizes


def guarded(n_outputs: int, status_index: int = -1) -> Callable:
    """Decorate a UI callback: exceptions become an error status instead of a stack trace.

    The callback returns a tuple of ``n_outputs`` values, one of which (``status_index``) is
    the status markdown. On :class:`AppError` / ``ValueError`` the outputs are ``None`` and
    the status says what is wrong; on any other exception the traceback is logged on the
    server and the page shows ``Error: <type>: <message>``. A generator callback (yielding
    outputs step by step, so that the page's Stop button cancels between steps) is wrapped the
    same way: an exception becomes one last error yield. The sizes of returned pictures are
    recorded in :data:`last_picture_sizes` for the browser test.
    """
    def error_outputs(fn: Callable, exc: BaseException) -> tuple:
        if isinstance(exc, (AppError, ValueError)):
            message = str(exc)
        else:
            logger.error('app handler %s failed:\n%s', fn.__name__,
                         ''.join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
            message = f'{type(exc).__name__}: {exc}'
        outputs = [None] * n_outputs
        outputs[status_index] = status_error(message)
        return tuple(outputs)

    def deco(fn: Callable) -> Callable:
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args, **kwargs):
                try:
                    for outputs in fn(*args, **kwargs):
                        record_pictures(fn.__module__, outputs)
                        yield outputs
                except GeneratorExit:  # cancelled by the page: stop quietly
                    raise
                except Exception as exc:  # noqa: BLE001 - the app must keep serving
                    yield error_outputs(fn, exc)
            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                outputs = fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - the app must keep serving
                return error_outputs(fn, exc)
            record_pictures(fn.__module__, outputs)
            return outputs
        return wrapper
    return deco


class Timings:
    """Wall time per named stage of one run, as a markdown line (``stage 0.12 s · ...``)."""

    def __init__(self) -> None:
        self.stages: Dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - start

    def add(self, stages: Optional[Dict[str, float]], prefix: str = '') -> None:
        """Merge an API result's ``timings`` (seconds)."""
        for key, value in (stages or {}).items():
            if isinstance(value, (int, float)):
                self.stages[prefix + key] = float(value)

    @property
    def total(self) -> float:
        return float(sum(self.stages.values()))

    def markdown(self) -> str:
        return ' · '.join(f'{k} {v:.2f} s' for k, v in self.stages.items())


def app_root(*parts: str) -> str:
    """The app's working folder (``$VISION_SPARSE_APP_DIR``, else ``vision_sparse_app`` in the
    system temp folder) joined with ``parts``: briefly trained weights, maps, run outputs."""
    root = os.environ.get('VISION_SPARSE_APP_DIR') or osp.join(tempfile.gettempdir(),
                                                               'vision_sparse_app')
    return osp.join(root, *parts)


def output_dir(tab: str) -> str:
    """A fresh folder for one run's downloadable files (under :func:`app_root`)."""
    root = app_root()
    os.makedirs(root, exist_ok=True)
    return tempfile.mkdtemp(prefix=f'{tab}_', dir=root)


def repo_path(*parts: str) -> Path:
    """A path in the source checkout the app runs from (``configs/...``)."""
    return Path(__file__).resolve().parents[2].joinpath(*parts)


def config_file(relpath: str, field: str = 'Config') -> str:
    """The config file ``relpath`` of the source checkout, or an :class:`AppError` naming
    ``field`` when it is not there."""
    path = repo_path(relpath)
    if not path.is_file():
        raise AppError(f'{field}: the config {relpath} is not there (run the app from a '
                       'source checkout of vision_sparse)')
    return str(path)


def fit_width(image: np.ndarray, max_width: int = 1600) -> np.ndarray:
    """Downscale a picture for the page when it is wider than ``max_width`` px."""
    h, w = image.shape[:2]
    if w <= max_width:
        return image
    scale = max_width / w
    return cv2.resize(image, (max_width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def choices_from(items: Sequence[Tuple[str, Any]]) -> Tuple[list, dict]:
    """(labels, label -> value) for a dropdown built from ``(label, value)`` pairs."""
    return [label for label, _ in items], dict(items)
