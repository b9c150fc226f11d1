"""Absolute-pose (relocalization) errors, medians and recalls.

Poses are camera-to-world ``T_c2w`` (4, 4). The translation error is the
distance between camera centres (metres), the rotation error the geodesic
angle between the camera orientations (degrees). A query that was not
localized has infinite errors (as in the FaVoR / PoseNet evaluations), so it
counts against the medians and recalls.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ...structures.cameras import rotation_angle_error_deg

__all__ = ['absolute_pose_error', 'relocalization_errors', 'relocalization_recall',
           'summarize_relocalization']


def absolute_pose_error(T_est: Optional[np.ndarray], T_gt: np.ndarray) -> Tuple[float, float]:
    """Translation (metres) and rotation (degrees) error of one camera-to-world pose.

    Args:
        T_est (np.ndarray | None): (4, 4) estimate; None = not localized.
        T_gt (np.ndarray): (4, 4) ground truth.

    Returns:
        tuple: ``(translation_m, rotation_deg)``; ``(inf, inf)`` for None or a
        non-finite estimate.

    Raises:
        ValueError: for shapes other than (4, 4) / (3, 4).
    """
    T_gt = np.asarray(T_gt, np.float64)
    if T_gt.shape not in ((4, 4), (3, 4)):
        raise ValueError(f'T_gt must have shape (4, 4), got {T_gt.shape}')
    if T_est is None:
        return float('inf'), float('inf')
    T_est = np.asarray(T_est, np.float64)
    if T_est.shape not in ((4, 4), (3, 4)):
        raise ValueError(f'T_est must have shape (4, 4), got {T_est.shape}')
    if not np.isfinite(T_est).all():
        return float('inf'), float('inf')
    dt = float(np.linalg.norm(T_est[:3, 3] - T_gt[:3, 3]))
    dr = float(rotation_angle_error_deg(T_est[:3, :3], T_gt[:3, :3]))
    return dt, dr


def relocalization_errors(estimates: Sequence[Optional[np.ndarray]],
                          ground_truths: Sequence[np.ndarray]) -> Dict[str, np.ndarray]:
    """Errors of many queries.

    Args:
        estimates (Sequence): N poses (4, 4) or None.
        ground_truths (Sequence): N poses (4, 4).

    Returns:
        dict: ``translation`` (N,) metres and ``rotation`` (N,) degrees (inf where not localized).
    """
    if len(estimates) != len(ground_truths):
        raise ValueError(f'estimates ({len(estimates)}) and ground_truths '
                         f'({len(ground_truths)}) must have the same length')
    errs = [absolute_pose_error(e, g) for e, g in zip(estimates, ground_truths)]
    arr = np.array(errs, np.float64).reshape(-1, 2)
    return dict(translation=arr[:, 0], rotation=arr[:, 1])


def relocalization_recall(translation: np.ndarray, rotation: np.ndarray,
                          max_translation: float, max_rotation: float) -> float:
    """Fraction of queries with both errors below the thresholds (strictly).

    Args:
        translation (np.ndarray): (N,) metres.
        rotation (np.ndarray): (N,) degrees.
        max_translation (float): metres (0.05 for 7-Scenes, 0.25 for Cambridge).
        max_rotation (float): degrees (5 for 7-Scenes, 2 for Cambridge).

    Returns:
        float: recall in ``[0, 1]``; nan for N = 0.
    """
    t, r = np.asarray(translation), np.asarray(rotation)
    if t.size == 0:
        return float('nan')
    return float(np.mean((t < max_translation) & (r < max_rotation)))


def summarize_relocalization(translation: np.ndarray, rotation: np.ndarray,
                             max_translation: float = 0.05, max_rotation: float = 5.0) -> Dict:
    """Median errors (cm, deg) and recall.

    Args:
        translation (np.ndarray): (N,) metres (inf = not localized).
        rotation (np.ndarray): (N,) degrees.
        max_translation, max_rotation (float): recall thresholds (metres, degrees).

    Returns:
        dict: ``median_translation_cm``, ``median_rotation_deg``, ``recall``
        (nan for N = 0).
    """
    t, r = np.asarray(translation, np.float64), np.asarray(rotation, np.float64)
    if t.size == 0:
        return dict(median_translation_cm=float('nan'), median_rotation_deg=float('nan'),
                    recall=float('nan'))
    return dict(median_translation_cm=float(np.median(t) * 100),
                median_rotation_deg=float(np.median(r)),
                recall=relocalization_recall(t, r, max_translation, max_rotation))
