"""Models: point matchers, area matchers, relocalizers, correspondence, layers, losses,
task modules (coders)."""
from . import (area_matchers, correspondence, layers, losses, matchers, relocalizers,  # noqa: F401
               task_modules)
from . import dense_heads  # noqa: F401
from .area_matchers import *  # noqa: F401,F403
from .correspondence import *  # noqa: F401,F403
from .dense_heads import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .matchers import *  # noqa: F401,F403
from .relocalizers import *  # noqa: F401,F403
from .task_modules import *  # noqa: F401,F403

__all__ = [
    *area_matchers.__all__, *correspondence.__all__, *dense_heads.__all__, *layers.__all__,
    *losses.__all__, *matchers.__all__, *relocalizers.__all__, *task_modules.__all__
]
