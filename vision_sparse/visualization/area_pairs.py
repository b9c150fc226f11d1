"""Matched area pairs (A2PM) that a person can read: numbered, one highlighted, as crops.

Drawing every matched area pair of two images on one picture gives dozens of
overlapping boxes; these helpers make the pairs readable:

* :func:`draw_area_pairs`: both images side by side, every pair numbered with
  the same number and colour in both images (its index in the result, as in
  A2PM's ``from_area``); optionally ONE pair highlighted (the rest dimmed, a
  line joining its two boxes);
* :func:`draw_area_pair_grid`: a grid of the pairs' crops, each cell the crop
  in image 0 next to the crop in image 1 (with the point matches found in the
  pair, when given) under its number.
"""
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ._common import FONT, _ipt, _points2d, _to_numpy
from .colors import GRAY, WHITE, Color, palette
from .images import _draw_tag, make_grid, put_text_block, to_rgb
from .matches import draw_matches

__all__ = ['draw_area_pairs', 'draw_area_pair_grid']

#: colour of area pairs rejected by A2PM's geometric filter (when ``kept`` is given)
REJECTED: Color = GRAY


def _pair_boxes(boxes0, boxes1) -> Tuple[np.ndarray, np.ndarray]:
    """Two ``(M, 4)`` float64 xyxy arrays of the same length."""
    b0 = _to_numpy(boxes0, 'boxes0').astype(np.float64)
    b1 = _to_numpy(boxes1, 'boxes1').astype(np.float64)
    b0 = b0.reshape(0, 4) if b0.size == 0 else b0
    b1 = b1.reshape(0, 4) if b1.size == 0 else b1
    for name, b in (('boxes0', b0), ('boxes1', b1)):
        if b.ndim != 2 or b.shape[1] != 4:
            raise ValueError(f'{name} must have shape (M, 4) xyxy, got {b.shape}')
        if not np.isfinite(b).all():
            raise ValueError(f'{name} must be finite')
    if len(b0) != len(b1):
        raise ValueError('boxes0 and boxes1 must have the same length (one row per pair), '
                         f'got {len(b0)} and {len(b1)}')
    return b0, b1


def _kept_mask(kept, m: int) -> Optional[np.ndarray]:
    if kept is None:
        return None
    mask = _to_numpy(kept, 'kept').reshape(-1).astype(bool)
    if len(mask) != m:
        raise ValueError(f'kept must have {m} entries (one per pair), got {len(mask)}')
    return mask


def _pair_colors(m: int, kept: Optional[np.ndarray]):
    cols = palette(m)
    if kept is not None:
        cols = [c if k else REJECTED for c, k in zip(cols, kept)]
    return cols


def _rect(img: np.ndarray, box, dx: int, color, thickness: int) -> None:
    cv2.rectangle(img, _ipt((box[0] + dx, box[1])), _ipt((box[2] + dx - 1, box[3] - 1)),
                  color, thickness, cv2.LINE_AA)


