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

The steps above are the paper's fusion (``fusion='legacy'`` in
:class:`~vision_sparse.models.area_matchers.A2PMMatcher`). It counts
*matches*: a wrong area pair (repetitive texture, a textureless wall, a
non-planar object) gives dense, self-consistent matches that can outvote the
full-image geometry. :func:`consensus_fusion` (the default) counts
*independent sources* instead:

1. every source - each area pair and the full image - with at least
   ``min_source_matches`` matches proposes a geometry (essential matrix with
   intrinsics, fundamental matrix without; MAGSAC, ``fit_px``);
2. a source *agrees* with a hypothesis when at least ``min_agree_matches`` of
   its matches, and at least ``agree_share`` of them, lie within ``agree_px``
   (square root of the Sampson distance; ``fit_px``, ``agree_px`` and
   ``keep_px`` are px at a 640 px long side, scaled with the larger image,
   so the same options fit 640 px and 1296 px inputs) - so a source's vote
   does not grow with its match count;
3. agreeing sources are visited by decreasing inlier count; one counts as
   *independent* when at least ``novel_share`` of the grid cells
   (``grid`` x ``grid`` per image) holding its inliers are not yet covered by
   earlier sources (nested area pairs of the same region count once); the
   hypothesis score is ``independent sources + coverage``, coverage being
   the share of grid cells covered by the agreeing inliers (the smaller of
   the two images), in ``[0, 1]``: the number of independent sources decides,
   coverage breaks ties; exact ties prefer the full image's hypothesis.
   When the full image agrees with its own hypothesis and an area pair's
   hypothesis scores higher, the two are compared again on the sources that
   agree with only one of them (a small or planar area fits many
   geometries and says nothing about which is right); the area hypothesis
   must win that comparison outright;
   *Well-supported full image* (``full_stands``, default, with
   ``select='auto'``): when the full image's own geometry explains at least
   ``strong_full_share`` of its matches, at least ``strong_full_inliers`` of
   them, spread over at least ``strong_full_coverage`` of the grid cells, its
   geometry stands - no area hypothesis is considered (a strong matcher's
   geometry over the whole image is better evidence than any set of area
   pairs: 12 wrong area pairs agreeing on one wrong transform, as a
   repetitive scene gives, can outscore it on coverage);
   *Weak full image* (``select='auto'``): when the full image's own geometry
   explains fewer than ``weak_full_share`` of its matches (within
   ``agree_px``), that geometry is unreliable - a weak matcher's
   MAGSAC can lock onto a wrong structure which the areas, at a loose
   threshold, also "agree" with. The hypotheses are then scored on held-out
   evidence instead: every source rates a hypothesis by its MSAC-like soft
   support (``sum max(0, 1 - d / agree_px^2)``) relative to its support of
   its own hypothesis, capped at 1 (one vote per source whatever its match
   count), and a hypothesis is scored on the *other* sources only (a source
   cannot vouch for the geometry it produced); an area hypothesis must beat
   the full image's by ``heldout_margin`` votes. ``select='coverage'`` /
   ``'heldout'`` force one rule;
4. the winner is refitted on the union of the agreeing sources' inliers, at
   most ``max_source_matches`` (best scores) per source; agreement is
   re-tested under the refitted geometry;
