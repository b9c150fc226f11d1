"""Area-matching metrics of the MESA paper: AOR and AMP.

For a matched area pair ``(b0, b1)`` (boxes xyxy px in image 0 / image 1) the
ground truth (a homography, or depth maps + intrinsics + relative pose) warps
each box into the other image (the box of the warped points):

    AOR(b0, b1) = ( |W01(b0) ^ b1| / |W01(b0)| + |W10(b1) ^ b0| / |W10(b1)| ) / 2

i.e. the mean fraction of each warped area that the matched area covers
(1 = the matched areas show exactly the same content; an oversized or shifted
match scores less in one of the two directions). AMP@t is the fraction of
area pairs with ``AOR > t`` (t = 0.6, 0.7, 0.8).

Differences from the official evaluation (``docs/a2pm.md``): the official code
divides the intersection by the *unwarped* area's size (mixing the two images'
scales); here it is divided by the warped box's size. Depth warping samples a
grid of pixels (``step`` px) as the official Monte-Carlo warp does.
"""
from typing import Dict, Optional, Sequence

import numpy as np

__all__ = [
    'warp_box_homography', 'warp_box_depth', 'area_overlap_ratios',
    'area_matching_precision', 'area_metrics'
]


def _boxes(x, name: str) -> np.ndarray:
    arr = np.asarray(x, np.float64)
    if arr.ndim == 1 and arr.shape[0] == 4:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f'{name} must have shape (M, 4) xyxy, got {arr.shape}')
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f'{name} must be finite')
    return arr


def _box_grid(box: np.ndarray, step: float) -> np.ndarray:
    """Grid over a box, edges included (so an identity warp keeps the box)."""
    nx = max(int(np.ceil((box[2] - box[0]) / step)) + 1, 2)
    ny = max(int(np.ceil((box[3] - box[1]) / step)) + 1, 2)
    gx, gy = np.meshgrid(np.linspace(box[0], box[2], nx),
                         np.linspace(box[1], box[3], ny))
    return np.stack([gx.ravel(), gy.ravel()], 1)


def warp_box_homography(box, H: np.ndarray, step: float = 4.0
                        ) -> Optional[np.ndarray]:
    """Box ``(4,)`` of the points of ``box`` mapped by ``x1 ~ H x0``; None if
    the box maps (partly) behind the camera (non-positive ``w``)."""
    H = np.asarray(H, np.float64)
    if H.shape != (3, 3) or not np.isfinite(H).all():
        raise ValueError(f'H must be a finite (3, 3) matrix, got shape {H.shape}')
    pts = _box_grid(np.asarray(box, np.float64).reshape(4), step)
    ph = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ H.T
    if (ph[:, 2] <= 1e-12).any():
        return None
    q = ph[:, :2] / ph[:, 2:]
    return np.array([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()])


def warp_box_depth(box, depth0: np.ndarray, K0: np.ndarray, K1: np.ndarray,
                   T_0to1: np.ndarray, step: float = 4.0,
                   min_points: int = 4) -> Optional[np.ndarray]:
    """Box of the pixels of ``box`` with valid depth, moved into image 1.

    Args:
        box: ``(4,)`` xyxy px in image 0.
        depth0 (np.ndarray): ``(H0, W0)`` depth of image 0 (metres, any unit
            consistent with ``T_0to1``; ``<= 0`` or non-finite = invalid).
        K0, K1: ``(3, 3)`` intrinsics (px).
        T_0to1: ``(4, 4)`` with ``X1 = R X0 + t``.
        step (float): sampling step, px.
        min_points (int): fewer valid projected points give None.

    Returns:
        np.ndarray | None: ``(4,)`` xyxy px in image 1.
    """
    d = np.asarray(depth0, np.float64)
    if d.ndim != 2:
        raise ValueError(f'depth must have shape (H, W), got {d.shape}')
    K0, K1, T = (np.asarray(a, np.float64) for a in (K0, K1, T_0to1))
    if K0.shape != (3, 3) or K1.shape != (3, 3) or T.shape != (4, 4):
        raise ValueError('K0, K1 must be (3, 3) and T_0to1 (4, 4), got '
                         f'{K0.shape}, {K1.shape}, {T.shape}')
    pts = _box_grid(np.asarray(box, np.float64).reshape(4), step)
    # depth of the pixel each sample falls in (pixel centres at integers)
    xi = np.clip(np.floor(pts[:, 0]).astype(int), 0, d.shape[1] - 1)
    yi = np.clip(np.floor(pts[:, 1]).astype(int), 0, d.shape[0] - 1)
    z = d[yi, xi]
    ok = np.isfinite(z) & (z > 0)
    if ok.sum() < min_points:
        return None
    pts, z = pts[ok], z[ok]
    xyz = np.concatenate([pts, np.ones((len(pts), 1))], 1) @ np.linalg.inv(K0).T
    xyz = xyz * z[:, None]
    x1 = xyz @ T[:3, :3].T + T[:3, 3]
    front = x1[:, 2] > 1e-9
    if front.sum() < min_points:
        return None
    uv = x1[front] @ K1.T
    uv = uv[:, :2] / uv[:, 2:]
    return np.array([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()])


