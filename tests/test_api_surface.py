"""The public API: every name in an ``__all__`` exists and is documented.

For every module of vision_sparse that declares ``__all__``: each name is an
attribute of the module, and each class or function among them has its own
docstring (constants, type aliases and registry objects are exempt). The
packages' ``__all__`` list what they import for users: ``vision_sparse.ops``
exports every public name it imports (the voxel_render op among them).
"""
import importlib
import inspect
import pkgutil

import pytest

import vision_sparse


def _module_names():
    names = ['vision_sparse']
    for info in pkgutil.walk_packages(vision_sparse.__path__, 'vision_sparse.'):
        leaf = info.name.rsplit('.', 1)[-1]
        if leaf == '__main__' or leaf.startswith('_C'):
            continue  # a command line (runs on import) / the compiled extension
        names.append(info.name)
    return sorted(names)


MODULES = _module_names()


def _documented(obj) -> bool:
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    return bool(doc and doc.strip())


def test_every_module_imports():
    failed = {}
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as exc:  # report all of them, not only the first
            failed[name] = f'{type(exc).__name__}: {exc}'
    assert not failed, failed


@pytest.mark.parametrize('module_name', MODULES)
def test_all_names_exist_and_are_documented(module_name):
    module = importlib.import_module(module_name)
    exported = getattr(module, '__all__', None)
    if exported is None:
        # private modules (a leading underscore) and the version file need no __all__
        assert module_name.rsplit('.', 1)[-1].startswith('_') or module_name.endswith('.version'), \
            f'{module_name} has no __all__'
        return
    assert len(exported) == len(set(exported)), f'duplicates in {module_name}.__all__'
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f'{module_name}.__all__ names missing from the module: {missing}'
    undocumented = []
    for n in exported:
        obj = getattr(module, n)
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and not _documented(obj):
            undocumented.append(n)
    assert not undocumented, f'{module_name}: no docstring: {undocumented}'


def test_modules_with_a_public_api_say_what_they_are_for():
    undocumented = [n for n in MODULES if hasattr(importlib.import_module(n), '__all__')
                    and not _documented(importlib.import_module(n))]
    assert not undocumented, f'modules with __all__ and no docstring: {undocumented}'


def test_ops_exports_every_public_name_it_imports():
    import vision_sparse.ops as ops
    public = {n for n, v in vars(ops).items()
              if not n.startswith('_') and not inspect.ismodule(v)}
    assert public - set(ops.__all__) == set()
    assert {'voxel_render', 'voxel_render_reference', 'VoxelRender'} <= set(ops.__all__)
