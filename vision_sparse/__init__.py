"""vision_sparse: sparse perception toolbox in the OpenMMLab style.

Importing the package registers its modules in the ``vision_sparse`` scope of
mmengine's registries (so ``custom_imports=dict(imports=['vision_sparse'])`` in an
mmdet config is enough to use ``type='vision_sparse.<Name>'``).  The compiled ops
are loaded lazily, on first use.
"""
from .version import __version__
from . import registry  # noqa: F401
from .utils.setup_env import register_all_modules  # noqa: F401

register_all_modules(init_default_scope=False)

__all__ = ['__version__', 'register_all_modules']