def _covered(warped: Optional[np.ndarray], box: np.ndarray) -> float:
    if warped is None:
        return 0.0
    area = max(warped[2] - warped[0], 0) * max(warped[3] - warped[1], 0)
    if area <= 0:
        return 0.0
    iw = max(min(warped[2], box[2]) - max(warped[0], box[0]), 0)
    ih = max(min(warped[3], box[3]) - max(warped[1], box[1]), 0)
    return float(iw * ih / area)


def area_overlap_ratios(boxes0, boxes1, H_0to1: Optional[np.ndarray] = None,
                        depth0: Optional[np.ndarray] = None,
                        depth1: Optional[np.ndarray] = None,
                        K0: Optional[np.ndarray] = None,
                        K1: Optional[np.ndarray] = None,
                        T_0to1: Optional[np.ndarray] = None,
                        step: float = 4.0) -> np.ndarray:
    """AOR of every matched area pair (module docstring).

    Give either ``H_0to1`` (``x1 ~ H x0``) or ``depth0``, ``depth1``, ``K0``,
    ``K1`` and ``T_0to1``.

    Args:
        boxes0, boxes1: ``(M, 4)`` matched boxes xyxy px (row i matches row i).
        step (float): sampling step of the warps, px.

    Returns:
        np.ndarray: ``(M,)`` AOR in ``[0, 1]`` (0 where a warp fails).

    Raises:
        ValueError: for boxes of different counts or bad shapes, or when
            neither ground truth is complete.
    """
    b0, b1 = _boxes(boxes0, 'boxes0'), _boxes(boxes1, 'boxes1')
    if len(b0) != len(b1):
        raise ValueError(f'boxes0 and boxes1 must have the same length, got '
                         f'{len(b0)} and {len(b1)}')
    if step <= 0:
        raise ValueError(f'step must be > 0, got {step}')
    use_h = H_0to1 is not None
    use_d = all(v is not None for v in (depth0, depth1, K0, K1, T_0to1))
    if not (use_h or use_d):
        raise ValueError('give H_0to1, or depth0, depth1, K0, K1 and T_0to1')
    if use_h:
        H = np.asarray(H_0to1, np.float64)
        if H.shape != (3, 3):
            raise ValueError(f'H_0to1 must be (3, 3), got {H.shape}')
        Hinv = np.linalg.inv(H)
    else:
        T = np.asarray(T_0to1, np.float64)
        if T.shape != (4, 4):
            raise ValueError(f'T_0to1 must be (4, 4), got {T.shape}')
        Tinv = np.eye(4)
        Tinv[:3, :3] = T[:3, :3].T
        Tinv[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    out = np.zeros(len(b0))
    for m, (a0, a1) in enumerate(zip(b0, b1)):
        if use_h:
            w01, w10 = warp_box_homography(a0, H, step), warp_box_homography(a1, Hinv, step)
        else:
            w01 = warp_box_depth(a0, depth0, K0, K1, T, step)
            w10 = warp_box_depth(a1, depth1, K1, K0, Tinv, step)
        out[m] = (_covered(w01, a1) + _covered(w10, a0)) / 2
    return out


def area_matching_precision(aor, thresholds: Sequence[float] = (0.6, 0.7, 0.8)
                            ) -> Dict[str, float]:
    """``{'amp@0.6': ..., ...}``: fraction of pairs with AOR above each
    threshold (0 for no pairs)."""
    a = np.asarray(aor, np.float64).reshape(-1)
    return {f'amp@{t:g}': float((a > t).mean()) if len(a) else 0.0
            for t in thresholds}


def area_metrics(boxes0, boxes1, thresholds: Sequence[float] = (0.6, 0.7, 0.8),
                 **gt) -> Dict[str, float]:
    """``aor`` (mean), ``amp@t`` and ``num_area_pairs`` of one image pair.

    ``gt`` are the ground-truth keywords of :func:`area_overlap_ratios`.
    """
    aor = area_overlap_ratios(boxes0, boxes1, **gt)
    out = dict(aor=float(aor.mean()) if len(aor) else 0.0,
               num_area_pairs=float(len(aor)))
    out.update(area_matching_precision(aor, thresholds))
    return out
