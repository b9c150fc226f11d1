"""Matches between two images, drawn side by side."""
from typing import Sequence, Union

import cv2
import numpy as np

from ._common import _ipt, _points2d, _to_numpy
from .colors import GREEN, RED, _per_item_colors, _scores_to_colors
from .images import put_text_block, to_rgb

__all__ = ['draw_matches']


def draw_matches(img0: np.ndarray,
                 img1: np.ndarray,
                 kpts0,
                 kpts1,
                 color=None,
                 inlier_mask=None,
                 max_lines: int = 1000,
                 text: Union[str, Sequence[str], None] = None,
                 radius: int = 2,
                 thickness: int = 1,
                 margin: int = 10,
                 pad_value: int = 255) -> np.ndarray:
    """Two images side by side with lines between matched keypoints.

    Args:
        img0, img1 (np.ndarray): images, any sizes; the shorter one is padded at
            the bottom with ``pad_value``.
        kpts0, kpts1: ``(N, 2)`` matched keypoints ``(x, y)`` in their own
            image's pixels (row i of each form match i).
        color: None (a rainbow by match index), an RGB tuple, ``(N, 3)``
            colours, or ``(N,)`` scores (colour-mapped; values in [0, 1] are
            used as they are). Ignored where ``inlier_mask`` is given.
        inlier_mask: ``(N,)`` bool; inliers green, outliers red.
        max_lines (int): at most this many matches are drawn (evenly spaced
            indices, deterministic); ``<= 0`` draws none.
        text (str | Sequence[str], optional): lines written top-left.
        radius (int): keypoint circle radius.
        thickness (int): line thickness.
        margin (int): gap between the images, pixels.
        pad_value (int): grey level of the padding and gap.

    Returns:
        np.ndarray: ``(max(H0, H1), W0 + margin + W1, 3)`` uint8.

    Raises:
        ValueError: if the keypoint arrays or mask do not agree.
    """
    a, b = to_rgb(img0, 'img0'), to_rgb(img1, 'img1')
    k0, k1 = _points2d(kpts0, 'kpts0'), _points2d(kpts1, 'kpts1')
    if len(k0) != len(k1):
        raise ValueError('kpts0 and kpts1 must have the same length (N, 2), '
                         f'got {len(k0)} and {len(k1)}')
    n = len(k0)
    h = max(a.shape[0], b.shape[0])
    canvas = np.full((h, a.shape[1] + margin + b.shape[1], 3), pad_value,
                     np.uint8)
    canvas[:a.shape[0], :a.shape[1]] = a
    off = a.shape[1] + margin
    canvas[:b.shape[0], off:] = b
    if inlier_mask is not None:
        mask = _to_numpy(inlier_mask, 'inlier_mask').reshape(-1).astype(bool)
        if len(mask) != n:
            raise ValueError(f'inlier_mask must have {n} entries, '
                             f'got {len(mask)}')
        colors = [GREEN if m else RED for m in mask]
    elif color is None:
        colors = ([tuple(int(v) for v in c)
                   for c in _scores_to_colors(np.linspace(0, 1, n))]
                  if n else [])
    else:
        colors = _per_item_colors(color, n, None)
    if n and max_lines > 0:
        idx = (np.arange(n) if n <= max_lines else np.unique(
            np.linspace(0, n - 1, max_lines).round().astype(np.int64)))
        for i in idx:
            p0 = _ipt(k0[i])
            p1 = _ipt((k1[i, 0] + off, k1[i, 1]))
            cv2.line(canvas, p0, p1, colors[i], thickness, cv2.LINE_AA)
            cv2.circle(canvas, p0, radius, colors[i], -1, cv2.LINE_AA)
            cv2.circle(canvas, p1, radius, colors[i], -1, cv2.LINE_AA)
    return put_text_block(canvas, text)
