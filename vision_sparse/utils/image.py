"""Image inputs: one validation and one aspect-keeping resize for every method.

Pixel convention: ``(x, y)`` with the centre of the top-left pixel at ``(0, 0)``.
"""
from typing import Any, Optional, Tuple

import cv2
import numpy as np

__all__ = ['check_image', 'resize_long_side', 'size_problem']


def check_image(image: Any, name: str = 'image', rgb: bool = False) -> np.ndarray:
    """Validate an input image and return it as a C-contiguous uint8 array.

    Args:
        image (np.ndarray | Tensor): ``(H, W)`` gray, ``(H, W, 1)`` gray or
            ``(H, W, 3)`` RGB, dtype uint8 (a torch tensor is moved to a numpy array).
        name (str): argument name used in error messages.
        rgb (bool): return gray images repeated into three channels.

    Returns:
        np.ndarray: ``(H, W, 3)`` RGB, or ``(H, W)`` for a gray input when
        ``rgb`` is False; uint8, C-contiguous.

    Raises:
        ValueError: for a missing image (None), another type, dtype, number of
            dimensions or channels, or a zero-size image.
    """
    if image is None:
        raise ValueError(f'{name} is None: an (H, W, 3) RGB or (H, W) gray uint8 numpy '
                         'array is required (unreadable image?)')
    if type(image).__module__.startswith('torch'):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise ValueError(f'{name} must be a numpy array (H, W, 3) RGB or (H, W) gray uint8, '
                         f'got {type(image).__name__}')
    if image.dtype != np.uint8:
        raise ValueError(f'{name} must have dtype uint8 (0..255), got {image.dtype}')
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f'{name} must have shape (H, W, 3) RGB or (H, W) gray, '
                         f'got {image.shape}')
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f'{name} is empty: shape {image.shape}')
    if rgb and image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image)


def size_problem(shape: Tuple[int, ...], work_shape: Optional[Tuple[int, ...]], min_size: int,
                 name: str) -> str:
    """Why an image is too small to match, or ``''``.

    Args:
        shape (tuple): input ``(H, W[, C])``.
        work_shape (tuple | None): working ``(h, w[, C])`` after resizing (None:
            not resized yet).
        min_size (int): smallest allowed side, px.
        name (str): the image's name in the message.

    Returns:
        str: ``''`` when both sides (input and working) are at least ``min_size``.
    """
    if min(shape[:2]) < min_size:
        return (f'{name} is too small: input size (H, W) = {tuple(shape[:2])} has a side '
                f'below min_size={min_size} (tiny images are not upsampled for matching)')
    if work_shape is not None and min(work_shape[:2]) < min_size:
        return (f'{name} is too small: working size {tuple(work_shape[:2])} (input '
                f'{tuple(shape[:2])}) has a side below min_size={min_size}')
    return ''


def resize_long_side(image: np.ndarray, long_side: Optional[int], upscale: bool = True
                     ) -> Tuple[np.ndarray, float]:
    """Resize so that the longer side is ``long_side`` pixels (aspect kept).

    Args:
        image (np.ndarray): ``(H, W[, C])``.
        long_side (int | None): target length of the longer side, px; None keeps
            the image.
        upscale (bool): also enlarge smaller images (False: an image whose longer
            side is at most ``long_side`` is returned as it is).

    Returns:
        tuple: the resized image ``(H', W'[, C])`` with ``W' = round(W * scale)``,
        ``H' = round(H * scale)`` (at least 1), and ``scale`` (float) =
        ``long_side / max(H, W)`` = new / old (1.0 when unchanged), so that
        ``coords_resized ~ coords_input * scale``. The exact per-axis ratios,
        after rounding to whole pixels, are ``W' / W`` and ``H' / H``.
        Downscaling uses area interpolation, upscaling bilinear.
    """
    h, w = image.shape[:2]
    if long_side is None or max(h, w) == long_side or (not upscale and max(h, w) <= long_side):
        return image, 1.0
    scale = long_side / float(max(h, w))
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp), scale
