"""API surface of vision_sparse.ops: every public name exists, is documented and is
importable from both ``vision_sparse.ops`` and its op's package."""
import importlib
import inspect

import pytest

import vision_sparse.ops as ops

OP_PACKAGES = ('box_iou_rotated', 'nms_rotated', 'voxel_render')


def test_all_names_exist_and_are_documented():
    assert len(set(ops.__all__)) == len(ops.__all__)
    for name in ops.__all__:
        obj = getattr(ops, name)
        if callable(obj):
            assert inspect.getdoc(obj), f'vision_sparse.ops.{name} has no docstring'
    # the values computed on access (HAS_EXT / HAS_CUDA_EXT) are documented in the module
    for name in ('HAS_EXT', 'HAS_CUDA_EXT', 'DEFAULT_DENSITY_SHIFT'):
        assert isinstance(getattr(ops, name), (bool, float))
    assert 'HAS_EXT' in ops.__doc__ and 'HAS_CUDA_EXT' in ops.__doc__
    with pytest.raises(AttributeError, match='no attribute'):
        getattr(ops, 'NO_SUCH_NAME')


@pytest.mark.parametrize('package', OP_PACKAGES)
def test_op_packages_reexport_their_modules(package):
    pkg = importlib.import_module(f'vision_sparse.ops.{package}')
    assert inspect.getdoc(pkg)
    names = set(pkg.__all__)
    # every public name of the op's modules is re-exported by its package and by ops
    for module in (package, 'reference'):
        mod = importlib.import_module(f'vision_sparse.ops.{package}.{module}')
        assert inspect.getdoc(mod)
        assert set(mod.__all__) <= names, (module, set(mod.__all__) - names)
        for name in mod.__all__:
            assert getattr(pkg, name) is getattr(mod, name)
    assert names <= set(ops.__all__), names - set(ops.__all__)
    for name in names:
        assert getattr(ops, name) is getattr(pkg, name)


def test_star_import():
    namespace = {}
    exec('from vision_sparse.ops import *', namespace)  # noqa: S102
    assert set(ops.__all__) <= set(namespace)
