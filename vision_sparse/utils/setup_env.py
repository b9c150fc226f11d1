"""Registering every module of vision_sparse in its registries."""
import datetime
import importlib
import warnings

from mmengine import DefaultScope

# Packages whose import registers modules.  Kept in one list so that a new role
# folder is registered by adding one line here (and to the registry's locations).
_MODULE_PACKAGES = (
    'vision_sparse.structures',
    'vision_sparse.ops',
    'vision_sparse.datasets',
    'vision_sparse.models',
    'vision_sparse.evaluation',
    'vision_sparse.visualization',
)


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every module of vision_sparse so that it is registered.

    Test-only modules (:mod:`vision_sparse.testing`) are not imported: they
    register themselves when that package is imported (e.g. through
    ``custom_imports=dict(imports=['vision_sparse.testing'])`` in a config).

    Args:
        init_default_scope (bool): also make ``vision_sparse`` the current default
            scope of mmengine's registries (what a config with
            ``default_scope='vision_sparse'`` does). If another scope is current,
            a new instance named ``vision_sparse-<time>`` is created, as mmdet does.
    """
    for name in _MODULE_PACKAGES:
        importlib.import_module(name)
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


__all__ = ['register_all_modules']
