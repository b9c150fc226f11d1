"""Point matching inside pairs of image areas (A2PM's last stage), two ways.

* :func:`crop_matches_to_image`: matches found on two area crops (made by
  ``crop_resize``) mapped back to the full images, padding matches dropped.
* :func:`match_in_crops`: every area pair cropped, resized to one square size
  and matched; matchers with per-image features extract each distinct crop
  once, the crops stacked through the network in batches.
* :func:`match_in_boxes`: features of each whole image extracted once; per
  area pair, the keypoints inside the two (enlarged) boxes are matched with
  each other, so ``M`` area pairs cost two extractions and ``M`` small
  matching steps instead of ``2 M`` crop extractions.
"""
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from tqdm import tqdm

from .base_matcher import BaseMatcher

__all__ = ['crop_matches_to_image', 'match_in_boxes', 'match_in_crops', 'points_in_box']

Matches = Tuple[np.ndarray, np.ndarray, np.ndarray]


def crop_matches_to_image(k0: np.ndarray, k1: np.ndarray, scores: np.ndarray,
                          affine0: np.ndarray, affine1: np.ndarray, shape0: Sequence[int],
                          shape1: Sequence[int]) -> Matches:
    """Matches on two crops -> full-image pixels.

    Args:
        k0, k1 (np.ndarray): ``(N, 2)`` crop px ``(x, y)``.
        scores (np.ndarray): ``(N,)``.
        affine0, affine1 (np.ndarray): ``(3,)`` ``(s, x0, y0)`` of each crop
            (``image_xy = crop_xy / s + (x0, y0)``).
        shape0, shape1: ``(H, W, ...)`` of the full images.

    Returns:
        tuple: ``kpts0 (M, 2)``, ``kpts1 (M, 2)``, ``scores (M,)`` float64,
        matches whose two ends both lie inside their image (not in the
        crop's zero padding).
    """
    k0 = np.asarray(k0, np.float64).reshape(-1, 2) / affine0[0] + affine0[1:]
    k1 = np.asarray(k1, np.float64).reshape(-1, 2) / affine1[0] + affine1[1:]
    ok = points_in_box(k0, (0, 0, shape0[1], shape0[0])) & points_in_box(
        k1, (0, 0, shape1[1], shape1[0]))
    return k0[ok], k1[ok], np.asarray(scores, np.float64).reshape(-1)[ok]


def points_in_box(points: np.ndarray, box, expand: float = 1.0) -> np.ndarray:
    """``(N,)`` bool: ``x0 <= x < x1`` and ``y0 <= y < y1`` for the box
    ``(x0, y0, x1, y1)`` px scaled by ``expand`` about its centre."""
    b = np.asarray(box, np.float64).reshape(4)
    c, half = (b[:2] + b[2:]) / 2, (b[2:] - b[:2]) / 2 * float(expand)
    lo, hi = c - half, c + half
    p = np.asarray(points, np.float64).reshape(-1, 2)
    return (p[:, 0] >= lo[0]) & (p[:, 0] < hi[0]) & (p[:, 1] >= lo[1]) & (p[:, 1] < hi[1])


