"""Non-network parts of the detectors: coders, proposal-bag generators."""
from .coders import *  # noqa: F401,F403
from .coders import __all__ as _coders_all
from .prior_generators import *  # noqa: F401,F403
from .prior_generators import __all__ as _prior_generators_all

__all__ = [*_coders_all, *_prior_generators_all]
