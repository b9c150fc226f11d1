"""Verified area pairs: cheap checks of an area pair before the point matcher
runs inside it, and the ground-truth test of an area pair.

Evidence for a pair ``(b0, b1)`` (boxes xyxy px, enlarged by ``expand`` about
their centres, as the point matcher's crops are):

* **full-image matches.** ``n0`` full-image matches start in ``b0``, ``n1``
  end in ``b1``, ``n_both`` do both. The pair's *inside share* is
  ``max(n_both / n0, n_both / n1)`` over the directions with at least
  ``min_evidence`` matches (the larger of the two, so that a target box
  larger or smaller than the true region is not penalised). Of the
  ``n_both`` matches, the *box agreement* is the share whose end point lies
  within ``transfer_tol`` x the target box diagonal of the start point mapped
  by the box transform (the axis-aligned scale + shift that maps ``b0`` onto
  ``b1``; in 3-D scenes only roughly right, hence the loose tolerance).
* **area graph.** The *parents* of a pair are the other pairs whose source
  box contains its source box (at least ``parent_overlap`` of its area, the
  Area Graph's rule) and is larger; the pair is *parent-consistent* when it
  has no parent pair, or when the target box of some parent contains its
  target box (the same share). A child matched outside every matched parent
  is suspicious.

Verdict: with evidence (``n0`` or ``n1 >= min_evidence``) the pair is kept
when ``inside share >= min_inside_share`` and ``box agreement >=
min_box_agreement``; the full-image matches then decide. Without evidence it
is kept unless it is parent-inconsistent. The per-pair verdict and its
``reason`` are returned with the evidence.

:func:`area_pair_correct` is the ground-truth test (for area precision /
recall of kept vs dropped pairs): a pair is correct when the centre of the
source box, moved into image 1 by the ground truth, lies in the target box
(enlarged by ``expand``), with a homography or depth + pose; with a pose only
(no depth) the condition is that the epipolar line of the source centre
crosses the target box (necessary, not sufficient). The IoU of the warped
source box with the target box is reported beside it.
"""
from typing import Dict, Sequence

import numpy as np

from vision_sparse.utils.config import merge_conf

__all__ = ['VERIFY_DEFAULTS', 'verify_area_pairs', 'area_pair_correct',
           'area_pairs_correct', 'area_verification_metrics']

#: Defaults of :func:`verify_area_pairs` (see the module docstring).
VERIFY_DEFAULTS = dict(expand=1.2, min_evidence=6, min_inside_share=0.2,
                       min_box_agreement=0.3, transfer_tol=0.35, parent_overlap=0.8)


def _boxes(x, name: str) -> np.ndarray:
    arr = np.asarray(x, np.float64).reshape(-1, 4) if np.size(x) else np.zeros((0, 4))
    if not np.isfinite(arr).all() or (arr[:, 2:] < arr[:, :2]).any():
        raise ValueError(f'{name} must be finite (M, 4) xyxy boxes with x2 >= x1, y2 >= y1')
    return arr


def _expand(b: np.ndarray, f: float) -> np.ndarray:
    c = (b[:, :2] + b[:, 2:]) / 2
    half = (b[:, 2:] - b[:, :2]) / 2 * f
    return np.concatenate([c - half, c + half], 1)


def _inside(pts: np.ndarray, box: np.ndarray) -> np.ndarray:
    return ((pts[:, 0] >= box[0]) & (pts[:, 0] <= box[2]) & (pts[:, 1] >= box[1])
            & (pts[:, 1] <= box[3]))


def _containment(inner: np.ndarray, outer: np.ndarray) -> np.ndarray:
    """``(M, M)``: share of box i's area inside box j."""
    lt = np.maximum(inner[:, None, :2], outer[None, :, :2])
    rb = np.minimum(inner[:, None, 2:], outer[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), -1)
    area = np.prod(inner[:, 2:] - inner[:, :2], 1)
    return inter / np.maximum(area, 1e-12)[:, None]


