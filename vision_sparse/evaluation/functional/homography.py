"""Homography estimation from matches and the HPatches-style corner error.

``H_0to1`` maps homogeneous pixels of image 0 to image 1:
``[x1, y1, 1]^T ~ H_0to1 @ [x0, y0, 1]^T`` (pixel centres at integer
coordinates).
"""
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from .pose import error_auc

__all__ = [
    'warp_points_homography', 'estimate_homography', 'homography_corner_error',
    'homography_accuracy', 'homography_auc', 'homography_reprojection_error'
]

_METHODS = {'magsac': cv2.USAC_MAGSAC, 'ransac': cv2.RANSAC}


def _as_H(H, name: str) -> np.ndarray:
    arr = np.asarray(H, dtype=np.float64)
    if arr.shape != (3, 3):
        raise ValueError(f'{name} must be a (3, 3) homography, got shape {arr.shape}')
    return arr


def warp_points_homography(H, pts) -> np.ndarray:
    """Apply a homography to ``(N, 2)`` points.

    Args:
        H (np.ndarray): ``(3, 3)``.
        pts (np.ndarray): ``(N, 2)`` (x, y) pixels.

    Returns:
        np.ndarray: ``(N, 2)`` float64; points mapped to infinity (w = 0)
        become ``inf``.
    """
    H = _as_H(H, 'H')
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    q = np.c_[p, np.ones(len(p))] @ H.T
    with np.errstate(divide='ignore', invalid='ignore'):
        out = q[:, :2] / q[:, 2:3]
    out[~np.isfinite(out)] = np.inf
    return out


def estimate_homography(kpts0, kpts1, thresh_px: float = 3.0, conf: float = 0.99999,
                        method: str = 'magsac', max_iters: int = 10000
                        ) -> Optional[Dict[str, object]]:
    """Robust homography from matches.

    Args:
        kpts0 (np.ndarray): ``(N, 2)`` pixels in image 0.
        kpts1 (np.ndarray): ``(N, 2)`` matching pixels in image 1.
        thresh_px (float): reprojection threshold in pixels (image 1).
        conf (float): confidence in (0, 1).
        method (str): ``'magsac'`` (``USAC_MAGSAC``) or ``'ransac'``.
        max_iters (int): maximum iterations.

    Returns:
        dict | None: ``H`` (3, 3) image0 -> image1 (``H[2, 2] = 1``),
        ``inliers`` (N,) bool, ``num_inliers``; None with fewer than 4
        matches, degenerate points or no model found.

    Raises:
        ValueError: for bad shapes, non-finite values or an unknown method.
    """
    k0 = np.asarray(kpts0, dtype=np.float64)
    k1 = np.asarray(kpts1, dtype=np.float64)
    for name, k in (('kpts0', k0), ('kpts1', k1)):
        if k.ndim != 2 or k.shape[1] != 2:
            raise ValueError(f'{name} must have shape (N, 2), got {k.shape}')
        if not np.isfinite(k).all():
            raise ValueError(f'{name} contains NaN or inf')
    if len(k0) != len(k1):
        raise ValueError(f'kpts0 and kpts1 must have the same length, got {len(k0)} and {len(k1)}')
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    if len(k0) < 4:
        return None
    for k in (k0, k1):
        if np.linalg.svd(k - k.mean(0), compute_uv=False)[-1] < 1e-6:
            return None
    try:
        H, mask = cv2.findHomography(k0, k1, _METHODS[method], float(thresh_px),
                                     maxIters=int(max_iters), confidence=float(conf))
    except cv2.error:
        return None
    if H is None or mask is None or not np.isfinite(H).all() or abs(H[2, 2]) < 1e-12:
        return None
    inliers = mask.ravel() > 0
    return dict(H=H / H[2, 2], inliers=inliers, num_inliers=int(inliers.sum()))


def homography_corner_error(H_est, H_gt, image_size: Tuple[int, int]) -> float:
    """Mean distance between the four image-0 corners warped by ``H_est`` and ``H_gt``.

    Corners are the outer pixel centres ``(0, 0), (w-1, 0), (w-1, h-1), (0, h-1)``
    (as in SuperGlue / LoFTR HPatches evaluation), errors in image-1 pixels.

    Args:
        H_est (np.ndarray | None): ``(3, 3)`` estimate; None = failed (inf).
        H_gt (np.ndarray): ``(3, 3)`` ground truth.
        image_size (tuple[int, int]): ``(w, h)`` of image 0.

    Returns:
        float: mean corner error in pixels (``inf`` for a failed estimate).
    """
    H_gt = _as_H(H_gt, 'H_gt')
    if len(image_size) != 2 or min(image_size) <= 0:
        raise ValueError(f'image_size must be (w, h) > 0, got {image_size}')
    if H_est is None:
        return float('inf')
    w, h = image_size
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float64)
    d = np.linalg.norm(warp_points_homography(H_est, corners)
                       - warp_points_homography(H_gt, corners), axis=1)
    err = float(np.mean(d))
    return err if np.isfinite(err) else float('inf')


def homography_reprojection_error(kpts0, kpts1, H_gt) -> np.ndarray:
    """``(N,)`` distance between ``H_gt``-warped ``kpts0`` and ``kpts1`` (pixels)."""
    k0 = np.asarray(kpts0, np.float64).reshape(-1, 2)
    k1 = np.asarray(kpts1, np.float64).reshape(-1, 2)
    if len(k0) != len(k1):
        raise ValueError(f'kpts0 and kpts1 must have the same length, got {len(k0)} and {len(k1)}')
    return np.linalg.norm(warp_points_homography(H_gt, k0) - k1, axis=1)


def homography_accuracy(errors, thresholds: Sequence[float] = (3, 5, 10)) -> list:
    """Fraction of pairs whose corner error is ``<= threshold``.

    Args:
        errors (array-like): ``(M,)`` corner errors in pixels (``inf`` =
            failed).
        thresholds (Sequence[float]): pixel thresholds.

    Returns:
        list[float]: one accuracy in [0, 1] per threshold; zeros for ``M = 0``.
    """
    err = np.asarray(errors, np.float64).reshape(-1)
    if err.size == 0:
        return [0.0 for _ in thresholds]
    err = np.where(np.isnan(err), np.inf, err)
    return [float(np.mean(err <= th)) for th in thresholds]


def homography_auc(errors, thresholds: Sequence[float] = (3, 5, 10)) -> list:
    """AUC of the corner-error recall curve (the pose-AUC definition in pixels)."""
    return error_auc(errors, thresholds)
