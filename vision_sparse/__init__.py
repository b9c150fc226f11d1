"""vision_sparse: sparse perception toolbox in the OpenMMLab style.

Importing the package

1. applies the patches of other libraries listed in
   :mod:`vision_sparse.utils.patches` (a stand-in ``mmcv._ext`` when mmcv has no
   compiled ops, mmengine's loader of local checkpoints), because the mmdet
   modules we build on need them, and
2. registers its modules in the ``vision_sparse`` scope of mmengine's
   registries (so ``custom_imports=dict(imports=['vision_sparse'])`` in an mmdet
   config is enough to use ``type='vision_sparse.<Name>'``).

It changes nothing else in other libraries (``docs/engine.md`` lists the
effects; ``tests/test_import_side_effects.py`` checks them). The compiled ops
are loaded lazily, on first use; test-only modules (:mod:`vision_sparse.testing`)
are registered only when that package is imported.
"""
from .version import __version__
from .utils.patches import apply_patches

apply_patches()

from . import registry  # noqa: E402,F401
from .utils.setup_env import register_all_modules  # noqa: E402

register_all_modules(init_default_scope=False)

__all__ = ['__version__', 'apply_patches', 'register_all_modules']