5. output: the matches within ``keep_px`` of the final geometry from the
   agreeing area pairs and from the full image (when the full image stands,
   ``strong_full_output='all'`` keeps *all* its matches, as the bare matcher
   returned them, and adds the agreeing area pairs' matches within
   ``keep_px``; ``'inliers'`` filters them like the others, ``'bare'`` adds
   nothing)
   (all full-image matches when no area pair agrees: then A2PM returns what
   the bare matcher returned), NMS and cap as in step 4 above.
   *The full image won* (``full_winner_output='bare'``, default): when the
   winning hypothesis is the full image's own and that image is not weak
   (its geometry explains at least ``weak_full_share`` of its matches), the
   output is the full-image matches exactly as the matcher returned them
   (no NMS; only the ``max_matches`` cap), with ``full_won=True``: the agreeing area
   pairs confirm a geometry the full image already has, and adding their
   matches only re-draws the final RANSAC (measured on ScanNet: seven
   LighterGlue matches added within 1 px moved a pose from 2.0 to 8.0 deg,
   the same matches in another order from 1.1 to 2.1 deg, and NMS dropping
   1-8 of 100-340 ALIKED matches moved poses by 4 to 36 deg either way).
   ``'merge'`` adds them as described above. A weak full image that wins
   still returns its inliers (that is what cleans a weak matcher's
   outliers).

So a single wrong area pair, however dense, is one source covering one
region: it cannot beat a full image whose matches cover the image and agree
with each other, while several area pairs agreeing on one geometry beat a
poor full image.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from scipy.spatial import cKDTree

from vision_sparse.utils.config import merge_conf

