"""Models: backbones (pretrained local-feature encoders), point matchers, area matchers,
relocalizers, correspondence, layers, losses, task modules (coders, bag generators), RoI heads (PointOBB's MIL heads, rotated RoI extractor).

The detectors and dense heads (``dense_heads``: rotated FCOS head, PointOBB angle head;
``detectors``: ``PointOBB``, ``RotatedFCOS``) partly subclass mmdet models, so they are
not imported here: importing ``mmdet.models`` is left out of ``import vision_sparse``. They are registered the
first time a ``vision_sparse`` registry is searched (their packages are in
``vision_sparse.registry.LOCATIONS``), or by importing them.
"""
from . import (area_matchers, backbones, correspondence, layers, losses, matchers, relocalizers,  # noqa: F401
               roi_heads, task_modules)
from .area_matchers import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .correspondence import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .matchers import *  # noqa: F401,F403
from .relocalizers import *  # noqa: F401,F403
from .roi_heads import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403

__all__ = [
    *area_matchers.__all__, *backbones.__all__, *correspondence.__all__, *layers.__all__,
    *losses.__all__, *matchers.__all__, *relocalizers.__all__, *roi_heads.__all__,
    *task_modules.__all__
]
