"""Image conversion, text, grids and PNG output.

All drawing functions of :mod:`vision_sparse.visualization` take numpy images
``(H, W, 3)`` **RGB** ``uint8`` (grayscale ``(H, W)`` / ``(H, W, 1)``, RGBA and
float images in ``[0, 1]`` are converted by :func:`to_rgb`) and return a
**new** ``uint8`` RGB image; the input is never modified. Coordinates are
pixels ``(x, y)``, x right, y down.
"""
import os
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ._common import FONT
from .colors import BLACK, WHITE, Color, _color

__all__ = ['to_rgb', 'put_text_block', 'make_grid', 'save_image']

PathLike = Union[str, os.PathLike]


def to_rgb(img: np.ndarray, name: str = 'img') -> np.ndarray:
    """A contiguous ``(H, W, 3)`` uint8 RGB copy of an image.

    Args:
        img (np.ndarray): ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or
            ``(H, W, 4)`` (alpha dropped); uint8, bool (-> 0/255), float
            (``[0, 1]`` scaled by 255 when its maximum is <= 1, else clipped to
            ``[0, 255]``) or other integers (clipped).
        name (str): argument name for error messages.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8.

    Raises:
        ValueError: for other shapes.
    """
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{name} must be a numpy array, '
                        f'got {type(img).__name__}')
    if img.ndim == 3 and img.shape[2] in (1, 3, 4):
        arr = img[..., :3] if img.shape[2] != 1 else img[..., 0]
    elif img.ndim == 2:
        arr = img
    else:
        raise ValueError(f'{name} must have shape (H, W), (H, W, 1), '
                         f'(H, W, 3) or (H, W, 4), got {img.shape}')
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif np.issubdtype(arr.dtype, np.floating):
        scale = 255.0 if arr.size and np.nanmax(arr) <= 1.0 else 1.0
        arr = np.clip(np.nan_to_num(arr) * scale, 0, 255).round()
        arr = arr.astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return np.ascontiguousarray(arr).copy()


def _label_text(i: int, labels, scores, class_names) -> Optional[str]:
    parts = []
    if labels is not None:
        lab = int(labels[i])
        if class_names is not None and 0 <= lab < len(class_names):
            parts.append(str(class_names[lab]))
        elif lab < 0:
            parts.append('ignore')  # mmdet3d's label for other classes
        else:
            parts.append(str(lab))
    if scores is not None:
        parts.append(f'{float(scores[i]):.2f}')
    return ' '.join(parts) if parts else None


def _draw_tag(img: np.ndarray, text: str, anchor: Tuple[int, int],
              color: Color, font_scale: float = 0.4) -> None:
    """Small filled label with its bottom-left corner at ``anchor``."""
    (tw, th), base = cv2.getTextSize(text, FONT, font_scale, 1)
    x, y = anchor
    h, w = img.shape[:2]
    x = int(np.clip(x, 0, max(0, w - tw - 2)))
    y = int(np.clip(y, th + base + 1, max(th + base + 1, h - 1)))
    cv2.rectangle(img, (x, y - th - base - 1), (x + tw + 2, y), color, -1)
    text_color = BLACK if sum(color) > 382 else WHITE
    cv2.putText(img, text, (x + 1, y - base), FONT, font_scale, text_color, 1,
                cv2.LINE_AA)