__all__ = [
    'sampson_distance', 'estimate_area_geometry', 'geometric_area_filter',
    'collect_full_matches', 'nms_matches', 'fuse_matches', 'consensus_fusion',
    'CONSENSUS_DEFAULTS'
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
                           f_thresh_px: float = 1.0, max_iters: int = 1000
                           ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``(F (3, 3), inlier mask (N,))`` of one area's matches, or None.

    With intrinsics: MAGSAC essential matrix on normalised coordinates
    (threshold ``thresh_px`` / mean focal length); without: MAGSAC fundamental
    matrix (``f_thresh_px``). ``max_iters``: MAGSAC iterations at most
    (OpenCV's default 1000).
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
                                           conf, thr, int(max_iters))
            if E is None or E.shape[0] < 3:
                return None
            F = np.linalg.inv(K1).T @ E[:3] @ np.linalg.inv(K0)
        else:
            F, mask = cv2.findFundamentalMat(p0, p1, cv2.USAC_MAGSAC,
                                             f_thresh_px, conf, int(max_iters))
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


#: Defaults of :func:`consensus_fusion` (documented in the module docstring).
CONSENSUS_DEFAULTS = dict(fit_px=1.0, agree_px=2.0, keep_px=1.0, agree_share=0.5,
                          min_agree_matches=8, min_source_matches=12, max_source_matches=200,
                          grid=8, novel_share=0.5, source_weight=0.1, refit=True,
                          select='auto', weak_full_share=0.3, heldout_margin=1.0,
                          full_stands=True, strong_full_share=0.3, strong_full_inliers=50,
                          strong_full_coverage=0.2, strong_full_refit=True,
                          strong_full_output='all', full_winner_output='bare',
                          fit_iters=1000, fit_workers=0)


def _grid_cells(kpts: np.ndarray, size: Tuple[int, int], grid: int) -> set:
    """Ids of the ``grid x grid`` cells of an ``(h, w)`` image holding points."""
    h, w = size
    cx = np.clip((kpts[:, 0] / max(w, 1) * grid).astype(int), 0, grid - 1)
    cy = np.clip((kpts[:, 1] / max(h, 1) * grid).astype(int), 0, grid - 1)
    return set((cy * grid + cx).tolist())


def _support(F: np.ndarray, sources: Sequence[MatchSet], thr: float,
             agree_share: float, min_agree: int, ref: np.ndarray
             ) -> Tuple[List[np.ndarray], np.ndarray, np.ndarray]:
    """Inlier masks, inlier counts relative to ``ref`` (each source's inliers
    under its own geometry) and agreement of every source under ``F``."""
    inl, share, agree = [], np.zeros(len(sources)), np.zeros(len(sources), bool)
    for s, (k0, k1, _) in enumerate(sources):
        m = (np.sqrt(sampson_distance(F, k0, k1)) <= thr if len(k0)
             else np.zeros(0, bool))
        inl.append(m)
        share[s] = m.sum() / max(ref[s], 1)
        agree[s] = m.sum() >= min_agree and share[s] >= agree_share
    return inl, share, agree


def _score(sources: Sequence[MatchSet], inl: List[np.ndarray], agree: np.ndarray,
           sizes: Tuple[Tuple[int, int], Tuple[int, int]], grid: int,
           novel_share: float, source_weight: float) -> Tuple[float, int, float]:
    """``(score, independent sources, coverage)`` of one hypothesis (step 3)."""
    cov0, cov1 = set(), set()
    indep = 0
    order = sorted(np.nonzero(agree)[0], key=lambda s: (-int(inl[s].sum()), -s))
    for s in order:
        c0 = _grid_cells(sources[s][0][inl[s]], sizes[0], grid)
        c1 = _grid_cells(sources[s][1][inl[s]], sizes[1], grid)
        novel = len(c0 - cov0) + len(c1 - cov1)
        if novel >= novel_share * max(len(c0) + len(c1), 1):
            indep += 1
        cov0 |= c0
        cov1 |= c1
    coverage = min(len(cov0), len(cov1)) / float(grid * grid)
    return coverage + source_weight * indep, indep, coverage


def _heldout_scores(hyps: List[Optional[np.ndarray]], sources: Sequence[MatchSet],
                    thr: float) -> np.ndarray:
    """Held-out score of every hypothesis (``(S,)``, NaN without one).

    Each match contributes the truncated quadratic ``max(0, 1 - d / thr^2)``
    (``d`` its Sampson distance, px^2; MSAC-like); a source's support of a
    hypothesis is the sum over its matches, relative to its support of its
    own hypothesis and capped at 1, so that every source casts at most one
    vote whatever its match count. Hypothesis ``s`` is scored on the other
    sources only: a source cannot vouch for the geometry it produced.
    """
    n = len(sources)
    soft = np.zeros((n, n))
    for s in range(n):
        if hyps[s] is None:
            continue
        for t, (k0, k1, _) in enumerate(sources):
            if len(k0):
                soft[s, t] = np.clip(1 - sampson_distance(hyps[s], k0, k1) / thr ** 2,
                                     0, None).sum()
    own = np.diag(soft)
    usable = np.array([h is not None for h in hyps]) & (own > 0)
    share = np.minimum(1.0, soft / np.maximum(own, 1e-12)[None, :])
    share[:, ~usable] = 0.0
    np.fill_diagonal(share, 0.0)
    out = share.sum(1)
    out[[h is None for h in hyps]] = np.nan
    return out


def _challenge(best: int, full: int, support: List, sources: Sequence[MatchSet],
               sizes, grid: int, novel_share: float, source_weight: float) -> int:
    """The full image's hypothesis against the best area hypothesis on the
    sources that agree with only one of them (a source that fits both - a
    small or planar area fits many geometries - says nothing about which is
    right); ties keep the full image."""
    a_best, a_full = support[best][1], support[full][1]
    only_best, only_full = a_best & ~a_full, a_full & ~a_best
    s_best = _score(sources, support[best][0], only_best, sizes, grid, novel_share,
                    source_weight)[0]
    s_full = _score(sources, support[full][0], only_full, sizes, grid, novel_share,
                    source_weight)[0]
    return best if s_best > s_full else full


def _check_sizes(image_size0, image_size1, sources: Sequence[MatchSet]
                 ) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """``(h, w)`` of both images; from the match extents when not given."""
    out = []
    for i, size in enumerate((image_size0, image_size1)):
        if size is None:
            pts = [src[i] for src in sources if len(src[i])]
            ext = np.concatenate(pts).max(0) + 1 if pts else np.array([640.0, 480.0])
            size = (int(np.ceil(ext[1])), int(np.ceil(ext[0])))
        size = tuple(int(v) for v in size[:2])
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f'image_size{i} must be (h, w) > 0, got {size}')
        out.append(size)
    return out[0], out[1]


