"""A2PM fusion: geometric area-match filtering and merging of point matches.

For matched areas ``a = 1..M`` with point matches mapped back to full images:

1. per area, an essential matrix with MAGSAC (``thresh_px`` pixels, from the
   intrinsics) and its fundamental matrix ``F_a = K1^-T E K0^-1`` (without
   intrinsics: a fundamental matrix with MAGSAC directly); the area's inliers
   and their mean Sampson distance ``d_a`` under ``F_a``;
2. geometric consistency ``c_a`` of area ``a``: the mean Sampson distance of
   *all* areas' inliers under ``F_a``; the area is kept if ``c_a <= alpha *
   mean_b(c_b)`` (``statistic='median'`` uses medians for both, which stays
   right when wrong areas hold many inliers);
3. the inliers of kept areas are pooled; a fundamental matrix ``F*`` fitted to
   them (RANSAC, 1 px) gives their mean Sampson distance ``d*``; full-image
   matches with Sampson distance ``<= collect_factor * d*`` under ``F*`` are
   added;
4. matches closer than ``nms_radius`` px (in either image) to a better-scoring
   one are removed, and at most ``max_matches`` (best scores) are kept.

Sampson distances are in px^2 of the original images. The official code
compares ``c_a`` with ``alpha`` x the mean *self* distance ``d_a``, measured on
points re-normalised per call (so the units of both sides differ, and the
per-match test of step 3 becomes constant); see ``docs/a2pm.md``.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    'sampson_distance', 'estimate_area_geometry', 'geometric_area_filter',
    'collect_full_matches', 'nms_matches', 'fuse_matches'
]

MatchSet = Tuple[np.ndarray, np.ndarray, np.ndarray]


def sampson_distance(F: np.ndarray, kpts0: np.ndarray, kpts1: np.ndarray
                     ) -> np.ndarray:
    """First-order geometric error ``(x1^T F x0)^2 / (|F x0|_12^2 +
    |F^T x1|_12^2)`` of ``(N, 2)`` px matches; ``(N,)`` px^2."""
    x0 = np.concatenate([kpts0, np.ones((len(kpts0), 1))], 1)
    x1 = np.concatenate([kpts1, np.ones((len(kpts1), 1))], 1)
    fx0 = x0 @ F.T
    ftx1 = x1 @ F
    num = np.sum(x1 * fx0, 1) ** 2
    den = fx0[:, 0] ** 2 + fx0[:, 1] ** 2 + ftx1[:, 0] ** 2 + ftx1[:, 1] ** 2
    return num / np.maximum(den, 1e-12)


def estimate_area_geometry(kpts0: np.ndarray, kpts1: np.ndarray,
                           K0: Optional[np.ndarray], K1: Optional[np.ndarray],
                           thresh_px: float = 0.5, conf: float = 0.99999,
                           f_thresh_px: float = 1.0
                           ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``(F (3, 3), inlier mask (N,))`` of one area's matches, or None.

    With intrinsics: MAGSAC essential matrix on normalised coordinates
    (threshold ``thresh_px`` / mean focal length); without: MAGSAC fundamental
    matrix (``f_thresh_px``).
    """
    if len(kpts0) < 8:
        return None
    p0 = np.ascontiguousarray(kpts0, np.float64)
    p1 = np.ascontiguousarray(kpts1, np.float64)
    try:
        if K0 is not None and K1 is not None:
            n0 = (p0 - K0[[0, 1], [2, 2]]) / K0[[0, 1], [0, 1]]
            n1 = (p1 - K1[[0, 1], [2, 2]]) / K1[[0, 1], [0, 1]]
            thr = thresh_px / np.mean([K0[0, 0], K0[1, 1], K1[0, 0], K1[1, 1]])
            E, mask = cv2.findEssentialMat(n0, n1, np.eye(3), cv2.USAC_MAGSAC,
                                           conf, thr)
            if E is None or E.shape[0] < 3:
                return None
            F = np.linalg.inv(K1).T @ E[:3] @ np.linalg.inv(K0)
        else:
            F, mask = cv2.findFundamentalMat(p0, p1, cv2.USAC_MAGSAC,
                                             f_thresh_px, conf)
            if F is None or F.shape[0] < 3:
                return None
            F = F[:3]
    except cv2.error:
        return None
    if mask is None:
        return None
    return F, mask.ravel() > 0


