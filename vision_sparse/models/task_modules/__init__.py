"""Non-network parts of the detectors: coders (and, later, assigners, bag generators)."""
from .coders import *  # noqa: F401,F403
from .coders import __all__ as _coders_all

__all__ = [*_coders_all]
