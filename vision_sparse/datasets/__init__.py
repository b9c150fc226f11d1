"""Datasets: image pairs for matching, posed sequences for relocalization, synthetic data,
readers of annotation formats."""
from . import formats  # noqa: F401
from . import matching_pairs  # noqa: F401
from .matching_pairs import *  # noqa: F401,F403
from . import relocalization  # noqa: F401
from .relocalization import (RelocalizationDataset, load_7scenes, load_cambridge, load_colmap,
                             read_colmap_text_model)

__all__ = [
    *matching_pairs.__all__, 'RelocalizationDataset', 'load_7scenes', 'load_cambridge',
    'load_colmap', 'read_colmap_text_model'
]
