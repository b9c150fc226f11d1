"""Registering every module of vision_sparse in its registries."""
import datetime
import importlib
import warnings

from mmengine import DefaultScope

# Packages whose import registers modules.  Kept in one list so that a new role
# folder is registered by adding one line here (and to registry.locations).
_MODULE_PACKAGES = (
    'vision_sparse.structures',
    'vision_sparse.ops',
    'vision_sparse.datasets',
    'vision_sparse.datasets.transforms',
    'vision_sparse.models',
    'vision_sparse.evaluation',
    'vision_sparse.visualization',
    'vision_sparse.engine',
    'vision_sparse.testing',
)


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every module of vision_sparse so that it is registered.

    Args:
        init_default_scope (bool): also make ``vision_sparse`` the current default
            scope of mmengine's registries (what a config with
            ``default_scope='vision_sparse'`` does). If another scope is current,
            a new instance named ``vision_sparse-<time>`` is created, as mmdet does.
    """
    from .mmcv_compat import install_mmcv_ext_shim
    install_mmcv_ext_shim()
    for name in _MODULE_PACKAGES:
        importlib.import_module(name)
    from .checkpoint import install_checkpoint_loader
    install_checkpoint_loader()
    if init_default_scope:
        never_created = (DefaultScope.get_current_instance() is None
                         or not DefaultScope.check_instance_created('vision_sparse'))
        if never_created:
            DefaultScope.get_instance('vision_sparse', scope_name='vision_sparse')
            return
        current = DefaultScope.get_current_instance()
        if current.scope_name != 'vision_sparse':
            warnings.warn('The current default scope '
                          f'"{current.scope_name}" is not "vision_sparse"; '
                          '`register_all_modules` forces it to "vision_sparse".')
            new_name = f'vision_sparse-{datetime.datetime.now()}'
            DefaultScope.get_instance(new_name, scope_name='vision_sparse')
