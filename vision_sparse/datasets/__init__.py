from . import formats  # noqa: F401
from . import matching_pairs  # noqa: F401
from .matching_pairs import *  # noqa: F401,F403
