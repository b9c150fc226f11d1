"""Models: point matchers, area matchers, relocalizers, correspondence, layers, losses,
task modules (coders, bag generators), detectors and RoI heads (PointOBB)."""
from . import (area_matchers, correspondence, detectors, layers, losses, matchers,  # noqa: F401
               relocalizers, roi_heads, task_modules)
from .area_matchers import *  # noqa: F401,F403
from .correspondence import *  # noqa: F401,F403
from .detectors import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .matchers import *  # noqa: F401,F403
from .relocalizers import *  # noqa: F401,F403
from .roi_heads import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403

__all__ = [
    *area_matchers.__all__, *correspondence.__all__, *detectors.__all__, *layers.__all__,
    *losses.__all__, *matchers.__all__, *relocalizers.__all__, *roi_heads.__all__,
    *task_modules.__all__
]
