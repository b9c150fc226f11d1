"""Let ``mmdet.models`` import when only ``mmcv-lite`` (no compiled ops) is installed.

``mmcv-lite`` has no ``mmcv._ext``, so ``import mmcv.ops`` -- and with it
``mmdet.models`` and every ``mmdet.registry.MODELS.build`` (which lazily imports
``mmdet.models``) -- fails with ``No module named 'mmcv._ext'``.  That would make
our modules unusable from an mmdet config on a machine without full mmcv.

:func:`install_mmcv_ext_shim` registers a stand-in ``mmcv._ext`` *only when the
real one is missing*.  Its functions exist (so mmcv's import-time checks pass)
but raise ``NotImplementedError`` naming the op and the vision_sparse
replacement when called: nothing silently computes a wrong result.  With full
mmcv installed it does nothing.  Set ``VISION_SPARSE_NO_MMCV_SHIM=1`` to disable.
"""
import importlib.machinery
import importlib.util
import os
import sys
import types

# mmcv ext functions and the vision_sparse op that replaces them.
REPLACEMENTS = {
    'box_iou_rotated': 'vision_sparse.ops.box_iou_rotated',
    'nms_rotated': 'vision_sparse.ops.nms_rotated / batched_nms_rotated',
}


class _MissingMMCVExt(types.ModuleType):
    """Module object whose every public attribute is an op that raises."""

    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)

        def _missing_op(*args, **kwargs):
            hint = REPLACEMENTS.get(name)
            alt = f' Use {hint} instead.' if hint else ''
            raise NotImplementedError(
                f"mmcv op '{name}' is not available: mmcv-lite has no compiled ops "
                f'(this mmcv._ext is a vision_sparse stand-in).{alt} '
                'Install full mmcv to run mmcv ops.')

        _missing_op.__name__ = name
        return _missing_op


def _real_ext_available() -> bool:
    if 'mmcv._ext' in sys.modules:
        return True
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def install_mmcv_ext_shim() -> bool:
    """Install the stand-in ``mmcv._ext`` if mmcv is present without its ops.

    Returns:
        bool: whether the stand-in was installed by this call.
    """
    if os.environ.get('VISION_SPARSE_NO_MMCV_SHIM', '0') == '1':
        return False
    if importlib.util.find_spec('mmcv') is None or _real_ext_available():
        return False
    shim = _MissingMMCVExt('mmcv._ext')
    shim.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
    shim.__file__ = __file__
    sys.modules['mmcv._ext'] = shim
    return True


def is_shim_installed() -> bool:
    return isinstance(sys.modules.get('mmcv._ext'), _MissingMMCVExt)