def consensus_fusion(area_matches: Sequence[MatchSet], full: MatchSet,
                     K0: Optional[np.ndarray], K1: Optional[np.ndarray],
                     image_size0: Optional[Tuple[int, int]] = None,
                     image_size1: Optional[Tuple[int, int]] = None,
                     conf: float = 0.99999,
                     nms_radius: float = 3.0, max_matches: int = 5000,
                     **options) -> Dict:
    """Consensus fusion of area-pair and full-image matches (module docstring).

    Args:
        area_matches: per area pair ``(kpts0 (N_a, 2), kpts1 (N_a, 2), scores
            (N_a,))`` in full-image px.
        full: ``(kpts0 (N, 2), kpts1 (N, 2), scores (N,))`` of the point matcher
            on the full images.
        K0, K1: ``(3, 3)`` intrinsics (px) or None (fundamental matrices).
        image_size0, image_size1: ``(h, w)`` of the images (grid cells and the
            ``agree_px`` scale); default the extent of the matches.
        conf (float): MAGSAC confidence.
        nms_radius (float): px; max_matches (int): cap (best scores).
        **options: overrides of :data:`CONSENSUS_DEFAULTS`: ``fit_px``
            (MAGSAC threshold of every hypothesis and of the refit; fundamental
            matrices without intrinsics use twice this), ``agree_px``
            (agreement), ``keep_px`` (output matches) - all px at a 640 px
            long side, scaled with the larger image -, ``agree_share`` (0-1),
            ``min_agree_matches``, ``min_source_matches``,
            ``max_source_matches``, ``grid``, ``novel_share`` (0-1),
            ``refit`` (bool: refit the winner on the agreeing sources),
            ``select`` (``'auto'`` | ``'coverage'`` | ``'heldout'``: how the
            winning hypothesis is chosen), ``weak_full_share`` (0-1: below it
            ``'auto'`` uses the held-out vote), ``heldout_margin`` (votes,
            >= 0), ``full_stands`` (bool: a well-supported full image keeps
            its geometry; ``select='auto'`` only), ``strong_full_share``
            (0-1), ``strong_full_inliers``, ``strong_full_coverage`` (0-1:
            share of grid cells) - what "well supported" means -,
            ``strong_full_refit`` (bool: refit a standing full image's
            geometry on the agreeing sources), ``strong_full_output``
            (``'all'`` | ``'inliers'`` | ``'bare'``: the full-image matches
            kept when it stands, see step 5; these two matter only with
            ``full_winner_output='merge'``: under ``'bare'`` a standing full
            image returns its matches as given), ``full_winner_output``
            (``'bare'`` | ``'merge'``: the output when the full image's
            hypothesis wins and it is not weak, see step 5), ``fit_iters`` (MAGSAC
            iterations of the area pairs' hypotheses; the full image's
            always 1000), ``fit_workers`` (threads fitting the sources'
            hypotheses in parallel; 0 = OpenCV's thread count; results do
            not depend on it).

    Returns:
        dict: ``kpts0 (K, 2)``, ``kpts1 (K, 2)``, ``scores (K,)``, ``from_area
        (K,)`` int (-1 = full image); ``area_kept (M,)`` bool (agrees with the
        final geometry), ``area_valid (M,)`` bool (proposed a hypothesis),
        ``area_agree_share (M,)`` (inlier share under the final geometry),
        ``full_agrees`` (bool), ``full_agree_share`` (float), ``F`` ``(3, 3)``
        or None (final geometry, px), ``winner`` (int: the source whose
        hypothesis won, -1 = full image, -2 = none), ``hypothesis_scores
        (M + 1,)`` (last = full image; NaN without a hypothesis),
        ``num_independent`` (int), ``coverage`` (float),
        ``num_full_collected`` (int), ``fallback`` (str, ``''`` or why the
        full-image matches are returned unchanged), ``full_won`` (bool: the
        full image won and its matches are returned as given,
        ``full_winner_output='bare'``), ``full_inlier_share``
        (float, NaN without a full-image hypothesis), ``full_coverage``
        (float: grid share of those inliers), ``selection``
        (``'strong_full'``, ``'coverage'`` or ``'heldout'``: the rule that
        chose the winner;
        ``hypothesis_scores`` are that rule's scores, held-out ones less the
        margin for area pairs).

    Raises:
        ValueError: for unknown options or values out of range.
    """
    o = merge_conf(CONSENSUS_DEFAULTS, options, 'consensus_fusion')
    for k in ('agree_share', 'novel_share'):
        if not 0 <= o[k] <= 1:
            raise ValueError(f'{k} must be in [0, 1], got {o[k]}')
    if o['select'] not in ('auto', 'coverage', 'heldout'):
        raise ValueError(f"select must be 'auto', 'coverage' or 'heldout', got {o['select']!r}")
    if not 0 <= o['weak_full_share'] <= 1 or o['heldout_margin'] < 0:
        raise ValueError(f"weak_full_share must be in [0, 1] and heldout_margin >= 0, got "
                         f"{o['weak_full_share']}, {o['heldout_margin']}")
    if o['strong_full_output'] not in ('inliers', 'all', 'bare'):
        raise ValueError("strong_full_output must be 'inliers', 'all' or 'bare', got "
                         f"{o['strong_full_output']!r}")
    if o['full_winner_output'] not in ('bare', 'merge'):
        raise ValueError("full_winner_output must be 'bare' or 'merge', got "
                         f"{o['full_winner_output']!r}")
    if o['agree_px'] <= 0 or int(o['grid']) < 1:
        raise ValueError(f"agree_px must be > 0 and grid >= 1, got {o['agree_px']}, "
                         f"{o['grid']}")
    cv2.setRNGSeed(0)
    m = len(area_matches)
    full = tuple(np.asarray(a, np.float64) for a in full)
    sources = [tuple(np.asarray(a, np.float64) for a in src) for src in area_matches]
    sources.append(full)  # the full image is source m
    sizes = _check_sizes(image_size0, image_size1, sources)
    scale = max(max(sizes[0]), max(sizes[1])) / 640.0
    thr = o['agree_px'] * scale
    thresh_px = o['fit_px'] * scale
    min_agree = int(o['min_agree_matches'])
    grid = int(o['grid'])

    hyps: List[Optional[np.ndarray]] = [None] * (m + 1)
    support: List[Optional[Tuple[List[np.ndarray], np.ndarray]]] = [None] * (m + 1)
    scores = np.full(m + 1, np.nan)
    shares: List[Optional[np.ndarray]] = [None] * (m + 1)  # per hypothesis, each source's share
    ref = np.array([len(src[0]) for src in sources], np.float64)
    # every source proposes its geometry: independent MAGSAC fits (OpenCV's USAC seeds each
    # call itself, so the results do not depend on the order or the thread), run on OpenCV's
    # threads (OpenCV releases the GIL); identical to a sequential loop (tested)
    fit_ids = [s for s, src in enumerate(sources)
               if len(src[0]) >= max(int(o['min_source_matches']), 8)]

    def fit(s: int):
        return estimate_area_geometry(sources[s][0], sources[s][1], K0, K1, thresh_px, conf,
                                      2 * thresh_px, o['fit_iters'] if s < m else 1000)

    workers = min(len(fit_ids), max(1, int(o['fit_workers']) if o['fit_workers'] else
                                    cv2.getNumThreads()))
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            fits = list(pool.map(fit, fit_ids))
    else:
        fits = [fit(s) for s in fit_ids]
    full_own = None  # the full image's matches its own geometry explains
    for s, res in zip(fit_ids, fits):
        k0, k1, _ = sources[s]
        if res is None or res[1].sum() < min_agree:
            continue
        hyps[s] = res[0]
        own = np.sqrt(sampson_distance(res[0], k0, k1)) <= thr
        ref[s] = max(int(own.sum()), 1)
        if s == m:
            full_own = own
    for s in range(m + 1):
        if hyps[s] is None:
            continue
        inl, shares[s], agree = _support(hyps[s], sources, thr, o['agree_share'], min_agree, ref)
        support[s] = (inl, agree)
        scores[s], _, _ = _score(sources, inl, agree, sizes, grid, o['novel_share'],
                                  o['source_weight'])
    best = -2
    # a weak full image: its own geometry explains few of its matches
    full_share = ref[m] / max(len(full[0]), 1) if hyps[m] is not None else float('nan')
    full_cov = float('nan')
    if full_own is not None:
        full_cov = min(len(_grid_cells(full[0][full_own], sizes[0], grid)),
                       len(_grid_cells(full[1][full_own], sizes[1], grid))) / float(grid * grid)
    strong = (bool(o['full_stands']) and o['select'] == 'auto' and hyps[m] is not None
              and full_share >= o['strong_full_share'] and ref[m] >= o['strong_full_inliers']
              and full_cov >= o['strong_full_coverage'])
    heldout = not strong and (o['select'] == 'heldout' or (
        o['select'] == 'auto' and hyps[m] is not None and full_share < o['weak_full_share']))
    if strong:
        best = m
    elif heldout:
        # an area hypothesis must beat the full image's by heldout_margin votes
        scores = _heldout_scores(hyps, sources, thr)
        scores[:m] -= o['heldout_margin']
        if np.isfinite(scores).any():
            best = max((s for s in range(m + 1) if hyps[s] is not None),
                       key=lambda s: (round(scores[s], 9), s == m))
    elif np.isfinite(scores).any():
        # highest score; ties: the full image, then the most inliers
        best = max((s for s in range(m + 1) if hyps[s] is not None),
                   key=lambda s: (round(scores[s], 9), s == m,
                                  int(sum(i.sum() for i in support[s][0]))))
        if best != m and support[m] is not None and support[m][1][m]:
            best = _challenge(best, m, support, sources, sizes, grid, o['novel_share'],
                                  o['source_weight'])
    out = dict(area_valid=np.array([h is not None for h in hyps[:m]], bool),
               hypothesis_scores=scores, full_inlier_share=float(full_share),
               full_coverage=float(full_cov),
               selection='strong_full' if strong else 'heldout' if heldout else 'coverage')
    if best < 0:
        return _full_only(full, m, nms_radius, max_matches, out,
                          'no source has enough matches for a geometry')
    if (best == m and o['full_winner_output'] == 'bare'
            and full_share >= o['weak_full_share']):
        # the full image's own geometry won and it is not weak: the area pairs bring no
        # geometry it lacks, and adding their matches only re-draws the final RANSAC
        inl, agree = support[m]
        _, indep, coverage = _score(sources, inl, agree, sizes, grid, o['novel_share'],
                                    o['source_weight'])
        out.update(area_agree_share=shares[m][:m], full_agrees=True,
                   full_agree_share=float(shares[m][m]), F=hyps[m], winner=-1,
                   num_independent=int(indep), coverage=float(coverage), full_won=True,
                   area_kept=agree[:m].copy())
        # exactly the matches given (no NMS: dropping 1-8 of 100-340 LightGlue matches moved
        # ScanNet poses by 4-36 deg); only the cap applies
        return _full_only(full, m, 0.0, max_matches, out, '')

    # step 4: refit on the union of the agreeing sources (capped per source)
    inl, agree = support[best]
    parts0, parts1 = [], []
    for s in np.nonzero(agree)[0]:
        idx = np.nonzero(inl[s])[0]
        idx = idx[np.argsort(-sources[s][2][idx], kind='stable')][:int(o['max_source_matches'])]
        parts0.append(sources[s][0][idx])
        parts1.append(sources[s][1][idx])
    F = hyps[best]
    do_refit = o['refit'] and (o['strong_full_refit'] or not strong)
    refit = estimate_area_geometry(np.concatenate(parts0), np.concatenate(parts1), K0, K1,
                                   thresh_px, conf, 2 * thresh_px) if parts0 and do_refit else None
    if refit is not None:
        inl2, _, agree2 = _support(refit[0], sources, thr, o['agree_share'], min_agree, ref)
        if agree2[best]:  # keep the refit unless it lost the winning source
            F, inl, agree = refit[0], inl2, agree2
    _, share, _ = _support(F, sources, thr, o['agree_share'], min_agree, ref)
    _, indep, coverage = _score(sources, inl, agree, sizes, grid, o['novel_share'],
                                  o['source_weight'])
    out.update(area_kept=agree[:m].copy(), area_agree_share=share[:m],
               full_agrees=bool(agree[m]), full_agree_share=float(share[m]), F=F,
               winner=-1 if best == m else int(best), num_independent=int(indep),
               coverage=float(coverage))
    if not agree[:m].any():
        return _full_only(full, m, nms_radius, max_matches, out,
                          'no area pair agrees with the consensus geometry')

    # step 5: inliers of the agreeing sources
    if o['keep_px'] != o['agree_px']:
        keep_thr = o['keep_px'] * thr / o['agree_px']
        inl = [i & (np.sqrt(sampson_distance(F, k0, k1)) <= keep_thr)
               for i, (k0, k1, _) in zip(inl, sources)]
    if strong and o['strong_full_output'] in ('all', 'bare'):
        inl[m] = np.ones(len(full[0]), bool)
    parts0, parts1, partss, src = [], [], [], []
    for s in range(m + 1):
        if s < m and (not agree[s] or (strong and o['strong_full_output'] == 'bare')):
            continue
        k0, k1, sc = sources[s]
        parts0.append(k0[inl[s]])
        parts1.append(k1[inl[s]])
        partss.append(sc[inl[s]])
        src.append(np.full(int(inl[s].sum()), s if s < m else -1))
    k0 = np.concatenate(parts0).reshape(-1, 2)
    k1 = np.concatenate(parts1).reshape(-1, 2)
    sc = np.concatenate(partss).reshape(-1)
    from_area = np.concatenate(src).astype(np.int64)
    idx = nms_matches(k0, k1, sc, nms_radius, max_matches)
    out.update(kpts0=k0[idx], kpts1=k1[idx], scores=sc[idx], from_area=from_area[idx],
               num_full_collected=int(inl[m].sum()), fallback='', full_won=False)
    return out


def _full_only(full: MatchSet, m: int, nms_radius: float, max_matches: int,
               out: Dict, why: str) -> Dict:
    """Consensus result made of the full-image matches only (NMS, cap)."""
    # the kept matches in the order the matcher gave them (RANSAC depends on the order)
    no_cap = max_matches is None or max_matches < 0  # as nms_matches reads them
    idx = (np.arange(len(full[0])) if nms_radius <= 0 and (no_cap or len(full[0]) <= max_matches)
           else np.sort(nms_matches(full[0], full[1], full[2], nms_radius, max_matches)))
    res = dict(full_won=False, area_kept=np.zeros(m, bool), area_agree_share=np.full(m, np.nan),
               full_agrees=False, full_agree_share=float('nan'), F=None, winner=-2,
               num_independent=0, coverage=0.0)
    res.update(out)
    res.update(kpts0=full[0][idx].reshape(-1, 2), kpts1=full[1][idx].reshape(-1, 2),
               scores=full[2][idx].reshape(-1), from_area=np.full(len(idx), -1, np.int64),
               num_full_collected=int(len(idx)), fallback=why)
    return res
