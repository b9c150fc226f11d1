"""Colours: a deterministic palette, label colours, score colour maps.

Colours are RGB tuples of ints in ``[0, 255]``. :func:`palette` is
deterministic and prefix-stable (``palette(n)[i]`` does not depend on ``n``).
"""
import colorsys
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ._common import _to_numpy

__all__ = ['palette', 'label_color']

Color = Tuple[int, int, int]

GREEN: Color = (0, 255, 0)
RED: Color = (255, 0, 0)
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRAY: Color = (160, 160, 160)


def palette(n: int) -> List[Color]:
    """``n`` distinct, deterministic RGB colours.

    Hues follow the golden-ratio sequence (well separated for any prefix),
    with alternating saturation/value to separate neighbours further.

    Args:
        n (int): number of colours, ``>= 0``.

    Returns:
        list[tuple[int, int, int]]: RGB colours; ``palette(n)[i]`` is the same
        for every ``n > i``.

    Raises:
        ValueError: if ``n < 0``.
    """
    if n < 0:
        raise ValueError(f'n must be >= 0, got {n}')
    colors = []
    for i in range(n):
        hue = (0.08 + i * 0.618033988749895) % 1.0
        sat = (0.85, 0.6, 1.0)[i % 3]
        val = (1.0, 0.9, 0.75)[(i // 3) % 3]
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colors.append((int(round(r * 255)), int(round(g * 255)),
                       int(round(b * 255))))
    return colors


def label_color(label: int) -> Color:
    """Colour of an integer label (``palette(label + 1)[label]``)."""
    if label < 0:
        return GRAY
    return palette(int(label) + 1)[int(label)]


def _color(c, name: str = 'color') -> Color:
    """An RGB int triple; float triples with all values <= 1 are scaled."""
    raw = np.asarray(c)
    if raw.size != 3 or raw.dtype.kind not in 'iuf':
        raise ValueError(f'{name} must be an (r, g, b) triple, got {c!r}')
    arr = raw.astype(np.float64).reshape(-1)
    if raw.dtype.kind == 'f' and arr.max() <= 1.0:
        arr = arr * 255.0
    return tuple(int(v) for v in np.clip(np.round(arr), 0, 255))


def _scores_to_colors(scores: np.ndarray) -> np.ndarray:
    """``(N,)`` scores -> ``(N, 3)`` RGB via the turbo/jet colour map.

    Scores inside ``[0, 1]`` are used as they are (0 blue ... 1 red); other
    ranges are min-max normalised.
    """
    s = scores.astype(np.float64)
    if s.size and (np.nanmin(s) < 0 or np.nanmax(s) > 1):
        span = np.nanmax(s) - np.nanmin(s)
        s = (s - np.nanmin(s)) / (span if span > 0 else 1.0)
    s = np.nan_to_num(s)
    idx = np.clip(np.round(s * 255), 0, 255).astype(np.uint8)[:, None]
    cmap = getattr(cv2, 'COLORMAP_TURBO', cv2.COLORMAP_JET)
    bgr = cv2.applyColorMap(idx, cmap)[:, 0, :]
    return bgr[:, ::-1].astype(np.int64)


def _per_item_colors(color, n: int, labels: Optional[np.ndarray],
                     default: Optional[Color] = None) -> List[Color]:
    """Resolve ``color`` into one RGB tuple per item.

    ``None`` -> label colours (or ``default``, or ``palette(n)``);
    a tuple/list of 3 numbers -> that colour for all; an ``(n, 3)`` array ->
    per-item colours (floats in [0, 1] scaled); an ``(n,)`` array -> scores
    through a colour map.
    """
    if color is None:
        if labels is not None:
            return [label_color(int(v)) for v in labels]
        if default is not None:
            return [default] * n
        return palette(n)
    if isinstance(color, (tuple, list)) and len(color) == 3 and all(
            np.isscalar(v) for v in color):
        return [_color(color)] * n
    arr = _to_numpy(color, 'color')
    if arr.ndim == 1 and arr.shape[0] == n:
        return [tuple(int(v) for v in c) for c in _scores_to_colors(arr)]
    if arr.ndim == 2 and arr.shape == (n, 3):
        if arr.dtype.kind == 'f' and arr.size and arr.max() <= 1.0:
            arr = arr * 255
        arr = np.clip(np.round(arr), 0, 255).astype(np.int64)
        return [tuple(int(v) for v in c) for c in arr]
    raise ValueError(f'color must be None, an (r, g, b) tuple, ({n}, 3) '
                     f'colours or ({n},) scores, got shape {arr.shape}')
