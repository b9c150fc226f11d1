"""Every change vision_sparse makes to another library, in one place.

``import vision_sparse`` calls :func:`apply_patches` once, before any of our
modules imports mmdet (``vision_sparse.structures`` subclasses mmdet's box
types, and ``mmdet.structures`` imports ``mmcv.ops``). Calling it again does
nothing. ``docs/engine.md`` lists the same patches with the reason for each, and
``tests/test_import_side_effects.py`` checks that a plain ``import vision_sparse``
changes exactly these (plus the registrations described there) and nothing else.

The patches (keys of :data:`PATCHES`):

``'mmcv._ext'``
    ``mmcv-lite`` (our dependency) has no compiled ``mmcv._ext``, so
    ``import mmcv.ops`` -- and with it ``mmdet.structures.mask``,
    ``mmdet.models`` and every ``mmdet.registry.MODELS.build`` -- fails with
    ``No module named 'mmcv._ext'``. When (and only when) the real module is
    missing, a stand-in is put in ``sys.modules['mmcv._ext']``: its functions
    exist, so mmcv's import-time checks pass. The ops we can compute with
    mmcv's semantics are served (:data:`vision_sparse.utils.mmcv_ops.SERVED_OPS`:
    ``nms`` and avg ``roi_align`` forward/backward through ``torchvision.ops``,
    ``box_iou_rotated``, ``nms_rotated`` and ``roi_align_rotated``
    forward/backward through ``vision_sparse.ops``), so
    mmdet's detectors train and ``predict`` end to end; every other op raises
    ``NotImplementedError`` naming the op and the served ones when called. Nothing computes a wrong result silently. Set
    ``VISION_SPARSE_NO_MMCV_SHIM=1`` to leave ``mmcv._ext`` alone.
``'mmengine.CheckpointLoader'``
    mmengine 0.10 loads local checkpoints with ``torch.load(filename)``, which
    since torch 2.6 means ``weights_only=True`` and refuses the objects mmengine
    itself saves (``HistoryBuffer``, numpy arrays), so ``resume`` fails; and it
    loads ``http(s)://`` (and the model-zoo schemes that resolve to URLs),
    ``s3://`` and ``pavi://`` checkpoints with ``weights_only=False``, which runs
    any code a downloaded pickle carries. The loader of **every** registered
    scheme is replaced by :func:`load_from_safe_loader`
    (:func:`vision_sparse.utils.checkpoint.load_checkpoint`: an exact allow-list,
    never ``weights_only=False`` unless trusted; unknown schemes refused).
"""
import importlib.machinery
import importlib.util
import os
import sys
import types
from typing import Any, Dict

#: Name of each patch -> what it changes (the reason is in the module docstring).
PATCHES: Dict[str, str] = {
    'mmcv._ext': "sys.modules['mmcv._ext'] = a stand-in that serves nms, roi_align, "
                 'box_iou_rotated, nms_rotated and roi_align_rotated and whose other ops raise '
                 'NotImplementedError (only when mmcv has no compiled ops)',
    'mmengine.CheckpointLoader': 'every CheckpointLoader scheme (local files, http(s), '
                                 'model zoos, s3/petrel, pavi) -> '
                                 'vision_sparse.utils.checkpoint.load_checkpoint',
}

#: Environment variable that disables the ``mmcv._ext`` stand-in.
NO_MMCV_SHIM_ENV = 'VISION_SPARSE_NO_MMCV_SHIM'

class MissingMMCVExt(types.ModuleType):
    """Stand-in ``mmcv._ext``: the ops of
    :data:`vision_sparse.utils.mmcv_ops.SERVED_OPS` compute; every other public
    attribute is an op that raises.

    Raises:
        NotImplementedError: when an unserved op is called, naming the op and
            the ops that are served.
    """

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__'):
            raise AttributeError(name)
        from .mmcv_ops import SERVED_OPS
        if name in SERVED_OPS:
            return SERVED_OPS[name]

        def _missing_op(*args, **kwargs):
            raise NotImplementedError(
                f"mmcv op '{name}' is not available: mmcv-lite has no compiled ops and "
                'this mmcv._ext is a vision_sparse stand-in that serves only '
                f"{', '.join(sorted(SERVED_OPS))}. Install full mmcv to run other mmcv ops.")

        _missing_op.__name__ = name
        return _missing_op


def _real_mmcv_ext_available() -> bool:
    if 'mmcv._ext' in sys.modules:
        return True
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def _patch_mmcv_ext() -> bool:
    """Install the stand-in ``mmcv._ext`` if mmcv is present without its ops."""
    if is_mmcv_shim_installed():
        return True
    if os.environ.get(NO_MMCV_SHIM_ENV, '0') == '1':
        return False
    if importlib.util.find_spec('mmcv') is None or _real_mmcv_ext_available():
        return False
    shim = MissingMMCVExt('mmcv._ext')
    shim.__spec__ = importlib.machinery.ModuleSpec('mmcv._ext', None)
    shim.__file__ = __file__
    sys.modules['mmcv._ext'] = shim
    return True


def is_mmcv_shim_installed() -> bool:
    """Whether ``sys.modules['mmcv._ext']`` is our stand-in.

    Returns:
        bool: True when the stand-in is in place (mmcv-lite), False with full mmcv.
    """
    return isinstance(sys.modules.get('mmcv._ext'), MissingMMCVExt)


def load_from_safe_loader(filename: str, map_location: Any = None) -> Any:
    """mmengine ``CheckpointLoader`` entry for every scheme (local paths and URLs).

    (mmengine logs ``name[10:]`` of a loader as its backend: "safe_loader".)

    Args:
        filename (str): checkpoint path or URL.
        map_location: as in :func:`torch.load`.

    Returns:
        The unpickled checkpoint (see
        :func:`vision_sparse.utils.checkpoint.load_checkpoint`; trusted only with
        ``VISION_SPARSE_TRUST_CHECKPOINTS=1``).
    """
    from .checkpoint import load_checkpoint
    return load_checkpoint(filename, map_location)


def _patch_checkpoint_loader() -> bool:
    """Make :func:`load_from_safe_loader` mmengine's loader of every scheme."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from .checkpoint import _ORIGINAL_LOADERS
    todo = [p for p, fn in CheckpointLoader._schemes.items() if fn is not load_from_safe_loader]
    for prefix in todo:
        _ORIGINAL_LOADERS.setdefault(prefix, CheckpointLoader._schemes[prefix])
    if todo:
        CheckpointLoader.register_scheme(prefixes=todo, loader=load_from_safe_loader, force=True)
    return True


def apply_patches() -> Dict[str, bool]:
    """Apply every patch of :data:`PATCHES` that applies here (idempotent).

    Returns:
        dict: patch name -> whether it is in effect after the call (``'mmcv._ext'``
        is False with full mmcv or with ``VISION_SPARSE_NO_MMCV_SHIM=1``).
    """
    return {'mmcv._ext': _patch_mmcv_ext(),
            'mmengine.CheckpointLoader': _patch_checkpoint_loader()}


__all__ = ['PATCHES', 'NO_MMCV_SHIM_ENV', 'MissingMMCVExt', 'apply_patches',
           'is_mmcv_shim_installed', 'load_from_safe_loader']
