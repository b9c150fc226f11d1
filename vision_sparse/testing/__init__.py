"""Input factories and tiny problems shared by tests, demos and benchmarks."""
from .data import shared_data_path, shared_data_root
from . import synthetic_pairs  # noqa: F401
from .synthetic_scene import SyntheticScene, synthetic_relocalization_scene
from .synthetic import jittered_detections, random_rotated_boxes, synthetic_lidar_scene
from .toy import RegressionMetric, SyntheticRegressionDataset, ToyRegressor

__all__ = [
    'shared_data_path', 'shared_data_root', 'jittered_detections', 'random_rotated_boxes',
    'synthetic_lidar_scene', 'RegressionMetric', 'SyntheticRegressionDataset', 'ToyRegressor'
]
