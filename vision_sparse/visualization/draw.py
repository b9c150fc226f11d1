"""OpenCV drawing helpers for debugging and reports.

All functions take numpy images ``(H, W, 3)`` **RGB** ``uint8`` (grayscale
``(H, W)`` / ``(H, W, 1)``, RGBA and float images in ``[0, 1]`` are converted)
and return a **new** ``uint8`` RGB image; the input is never modified. Colours
are RGB tuples of ints in ``[0, 255]``. Coordinates are pixels ``(x, y)``, x
right, y down. :func:`save_image` writes PNG files.

Colours per label come from :func:`palette`, which is deterministic and
prefix-stable (``palette(n)[i]`` does not depend on ``n``).
"""
import colorsys
import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from vision_sparse.structures.bbox.boxes3d import (BaseBoxes3D,
                                                   CameraBoxes3D,
                                                   LiDARBoxes3D, _as_matrix)
from vision_sparse.structures.bbox.rotated_boxes import rbox2corners

Color = Tuple[int, int, int]
PathLike = Union[str, os.PathLike]

GREEN: Color = (0, 255, 0)
RED: Color = (255, 0, 0)
WHITE: Color = (255, 255, 255)
BLACK: Color = (0, 0, 0)
GRAY: Color = (160, 160, 160)

_FONT = cv2.FONT_HERSHEY_SIMPLEX


# --------------------------------------------------------------------------
# colours and input conversion
# --------------------------------------------------------------------------
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


def _to_numpy(x, name: str) -> np.ndarray:
    if hasattr(x, 'tensor') and hasattr(x.tensor, 'detach'):  # box classes
        return x.tensor.detach().cpu().numpy()
    if hasattr(x, 'detach') and hasattr(x, 'cpu'):  # torch tensor
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception:  # noqa: BLE001
        raise TypeError(f'{name} must be array-like, '
                        f'got {type(x).__name__}') from None


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


def _points2d(x, name: str) -> np.ndarray:
    arr = _to_numpy(x, name).astype(np.float64)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f'{name} must have shape (N, 2), got {arr.shape}')
    return arr


def _ipt(p) -> Tuple[int, int]:
    lim = 1e7
    return (int(round(float(np.clip(p[0], -lim, lim)))),
            int(round(float(np.clip(p[1], -lim, lim)))))


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
    (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, 1)
    x, y = anchor
    h, w = img.shape[:2]
    x = int(np.clip(x, 0, max(0, w - tw - 2)))
    y = int(np.clip(y, th + base + 1, max(th + base + 1, h - 1)))
    cv2.rectangle(img, (x, y - th - base - 1), (x + tw + 2, y), color, -1)
    text_color = BLACK if sum(color) > 382 else WHITE
    cv2.putText(img, text, (x + 1, y - base), _FONT, font_scale, text_color, 1,
                cv2.LINE_AA)


