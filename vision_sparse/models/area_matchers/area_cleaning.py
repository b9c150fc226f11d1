"""Cleaning raw segment masks into usable areas (MESA paper, area preprocessing).

Steps, in order (sizes are box areas, as in the official code):

1. split every multi-part mask into its 8-connected pieces;
2. drop pieces whose box is smaller than ``tiny_area``;
3. merge areas whose box is smaller than ``min_area`` or whose box aspect ratio
   exceeds ``max_aspect`` into the most size-similar of their ``top_k`` nearest
   areas (centre distance below ``0.7 * merge_dist``); an area with no such
   neighbour is dropped;
4. remove near-duplicates: of two areas whose boxes' corners are on average
   closer than ``dedup_dist``, the smaller one goes.

The official thresholds (900, 6000 px^2, 100 and 50 px) assume 640x480 images.
Here they are given for a reference size (``ref_size``, default 480x640) and
scaled with the image: areas by ``H*W / (ref_h*ref_w)``, distances by its square
root, so a 1296x968 image uses the same fractions of the picture.
"""
import inspect
from typing import Optional, Tuple

import cv2
import numpy as np

from vision_sparse.structures.areas import AreaSet, box_area

__all__ = ['clean_areas', 'size_scale', 'DEFAULT_CLEAN']


def size_scale(image_size: Tuple[int, int],
               ref_size: Tuple[int, int] = (480, 640)) -> float:
    """Linear scale of an image relative to the reference size,
    ``sqrt(H*W / (ref_h*ref_w))``."""
    h, w = image_size
    return float(np.sqrt(h * w / float(ref_size[0] * ref_size[1])))


def _split_parts(areas: AreaSet, tiny: float):
    """Masks -> list of (mask, box, score) pieces with box area >= tiny."""
    pieces = []
    for k in range(len(areas)):
        m = areas.masks[k].astype(np.uint8)
        n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        for c in range(1, n):
            x, y, w, h = (int(v) for v in stats[c, :4])
            if w * h < tiny:
                continue
            pieces.append([lab == c, np.array([x, y, x + w, y + h], float),
                           float(areas.scores[k])])
    return pieces


def _merge_offenders(pieces, min_area: float, max_aspect: float,
                     merge_dist: float, top_k: int):
    """Merge small / elongated areas into a neighbour (or drop them)."""
    def offends(p):
        w, h = p[1][2] - p[1][0], p[1][3] - p[1][1]
        small = w * h < min_area
        slim = max(w, h) / max(min(w, h), 1e-6) > max_aspect
        return small or slim

    while True:
        bad = [i for i, p in enumerate(pieces) if offends(p)]
        if not bad:
            return pieces
        # the smallest offender first: deterministic and merges debris early
        i = min(bad, key=lambda j: box_area(pieces[j][1])[0])
        cur = pieces.pop(i)
        if not pieces:
            return pieces
        c0 = (cur[1][:2] + cur[1][2:]) / 2
        boxes = np.stack([p[1] for p in pieces])
        dist = np.linalg.norm((boxes[:, :2] + boxes[:, 2:]) / 2 - c0, axis=1)
        size0 = box_area(cur[1])[0]
        sizes = box_area(boxes)
        best, best_sim = -1, 0.0
        for j in np.argsort(dist, kind='stable')[:top_k]:
            if dist[j] >= 0.7 * merge_dist:
                continue
            sim = min(size0, sizes[j]) / max(size0, sizes[j], 1e-6)
            if sim > best_sim:
                best, best_sim = int(j), sim
        if best < 0:
            continue  # no neighbour close enough: the piece is dropped
        tgt = pieces[best]
        tgt[0] = tgt[0] | cur[0]
        tgt[1] = np.concatenate([np.minimum(tgt[1][:2], cur[1][:2]),
                                 np.maximum(tgt[1][2:], cur[1][2:])])
        tgt[2] = max(tgt[2], cur[2])


