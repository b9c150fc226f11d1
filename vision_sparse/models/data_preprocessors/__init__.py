"""Data preprocessors: batch the packed samples of a pipeline for a model (SparseFusion's
LiDAR + multi-view camera batches). Registered on first use of the MODELS registry."""
from .fusion_preprocessor import FusionDataPreprocessor

__all__ = ['FusionDataPreprocessor']
