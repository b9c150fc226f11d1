"""Non-network parts of the detectors: coders, assigners, proposal-bag generators,
Gaussian heatmap targets."""
from .assigners import *  # noqa: F401,F403
from .assigners import __all__ as _assigners_all
from .coders import *  # noqa: F401,F403
from .coders import __all__ as _coders_all
from .gaussian_heatmap import draw_gaussian, gaussian_2d, gaussian_radius
from .prior_generators import *  # noqa: F401,F403
from .prior_generators import __all__ as _prior_generators_all

__all__ = [*_assigners_all, *_coders_all, *_prior_generators_all,
           'draw_gaussian', 'gaussian_2d', 'gaussian_radius']