def verify_area_pairs(boxes0, boxes1, full_kpts0=None, full_kpts1=None,
                      **options) -> Dict:
    """Keep / drop verdicts of area pairs from cheap evidence (module docstring).

    Args:
        boxes0, boxes1: ``(M, 4)`` matched area boxes xyxy px (row i matches
            row i).
        full_kpts0, full_kpts1: ``(N, 2)`` full-image matches px (optional;
            without them only the area-graph check is made).
        **options: overrides of :data:`VERIFY_DEFAULTS`: ``expand`` (box
            factor), ``min_evidence`` (matches), ``min_inside_share``,
            ``min_box_agreement``, ``transfer_tol`` (share of the target box
            diagonal), ``parent_overlap`` (0-1).

    Returns:
        dict: ``kept (M,)`` bool, ``reason`` list of M str, ``n0``, ``n1``,
        ``n_both`` ``(M,)`` int, ``inside_share (M,)``, ``box_agreement
        (M,)`` (NaN without evidence), ``has_parent (M,)`` bool,
        ``parent_consistent (M,)`` bool, ``num_kept`` / ``num_total`` (int).

    Raises:
        ValueError: for malformed boxes / matches or unknown options.
    """
    o = merge_conf(VERIFY_DEFAULTS, options, 'verify_area_pairs')
    b0, b1 = _boxes(boxes0, 'boxes0'), _boxes(boxes1, 'boxes1')
    if len(b0) != len(b1):
        raise ValueError(f'boxes0 and boxes1 must have the same length, got {len(b0)}, {len(b1)}')
    if o['expand'] <= 0 or not 0 < o['parent_overlap'] <= 1:
        raise ValueError(f"expand must be > 0 and parent_overlap in (0, 1], got "
                         f"{o['expand']}, {o['parent_overlap']}")
    k0 = np.zeros((0, 2)) if full_kpts0 is None else np.asarray(full_kpts0, np.float64)
    k1 = np.zeros((0, 2)) if full_kpts1 is None else np.asarray(full_kpts1, np.float64)
    if k0.ndim != 2 or k0.shape[1:] != (2,) or k0.shape != k1.shape:
        raise ValueError(f'full_kpts0 / full_kpts1 must be (N, 2) each, got {k0.shape}, {k1.shape}')
    m = len(b0)
    e0, e1 = _expand(b0, o['expand']), _expand(b1, o['expand'])
    n0, n1, nb = (np.zeros(m, np.int64) for _ in range(3))
    inside = np.full(m, np.nan)
    agree = np.full(m, np.nan)
    for i in range(m):
        in0, in1 = _inside(k0, e0[i]), _inside(k1, e1[i])
        both = in0 & in1
        n0[i], n1[i], nb[i] = in0.sum(), in1.sum(), both.sum()
        shares = [nb[i] / n for n in (n0[i], n1[i]) if n >= o['min_evidence']]
        if shares:
            inside[i] = max(shares)
        if nb[i]:
            s = (b1[i, 2:] - b1[i, :2]) / np.maximum(b0[i, 2:] - b0[i, :2], 1e-9)
            pred = (k0[both] - b0[i, :2]) * s + b1[i, :2]
            diag = np.hypot(*(b1[i, 2:] - b1[i, :2]))
            agree[i] = float((np.linalg.norm(pred - k1[both], axis=1)
                              <= o['transfer_tol'] * max(diag, 1e-9)).mean())
    # area-graph parents among the matched pairs
    area0 = np.prod(b0[:, 2:] - b0[:, :2], 1)
    parent = (_containment(b0, b0) >= o['parent_overlap']) & (area0[None, :] > area0[:, None])
    target_in = _containment(b1, b1) >= o['parent_overlap']
    has_parent = parent.any(1)
    consistent = ~has_parent | (parent & target_in).any(1)
    kept = np.ones(m, bool)
    reason = []
    for i in range(m):
        if np.isfinite(inside[i]):
            ok_in = inside[i] >= o['min_inside_share']
            ok_box = np.isfinite(agree[i]) and agree[i] >= o['min_box_agreement']
            kept[i] = ok_in and ok_box
            reason.append('full-image matches agree' if kept[i] else
                          'full-image matches leave the target area' if not ok_in else
                          'full-image matches disagree with the box transform')
        else:
            kept[i] = bool(consistent[i])
            reason.append('no evidence, parent-consistent' if kept[i] else
                          'no evidence, matched outside every matched parent')
    return dict(kept=kept, reason=reason, n0=n0, n1=n1, n_both=nb, inside_share=inside,
                box_agreement=agree, has_parent=has_parent, parent_consistent=consistent,
                num_kept=int(kept.sum()), num_total=int(m))


def _transfer(pts: np.ndarray, H=None, depth0=None, K0=None, K1=None, T_0to1=None,
              window: int = 5) -> np.ndarray:
    """``(N, 2)`` points moved into image 1 (NaN where depth is missing)."""
    if H is not None:
        ph = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ np.asarray(H, np.float64).T
        with np.errstate(divide='ignore', invalid='ignore'):
            q = ph[:, :2] / ph[:, 2:]
        q[ph[:, 2] <= 1e-12] = np.nan
        return q
    d = np.asarray(depth0, np.float64)
    out = np.full((len(pts), 2), np.nan)
    for i, (x, y) in enumerate(pts):
        xi, yi = int(np.clip(np.floor(x), 0, d.shape[1] - 1)), int(np.clip(np.floor(y), 0, d.shape[0] - 1))
        patch = d[max(yi - window, 0):yi + window + 1, max(xi - window, 0):xi + window + 1]
        z = patch[np.isfinite(patch) & (patch > 0)]
        if not len(z):
            continue
        X = np.linalg.inv(K0) @ np.array([x, y, 1.0]) * np.median(z)
        X1 = T_0to1[:3, :3] @ X + T_0to1[:3, 3]
        if X1[2] > 1e-9:
            uv = K1 @ X1
            out[i] = uv[:2] / uv[2]
    return out