def draw_area_pairs(img0: np.ndarray,
                    img1: np.ndarray,
                    boxes0,
                    boxes1,
                    kept=None,
                    highlight: Optional[int] = None,
                    numbers: bool = True,
                    text: Union[str, Sequence[str], None] = None,
                    dim: float = 0.55,
                    thickness: int = 2,
                    font_scale: float = 0.5,
                    margin: int = 10) -> np.ndarray:
    """Both images side by side with their matched area pairs, numbered.

    Pair ``i`` is drawn as a box in each image, in the same colour, each box
    tagged with the number ``i`` (the pair's row in ``boxes0`` / ``boxes1``, as
    A2PM's ``from_area``). With ``kept``, pairs that A2PM's geometric filter
    rejected are grey and thin. With ``highlight``, only that pair is drawn in
    colour, thick, with a line joining its two boxes; the rest of the picture
    is dimmed and the other pairs are thin grey outlines without numbers.

    Args:
        img0, img1 (np.ndarray): the two images (any accepted format, any sizes).
        boxes0, boxes1: ``(M, 4)`` xyxy boxes in pixels of image 0 / image 1;
            row ``i`` of each is pair ``i``.
        kept: ``(M,)`` bool, optional: pairs kept by the geometric filter.
        highlight (int, optional): index of the one pair to highlight, in
            ``[0, M)``; None draws every pair.
        numbers (bool): tag each box with its pair number.
        text (str | Sequence[str], optional): lines written top-left.
        dim (float): in ``[0, 1)``; with ``highlight``, the picture outside the
            highlighted boxes is darkened by this fraction.
        thickness (int): box line thickness (highlighted: twice this).
        font_scale (float): size of the number tags.
        margin (int): gap between the images, pixels.

    Returns:
        np.ndarray: ``(max(H0, H1), W0 + margin + W1, 3)`` uint8 RGB.

    Raises:
        ValueError: boxes of another shape, ``kept`` of another length, or a
            ``highlight`` outside ``[0, M)``, ``dim`` outside ``[0, 1)``.
    """
    a, b = to_rgb(img0, 'img0'), to_rgb(img1, 'img1')
    b0, b1 = _pair_boxes(boxes0, boxes1)
    m = len(b0)
    mask = _kept_mask(kept, m)
    if highlight is not None and not 0 <= int(highlight) < m:
        raise ValueError(f'highlight must be a pair index in [0, {m}), got {highlight}')
    if not 0.0 <= dim < 1.0:
        raise ValueError(f'dim must be in [0, 1), got {dim}')
    canvas = draw_matches(a, b, np.zeros((0, 2)), np.zeros((0, 2)), margin=margin)
    off = a.shape[1] + margin
    cols = _pair_colors(m, mask)
    if highlight is None:
        # rejected (thin) first, kept on top; larger boxes first so small ones stay visible
        order = sorted(range(m), key=lambda i: (bool(mask[i]) if mask is not None else True,
                                                -(b0[i, 2] - b0[i, 0]) * (b0[i, 3] - b0[i, 1])))
        for i in order:
            th = thickness if mask is None or mask[i] else 1
            _rect(canvas, b0[i], 0, cols[i], th)
            _rect(canvas, b1[i], off, cols[i], th)
        if numbers:
            for i in order:
                for box, dx in ((b0[i], 0), (b1[i], off)):
                    _draw_tag(canvas, str(i), _ipt((box[0] + dx + 2, box[1] + 16)), cols[i],
                              font_scale)
        return put_text_block(canvas, text)
    k = int(highlight)
    # dim everything but the highlighted pair's boxes
    keep = np.zeros(canvas.shape[:2], bool)
    for box, dx in ((b0[k], 0), (b1[k], off)):
        x1, y1 = int(max(0, np.floor(box[0] + dx))), int(max(0, np.floor(box[1])))
        x2, y2 = int(np.ceil(box[2] + dx)), int(np.ceil(box[3]))
        keep[y1:y2, x1:x2] = True
    if dim > 0:
        canvas[~keep] = np.round(canvas[~keep].astype(np.float64) * (1.0 - dim)).astype(np.uint8)
    for i in range(m):
        if i != k:
            _rect(canvas, b0[i], 0, (110, 110, 110), 1)
            _rect(canvas, b1[i], off, (110, 110, 110), 1)
    color = palette(m)[k]
    c0 = ((b0[k, 0] + b0[k, 2]) / 2, (b0[k, 1] + b0[k, 3]) / 2)
    c1 = ((b1[k, 0] + b1[k, 2]) / 2 + off, (b1[k, 1] + b1[k, 3]) / 2)
    cv2.line(canvas, _ipt(c0), _ipt(c1), color, max(1, thickness), cv2.LINE_AA)
    for box, dx in ((b0[k], 0), (b1[k], off)):
        _rect(canvas, box, dx, color, 2 * thickness)
        if numbers:
            _draw_tag(canvas, str(k), _ipt((box[0] + dx + 2, box[1] + 20)), color,
                      font_scale * 1.4)
    return put_text_block(canvas, text)


def _crop(img: np.ndarray, box) -> np.ndarray:
    h, w = img.shape[:2]
    x1 = int(np.clip(np.floor(box[0]), 0, w - 1))
    y1 = int(np.clip(np.floor(box[1]), 0, h - 1))
    x2 = int(np.clip(np.ceil(box[2]), x1 + 1, w))
    y2 = int(np.clip(np.ceil(box[3]), y1 + 1, h))
    return img[y1:y2, x1:x2]


def _fit(crop: np.ndarray, size: int) -> Tuple[np.ndarray, float]:
    """``crop`` scaled to fit a ``size`` square (aspect kept); returns it and the scale."""
    h, w = crop.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, (nw, nh), interpolation=interp), scale


def _header(width: int, label: str, color: Color, height: int = 22) -> np.ndarray:
    bar = np.full((height, width, 3), color, np.uint8)
    text_color = (0, 0, 0) if sum(color) > 382 else WHITE
    cv2.putText(bar, label, (4, height - 7), FONT, 0.5, text_color, 1, cv2.LINE_AA)
    return bar


