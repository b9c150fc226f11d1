"""Image areas (segments, matched regions) as a typed structure, plus box helpers.

Conventions:

* An area is an axis-aligned box ``(x1, y1, x2, y2)`` in pixels of the image it
  belongs to (x right, y down, origin at the top-left corner of the top-left
  pixel; ``x2``/``y2`` exclusive, so a box covering pixel columns ``0..9`` is
  ``x1=0, x2=10``), optionally with a boolean mask of the image size.
* ``scores`` are in ``[0, 1]`` (segmenter confidence, match score ...).
* ``levels`` are Area Graph levels: 0 is the whole image, larger is smaller
  (see :class:`vision_sparse.models.area_matchers.AreaGraph`); ``-1`` means not
  assigned yet.

Everything here is numpy: areas feed OpenCV and graph code, never autograd.
"""
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

__all__ = [
    'AreaSet', 'box_area', 'box_iou', 'box_overlap', 'box_union',
    'expand_box', 'square_box', 'clip_boxes', 'boxes_from_masks'
]

IndexLike = Union[int, slice, Sequence[int], np.ndarray]


# --------------------------------------------------------------------------
# box helpers (all (K, 4) xyxy float64 unless said otherwise)
# --------------------------------------------------------------------------
def _boxes(x, name: str = 'boxes') -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f'{name} must have shape (K, 4) as (x1, y1, x2, y2), '
                         f'got {arr.shape}')
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f'{name} must be finite')
    return arr


def box_area(boxes) -> np.ndarray:
    """Areas of ``(K, 4)`` xyxy boxes in px^2 (0 for degenerate boxes)."""
    b = _boxes(boxes)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    return np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)


def box_iou(boxes_a, boxes_b) -> np.ndarray:
    """Intersection over union of every pair.

    Args:
        boxes_a: ``(A, 4)`` xyxy px.
        boxes_b: ``(B, 4)`` xyxy px.

    Returns:
        np.ndarray: ``(A, B)`` IoU in ``[0, 1]`` (0 where both are empty).
    """
    a, b = _boxes(boxes_a, 'boxes_a'), _boxes(boxes_b, 'boxes_b')
    inter = _intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_overlap(boxes_a, boxes_b, dilate: float = 0.0) -> np.ndarray:
    """Fraction of each box of ``a`` covered by each box of ``b``.

    Args:
        boxes_a: ``(A, 4)`` xyxy px.
        boxes_b: ``(B, 4)`` xyxy px.
        dilate (float): both boxes grow by this many px on every side before
            the intersection is measured (the denominator stays the original
            area of ``a``), so that touching boxes count as overlapping.

    Returns:
        np.ndarray: ``(A, B)`` values ``|a_i ^ b_j| / |a_i|`` (clipped to 1).
    """
    a, b = _boxes(boxes_a, 'boxes_a'), _boxes(boxes_b, 'boxes_b')
    d = np.array([-dilate, -dilate, dilate, dilate])
    inter = _intersection(a + d, b + d)
    return np.clip(inter / np.maximum(box_area(a)[:, None], 1e-12), 0.0, 1.0)


def box_union(boxes) -> np.ndarray:
    """The smallest box containing all ``(K, 4)`` boxes, shape ``(4,)``."""
    b = _boxes(boxes)
    if len(b) == 0:
        raise ValueError('box_union needs at least one box')
    return np.array([b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()])


def clip_boxes(boxes, image_size: Tuple[int, int]) -> np.ndarray:
    """Clip ``(K, 4)`` xyxy boxes to an image of ``image_size = (H, W)``."""
    b = _boxes(boxes).copy()
    h, w = image_size
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h)
    return b


def _shift_inside(b: np.ndarray, image_size: Tuple[int, int]) -> np.ndarray:
    """Move boxes (keeping their size) so that they lie inside the image where
    possible, then clip what still sticks out (boxes larger than the image)."""
    h, w = image_size
    b = b.copy()
    for lo, hi, lim in ((0, 2, w), (1, 3, h)):
        shift = np.where(b[:, lo] < 0, -b[:, lo], 0.0)
        b[:, lo] += shift
        b[:, hi] += shift
        shift = np.where(b[:, hi] > lim, b[:, hi] - lim, 0.0)
        b[:, lo] -= shift
        b[:, hi] -= shift
    return clip_boxes(b, image_size)


