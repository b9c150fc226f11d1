"""A2PM: area sources, Area Graph, MESA / DMESA area matching, fusion."""
# A2PM builds its point matchers from configs: make sure they are registered.
from .. import matchers  # noqa: F401
from .a2pm import A2PMMatcher
from .area_cleaning import clean_areas
from .area_graph import AreaGraph
from .area_verification import (VERIFY_DEFAULTS, area_pair_correct, area_pairs_correct,
                                area_verification_metrics, verify_area_pairs)
from .area_sources import (BaseAreaSource, MaskFileAreaSource, SAMAreaSource,
                           SegmentationAreaSource, load_mask_file)
from .base_area_matcher import BaseAreaMatcher, merge_area_pairs
from .dmesa import DMESA
from .eval_model import A2PMEvalModel
from .fusion import (CONSENSUS_DEFAULTS, consensus_fusion, fuse_matches,
                     geometric_area_filter, nms_matches, sampson_distance)
from .gmm import fit_gmm_em, gmm_density, sample_gmm
from .mesa import MESA

__all__ = [
    'A2PMMatcher', 'A2PMEvalModel', 'AreaGraph', 'BaseAreaMatcher', 'MESA',
    'DMESA', 'BaseAreaSource', 'SAMAreaSource', 'MaskFileAreaSource',
    'SegmentationAreaSource', 'load_mask_file', 'clean_areas',
    'merge_area_pairs', 'fuse_matches', 'consensus_fusion', 'CONSENSUS_DEFAULTS',
    'geometric_area_filter', 'nms_matches',
    'sampson_distance', 'fit_gmm_em', 'gmm_density', 'sample_gmm', 'VERIFY_DEFAULTS',
    'verify_area_pairs', 'area_pair_correct', 'area_pairs_correct', 'area_verification_metrics'
]
