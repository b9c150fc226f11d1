"""Relative pose from matches and its standard evaluation (LoFTR / SuperGlue protocol).

Conventions (see :mod:`vision_sparse.structures.cameras`): ``T_0to1`` maps
camera-0 points to camera-1 points, ``X1 = R @ X0 + t``; keypoints are
``(x, y)`` pixels; angles are degrees.

The protocol, step by step:

1. Normalise the keypoints with ``K0`` / ``K1``; the RANSAC threshold in
   pixels is divided by the mean focal length ``mean(fx0, fy0, fx1, fy1)``.
2. Essential matrix with OpenCV (``USAC_MAGSAC`` by default, or ``RANSAC``),
   confidence 0.99999.
3. ``recoverPose`` on every essential-matrix solution OpenCV returns; the one
   with the most cheirality inliers wins (``t`` has unit norm).
4. Errors: rotation geodesic angle, translation direction angle (sign
   ignored: an essential matrix fixes ``t`` only up to sign); the pose error
   is ``max(err_R, err_t)``; a failed estimate counts as ``inf``.
5. AUC of the recall-vs-error curve up to 5 / 10 / 20 degrees.
"""
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from vision_sparse.structures.cameras import (  # check_intrinsics: re-exported here
    check_intrinsics, essential_from_pose, rotation_angle_error_deg, translation_angle_error_deg)

__all__ = [
    'check_intrinsics', 'estimate_relative_pose', 'relative_pose_error', 'pose_error', 'error_auc', 'pose_auc',
    'symmetric_epipolar_distance', 'epipolar_precision'
]

_METHODS = {'magsac': cv2.USAC_MAGSAC, 'ransac': cv2.RANSAC}


def _as_points(kpts, name: str) -> np.ndarray:
    arr = np.asarray(kpts, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f'{name} must have shape (N, 2) (x, y) pixels, got {arr.shape}')
    if not np.isfinite(arr).all():
        raise ValueError(f'{name} contains NaN or inf')
    return arr


def _normalise(kpts: np.ndarray, K: np.ndarray) -> np.ndarray:
    return (kpts - K[[0, 1], [2, 2]][None]) / K[[0, 1], [0, 1]][None]