def put_text_block(img: np.ndarray,
                   lines: Union[str, Sequence[str], None],
                   origin: Tuple[int, int] = (5, 5),
                   font_scale: float = 0.5,
                   color: Color = WHITE,
                   bg_color: Optional[Color] = BLACK,
                   alpha: float = 0.6,
                   thickness: int = 1) -> np.ndarray:
    """Write lines of text on a translucent background block.

    Args:
        img (np.ndarray): image.
        lines (str | Sequence[str] | None): text; a str is split at newlines.
            None / empty -> the image is returned unchanged (copied).
        origin (Tuple[int, int]): top-left corner of the block, pixels.
        font_scale (float): OpenCV font scale.
        color (Color): text colour.
        bg_color (Color, optional): block colour; None -> no block.
        alpha (float): opacity of the block in ``[0, 1]``.
        thickness (int): text stroke thickness.

    Returns:
        np.ndarray: new image.
    """
    out = to_rgb(img)
    if lines is None:
        return out
    if isinstance(lines, str):
        lines = lines.split('\n')
    lines = [str(s) for s in lines]
    if not lines:
        return out
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    sizes = [cv2.getTextSize(s, FONT, font_scale, thickness) for s in lines]
    line_h = max(th + base for (_, th), base in sizes) + 4
    block_w = max(tw for (tw, _), _ in sizes) + 8
    block_h = line_h * len(lines) + 4
    x0, y0 = origin
    if bg_color is not None:
        x1 = int(np.clip(x0 + block_w, 0, out.shape[1]))
        y1 = int(np.clip(y0 + block_h, 0, out.shape[0]))
        xs, ys = int(np.clip(x0, 0, out.shape[1])), int(
            np.clip(y0, 0, out.shape[0]))
        if x1 > xs and y1 > ys:
            region = out[ys:y1, xs:x1].astype(np.float64)
            bg = np.asarray(_color(bg_color), np.float64)
            out[ys:y1, xs:x1] = np.round(region * (1 - alpha) +
                                         bg * alpha).astype(np.uint8)
    for k, s in enumerate(lines):
        (_, th), _ = sizes[k]
        y = y0 + 2 + k * line_h + th + 2
        cv2.putText(out, s, (x0 + 4, y), FONT, font_scale, _color(color),
                    thickness, cv2.LINE_AA)
    return out


def make_grid(images: Sequence[np.ndarray],
              ncols: int = 2,
              pad: int = 4,
              pad_value: int = 255) -> np.ndarray:
    """Tile images into a grid (each cell sized to the largest image).

    Args:
        images (Sequence[np.ndarray]): images (any accepted format).
        ncols (int): number of columns, ``>= 1``.
        pad (int): pixels between cells and around the grid.
        pad_value (int): background grey level.

    Returns:
        np.ndarray: ``(rows * (Hmax + pad) + pad, ncols' * (Wmax + pad) + pad,
        3)`` with ``ncols' = min(ncols, len(images))``; images are placed at the
        top-left of their cells. An empty sequence gives a ``(0, 0, 3)`` image.

    Raises:
        ValueError: if ``ncols < 1`` or ``pad < 0``.
    """
    if ncols < 1:
        raise ValueError(f'ncols must be >= 1, got {ncols}')
    if pad < 0:
        raise ValueError(f'pad must be >= 0, got {pad}')
    imgs = [to_rgb(im, f'images[{i}]') for i, im in enumerate(images)]
    if not imgs:
        return np.zeros((0, 0, 3), np.uint8)
    ncols = min(ncols, len(imgs))
    nrows = (len(imgs) + ncols - 1) // ncols
    ch = max(im.shape[0] for im in imgs)
    cw = max(im.shape[1] for im in imgs)
    grid = np.full((nrows * (ch + pad) + pad, ncols * (cw + pad) + pad, 3),
                   pad_value, np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncols)
        y, x = pad + r * (ch + pad), pad + c * (cw + pad)
        grid[y:y + im.shape[0], x:x + im.shape[1]] = im
    return grid


def save_image(path: PathLike, img: np.ndarray) -> Path:
    """Write an RGB image as PNG, creating parent folders.

    Args:
        path (str | PathLike): destination; must end in ``.png``.
        img (np.ndarray): image (any accepted format).

    Returns:
        Path: the written path.

    Raises:
        ValueError: if the suffix is not ``.png``.
        OSError: if OpenCV cannot write the file.
    """
    path = Path(path)
    if path.suffix.lower() != '.png':
        raise ValueError(f'path must end with .png, got {str(path)!r}')
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = to_rgb(img)
    if not cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f'could not write {path}')
    return path