@torch.inference_mode()
def match_in_boxes(matcher: BaseMatcher, image0: np.ndarray, image1: np.ndarray,
                   box_pairs: Sequence[Tuple[np.ndarray, np.ndarray]], expand: float = 1.0,
                   working_size=None) -> List[Matches]:
    """Match the keypoints inside each area pair, from one extraction per image.

    Args:
        matcher (BaseMatcher): a matcher with per-image features
            (``supports_extract``).
        image0, image1 (np.ndarray): ``(H, W, 3)`` uint8 full images.
        box_pairs: ``M`` pairs ``(box0 (4,), box1 (4,))`` xyxy px.
        expand (float): boxes are scaled by this about their centre first.
        working_size (int, optional): longer side of the images when
            extracting, px (None: the matcher's ``resize_max``).

    Returns:
        list: per pair ``(kpts0 (N, 2), kpts1 (N, 2), scores (N,))`` float64
        full-image px (empty arrays when a box holds no keypoint).

    Raises:
        ValueError: for a matcher without per-image features.
    """
    from vision_sparse.models.area_matchers.utils import match_arrays
    if not (isinstance(matcher, BaseMatcher) and matcher.supports_extract):
        raise ValueError('match_in_boxes needs a BaseMatcher with per-image features '
                         f'(supports_extract), got {type(matcher).__name__}')
    feats = [matcher.extract(img, working_size=working_size) for img in (image0, image1)]
    kpts = [BaseMatcher.feature_keypoints(f) for f in feats]
    empty = (np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0))
    out = []
    for b0, b1 in box_pairs:
        keep0, keep1 = points_in_box(kpts[0], b0, expand), points_in_box(kpts[1], b1, expand)
        if not keep0.any() or not keep1.any():
            out.append(empty)
            continue
        res = matcher.match_features(BaseMatcher.select_features(feats[0], keep0),
                                     BaseMatcher.select_features(feats[1], keep1))
        out.append(match_arrays(res))
    return out


def match_in_crops(matcher: Any, image0: np.ndarray, image1: np.ndarray,
                   box_pairs: Sequence[Tuple[np.ndarray, np.ndarray]], crop_size: int,
                   expand: float = 1.0, batch_size: Optional[int] = None,
                   progress: bool = False) -> List[Matches]:
    """Match every area pair on square crops of both images.

    Each box is enlarged by ``expand``, grown to a square (content aspect kept,
    zero padding outside the image) and resized to ``crop_size``
    (``crop_resize``). A :class:`BaseMatcher` with per-image features extracts
    each distinct crop once (:meth:`~BaseMatcher.extract_batch`, ``batch_size``
    crops per network call) and matches the features of each pair: the same
    matches as one matcher call per crop pair, to float tolerance. Other
    matchers (LoFTR, any callable with the matcher contract) are called once
    per crop pair.

    Args:
        matcher: the point matcher.
        image0, image1 (np.ndarray): ``(H, W, 3)`` uint8 full images.
        box_pairs: ``M`` pairs ``(box0 (4,), box1 (4,))`` xyxy px.
        crop_size (int): crop side, px.
        expand (float): box enlargement before squaring.
        batch_size (int, optional): crops per network call; None = 8 on
            CUDA, 1 on CPU (stacking 8 XFeat crops of 640 px took 3.0 s on one
            CPU thread against 2.2 s one by one).
        progress (bool): tqdm bar over the pairs.

    Returns:
        list: per pair ``(kpts0 (N, 2), kpts1 (N, 2), scores (N,))`` float64
        full-image px, matches in the crops' padding dropped.
    """
    from vision_sparse.models.area_matchers.utils import (crop_resize, match_arrays,
                                                          run_point_matcher)
    per_image = isinstance(matcher, BaseMatcher) and matcher.supports_extract
    if batch_size is None:
        on_gpu = per_image and matcher.device.type == 'cuda'
        batch_size = 8 if on_gpu else 1
    crops, feats = [], []
    for img, k in ((image0, 0), (image1, 1)):
        boxes = list(dict.fromkeys(tuple(pair[k]) for pair in box_pairs))  # distinct, in order
        crops.append({b: crop_resize(img, np.array(b), (crop_size, crop_size), expand)
                      for b in boxes})
        if per_image:
            found = matcher.extract_batch([crops[k][b][0] for b in boxes], int(batch_size))
            feats.append(dict(zip(boxes, found)))
    out = []
    for b0, b1 in tqdm(box_pairs, desc='A2PM area pairs', disable=not progress, leave=False):
        (c0, a0), (c1, a1) = crops[0][tuple(b0)], crops[1][tuple(b1)]
        if per_image:
            k0, k1, sc = match_arrays(matcher.match_features(feats[0][tuple(b0)],
                                                             feats[1][tuple(b1)]))
        else:
            k0, k1, sc = run_point_matcher(matcher, c0, c1)
        out.append(crop_matches_to_image(k0, k1, sc, a0, a1, image0.shape, image1.shape))
    return out