def estimate_relative_pose(kpts0, kpts1, K0, K1, thresh_px: float = 0.5,
                           conf: float = 0.99999, method: str = 'magsac',
                           max_iters: int = 10000) -> Optional[Dict[str, object]]:
    """Relative pose ``(R, t)`` from matches via the essential matrix.

    Args:
        kpts0 (np.ndarray): ``(N, 2)`` (x, y) pixels in image 0.
        kpts1 (np.ndarray): ``(N, 2)`` matching pixels in image 1.
        K0 (np.ndarray): ``(3, 3)`` intrinsics of image 0 (for the pixels
            given, i.e. the image size the keypoints refer to).
        K1 (np.ndarray): ``(3, 3)`` intrinsics of image 1.
        thresh_px (float): inlier threshold in pixels (normalised by the mean
            focal length).
        conf (float): RANSAC confidence in (0, 1).
        method (str): ``'magsac'`` (OpenCV ``USAC_MAGSAC``) or ``'ransac'``.
        max_iters (int): maximum RANSAC iterations.

    Returns:
        dict | None: ``R`` (3, 3) and ``t`` (3,) unit-norm, camera 0 -> camera
        1 (``X1 = R X0 + t``, t up to scale), ``inliers`` (N,) bool (the
        RANSAC inliers of the chosen essential matrix), ``num_inliers`` (int,
        points passing the cheirality check of the chosen pose); None when
        there are fewer than 5 matches, the points are degenerate (all
        identical / collinear spread) or OpenCV finds no model.

    Raises:
        ValueError: for bad shapes, non-finite values, ``N0 != N1``, bad
            intrinsics or an unknown method.
    """
    k0, k1 = _as_points(kpts0, 'kpts0'), _as_points(kpts1, 'kpts1')
    if len(k0) != len(k1):
        raise ValueError(f'kpts0 and kpts1 must have the same length, got {len(k0)} and {len(k1)}')
    K0, K1 = check_intrinsics(K0, 'K0'), check_intrinsics(K1, 'K1')
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    if not 0 < conf < 1:
        raise ValueError(f'conf must be in (0, 1), got {conf}')
    if thresh_px <= 0:
        raise ValueError(f'thresh_px must be > 0, got {thresh_px}')
    if len(k0) < 5:
        return None
    n0, n1 = _normalise(k0, K0), _normalise(k1, K1)
    # degenerate input: the points of either view have (almost) no spread
    for pts, K in ((n0, K0), (n1, K1)):
        spread = np.linalg.svd(pts - pts.mean(0), compute_uv=False)
        if spread[-1] * K[0, 0] < 1e-6 * np.sqrt(len(pts)):
            return None
    thr = thresh_px / np.mean([K0[0, 0], K0[1, 1], K1[0, 0], K1[1, 1]])
    try:
        E, mask = cv2.findEssentialMat(n0, n1, np.eye(3), method=_METHODS[method], prob=conf,
                                       threshold=thr, maxIters=int(max_iters))
    except cv2.error:
        return None
    if E is None or mask is None or E.shape[0] < 3 or E.shape[0] % 3:
        return None
    inliers = mask.ravel() > 0
    best = None
    for E_i in np.split(E, E.shape[0] // 3):
        if not np.isfinite(E_i).all():
            continue
        try:
            n_good, R, t, _ = cv2.recoverPose(E_i, n0, n1, np.eye(3), 1e9,
                                              mask=mask.copy())
        except cv2.error:
            continue
        if best is None or n_good > best['num_inliers']:
            t = t.ravel()
            best = dict(R=R, t=t / max(np.linalg.norm(t), 1e-12), inliers=inliers.copy(),
                        num_inliers=int(n_good))
    if best is None or best['num_inliers'] == 0:
        return None
    return best


def relative_pose_error(T_0to1, R, t, ignore_translation_sign: bool = True,
                        min_gt_translation: float = 1e-9) -> Tuple[float, float]:
    """Angular errors of an estimated relative pose.

    Args:
        T_0to1 (np.ndarray): ``(4, 4)`` or ``(3, 4)`` ground truth, camera 0
            -> camera 1.
        R (np.ndarray): ``(3, 3)`` estimated rotation.
        t (np.ndarray): ``(3,)`` estimated translation (any scale).
        ignore_translation_sign (bool): ``err_t = min(err, 180 - err)``.
        min_gt_translation (float): a ground-truth translation shorter than
            this has no direction (pure rotation): ``err_t`` is then ``inf``
            (never NaN), so the pair counts as failed.

    Returns:
        tuple[float, float]: ``(err_R_deg, err_t_deg)``.
    """
    T = np.asarray(T_0to1, dtype=np.float64)
    if T.shape not in ((4, 4), (3, 4)):
        raise ValueError(f'T_0to1 must have shape (4, 4) or (3, 4), got {T.shape}')
    R = np.asarray(R, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    if R.shape != (3, 3) or t.shape != (3,):
        raise ValueError(f'R must be (3, 3) and t (3,), got {R.shape} and {t.shape}')
    err_R = float(rotation_angle_error_deg(R, T[:3, :3]))
    t_gt = T[:3, 3]
    if np.linalg.norm(t_gt) < min_gt_translation or np.linalg.norm(t) < 1e-12:
        return err_R, float('inf')
    err_t = float(translation_angle_error_deg(t, t_gt, ignore_sign=ignore_translation_sign))
    return err_R, err_t


def pose_error(err_R, err_t) -> np.ndarray:
    """``max(err_R, err_t)`` element-wise (NaN counts as ``inf``)."""
    e = np.maximum(np.asarray(err_R, np.float64), np.asarray(err_t, np.float64))
    return np.where(np.isnan(e), np.inf, e)


def error_auc(errors, thresholds: Sequence[float] = (5, 10, 20)) -> list:
    """Area under the recall-vs-error curve up to each threshold, normalised to [0, 1].

    Recall at error ``e`` is the fraction of all pairs with error <= e; the
    curve is piecewise linear between sorted errors starting at (0, 0), held
    flat after the last error below the threshold (the SuperGlue / LoFTR
    definition).  ``inf`` / NaN errors (failed pairs) never count as recalled.

    Args:
        errors (array-like): ``(M,)`` errors (degrees for poses, pixels for
            homographies).
        thresholds (Sequence[float]): positive thresholds.

    Returns:
        list[float]: one AUC per threshold in [0, 1]; zeros for ``M = 0``.
    """
    err = np.asarray(errors, dtype=np.float64).reshape(-1)
    err = np.where(np.isnan(err), np.inf, err)
    if any(th <= 0 for th in thresholds):
        raise ValueError(f'thresholds must be > 0, got {list(thresholds)}')
    if err.size == 0:
        return [0.0 for _ in thresholds]
    err = np.sort(err)
    recall = np.arange(1, len(err) + 1) / len(err)
    aucs = []
    for th in thresholds:
        below = err < th
        x = np.concatenate([[0.0], err[below], [th]])
        last = recall[below][-1] if below.any() else 0.0
        y = np.concatenate([[0.0], recall[below], [last]])
        aucs.append(float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / th))
    return aucs


def pose_auc(errors_deg, thresholds: Sequence[float] = (5, 10, 20)) -> list:
    """Pose AUC (fractions in [0, 1]) of ``max(err_R, err_t)`` errors in degrees.

    Same as :func:`error_auc`; failed estimates must be passed as ``inf``.
    """
    return error_auc(errors_deg, thresholds)


def symmetric_epipolar_distance(kpts0, kpts1, T_0to1, K0, K1) -> np.ndarray:
    """Squared symmetric epipolar distance in normalised coordinates (LoFTR).

    ``d = (x1^T E x0)^2 * (1 / |(E x0)_{12}|^2 + 1 / |(E^T x1)_{12}|^2)`` with
    normalised homogeneous points and ``E = [t]_x R`` of the ground truth.

    Args:
        kpts0, kpts1 (np.ndarray): ``(N, 2)`` pixels.
        T_0to1 (np.ndarray): ``(4, 4)`` ground-truth relative pose.
        K0, K1 (np.ndarray): ``(3, 3)`` intrinsics.

    Returns:
        np.ndarray: ``(N,)`` distances (squared normalised units).
    """
    k0, k1 = _as_points(kpts0, 'kpts0'), _as_points(kpts1, 'kpts1')
    if len(k0) != len(k1):
        raise ValueError(f'kpts0 and kpts1 must have the same length, got {len(k0)} and {len(k1)}')
    if len(k0) == 0:
        return np.zeros(0)
    x0 = np.c_[_normalise(k0, check_intrinsics(K0, 'K0')), np.ones(len(k0))]
    x1 = np.c_[_normalise(k1, check_intrinsics(K1, 'K1')), np.ones(len(k1))]
    E = np.asarray(essential_from_pose(np.asarray(T_0to1, np.float64)))
    Ex0 = x0 @ E.T
    Etx1 = x1 @ E
    num = np.sum(x1 * Ex0, axis=1) ** 2
    eps = 1e-30
    return num * (1.0 / (Ex0[:, 0] ** 2 + Ex0[:, 1] ** 2 + eps)
                  + 1.0 / (Etx1[:, 0] ** 2 + Etx1[:, 1] ** 2 + eps))


def epipolar_precision(kpts0, kpts1, T_0to1, K0, K1, thresh: float = 5e-4) -> float:
    """Fraction of matches with symmetric epipolar distance below ``thresh``.

    Args:
        kpts0, kpts1, T_0to1, K0, K1: see :func:`symmetric_epipolar_distance`.
        thresh (float): 5e-4 for ScanNet, 1e-4 for MegaDepth (LoFTR).

    Returns:
        float: precision in [0, 1]; NaN when there are no matches.
    """
    d = symmetric_epipolar_distance(kpts0, kpts1, T_0to1, K0, K1)
    return float(np.mean(d < thresh)) if len(d) else float('nan')
