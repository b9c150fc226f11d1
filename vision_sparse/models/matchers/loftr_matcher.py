"""LoFTR (kornia's implementation) with user-provided weights."""
import copy
import os
from typing import Any, Dict

import cv2
import numpy as np
import torch

from vision_sparse.registry import MODELS
from .base_matcher import BaseMatcher
from .weights import load_checked

__all__ = ['LoFTRMatcher']


@MODELS.register_module()
class LoFTRMatcher(BaseMatcher):
    """Detector-free coarse-to-fine matcher LoFTR (CVPR 2021).

    No LoFTR weights ship in any wheel and this class never downloads: pass
    ``weights`` = a local file, either an official LoFTR checkpoint
    (``indoor_ds_new.ckpt``, ``outdoor_ds.ckpt``: weights under
    ``'state_dict'`` with a ``'matcher.'`` prefix) or kornia's converted file.

    Options (``default_conf``, plus :class:`BaseMatcher`'s):

    * ``weights`` (str): required path of the checkpoint.
    * ``temp_bug_fix`` (bool): LoFTR's positional-encoding fix; True for the
      official ``indoor_ds_new`` weights, False for ``outdoor_ds`` and the
      older indoor weights (kornia's ``'indoor'`` / ``'outdoor'``).
    * ``match_threshold`` (float): coarse matching confidence threshold (0.2).

    The working image is further resized so that both sides are multiples of
    8 (LoFTR's coarse stride).  Masks filter the
    output matches (LoFTR is dense).  ``patch_size`` is 8 (coarse cell).
    """

    default_conf = {**BaseMatcher.default_conf, 'weights': None, 'temp_bug_fix': False,
                    'match_threshold': 0.2, 'min_size': 64}
    patch_size = 8.0

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        if not self.conf.weights:
            raise ValueError('LoFTRMatcher needs weights=<path to a LoFTR checkpoint>: no LoFTR '
                             'weights ship with the installed packages and nothing is '
                             'downloaded (official files: indoor_ds_new.ckpt / outdoor_ds.ckpt)')
        if not os.path.isfile(str(self.conf.weights)):
            raise FileNotFoundError(f'LoFTR weights file not found: {self.conf.weights}')
        from kornia.feature import LoFTR
        from kornia.feature.loftr.loftr import default_cfg
        cfg = copy.deepcopy(default_cfg)
        cfg['coarse']['temp_bug_fix'] = bool(self.conf.temp_bug_fix)
        cfg['match_coarse']['thr'] = float(self.conf.match_threshold)
        self.loftr = LoFTR(pretrained=None, config=cfg)
        load_checked(self.loftr, self.conf.weights, prefixes=('matcher.',), state_key='state_dict')
        self.loftr.to(self.device).eval()

    @staticmethod
    def _to_multiple_of_8(gray: np.ndarray) -> np.ndarray:
        """``gray`` resized (area interpolation) so that both sides are multiples of 8."""
        h, w = gray.shape
        nh, nw = max(8, (h // 8) * 8), max(8, (w // 8) * 8)
        if (nh, nw) == (h, w):
            return gray
        return cv2.resize(gray, (nw, nh), interpolation=cv2.INTER_AREA)

    def _match(self, image0, image1, mask0, mask1) -> Dict[str, Any]:
        grays = [self.to_gray(image0), self.to_gray(image1)]
        g0, g1 = (self._to_multiple_of_8(g) for g in grays)
        out = self.loftr({'image0': self.to_tensor(g0), 'image1': self.to_tensor(g1)})
        kpts = []
        for i, (gray, g) in enumerate(zip(grays, (g0, g1))):
            k = out[f'keypoints{i}'].cpu().numpy().astype(np.float64)
            # back to the working image: pixel centres scale, x = (x' + 0.5) * w / w' - 0.5
            ratio = np.array([gray.shape[1] / g.shape[1], gray.shape[0] / g.shape[0]])
            kpts.append((k + 0.5) * ratio[None] - 0.5)
        return dict(kpts0=kpts[0], kpts1=kpts[1],
                    scores=out['confidence'].float().cpu().numpy())
