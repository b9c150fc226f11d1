"""SIFT keypoints with Lowe's ratio test and a mutual nearest-neighbour check."""
from typing import Any, Dict, Optional, Tuple

import cv2
import numpy as np

from vision_sparse.registry import MODELS
from .base_matcher import BaseMatcher

__all__ = ['SIFTMatcher']


@MODELS.register_module()
class SIFTMatcher(BaseMatcher):
    """OpenCV SIFT + ratio test (both directions) + mutual nearest neighbours.

    A match ``(i, j)`` is kept when ``j`` is the nearest neighbour of ``i``
    and ``i`` the nearest neighbour of ``j`` (L2 distance between SIFT, or
    RootSIFT, descriptors), and both distance ratios (nearest / second
    nearest) are below ``ratio``; with a single candidate the ratio is 1 (no
    second neighbour to be distinct from).  The score is
    ``1 - max(ratio0, ratio1)`` in [0, 1].

    Options (``default_conf``, plus :class:`BaseMatcher`'s):

    * ``ratio`` (float): Lowe ratio threshold in (0, 1]; 0.8 as in Lowe (2004).
    * ``max_keypoints`` (int): keep the strongest ``max_keypoints`` per image
      (0 = all).
    * ``contrast_threshold`` (float): OpenCV SIFT ``contrastThreshold``.
    * ``root_sift`` (bool): use RootSIFT descriptors (Hellinger kernel).

    Runs on CPU only (``device`` is ignored).
    """

    default_conf = {**BaseMatcher.default_conf, 'ratio': 0.8, 'max_keypoints': 4096,
                    'contrast_threshold': 0.04, 'root_sift': False}
    patch_size = 4.0

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        if not 0 < float(self.conf.ratio) <= 1:
            raise ValueError(f'ratio must be in (0, 1], got {self.conf.ratio}')
        if int(self.conf.max_keypoints) < 0:
            raise ValueError(f'max_keypoints must be >= 0, got {self.conf.max_keypoints}')
        self._sift = cv2.SIFT_create(nfeatures=int(self.conf.max_keypoints),
                                     contrastThreshold=float(self.conf.contrast_threshold))

    def _extract(self, image: np.ndarray, mask: Optional[np.ndarray]
                ) -> Tuple[np.ndarray, np.ndarray]:
        gray = self.to_gray(image)
        cv_mask = None if mask is None else mask.astype(np.uint8) * 255
        kps, desc = self._sift.detectAndCompute(gray, cv_mask)
        if desc is None or len(kps) == 0:
            return np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32)
        xy = np.array([k.pt for k in kps], np.float32)
        desc = desc.astype(np.float32)
        if self.conf.root_sift:
            desc = desc / (np.abs(desc).sum(1, keepdims=True) + 1e-8)
            desc = np.sqrt(desc)
        return xy, desc

    @staticmethod
    def _two_nn(dist: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Per row of ``dist`` (A, B): nearest column and ratio d1 / d2."""
        if dist.shape[1] == 1:
            return np.zeros(len(dist), np.int64), np.ones(len(dist))
        part = np.argpartition(dist, 1, axis=1)[:, :2]
        dd = np.take_along_axis(dist, part, 1)
        first = np.argmin(dd, axis=1)
        nn = np.take_along_axis(part, first[:, None], 1)[:, 0]
        dd = np.sort(dd, axis=1)
        ratio = dd[:, 0] / np.maximum(dd[:, 1], 1e-12)
        return nn, ratio

    def _match_features(self, f0, f1, size0, size1) -> Dict[str, Any]:
        (xy0, d0), (xy1, d1) = f0, f1
        n0, n1 = len(xy0), len(xy1)
        if n0 == 0 or n1 == 0:
            return dict(kpts0=np.zeros((0, 2)), kpts1=np.zeros((0, 2)), scores=np.zeros(0),
                        num_keypoints0=n0, num_keypoints1=n1)
        # L2 distances via the dot-product expansion (descriptors are small)
        sq = (d0 * d0).sum(1)[:, None] + (d1 * d1).sum(1)[None] - 2 * d0 @ d1.T
        dist = np.sqrt(np.maximum(sq, 0.0))
        nn01, r01 = self._two_nn(dist)
        nn10, r10 = self._two_nn(dist.T)
        idx0 = np.arange(n0)
        mutual = nn10[nn01] == idx0
        ratio = np.maximum(r01, r10[nn01])
        keep = mutual & (ratio <= self.conf.ratio)
        i0, i1 = idx0[keep], nn01[keep]
        return dict(kpts0=xy0[i0], kpts1=xy1[i1], scores=1.0 - ratio[keep],
                    num_keypoints0=n0, num_keypoints1=n1)
