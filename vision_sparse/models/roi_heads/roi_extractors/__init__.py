"""RoI feature extractors."""
from .rotated_single_roi_extractor import RotatedSingleRoIExtractor, map_roi_levels

__all__ = ['RotatedSingleRoIExtractor', 'map_roi_levels']
