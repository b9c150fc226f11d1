"""Models: point matchers, area matchers, relocalizers, layers, losses."""
from . import matchers  # noqa: F401
from .matchers import *  # noqa: F401,F403
