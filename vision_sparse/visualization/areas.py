"""Translucent overlays of areas (masks, boxes, rotated boxes)."""
from typing import Optional, Sequence

import cv2
import numpy as np

from vision_sparse.structures.bbox.rotated_boxes import rbox2corners
from ._common import _to_numpy
from .colors import _per_item_colors
from .images import _draw_tag, to_rgb

__all__ = ['draw_areas']


def draw_areas(img: np.ndarray,
               areas,
               colors=None,
               alpha: float = 0.4,
               labels: Optional[Sequence[str]] = None,
               draw_contours: bool = True) -> np.ndarray:
    """Translucent colour overlay of areas (segments, matched regions, boxes).

    Args:
        img (np.ndarray): ``(H, W)`` / ``(H, W, 3)`` image.
        areas: ``(K, H, W)`` masks (bool / 0-1 / 0-255; nonzero = inside),
            ``(K, 4)`` xyxy boxes or ``(K, 5)`` rotated boxes, pixels.
        colors: None (palette by index), an RGB tuple, ``(K, 3)`` colours or
            ``(K,)`` values to colour-map.
        alpha (float): overlay opacity in ``[0, 1]``.
        labels (Sequence[str], optional): ``K`` texts written at each area's
            top-left.
        draw_contours (bool): outline each area in its colour.

    Returns:
        np.ndarray: new image.

    Raises:
        ValueError: for masks of another size or bad shapes.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    out = to_rgb(img)
    h, w = out.shape[:2]
    arr = _to_numpy(areas, 'areas')
    if arr.size == 0:
        return out
    if arr.ndim == 3:
        if arr.shape[1:] != (h, w):
            raise ValueError(f'masks must have shape (K, {h}, {w}), '
                             f'got {arr.shape}')
        masks = arr != 0
    elif arr.ndim == 2 and arr.shape[1] in (4, 5):
        masks = np.zeros((len(arr), h, w), bool)
        polys = (rbox2corners(arr.astype(np.float64)) if arr.shape[1] == 5
                 else np.stack([arr[:, [0, 1]], arr[:, [2, 1]],
                                arr[:, [2, 3]], arr[:, [0, 3]]], 1))
        for k, p in enumerate(polys):
            m = np.zeros((h, w), np.uint8)
            cv2.fillPoly(m, [np.round(p).astype(np.int32)], 1)
            masks[k] = m.astype(bool)
    else:
        raise ValueError('areas must be (K, H, W) masks, (K, 4) boxes or '
                         f'(K, 5) rotated boxes, got shape {arr.shape}')
    k = len(masks)
    if labels is not None and len(labels) != k:
        raise ValueError(f'labels must have {k} entries, got {len(labels)}')
    cols = _per_item_colors(colors, k, None)
    result = out.astype(np.float64)
    for m, c in zip(masks, cols):
        result[m] = result[m] * (1 - alpha) + np.asarray(c, np.float64) * alpha
    out = np.round(result).astype(np.uint8)
    for i, (m, c) in enumerate(zip(masks, cols)):
        if draw_contours and m.any():
            contours, _ = cv2.findContours(m.astype(np.uint8),
                                           cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, c, 1, cv2.LINE_AA)
        if labels is not None and m.any():
            ys, xs = np.nonzero(m)
            _draw_tag(out, str(labels[i]), (int(xs.min()), int(ys.min()) + 12),
                      c)
    return out
