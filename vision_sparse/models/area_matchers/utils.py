"""Small shared helpers of the area matchers: input checks, crops, matcher calls."""
from typing import Any, Optional, Tuple

import cv2
import numpy as np
import torch

from vision_sparse.registry import MODELS

__all__ = [
    'check_image', 'resize_max_side', 'crop_resize', 'run_point_matcher', 'match_arrays',
    'build_module', 'check_intrinsics'
]


def check_image(image: Any, name: str = 'image') -> np.ndarray:
    """Validate an image and return it as ``(H, W, 3)`` uint8 RGB.

    Args:
        image: ``(H, W, 3)`` / ``(H, W, 1)`` / ``(H, W)`` uint8 array or tensor
            (grey images are repeated into three channels).
        name (str): argument name used in error messages.

    Raises:
        ValueError: for None, empty images, other shapes or dtypes.
    """
    if image is None:
        raise ValueError(f'{name} is None (unreadable image?)')
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise ValueError(f'{name} must be a numpy array or tensor, '
                         f'got {type(image).__name__}')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f'{name} must have shape (H, W, 3) RGB or (H, W) '
                         f'grey, got {image.shape}')
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f'{name} is empty or degenerate: shape {image.shape}')
    if image.dtype != np.uint8:
        raise ValueError(f'{name} must be uint8 (0-255), got {image.dtype}')
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image)


def resize_max_side(image: np.ndarray, max_side: Optional[int]
                    ) -> Tuple[np.ndarray, float]:
    """Downscale so that the longer side is at most ``max_side`` (never
    upscales). Returns ``(image, scale)`` with ``new = old * scale``."""
    h, w = image.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return image, 1.0
    s = max_side / float(max(h, w))
    size = (max(1, int(round(w * s))), max(1, int(round(h * s))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), s


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


def build_module(cfg_or_module, registry=MODELS, name: str = 'module'):
    """Build from a config dict, or return an already built object."""
    if cfg_or_module is None:
        return None
    if isinstance(cfg_or_module, dict):
        return registry.build(dict(cfg_or_module))
    if callable(cfg_or_module):
        return cfg_or_module
    raise ValueError(f'{name} must be a config dict or a built module, '
                     f'got {type(cfg_or_module).__name__}')


def check_intrinsics(K, name: str) -> Optional[np.ndarray]:
    """``(3, 3)`` float64 pinhole intrinsics (positive focal lengths, last row
    ``0 0 1``) or None.

    Raises:
        ValueError: for another shape, non-finite values, non-positive focal
            lengths or a bad last row.
    """
    if K is None:
        return None
    K = _np(K)
    if K.shape != (3, 3):
        raise ValueError(f'{name} must have shape (3, 3), got {K.shape}')
    if not np.isfinite(K).all():
        raise ValueError(f'{name} must be finite')
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f'{name} must have positive focal lengths, got '
                         f'fx={K[0, 0]}, fy={K[1, 1]}')
    if not np.allclose(K[2], [0, 0, 1]):
        raise ValueError(f'{name} must have last row (0, 0, 1), got {K[2]}')
    return K