def geometric_area_filter(area_matches: Sequence[MatchSet],
                          K0: Optional[np.ndarray], K1: Optional[np.ndarray],
                          alpha: float = 3.0, thresh_px: float = 0.5,
                          conf: float = 0.99999, min_inliers: int = 15,
                          statistic: str = 'mean') -> Dict:
    """Steps 1-2 of the module docstring.

    Args:
        area_matches: per area ``(kpts0 (N, 2), kpts1 (N, 2), scores (N,))``
            in full-image px.
        K0, K1: ``(3, 3)`` intrinsics or None.
        alpha (float): consistency factor (paper 3-3.5).
        thresh_px (float): MAGSAC threshold, px.
        conf (float): MAGSAC confidence.
        min_inliers (int): areas with fewer matches or inliers are invalid.
        statistic (str): ``'mean'`` (paper) or ``'median'`` (robust), used
            for the per-area consistency and for the threshold.

    Returns:
        dict: ``kept (M,)`` bool, ``valid (M,)`` bool (geometry estimated),
        ``F`` list of ``(3, 3)`` or None, ``inliers`` list of ``(N_a,)`` bool or
        None, ``self_sampson (M,)`` (NaN when invalid), ``consistency (M,)``.
    """
    if statistic not in ('mean', 'median'):
        raise ValueError(f"statistic must be 'mean' or 'median', got {statistic!r}")
    if alpha <= 0:
        raise ValueError(f'alpha must be > 0, got {alpha}')
    agg = np.mean if statistic == 'mean' else np.median
    m = len(area_matches)
    fs: List[Optional[np.ndarray]] = [None] * m
    inl: List[Optional[np.ndarray]] = [None] * m
    self_sd = np.full(m, np.nan)
    for a, (k0, k1, _) in enumerate(area_matches):
        if len(k0) < min_inliers:
            continue
        res = estimate_area_geometry(k0, k1, K0, K1, thresh_px, conf)
        if res is None or res[1].sum() < min_inliers:
            continue
        fs[a], inl[a] = res
        self_sd[a] = sampson_distance(res[0], k0[res[1]], k1[res[1]]).mean()
    valid = np.array([f is not None for f in fs], bool)
    cons = np.full(m, np.nan)
    kept = np.zeros(m, bool)
    if valid.any():
        all0 = np.concatenate([area_matches[a][0][inl[a]]
                               for a in np.nonzero(valid)[0]])
        all1 = np.concatenate([area_matches[a][1][inl[a]]
                               for a in np.nonzero(valid)[0]])
        for a in np.nonzero(valid)[0]:
            cons[a] = agg(sampson_distance(fs[a], all0, all1))
        level = float(agg(cons[valid]))
        kept = valid & (cons <= alpha * max(level, 1e-12))
    return dict(kept=kept, valid=valid, F=fs, inliers=inl,
                self_sampson=self_sd, consistency=cons)


def collect_full_matches(inlier0: np.ndarray, inlier1: np.ndarray,
                         full: MatchSet, factor: float = 2.0
                         ) -> Tuple[np.ndarray, Optional[np.ndarray], float]:
    """Step 3: the full-image matches that agree with the pooled area inliers.

    Returns:
        tuple: ``keep (N_full,)`` bool, the pooled ``F*`` (or None) and the
        mean Sampson distance ``d*`` of its inliers.
    """
    n_full = len(full[0])
    if len(inlier0) < 8 or n_full == 0:
        return np.zeros(n_full, bool), None, float('nan')
    try:
        F, mask = cv2.findFundamentalMat(inlier0, inlier1, cv2.FM_RANSAC, 1.0,
                                         0.999)
    except cv2.error:
        F = None
    if F is None or F.shape[0] < 3 or mask is None or not mask.any():
        return np.zeros(n_full, bool), None, float('nan')
    F = F[:3]
    m = mask.ravel() > 0
    d_star = float(sampson_distance(F, inlier0[m], inlier1[m]).mean())
    keep = sampson_distance(F, full[0], full[1]) <= factor * max(d_star, 1e-12)
    return keep, F, d_star


