"""LiDAR + camera 3-D detection data (SparseFusion): the nuScenes / KITTI info-pickle
datasets, the synthetic multi-modal dataset and their pipeline transforms.

Registered on first use of the DATASETS / TRANSFORMS registries (``LOCATIONS`` in
:mod:`vision_sparse.registry`); ``import vision_sparse`` does not import this package.
"""
from .dataset import (KittiFusionDataset, NuScenesFusionDataset, SyntheticFusionDataset,
                      check_calibration, info_to_results)
from .transforms import (GlobalRotScaleTransFusion, LoadMultiViewImages, LoadPointsFromFile,
                         ObjectNameFilter, ObjectRangeFilter, PackFusionInputs,
                         PointsRangeFilter, ResizeMultiView)

__all__ = [
    'NuScenesFusionDataset', 'KittiFusionDataset', 'SyntheticFusionDataset', 'info_to_results',
    'check_calibration', 'LoadPointsFromFile', 'LoadMultiViewImages', 'ResizeMultiView',
    'PointsRangeFilter', 'ObjectRangeFilter', 'ObjectNameFilter', 'GlobalRotScaleTransFusion',
    'PackFusionInputs'
]
