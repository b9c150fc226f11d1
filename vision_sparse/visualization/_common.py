"""Input conversion shared by the drawing modules (internal).

Arrays, tensors and box objects become numpy arrays; pixel positions become
OpenCV integer points.
"""
from typing import Tuple

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


def _to_numpy(x, name: str) -> np.ndarray:
    if hasattr(x, 'tensor') and hasattr(x.tensor, 'detach'):  # box classes
        return x.tensor.detach().cpu().numpy()
    if hasattr(x, 'detach') and hasattr(x, 'cpu'):  # torch tensor
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except Exception:  # noqa: BLE001
        raise TypeError(f'{name} must be array-like, '
                        f'got {type(x).__name__}') from None


def _points2d(x, name: str) -> np.ndarray:
    arr = _to_numpy(x, name).astype(np.float64)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f'{name} must have shape (N, 2), got {arr.shape}')
    return arr


def _ipt(p) -> Tuple[int, int]:
    lim = 1e7
    return (int(round(float(np.clip(p[0], -lim, lim)))),
            int(round(float(np.clip(p[1], -lim, lim)))))