def area_pair_correct(box0, box1, H_0to1=None, depth0=None, K0=None, K1=None,
                      T_0to1=None, expand: float = 1.2) -> Dict:
    """Ground-truth test of one area pair: does the target area show the source?

    Give ``H_0to1`` (``x1 ~ H x0``), or ``K0``, ``K1``, ``T_0to1`` (``X1 = R X0
    + t``) with ``depth0`` (``(H0, W0)``, ``<= 0`` = invalid; the median valid
    depth in an 11 x 11 window at the centre is used), or without depth (pose
    only: the epipolar test of the module docstring).

    Args:
        box0, box1: ``(4,)`` xyxy px in image 0 / image 1.
        expand (float): the target box is enlarged by this about its centre.

    Returns:
        dict: ``correct`` (bool), ``mode`` (``'homography'`` | ``'depth'`` |
        ``'epipolar'``), ``centre1`` ``(2,)`` (transferred source centre, NaN
        if unknown or in epipolar mode), ``iou`` (IoU of the warped source box
        with the target box; NaN in epipolar mode or when the warp fails).

    Raises:
        ValueError: when no ground truth is complete.
    """
    from vision_sparse.evaluation.functional.area_metrics import (warp_box_depth,
                                                                  warp_box_homography)
    b0 = _boxes(box0, 'box0')[0]
    b1 = _boxes(box1, 'box1')[0]
    t1 = _expand(b1[None], expand)[0]
    c0 = ((b0[:2] + b0[2:]) / 2)[None]
    if H_0to1 is not None:
        mode, c1 = 'homography', _transfer(c0, H=H_0to1)[0]
        warped = warp_box_homography(b0, H_0to1)
    elif K0 is not None and K1 is not None and T_0to1 is not None:
        K0, K1, T = (np.asarray(a, np.float64) for a in (K0, K1, T_0to1))
        if depth0 is not None:
            mode, c1 = 'depth', _transfer(c0, depth0=depth0, K0=K0, K1=K1, T_0to1=T)[0]
            warped = warp_box_depth(b0, depth0, K0, K1, T)
        else:
            tx = np.array([[0, -T[2, 3], T[1, 3]], [T[2, 3], 0, -T[0, 3]],
                           [-T[1, 3], T[0, 3], 0]])
            F = np.linalg.inv(K1).T @ tx @ T[:3, :3] @ np.linalg.inv(K0)
            a, b, c = F @ np.array([c0[0, 0], c0[0, 1], 1.0])
            corners = np.array([[t1[0], t1[1]], [t1[2], t1[1]], [t1[0], t1[3]], [t1[2], t1[3]]])
            side = np.sign(corners @ np.array([a, b]) + c)
            return dict(correct=bool(side.min() <= 0 <= side.max()), mode='epipolar',
                        centre1=np.full(2, np.nan), iou=float('nan'))
    else:
        raise ValueError('give H_0to1, or K0, K1 and T_0to1 (with depth0 if available)')
    correct = bool(np.isfinite(c1).all() and t1[0] <= c1[0] <= t1[2] and t1[1] <= c1[1] <= t1[3])
    iou = float('nan')
    if warped is not None:
        lt, rb = np.maximum(warped[:2], b1[:2]), np.minimum(warped[2:], b1[2:])
        inter = np.prod(np.clip(rb - lt, 0, None))
        union = np.prod(warped[2:] - warped[:2]) + np.prod(b1[2:] - b1[:2]) - inter
        iou = float(inter / max(union, 1e-12))
    return dict(correct=correct, mode=mode, centre1=c1, iou=iou)


def area_pairs_correct(boxes0, boxes1, **gt) -> np.ndarray:
    """``(M,)`` bool: :func:`area_pair_correct` of every pair (same keywords)."""
    b0, b1 = _boxes(boxes0, 'boxes0'), _boxes(boxes1, 'boxes1')
    return np.array([area_pair_correct(a, b, **gt)['correct'] for a, b in zip(b0, b1)], bool)


def area_verification_metrics(kept: Sequence[bool], correct: Sequence[bool]) -> Dict:
    """Area precision / recall of a keep / drop verdict against ground truth.

    Args:
        kept: ``(M,)`` bool verdicts (``verify_area_pairs(...)['kept']``).
        correct: ``(M,)`` bool ground truth (:func:`area_pairs_correct`).

    Returns:
        dict: ``area_precision_kept`` (correct share of kept pairs),
        ``area_precision_all`` (correct share of all pairs, the precision
        without verification), ``area_recall`` (share of correct pairs kept),
        ``wrong_dropped`` (share of wrong pairs dropped), ``num_kept``,
        ``num_total``, ``num_correct`` (NaN where a share has no pairs).
    """
    k = np.asarray(kept, bool).reshape(-1)
    c = np.asarray(correct, bool).reshape(-1)
    if k.shape != c.shape:
        raise ValueError(f'kept and correct must have the same length, got {k.shape}, {c.shape}')

    def share(num, den):
        return float(num / den) if den else float('nan')
    return dict(area_precision_kept=share((k & c).sum(), k.sum()),
                area_precision_all=share(c.sum(), len(c)),
                area_recall=share((k & c).sum(), c.sum()),
                wrong_dropped=share((~k & ~c).sum(), (~c).sum()),
                num_kept=int(k.sum()), num_total=int(len(k)), num_correct=int(c.sum()))
