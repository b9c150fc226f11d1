"""Models: point matchers, area matchers, relocalizers, correspondence, layers, losses,
task modules (coders).

The oriented detector's parts subclass mmdet models (``dense_heads``: rotated FCOS
head; ``detectors``: ``RotatedFCOS``), so they are not imported here: importing
``mmdet.models`` is left out of ``import vision_sparse``. They are registered the
first time a ``vision_sparse`` registry is searched (their packages are in
``vision_sparse.registry.LOCATIONS``), or by importing them.
"""
from . import (area_matchers, correspondence, layers, losses, matchers, relocalizers,  # noqa: F401
               task_modules)
from .area_matchers import *  # noqa: F401,F403
from .correspondence import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .matchers import *  # noqa: F401,F403
from .relocalizers import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403

__all__ = [
    *area_matchers.__all__, *correspondence.__all__, *layers.__all__, *losses.__all__,
    *matchers.__all__, *relocalizers.__all__, *task_modules.__all__
]
