"""Input factories and tiny problems shared by tests, demos and benchmarks.

Not imported by the library (``import vision_sparse`` and
``register_all_modules`` leave it alone). Importing it registers its test-only
modules (``ToyRegressor``, ``SyntheticRegressionDataset``, ``RegressionMetric``,
``SyntheticHomographyPairs``) in the ``vision_sparse`` registries; a config that
uses them says ``custom_imports = dict(imports=['vision_sparse.testing'])``.
The synthetic relocalization scene lives in the library
(:mod:`vision_sparse.datasets.synthetic`); :mod:`.synthetic_scene` re-exports it
textured with the shared sample data.
"""
from .data import shared_data_path, shared_data_root
from . import synthetic_pairs  # noqa: F401
from .synthetic_scene import SyntheticScene, synthetic_relocalization_scene
from .synthetic import jittered_detections, random_rotated_boxes, synthetic_lidar_scene
from .toy import RegressionMetric, SyntheticRegressionDataset, ToyRegressor

__all__ = [
    'shared_data_path', 'shared_data_root', 'SyntheticScene', 'synthetic_relocalization_scene',
    'jittered_detections', 'random_rotated_boxes', 'synthetic_lidar_scene', 'RegressionMetric',
    'SyntheticRegressionDataset', 'ToyRegressor'
]
