"""Voxel / pillar encoders of the LiDAR branch: the PointPillars pillar feature net, the
BEV scatter and the middle-encoder switch (``'pillars'``; ``'spconv'`` is not available,
see :func:`spconv_status`).

Plain torch modules; registered when this package is imported (it is in
``LOCATIONS['MODELS']`` of :mod:`vision_sparse.registry`).
"""
from .pillar_encoder import PillarFeatureNet
from .pillar_scatter import MIDDLE_ENCODERS, PointPillarsScatter, SparseEncoder, spconv_status

__all__ = ['PillarFeatureNet', 'PointPillarsScatter', 'SparseEncoder', 'spconv_status',
           'MIDDLE_ENCODERS']
