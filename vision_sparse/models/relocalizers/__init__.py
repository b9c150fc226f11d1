"""FaVoR: relocalization by rendering per-landmark voxel descriptor grids.

Pipeline (see docs/favor.md): posed frames -> :class:`DenseFeatureExtractor`
-> :class:`FeatureTracker` (tracks with descriptor patches) ->
:class:`LandmarkTriangulator` (points + boxes) -> :func:`build_training_rays` ->
:class:`BatchedLandmarkTrainer` (voxel grids, :mod:`.landmark_losses`, PSNR
filter) -> :class:`LandmarkMap` (one file);
query -> :class:`GlobalRetrieval` (initial pose) -> :class:`FaVoRRelocalizer`
(render, match, P3P LO-RANSAC, iterate).
"""
from .feature_extractor import (DenseFeatureExtractor, build_extractor, image_to_tensor,
                                sample_dense, sample_patches)
from .landmark_losses import (binary_entropy, fused_landmark_loss, landmark_loss_terms,
                              loss_to_psnr, total_variation)
from .landmark_map import LandmarkMap, render_landmarks
from .mapping import build_landmark_map
from .relocalizer import FaVoRRelocalizer
from .retrieval import GlobalRetrieval, kmeans
from .tracker import FeatureTracker, TrackSet, check_frame
from ..matchers.nn_matching import mutual_nn_match  # noqa: F401 (FaVoR's tracker uses it; exported by matchers)
from .trainer import BatchedLandmarkTrainer
from .training_rays import TrainingRays, build_training_rays
from .triangulator import LandmarkTriangulator, triangulate_dlt

__all__ = [
    'DenseFeatureExtractor', 'build_extractor', 'image_to_tensor', 'sample_dense', 'sample_patches',
    'LandmarkMap',
    'render_landmarks', 'build_landmark_map', 'FaVoRRelocalizer', 'GlobalRetrieval', 'kmeans',
    'FeatureTracker', 'TrackSet', 'check_frame', 'BatchedLandmarkTrainer',
    'TrainingRays', 'build_training_rays', 'LandmarkTriangulator',
    'triangulate_dlt', 'binary_entropy', 'fused_landmark_loss', 'landmark_loss_terms',
    'loss_to_psnr', 'total_variation'
]
