"""Registered mmengine metrics wrapping :mod:`vision_sparse.evaluation.functional`."""
from .correspondence_metric import CorrespondenceMetric
from .nuscenes_metric import NuScenesDetMetric
from .pose_metric import HomographyMetric, RelativePoseMetric
from .pseudo_box_metric import PseudoBoxMetric
from .reloc_metric import RelocalizationMetric
from .rotated_map_metric import DOTAMetric

__all__ = ['RelativePoseMetric', 'HomographyMetric', 'RelocalizationMetric',
           'CorrespondenceMetric', 'DOTAMetric', 'PseudoBoxMetric', 'NuScenesDetMetric']