def draw_area_pair_grid(img0: np.ndarray,
                        img1: np.ndarray,
                        boxes0,
                        boxes1,
                        kept=None,
                        indices: Optional[Sequence[int]] = None,
                        kpts0=None,
                        kpts1=None,
                        from_area=None,
                        cell_size: int = 160,
                        ncols: int = 3,
                        max_lines: int = 60) -> np.ndarray:
    """A grid of matched area pairs, each cell ``crop in image 0 | crop in image 1``.

    Every cell has a header bar in the pair's colour (grey when rejected) with
    its number (the pair's row in ``boxes0`` / ``boxes1``), ``kept`` /
    ``rejected`` and, when matches are given, how many of them came from the
    pair; the two crops are scaled to fit ``cell_size`` squares (aspect kept)
    and the pair's matches (``from_area == i``) are drawn between them (A2PM
    matches inside a crop grown around the area: the crop then reaches out to
    hold them, with the area's own box outlined).

    Args:
        img0, img1 (np.ndarray): the two images.
        boxes0, boxes1: ``(M, 4)`` xyxy boxes, pixels; row ``i`` is pair ``i``.
        kept: ``(M,)`` bool, optional: pairs kept by the geometric filter.
        indices (Sequence[int], optional): which pairs, in this order (default
            all, ``0 .. M-1``).
        kpts0, kpts1: ``(N, 2)`` matches in full-image pixels, optional (both
            or neither, with ``from_area``).
        from_area: ``(N,)`` int, the pair each match came from (-1: none).
        cell_size (int): side of each crop's square, pixels (>= 16).
        ncols (int): cells per row (>= 1).
        max_lines (int): at most this many match lines per cell.

    Returns:
        np.ndarray: the grid, uint8 RGB. With no pair to show, a small picture
        saying so.

    Raises:
        ValueError: boxes of another shape, lengths that do not agree, an index
            outside ``[0, M)``, ``cell_size < 16`` or ``ncols < 1``.
    """
    a, b = to_rgb(img0, 'img0'), to_rgb(img1, 'img1')
    b0, b1 = _pair_boxes(boxes0, boxes1)
    m = len(b0)
    mask = _kept_mask(kept, m)
    if int(cell_size) < 16:
        raise ValueError(f'cell_size must be >= 16, got {cell_size}')
    if int(ncols) < 1:
        raise ValueError(f'ncols must be >= 1, got {ncols}')
    idx = list(range(m)) if indices is None else [int(i) for i in indices]
    bad = [i for i in idx if not 0 <= i < m]
    if bad:
        raise ValueError(f'indices must be pair indices in [0, {m}), got {bad[:5]}')
    have_matches = kpts0 is not None or kpts1 is not None or from_area is not None
    if have_matches:
        if kpts0 is None or kpts1 is None or from_area is None:
            raise ValueError('give kpts0, kpts1 and from_area together, or none of them')
        k0, k1 = _points2d(kpts0, 'kpts0'), _points2d(kpts1, 'kpts1')
        src = _to_numpy(from_area, 'from_area').reshape(-1).astype(np.int64)
        if not len(k0) == len(k1) == len(src):
            raise ValueError('kpts0, kpts1 and from_area must have the same length, got '
                             f'{len(k0)}, {len(k1)} and {len(src)}')
    if not idx:
        msg = np.full((60, 420, 3), 255, np.uint8)
        return put_text_block(msg, 'no matched area pairs to show', origin=(10, 15),
                              color=(0, 0, 0), bg_color=None)
    cols = _pair_colors(m, mask)
    size = int(cell_size)
    cells = []
    for i in idx:
        label = f'#{i}'
        if mask is not None:
            label += ' kept' if mask[i] else ' rejected'
        q0, q1 = np.zeros((0, 2)), np.zeros((0, 2))
        if have_matches:
            sel = src == i
            q0, q1 = k0[sel], k1[sel]
            label += f' - {int(sel.sum())} matches'
        pads, pts = [], []
        for img, box, q in ((a, b0[i], q0), (b, b1[i], q1)):
            # the crop holds the area and the pair's matches (A2PM matches in a grown crop)
            region = box.copy()
            if len(q):
                region[:2] = np.minimum(region[:2], q.min(0) - 3)
                region[2:] = np.maximum(region[2:], q.max(0) + 4)
            crop = _crop(img, region)
            origin = np.array([np.clip(np.floor(region[0]), 0, img.shape[1] - 1),
                               np.clip(np.floor(region[1]), 0, img.shape[0] - 1)])
            fitted, scale = _fit(crop, size)
            pad = np.full((size, size, 3), 255, np.uint8)
            pad[:fitted.shape[0], :fitted.shape[1]] = fitted
            if (region != box).any():  # outline of the area itself
                _rect(pad, (box - np.r_[origin, origin]) * scale, 0, cols[i], 1)
            pads.append(pad)
            pts.append((q - origin) * scale)
        body = draw_matches(pads[0], pads[1], pts[0], pts[1], color=cols[i],
                            max_lines=max_lines, margin=6)
        cells.append(np.concatenate([_header(body.shape[1], label, cols[i]), body], axis=0))
    return make_grid(cells, ncols=int(ncols), pad=6)