def nms_matches(kpts0: np.ndarray, kpts1: np.ndarray, scores: np.ndarray,
                radius: float = 3.0, max_matches: Optional[int] = 5000
                ) -> np.ndarray:
    """Indices of the matches kept by greedy non-maximum suppression.

    A match is dropped when a better-scoring kept match lies within
    ``radius`` px of it in image 0 or in image 1 (a point cannot have two
    partners). At most ``max_matches`` best matches are returned.

    Returns:
        np.ndarray: ``(N',)`` int indices, by decreasing score.
    """
    n = len(kpts0)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(-scores, kind='stable')
    if radius <= 0:
        keep = order
    else:
        conflicts = [set() for _ in range(n)]
        for pts in (kpts0, kpts1):
            for i, j in cKDTree(pts).query_pairs(radius, output_type='ndarray'):
                conflicts[i].add(j)
                conflicts[j].add(i)
        removed = np.zeros(n, bool)
        keep_list = []
        for i in order:
            if removed[i]:
                continue
            keep_list.append(i)
            for j in conflicts[i]:
                removed[j] = True
        keep = np.asarray(keep_list, np.int64)
    if max_matches is not None and max_matches >= 0:
        keep = keep[:max_matches]
    return keep


def fuse_matches(area_matches: Sequence[MatchSet], full: MatchSet,
                 K0: Optional[np.ndarray], K1: Optional[np.ndarray],
                 alpha: float = 3.0, thresh_px: float = 0.5,
                 conf: float = 0.99999, min_inliers: int = 15,
                 collect_factor: float = 2.0, nms_radius: float = 3.0,
                 max_matches: int = 5000, statistic: str = 'mean') -> Dict:
    """All four fusion steps (module docstring).

    Args:
        area_matches: per area ``(kpts0, kpts1, scores)``, full-image px.
        full: ``(kpts0, kpts1, scores)`` of the point matcher on the full
            images.
        K0, K1: intrinsics or None.
        alpha, thresh_px, conf, min_inliers, statistic: see
            :func:`geometric_area_filter`.
        collect_factor (float): Sampson factor for the full-image matches.
        nms_radius (float): px.
        max_matches (int): cap.

    Returns:
        dict: ``kpts0 (N, 2)``, ``kpts1 (N, 2)``, ``scores (N,)``, ``from_area
        (N,)`` int (area index, -1 = full-image match), ``area_kept (M,)``
        bool, ``area_valid (M,)`` bool, ``area_consistency (M,)``,
        ``area_self_sampson (M,)``, ``num_full_collected`` (int).

    OpenCV's RANSAC draws from its global generator; it is re-seeded here
    (``cv2.setRNGSeed(0)``) so that the same inputs give the same matches.
    """
    cv2.setRNGSeed(0)
    filt = geometric_area_filter(area_matches, K0, K1, alpha, thresh_px, conf,
                                 min_inliers, statistic)
    kept = np.nonzero(filt['kept'])[0]
    parts0, parts1, partss, src = [], [], [], []
    for a in kept:
        k0, k1, sc = area_matches[a]
        inl = filt['inliers'][a]
        parts0.append(k0[inl])
        parts1.append(k1[inl])
        partss.append(sc[inl])
        src.append(np.full(int(inl.sum()), a))
    if parts0:
        in0, in1 = np.concatenate(parts0), np.concatenate(parts1)
    else:
        in0 = in1 = np.zeros((0, 2))
    keep_full, _, _ = collect_full_matches(in0, in1, full, collect_factor)
    parts0.append(full[0][keep_full])
    parts1.append(full[1][keep_full])
    partss.append(full[2][keep_full])
    src.append(np.full(int(keep_full.sum()), -1))
    k0 = np.concatenate(parts0).reshape(-1, 2)
    k1 = np.concatenate(parts1).reshape(-1, 2)
    sc = np.concatenate(partss).reshape(-1)
    from_area = np.concatenate(src).astype(np.int64)
    idx = nms_matches(k0, k1, sc, nms_radius, max_matches)
    return dict(kpts0=k0[idx], kpts1=k1[idx], scores=sc[idx],
                from_area=from_area[idx], area_kept=filt['kept'],
                area_valid=filt['valid'],
                area_consistency=filt['consistency'],
                area_self_sampson=filt['self_sampson'],
                num_full_collected=int(keep_full.sum()))
