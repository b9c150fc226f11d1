"""RoI heads: PointOBB's MIL head and RoI head, rotated RoI extractor."""
from .mil_head import MILBBoxHead
from .pointobb_roi_head import PointOBBRoIHead, merge_topk, neighbour_boxes, contains_other_points
from .roi_extractors import RotatedSingleRoIExtractor, map_roi_levels

__all__ = ['MILBBoxHead', 'PointOBBRoIHead', 'merge_topk', 'neighbour_boxes', 'contains_other_points', 'RotatedSingleRoIExtractor',
           'map_roi_levels']