# --------------------------------------------------------------------------
# text, grids, saving
# --------------------------------------------------------------------------
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
    sizes = [cv2.getTextSize(s, _FONT, font_scale, thickness) for s in lines]
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
        cv2.putText(out, s, (x0 + 4, y), _FONT, font_scale, _color(color),
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


# --------------------------------------------------------------------------
# 2-D primitives
# --------------------------------------------------------------------------
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


# --------------------------------------------------------------------------
# 3-D boxes
# --------------------------------------------------------------------------
def _clip_segment(pa: np.ndarray, pb: np.ndarray,
                  near: float) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Clip a segment of homogeneous pixels ``(u*w, v*w, w)`` to ``w >= near``.

    Homogeneous pixels are linear in the 3-D point, so interpolating them
    clips the 3-D segment at the plane ``depth = near``.
    """
    wa, wb = pa[2], pb[2]
    if wa < near and wb < near:
        return None
    if wa < near:
        t = (near - wa) / (wb - wa)
        pa = pa + t * (pb - pa)
    elif wb < near:
        t = (near - wb) / (wa - wb)
        pb = pb + t * (pa - pb)
    return pa[:2] / pa[2], pb[:2] / pb[2]


def draw_boxes3d_on_image(img: np.ndarray,
                          boxes3d: BaseBoxes3D,
                          cam2img,
                          lidar2cam=None,
                          color=None,
                          labels=None,
                          scores=None,
                          class_names: Optional[Sequence[str]] = None,
                          thickness: int = 2,
                          min_depth: float = 0.1) -> np.ndarray:
    """Draw the 12 edges of 3-D boxes projected into a camera image.

    The front face (heading end) is marked with a cross. Edges are clipped in
    3-D at ``depth = min_depth``, so boxes partly behind the camera are drawn
    up to the image plane and boxes entirely behind it are skipped.

    Args:
        img (np.ndarray): the camera image.
        boxes3d (LiDARBoxes3D | CameraBoxes3D): boxes.
        cam2img: ``(3, 3)`` intrinsics or ``(3, 4)`` / ``(4, 4)`` projection.
        lidar2cam: ``(4, 4)`` LiDAR -> camera, required for LiDAR boxes, None
            for camera boxes.
        color: None (label colours, else a palette), an RGB tuple, ``(N, 3)``
            colours or ``(N,)`` scores to colour-map.
        labels: ``(N,)`` int labels, optional (colours + text).
        scores: ``(N,)`` scores for the text, optional.
        class_names (Sequence[str], optional): names for label text.
        thickness (int): line thickness.
        min_depth (float): near clipping depth, metres.

    Returns:
        np.ndarray: new image.

    Raises:
        TypeError: if ``boxes3d`` is not a 3-D box object.
        ValueError: for bad matrices or a wrong use of ``lidar2cam``.
    """
    if not isinstance(boxes3d, BaseBoxes3D):
        raise TypeError('boxes3d must be LiDARBoxes3D or CameraBoxes3D, '
                        f'got {type(boxes3d).__name__}')
    out = to_rgb(img)
    n = len(boxes3d)
    proj = _as_matrix(cam2img, 'cam2img', boxes3d.tensor)
    if isinstance(boxes3d, LiDARBoxes3D):
        if lidar2cam is None:
            raise ValueError('lidar2cam is required for LiDARBoxes3D')
        proj = proj @ _as_matrix(lidar2cam, 'lidar2cam', boxes3d.tensor)
    elif lidar2cam is not None:
        raise ValueError('lidar2cam must be None for CameraBoxes3D')
    if n == 0:
        return out
    proj = proj.cpu().numpy()
    corners = boxes3d.corners.detach().cpu().numpy().astype(np.float64)
    hom = corners @ proj[:3, :3].T + proj[:3, 3]  # (N, 8, 3)
    labs = None if labels is None else _to_numpy(labels, 'labels').reshape(-1)
    scs = None if scores is None else _to_numpy(scores, 'scores').reshape(-1)
    colors = _per_item_colors(color, n, labs)
    h, w = out.shape[:2]
    front = BaseBoxes3D.FRONT_FACE
    cross = ((front[0], front[2]), (front[1], front[3]))
    for i in range(n):
        if np.all(hom[i, :, 2] < min_depth):
            continue
        drawn = []
        for k, (a, b) in enumerate(BaseBoxes3D.EDGES + cross):
            seg = _clip_segment(hom[i, a], hom[i, b], min_depth)
            if seg is None:
                continue
            ok, p, q = cv2.clipLine((0, 0, w, h), _ipt(seg[0]), _ipt(seg[1]))
            if not ok:
                continue
            lw = thickness if k < 12 else max(1, thickness - 1)
            cv2.line(out, p, q, colors[i], lw, cv2.LINE_AA)
            drawn.extend([p, q])
        text = _label_text(i, labs, scs, class_names)
        if text and drawn:
            top = min(drawn, key=lambda pt: pt[1])
            _draw_tag(out, text, (top[0], top[1] - 2), colors[i])
    return out


# --------------------------------------------------------------------------
# bird's-eye view
# --------------------------------------------------------------------------
def _bev_array(boxes, name: str) -> np.ndarray:
    if boxes is None:
        return np.zeros((0, 5))
    if isinstance(boxes, CameraBoxes3D):
        raise TypeError(f'{name}: convert CameraBoxes3D to the LiDAR frame '
                        "first (boxes.convert_to('lidar', cam2lidar))")
    if isinstance(boxes, LiDARBoxes3D):
        return boxes.bev.detach().cpu().numpy().astype(np.float64)
    arr = _to_numpy(boxes, name).astype(np.float64)
    if arr.size == 0:
        return np.zeros((0, 5))
    if arr.ndim == 2 and arr.shape[1] == 5:
        return arr
    if arr.ndim == 2 and arr.shape[1] >= 7:  # LiDAR (x, y, z, l, w, h, yaw)
        return arr[:, [0, 1, 3, 4, 6]]
    raise ValueError(f'{name} must be (N, 5) BEV boxes (x, y, l, w, yaw), '
                     f'(N, >=7) LiDAR boxes or LiDARBoxes3D, got {arr.shape}')


def draw_bev(points=None,
             boxes=None,
             gt_boxes=None,
             range_m: Tuple[float, float, float, float] = (-54, -54, 54, 54),
             resolution: float = 0.1,
             labels=None,
             scores=None,
             class_names: Optional[Sequence[str]] = None,
             box_color=None,
             gt_color: Color = GREEN,
             point_color: Color = GRAY,
             background: Color = BLACK,
             thickness: int = 2,
             ring_step_m: Optional[float] = 10.0,
             forward_axis: str = 'x',
             show_text: bool = True,
             font_scale: float = 0.35) -> np.ndarray:
    """Bird's-eye-view picture of a LiDAR frame, seen from above (z up).

    The ``forward_axis`` of the LiDAR frame points **up** in the image:

    * ``'x'`` (KITTI Velodyne, ego frames: x forward, y left): +y points left;
      ``row = (x_max - x) / res``, ``col = (y_max - y) / res``; the image is
      ``(x_max - x_min) / res`` rows by ``(y_max - y_min) / res`` columns.
    * ``'y'`` (nuScenes ``LIDAR_TOP``: x right, y forward): +x points right;
      ``row = (y_max - y) / res``, ``col = (x - x_min) / res``; the image is
      ``(y_max - y_min) / res`` rows by ``(x_max - x_min) / res`` columns.

    Args:
        points: ``(P, >=2)`` LiDAR points (x, y, ...) in metres, or None.
        boxes: predicted/main boxes: ``(N, 5)`` BEV rotated boxes ``(x, y, l,
            w, yaw)`` in metres/radians (yaw counter-clockwise from +x),
            ``(N, >=7)`` LiDAR boxes or :class:`LiDARBoxes3D`; or None.
        gt_boxes: ground-truth boxes in the same formats, drawn thinner in
            ``gt_color`` under ``boxes``; or None.
        range_m (tuple): ``(x_min, y_min, x_max, y_max)`` metres.
        resolution (float): metres per pixel, ``> 0``.
        labels: ``(N,)`` int labels of ``boxes`` (colours + text), optional.
        scores: ``(N,)`` scores of ``boxes`` (text), optional.
        class_names (Sequence[str], optional): names for label text.
        box_color: colour(s) of ``boxes`` (see :func:`draw_rotated_boxes`).
        gt_color (Color): colour of ``gt_boxes``.
        point_color (Color): colour of the points.
        background (Color): canvas colour.
        thickness (int): box line thickness.
        ring_step_m (float, optional): distance rings around the origin every
            this many metres (None: none).
        forward_axis (str): ``'x'`` or ``'y'``, see above.
        show_text (bool): write label/score tags next to ``boxes``.
        font_scale (float): tag text size.

    Returns:
        np.ndarray: uint8 image of the size given above; the sensor origin is
        marked by a small triangle pointing forward (up).

    Raises:
        ValueError: for an empty range, ``resolution <= 0`` or bad shapes.
        TypeError: for CameraBoxes3D.
    """
    if resolution <= 0:
        raise ValueError(f'resolution must be > 0, got {resolution}')
    if len(range_m) != 4:
        raise ValueError('range_m must be (x_min, y_min, x_max, y_max), '
                         f'got {range_m}')
    x_min, y_min, x_max, y_max = (float(v) for v in range_m)
    if x_max <= x_min or y_max <= y_min:
        raise ValueError(f'range_m must have x_min < x_max and y_min < y_max, '
                         f'got {range_m}')
    if forward_axis not in ('x', 'y'):
        raise ValueError(f"forward_axis must be 'x' or 'y', "
                         f'got {forward_axis!r}')
    if forward_axis == 'x':
        height = int(round((x_max - x_min) / resolution))
        width = int(round((y_max - y_min) / resolution))
    else:
        height = int(round((y_max - y_min) / resolution))
        width = int(round((x_max - x_min) / resolution))
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = _color(background, 'background')

    def to_px(xy: np.ndarray) -> np.ndarray:
        """Metric (x, y) -> pixel (col, row), float."""
        if forward_axis == 'x':
            return np.stack([(y_max - xy[..., 1]) / resolution,
                             (x_max - xy[..., 0]) / resolution], -1)
        return np.stack([(xy[..., 0] - x_min) / resolution,
                         (y_max - xy[..., 1]) / resolution], -1)

    ego = to_px(np.zeros(2))
    if ring_step_m:
        ring_color = tuple(int(v) for v in np.clip(
            np.asarray(_color(background)) + 50, 0, 255))
        max_r = np.hypot(max(abs(x_min), abs(x_max)),
                         max(abs(y_min), abs(y_max)))
        r = ring_step_m
        while r <= max_r:
            cv2.circle(canvas, _ipt(ego), int(round(r / resolution)),
                       ring_color, 1, cv2.LINE_AA)
            r += ring_step_m

    if points is not None:
        pts = _to_numpy(points, 'points')
        if pts.size:
            if pts.ndim != 2 or pts.shape[1] < 2:
                raise ValueError(f'points must have shape (P, >=2), '
                                 f'got {pts.shape}')
            px = np.floor(to_px(pts[:, :2].astype(np.float64))).astype(
                np.int64)
            keep = ((px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0)
                    & (px[:, 1] < height))
            px = px[keep]
            canvas[px[:, 1], px[:, 0]] = _color(point_color, 'point_color')

    def draw_set(bev: np.ndarray, colors: List[Color], lw: int,
                 texts: Optional[List[Optional[str]]]) -> None:
        corners = to_px(rbox2corners(bev))  # (N, 4, 2) pixels
        centers = to_px(bev[:, :2])
        for i in range(len(bev)):
            poly = np.round(corners[i]).astype(np.int32)
            cv2.polylines(canvas, [poly], True, colors[i], lw, cv2.LINE_AA)
            front = (corners[i, 1] + corners[i, 2]) / 2
            cv2.line(canvas, _ipt(centers[i]), _ipt(front), colors[i], lw,
                     cv2.LINE_AA)
            if texts and texts[i]:
                top = corners[i][np.argmin(corners[i, :, 1])]
                _draw_tag(canvas, texts[i], _ipt((top[0], top[1] - 2)),
                          colors[i], font_scale)

    gt = _bev_array(gt_boxes, 'gt_boxes')
    if len(gt):
        draw_set(gt, [_color(gt_color, 'gt_color')] * len(gt),
                 max(1, thickness - 1), None)
    pred = _bev_array(boxes, 'boxes')
    if len(pred):
        labs = None if labels is None else _to_numpy(labels,
                                                     'labels').reshape(-1)
        scs = None if scores is None else _to_numpy(scores,
                                                    'scores').reshape(-1)
        for name, v in (('labels', labs), ('scores', scs)):
            if v is not None and len(v) != len(pred):
                raise ValueError(f'{name} must have {len(pred)} entries, '
                                 f'got {len(v)}')
        colors = _per_item_colors(box_color, len(pred), labs)
        texts = [_label_text(i, labs, scs, class_names)
                 for i in range(len(pred))] if show_text else None
        draw_set(pred, colors, thickness, texts)

    # ego marker: a triangle pointing to +x (up in the image)
    size = max(3.0, 2.0 / resolution)
    tri = np.array([[ego[0], ego[1] - size], [ego[0] - size / 2, ego[1] +
                                              size / 2],
                    [ego[0] + size / 2, ego[1] + size / 2]])
    cv2.fillPoly(canvas, [np.round(tri).astype(np.int32)], WHITE)
    return canvas
