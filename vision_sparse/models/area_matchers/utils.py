"""Small shared helpers of the area matchers: crops and point-matcher calls.

Images are checked with :func:`vision_sparse.utils.image.check_image` and resized
with :func:`vision_sparse.utils.image.resize_long_side`.
"""
from typing import Tuple

import cv2
import numpy as np
import torch

__all__ = ['crop_resize', 'run_point_matcher', 'match_arrays']


def crop_resize(image: np.ndarray, box, out_size: Tuple[int, int],
                expand: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """Crop a box with the output's aspect ratio and resize it.

    The box is scaled by ``expand`` about its centre, then grown along one axis
    to the aspect ratio of ``out_size`` (so the content is never stretched),
    moved inside the image where it fits and zero-padded where it does not.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8.
        box: ``(4,)`` xyxy px in ``image``.
        out_size (tuple): ``(h, w)`` of the crop, px.
        expand (float): scale of the box before the aspect fix.

    Returns:
        tuple: ``crop (h, w, 3)`` uint8 and ``affine (3,)`` = ``(s, x0, y0)``
        with ``image_xy = crop_xy / s + (x0, y0)``.
    """
    oh, ow = int(out_size[0]), int(out_size[1])
    if oh <= 0 or ow <= 0:
        raise ValueError(f'out_size must be positive, got {out_size}')
    h, w = image.shape[:2]
    b = np.asarray(box, dtype=np.float64).reshape(4)
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    bw, bh = max(b[2] - b[0], 1.0) * expand, max(b[3] - b[1], 1.0) * expand
    aspect = ow / oh
    if bw / bh < aspect:
        bw = bh * aspect
    else:
        bh = bw / aspect
    # move inside the image where the crop fits
    x0 = min(max(cx - bw / 2, 0.0), max(w - bw, 0.0)) if bw <= w else cx - bw / 2
    y0 = min(max(cy - bh / 2, 0.0), max(h - bh, 0.0)) if bh <= h else cy - bh / 2
    s = ow / bw
    # affine warp handles the padding (border = 0) and the resize in one go
    m = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]], np.float64)
    crop = cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_AREA
                          if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return crop, np.array([s, x0, y0])


def run_point_matcher(matcher, image0: np.ndarray, image1: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Call a point matcher and return numpy ``kpts0 (N, 2)``, ``kpts1 (N, 2)``
    float64 px ``(x, y)`` and ``scores (N,)`` in ``[0, 1]``.

    ``matcher`` is a ``BaseMatcher`` (``forward(dict) -> dict``) or any
    callable with that contract.
    """
    with torch.inference_mode():
        out = matcher(dict(image0=image0, image1=image1))
    return match_arrays(out)


def match_arrays(out) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A matcher's output dict as float64 ``kpts0 (N, 2)``, ``kpts1 (N, 2)``
    and ``scores (N,)`` in ``[0, 1]`` (non-finite matches dropped; no scores:
    all 1)."""
    k0 = _np(out.get('kpts0')).reshape(-1, 2)
    k1 = _np(out.get('kpts1')).reshape(-1, 2)
    sc = out.get('scores')
    sc = np.ones(len(k0)) if sc is None else _np(sc).reshape(-1)
    if not (len(k0) == len(k1) == len(sc)):
        raise ValueError('point matcher returned kpts0/kpts1/scores of '
                         f'different lengths: {len(k0)}, {len(k1)}, {len(sc)}')
    ok = np.isfinite(k0).all(1) & np.isfinite(k1).all(1) & np.isfinite(sc)
    return k0[ok], k1[ok], np.clip(sc[ok], 0.0, 1.0)


def _np(x) -> np.ndarray:
    if x is None:
        return np.zeros((0,), np.float64)
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)
