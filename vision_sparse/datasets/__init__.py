"""Datasets: image pairs for matching, posed sequences for relocalization, synthetic data
(rendered rooms, warped image pairs), readers of annotation formats."""
from . import formats  # noqa: F401
from . import eval_pairs  # noqa: F401
from . import matching_pairs  # noqa: F401
from .matching_pairs import *  # noqa: F401,F403
from . import relocalization  # noqa: F401
from . import synthetic_warp  # noqa: F401
from .eval_pairs import (SevenScenesPairsDataset, covisible_share, homography_eval_pairs,
                         warp_depth_pixels)
from .relocalization import (RelocalizationDataset, load_7scenes, load_cambridge, load_colmap,
                             read_colmap_text_model)
from .synthetic_warp import (SyntheticWarpPairsDataset, grid_to_pixels, procedural_texture,
                             random_warp_grid, warp_grid)

__all__ = [
    *matching_pairs.__all__, 'SevenScenesPairsDataset', 'covisible_share',
    'homography_eval_pairs', 'warp_depth_pixels', 'RelocalizationDataset', 'load_7scenes',
    'load_cambridge', 'load_colmap', 'read_colmap_text_model', 'SyntheticWarpPairsDataset', 'grid_to_pixels',
    'procedural_texture', 'random_warp_grid', 'warp_grid'
]
