from . import formats  # noqa: F401
from . import matching_pairs  # noqa: F401
from .matching_pairs import *  # noqa: F401,F403
from . import relocalization  # noqa: F401
from .relocalization import (RelocalizationDataset, load_7scenes, load_cambridge, load_colmap,
                             read_colmap_text_model)
