"""2-D shapes on an image: points, polygons, rotated boxes."""
from typing import List, Optional, Sequence

import cv2
import numpy as np

from vision_sparse.structures.bbox.rotated_boxes import rbox2corners
from ._common import _ipt, _points2d, _to_numpy
from .colors import RED, _per_item_colors
from .images import _draw_tag, _label_text, to_rgb

__all__ = ['draw_points', 'draw_polygons', 'draw_rotated_boxes']


def draw_points(img: np.ndarray,
                points,
                color=RED,
                radius: int = 2,
                thickness: int = -1) -> np.ndarray:
    """Draw points as circles.

    Args:
        img (np.ndarray): image.
        points (array-like): ``(N, 2)`` pixels ``(x, y)``.
        color: an RGB tuple, ``(N, 3)`` colours or ``(N,)`` scores
            (colour-mapped).
        radius (int): circle radius, pixels.
        thickness (int): -1 = filled.

    Returns:
        np.ndarray: new image (a copy when there are no points).
    """
    out = to_rgb(img)
    pts = _points2d(points, 'points')
    colors = _per_item_colors(color, len(pts), None, default=RED)
    for p, c in zip(pts, colors):
        if np.all(np.isfinite(p)):
            cv2.circle(out, _ipt(p), radius, c, thickness, cv2.LINE_AA)
    return out


def _poly_list(polys) -> List[np.ndarray]:
    if isinstance(polys, (list, tuple)):
        out = []
        for i, p in enumerate(polys):
            arr = _to_numpy(p, f'polys[{i}]').astype(np.float64)
            if arr.ndim == 1 and arr.size % 2 == 0:
                arr = arr.reshape(-1, 2)
            if arr.ndim != 2 or arr.shape[1] != 2:
                raise ValueError(f'polys[{i}] must have shape (K, 2) or '
                                 f'(2K,), got {arr.shape}')
            out.append(arr)
        return out
    arr = _to_numpy(polys, 'polys').astype(np.float64)
    if arr.size == 0:
        return []
    if arr.ndim == 3 and arr.shape[2] == 2:
        return list(arr)
    if arr.ndim == 2 and arr.shape[1] % 2 == 0:
        return list(arr.reshape(len(arr), -1, 2))
    raise ValueError('polys must be (N, 2K), (N, K, 2) or a list of (K, 2), '
                     f'got shape {arr.shape}')


def draw_polygons(img: np.ndarray,
                  polys,
                  color=None,
                  thickness: int = 2,
                  closed: bool = True,
                  fill_alpha: float = 0.0,
                  labels=None,
                  class_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """Draw polygons (e.g. DOTA 8-coordinate labels).

    Args:
        img (np.ndarray): image.
        polys: ``(N, 2K)`` / ``(N, K, 2)`` array or a list of ``(K, 2)``.
        color: None (label colours, else a palette per polygon), an RGB tuple,
            ``(N, 3)`` colours or ``(N,)`` scores.
        thickness (int): line thickness.
        closed (bool): close the outline.
        fill_alpha (float): opacity of a fill in ``[0, 1]`` (0 = outline only).
        labels: ``(N,)`` int labels (colours and text), optional.
        class_names (Sequence[str], optional): names for the label text.

    Returns:
        np.ndarray: new image.
    """
    out = to_rgb(img)
    plist = _poly_list(polys)
    labs = None if labels is None else _to_numpy(labels, 'labels').reshape(-1)
    if labs is not None and len(labs) != len(plist):
        raise ValueError(f'labels must have {len(plist)} entries, '
                         f'got {len(labs)}')
    colors = _per_item_colors(color, len(plist), labs)
    if fill_alpha > 0 and plist:
        overlay = out.copy()
        for p, c in zip(plist, colors):
            cv2.fillPoly(overlay, [np.round(p).astype(np.int32)], c)
        out = cv2.addWeighted(overlay, fill_alpha, out, 1 - fill_alpha, 0)
    for i, (p, c) in enumerate(zip(plist, colors)):
        cv2.polylines(out, [np.round(p).astype(np.int32)], closed, c,
                      thickness, cv2.LINE_AA)
        if labs is not None:
            text = _label_text(i, labs, None, class_names)
            top = p[np.argmin(p[:, 1])]
            _draw_tag(out, text, _ipt((top[0], top[1] - 2)), c)
    return out


def draw_rotated_boxes(img: np.ndarray,
                       boxes,
                       labels=None,
                       scores=None,
                       class_names: Optional[Sequence[str]] = None,
                       color=None,
                       thickness: int = 2,
                       show_heading: bool = True,
                       font_scale: float = 0.4) -> np.ndarray:
    """Draw rotated boxes ``(cx, cy, w, h, theta)`` with their heading.

    The heading (the ``+w/2`` end, corners 1-2 of
    :func:`~vision_sparse.structures.bbox.rbox2corners`) is shown by a line
    from the centre to the middle of that edge.

    Args:
        img (np.ndarray): image.
        boxes: ``(N, 5)`` array/tensor or ``RotatedBoxes``; pixels, radians.
        labels: ``(N,)`` int labels (colour + text), optional.
        scores: ``(N,)`` scores (text), optional.
        class_names (Sequence[str], optional): names for label text.
        color: None (per-label colours, else a palette per box), an RGB tuple,
            ``(N, 3)`` colours or ``(N,)`` values to colour-map.
        thickness (int): line thickness.
        show_heading (bool): draw the heading line.
        font_scale (float): label text size.

    Returns:
        np.ndarray: new image.

    Raises:
        ValueError: for bad shapes.
    """
    out = to_rgb(img)
    arr = _to_numpy(boxes, 'boxes').astype(np.float64)
    if arr.size == 0:
        return out
    if arr.ndim != 2 or arr.shape[1] != 5:
        raise ValueError(f'boxes must have shape (N, 5), got {arr.shape}')
    n = len(arr)
    labs = None if labels is None else _to_numpy(labels, 'labels').reshape(-1)
    scs = None if scores is None else _to_numpy(scores, 'scores').reshape(-1)
    for name, v in (('labels', labs), ('scores', scs)):
        if v is not None and len(v) != n:
            raise ValueError(f'{name} must have {n} entries, got {len(v)}')
    colors = _per_item_colors(color, n, labs)
    corners = rbox2corners(arr)
    for i in range(n):
        c = colors[i]
        poly = np.round(corners[i]).astype(np.int32)
        cv2.polylines(out, [poly], True, c, thickness, cv2.LINE_AA)
        if show_heading:
            front = (corners[i, 1] + corners[i, 2]) / 2
            cv2.line(out, _ipt(arr[i, :2]), _ipt(front), c,
                     max(1, thickness // 2), cv2.LINE_AA)
        text = _label_text(i, labs, scs, class_names)
        if text:
            top = corners[i][np.argmin(corners[i, :, 1])]
            _draw_tag(out, text, _ipt((top[0], top[1] - 2)), c, font_scale)
    return out