def _scaled_about_centres(boxes, ratio: float, image_size: Tuple[int, int],
                          square: bool) -> np.ndarray:
    """Boxes of ``ratio`` times the size (``square``: both sides ``ratio *
    max(w, h)``) with the same centres, moved inside the image and clipped."""
    if ratio <= 0:
        raise ValueError(f'ratio must be > 0, got {ratio}')
    b = _boxes(boxes)
    c = (b[:, :2] + b[:, 2:]) / 2
    size = b[:, 2:] - b[:, :2]
    if square:
        size = np.repeat(size.max(1, keepdims=True), 2, axis=1)
    half = size * ratio / 2
    return _shift_inside(np.concatenate([c - half, c + half], 1), image_size)


def expand_box(boxes, ratio: float, image_size: Tuple[int, int]) -> np.ndarray:
    """Scale boxes about their centres by ``ratio`` (aspect kept), moved inside
    the image (``image_size = (H, W)``) and clipped.

    Returns:
        np.ndarray: ``(K, 4)`` xyxy px.
    """
    return _scaled_about_centres(boxes, ratio, image_size, square=False)


def square_box(boxes, ratio: float, image_size: Tuple[int, int]) -> np.ndarray:
    """Square boxes of side ``ratio * max(w, h)`` with the boxes' centres, moved
    inside the image and clipped (a square larger than the image side becomes a
    rectangle). The Area Graph uses them (``ratio=1.2``) to crop areas.

    Returns:
        np.ndarray: ``(K, 4)`` xyxy px.
    """
    return _scaled_about_centres(boxes, ratio, image_size, square=True)


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (``x2``/``y2`` exclusive) of ``(K, H, W)`` masks; empty
    masks get ``(0, 0, 0, 0)``."""
    m = np.asarray(masks).astype(bool)
    if m.ndim != 3:
        raise ValueError(f'masks must have shape (K, H, W), got {m.shape}')
    out = np.zeros((len(m), 4))
    rows, cols = m.any(2), m.any(1)
    for k in range(len(m)):
        ys, xs = np.nonzero(rows[k])[0], np.nonzero(cols[k])[0]
        if len(ys):
            out[k] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return out


# --------------------------------------------------------------------------
# AreaSet
# --------------------------------------------------------------------------
class AreaSet:
    """Areas of one image: boxes, optional masks, scores and levels.

    Args:
        boxes: ``(K, 4)`` xyxy in pixels of the image (float).
        image_size (tuple): ``(H, W)`` of the image, pixels.
        scores: ``(K,)`` in ``[0, 1]``; default ones.
        levels: ``(K,)`` int Area Graph levels; default ``-1`` (unassigned).
        masks: ``(K, H, W)`` bool, optional.

    Attributes:
        boxes (np.ndarray): ``(K, 4)`` float64 xyxy px.
        scores (np.ndarray): ``(K,)`` float64.
        levels (np.ndarray): ``(K,)`` int64.
        masks (np.ndarray | None): ``(K, H, W)`` bool.
        image_size (tuple): ``(H, W)``.

    Raises:
        ValueError: for shapes that do not agree, non-finite boxes, scores
            outside ``[0, 1]`` or a non-positive image size.
    """

    def __init__(self,
                 boxes,
                 image_size: Tuple[int, int],
                 scores=None,
                 levels=None,
                 masks: Optional[np.ndarray] = None):
        if (len(image_size) != 2 or int(image_size[0]) <= 0
                or int(image_size[1]) <= 0):
            raise ValueError('image_size must be (H, W) with H, W > 0, '
                             f'got {tuple(image_size)}')
        self.image_size = (int(image_size[0]), int(image_size[1]))
        self.boxes = _boxes(np.zeros((0, 4)) if boxes is None else boxes)
        k = len(self.boxes)
        if k and ((self.boxes[:, 2] < self.boxes[:, 0]).any()
                  or (self.boxes[:, 3] < self.boxes[:, 1]).any()):
            raise ValueError('boxes must have x2 >= x1 and y2 >= y1')
        self.scores = (np.ones(k) if scores is None else
                       np.asarray(scores, dtype=np.float64).reshape(-1))
        if len(self.scores) != k:
            raise ValueError(f'scores must have shape ({k},), '
                             f'got {self.scores.shape}')
        if k and (not np.isfinite(self.scores).all() or self.scores.min() < 0
                  or self.scores.max() > 1):
            raise ValueError('scores must be in [0, 1]')
        self.levels = (np.full(k, -1, np.int64) if levels is None else
                       np.asarray(levels).astype(np.int64).reshape(-1))
        if len(self.levels) != k:
            raise ValueError(f'levels must have shape ({k},), '
                             f'got {self.levels.shape}')
        if masks is not None:
            masks = np.asarray(masks)
            if masks.ndim != 3 or masks.shape[0] != k or \
                    masks.shape[1:] != self.image_size:
                raise ValueError(
                    f'masks must have shape ({k}, {self.image_size[0]}, '
                    f'{self.image_size[1]}), got {masks.shape}')
            masks = masks.astype(bool, copy=False)
        self.masks = masks

    # ---------------------------------------------------------------- basics
    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        return (f'AreaSet(num={len(self)}, image_size={self.image_size}, '
                f'masks={"yes" if self.masks is not None else "no"})')

    def __getitem__(self, index: IndexLike) -> 'AreaSet':
        """Select areas by int, slice, index list or boolean mask."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        idx = np.arange(len(self))[index]
        return AreaSet(self.boxes[idx], self.image_size, self.scores[idx],
                       self.levels[idx],
                       None if self.masks is None else self.masks[idx])

    @classmethod
    def empty(cls, image_size: Tuple[int, int],
              with_masks: bool = False) -> 'AreaSet':
        """No areas (optionally with a ``(0, H, W)`` mask array)."""
        masks = np.zeros((0, *image_size), bool) if with_masks else None
        return cls(np.zeros((0, 4)), image_size, masks=masks)

    @classmethod
    def cat(cls, sets: Sequence['AreaSet']) -> 'AreaSet':
        """Concatenate area sets of the same image size (masks kept only if
        every set has them)."""
        if not sets:
            raise ValueError('cat needs at least one AreaSet')
        size = sets[0].image_size
        if any(s.image_size != size for s in sets):
            raise ValueError('all AreaSets must have the same image_size, got '
                             f'{[s.image_size for s in sets]}')
        masks = (np.concatenate([s.masks for s in sets]) if all(
            s.masks is not None for s in sets) else None)
        return cls(np.concatenate([s.boxes for s in sets]), size,
                   np.concatenate([s.scores for s in sets]),
                   np.concatenate([s.levels for s in sets]), masks)

    # ------------------------------------------------------------ properties
    @property
    def box_areas(self) -> np.ndarray:
        """``(K,)`` box areas, px^2."""
        return box_area(self.boxes)

    @property
    def mask_areas(self) -> Optional[np.ndarray]:
        """``(K,)`` mask pixel counts, or None without masks."""
        return None if self.masks is None else self.masks.reshape(
            len(self), -1).sum(1).astype(np.float64)

    @property
    def centers(self) -> np.ndarray:
        """``(K, 2)`` box centres ``(x, y)``, px."""
        return (self.boxes[:, :2] + self.boxes[:, 2:]) / 2

    @property
    def wh(self) -> np.ndarray:
        """``(K, 2)`` box widths and heights, px."""
        return self.boxes[:, 2:] - self.boxes[:, :2]

    # ----------------------------------------------------------- conversions
    @classmethod
    def from_masks(cls, masks, scores=None) -> 'AreaSet':
        """Areas from ``(K, H, W)`` masks (boxes are the tight mask boxes)."""
        m = np.asarray(masks)
        if m.ndim != 3:
            raise ValueError(f'masks must have shape (K, H, W), got {m.shape}')
        m = m.astype(bool)
        return cls(boxes_from_masks(m), m.shape[1:], scores, masks=m)

    @classmethod
    def from_label_map(cls, labels: np.ndarray) -> 'AreaSet':
        """One area per non-zero label of an ``(H, W)`` integer label image
        (0 = no area), in increasing label order."""
        lab = np.asarray(labels)
        if lab.ndim != 2:
            raise ValueError(f'labels must have shape (H, W), got {lab.shape}')
        if lab.dtype.kind not in 'iu':
            raise ValueError('labels must be an integer image, '
                             f'got dtype {lab.dtype}')
        ids = np.unique(lab)
        ids = ids[ids != 0]
        if len(ids) == 0:
            return cls.empty(lab.shape, with_masks=True)
        return cls.from_masks(lab[None] == ids[:, None, None])

    @classmethod
    def from_sam_records(cls, records: Sequence[Dict],
                         image_size: Optional[Tuple[int, int]] = None
                         ) -> 'AreaSet':
        """Areas from segment-anything automatic-mask-generator records.

        Args:
            records: dicts with ``segmentation`` (``(H, W)`` bool) and
                optionally ``bbox`` (XYWH px), ``predicted_iou`` /
                ``stability_score`` (the score, clipped to ``[0, 1]``).
            image_size: ``(H, W)``; needed only when ``records`` is empty.

        Raises:
            ValueError: for a record without ``segmentation`` or with masks of
                different sizes.
        """
        if len(records) == 0:
            if image_size is None:
                raise ValueError('image_size is needed for an empty record list')
            return cls.empty(image_size, with_masks=True)
        masks, scores = [], []
        for i, rec in enumerate(records):
            if not isinstance(rec, dict) or 'segmentation' not in rec:
                raise ValueError(f'records[{i}] must be a dict with a '
                                 "'segmentation' mask")
            seg = np.asarray(rec['segmentation'])
            if seg.ndim != 2:
                raise ValueError(f"records[{i}]['segmentation'] must be (H, W), "
                                 f'got {seg.shape}')
            masks.append(seg.astype(bool))
            scores.append(float(rec.get('predicted_iou',
                                        rec.get('stability_score', 1.0))))
        shapes = {m.shape for m in masks}
        if len(shapes) != 1:
            raise ValueError(f'all segmentations must have one size, got {shapes}')
        if image_size is not None and tuple(image_size) != masks[0].shape:
            raise ValueError(f'segmentations are {masks[0].shape}, '
                             f'expected image_size {tuple(image_size)}')
        return cls.from_masks(np.stack(masks), np.clip(scores, 0.0, 1.0))

    def to_label_map(self) -> np.ndarray:
        """``(H, W)`` int32 label image: area ``k`` gets label ``k + 1``; where
        areas overlap the smaller one wins; 0 = no area. Needs masks."""
        if self.masks is None:
            raise ValueError('to_label_map needs masks')
        out = np.zeros(self.image_size, np.int32)
        order = np.argsort(-self.mask_areas, kind='stable')  # large first
        for k in order:
            out[self.masks[k]] = k + 1
        return out

    def rescale(self, image_size: Tuple[int, int]) -> 'AreaSet':
        """The same areas in an image resized to ``image_size = (H, W)``
        (boxes scaled per axis, masks resized with nearest neighbour)."""
        h, w = int(image_size[0]), int(image_size[1])
        if h <= 0 or w <= 0:
            raise ValueError(f'image_size must be positive, got {image_size}')
        sy, sx = h / self.image_size[0], w / self.image_size[1]
        boxes = self.boxes * np.array([sx, sy, sx, sy])
        masks = None
        if self.masks is not None:
            masks = np.zeros((len(self), h, w), bool)
            for k, m in enumerate(self.masks):
                masks[k] = cv2.resize(m.astype(np.uint8), (w, h),
                                      interpolation=cv2.INTER_NEAREST) > 0
        return AreaSet(clip_boxes(boxes, (h, w)) if len(boxes) else boxes,
                       (h, w), self.scores, self.levels, masks)

    def to_dict(self) -> Dict[str, np.ndarray]:
        """``dict(boxes, scores, levels[, masks])`` (views, not copies)."""
        out = dict(boxes=self.boxes, scores=self.scores, levels=self.levels)
        if self.masks is not None:
            out['masks'] = self.masks
        return out

