"""Registered mmengine metrics wrapping :mod:`vision_sparse.evaluation.functional`."""
from .pose_metric import HomographyMetric, RelativePoseMetric

__all__ = ['RelativePoseMetric', 'HomographyMetric']