def _dedup(pieces, dedup_dist: float):
    if len(pieces) < 2:
        return pieces
    boxes = np.stack([p[1] for p in pieces])
    sizes = box_area(boxes)
    d_tl = np.linalg.norm(boxes[:, None, :2] - boxes[None, :, :2], axis=-1)
    d_br = np.linalg.norm(boxes[:, None, 2:] - boxes[None, :, 2:], axis=-1)
    close = (d_tl + d_br) / 2 < dedup_dist
    np.fill_diagonal(close, False)
    keep = []
    for i in range(len(pieces)):
        js = np.nonzero(close[i])[0]
        loses = any(sizes[i] < sizes[j] or (sizes[i] == sizes[j] and i > j)
                    for j in js)
        if not loses:
            keep.append(i)
    return [pieces[i] for i in keep]


def clean_areas(areas: AreaSet,
                tiny_area: float = 900.0,
                min_area: float = 6000.0,
                max_aspect: float = 4.0,
                merge_dist: float = 100.0,
                dedup_dist: float = 50.0,
                top_k: int = 3,
                ref_size: Tuple[int, int] = (480, 640),
                max_areas: Optional[int] = None) -> AreaSet:
    """Split, filter, merge and de-duplicate raw areas (see module doc).

    Args:
        areas (AreaSet): raw areas of one image, with masks (boxes-only sets
            skip the split and the mask union).
        tiny_area (float): pieces with a smaller box are dropped, px^2 at
            ``ref_size``.
        min_area (float): smaller boxes are merged into a neighbour, px^2 at
            ``ref_size``.
        max_aspect (float): boxes more elongated than this are merged.
        merge_dist (float): merge partners must have centres closer than
            ``0.7 * merge_dist`` px at ``ref_size``.
        dedup_dist (float): mean corner distance below which two boxes are
            duplicates, px at ``ref_size``.
        top_k (int): nearest areas considered as merge partners.
        ref_size (tuple): ``(H, W)`` the thresholds refer to.
        max_areas (int, optional): keep at most this many (largest) areas.

    Returns:
        AreaSet: cleaned areas (masks kept when given), sorted by decreasing box
        area; may be empty.
    """
    if max_aspect < 1:
        raise ValueError(f'max_aspect must be >= 1, got {max_aspect}')
    s = size_scale(areas.image_size, ref_size)
    tiny, small = tiny_area * s * s, min_area * s * s
    if len(areas) == 0:
        return areas
    if areas.masks is not None:
        pieces = _split_parts(areas, tiny)
    else:
        keep = areas.box_areas >= tiny
        pieces = [[None, areas.boxes[k].copy(), float(areas.scores[k])]
                  for k in np.nonzero(keep)[0]]
    if areas.masks is None:
        # boxes-only: a union of boxes stands in for the mask union
        for p in pieces:
            p[0] = np.zeros((1, 1), bool)
    pieces = _merge_offenders(pieces, small, max_aspect, merge_dist * s, top_k)
    pieces = _dedup(pieces, dedup_dist * s)
    if not pieces:
        return AreaSet.empty(areas.image_size,
                             with_masks=areas.masks is not None)
    boxes = np.stack([p[1] for p in pieces])
    order = np.argsort(-box_area(boxes), kind='stable')
    if max_areas is not None:
        order = order[:max_areas]
    masks = (np.stack([pieces[i][0] for i in order])
             if areas.masks is not None else None)
    return AreaSet(boxes[order], areas.image_size,
                   np.array([pieces[i][2] for i in order]), masks=masks)


#: the keyword defaults of :func:`clean_areas` (the MESA paper's thresholds, px / px^2
#: at 640x480, scaled with the image): the ``clean`` options of the area sources.
DEFAULT_CLEAN = {name: p.default for name, p in inspect.signature(clean_areas).parameters.items()
                 if p.default is not inspect.Parameter.empty}
