"""Loading mmengine checkpoints under ``torch.load(weights_only=True)``.

Since torch 2.6, ``torch.load`` refuses to unpickle anything but tensors and
plain containers unless told otherwise, and mmengine 0.10's local loader calls
``torch.load(filename)`` -- so resuming a run fails on the ``HistoryBuffer`` and
numpy objects that mmengine itself saved.

We do not fall back to ``weights_only=False`` (that executes arbitrary pickled
code).  Instead :func:`load_checkpoint_file` lists the globals a checkpoint needs
(``torch.serialization.get_unsafe_globals_in_checkpoint``), allows those on an
explicit allow-list (what mmengine, numpy and vision_sparse write into
checkpoints) and loads with ``weights_only=True``.  Anything else raises a
``ValueError`` that names the objects; pass ``trust=True`` (or set
``VISION_SPARSE_TRUST_CHECKPOINTS=1``) only for files from a source you trust.

``import vision_sparse`` makes this the loader mmengine uses for local paths
(``CheckpointLoader`` scheme ``''``; see :mod:`vision_sparse.utils.patches`),
which covers ``load_from``, ``resume`` and ``tools/test.py``.
"""
import importlib
import os
import os.path as osp
import pickle
from typing import Any, List, Optional

import torch

# Exact names allowed in a checkpoint besides what torch already allows.
_ALLOWED_NAMES = {
    'numpy.core.multiarray._reconstruct',
    'numpy._core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
    'numpy._core.multiarray.scalar',
    'numpy.ndarray',
    'numpy.dtype',
    'collections.OrderedDict',
    'collections.defaultdict',
    'builtins.set',
    'builtins.frozenset',
    'builtins.slice',
    'builtins.complex',
    'builtins.bytearray',
    'datetime.datetime',
    'datetime.date',
    'datetime.timedelta',
    '_codecs.encode',
}
# Prefixes whose *classes* (never functions) are allowed.
_ALLOWED_CLASS_PREFIXES = ('numpy.dtypes.', 'mmengine.', 'vision_sparse.')


def _resolve(name: str) -> Any:
    module, _, qualname = name.rpartition('.')
    # qualname may itself be nested (Outer.Inner): find the longest module prefix.
    parts = name.split('.')
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f'cannot resolve {name!r} (module {module!r}, name {qualname!r})')


def _restricted_getattr(obj: Any, name: str) -> Any:
    """``getattr`` for unpickling, limited to public attributes of allowed classes.

    mmengine's ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'min')``; a general ``getattr`` would let a crafted
    file walk to arbitrary objects, so only public attributes of classes from the
    allowed packages are served (the results cannot be called by the unpickler).
    """
    if not (isinstance(obj, type) and isinstance(name, str) and not name.startswith('_')
            and obj.__module__.startswith(('mmengine.', 'vision_sparse.'))):
        raise pickle.UnpicklingError(
            f'getattr({obj!r}, {name!r}) is not allowed while loading a checkpoint')
    return getattr(obj, name)


def _is_allowed(name: str) -> bool:
    if name == 'builtins.getattr':
        return True
    if name in _ALLOWED_NAMES:
        return True
    if name.startswith(_ALLOWED_CLASS_PREFIXES):
        try:
            return isinstance(_resolve(name), type)
        except (ImportError, AttributeError):
            return False
    return False


def unsafe_globals(filename: str) -> List[str]:
    """Names of the globals a checkpoint file needs beyond torch's defaults."""
    return list(torch.serialization.get_unsafe_globals_in_checkpoint(filename))


def load_checkpoint_file(filename: str, map_location: Optional[Any] = None,
                         trust: Optional[bool] = None) -> Any:
    """``torch.load`` a checkpoint safely, allowing what mmengine writes.

    Args:
        filename (str): path of the checkpoint file.
        map_location: as in :func:`torch.load`.
        trust (bool, optional): load with ``weights_only=False`` (runs arbitrary
            pickled code: only for files you trust). Defaults to the environment
            variable ``VISION_SPARSE_TRUST_CHECKPOINTS=1``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the checkpoint needs objects outside the allow-list.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    if trust is None:
        trust = os.environ.get('VISION_SPARSE_TRUST_CHECKPOINTS', '0') == '1'
    if trust:
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass
    names = unsafe_globals(filename)
    refused = [n for n in names if not _is_allowed(n)]
    if refused:
        raise ValueError(
            f'checkpoint {filename} needs objects that are not on the safe list: '
            f'{refused}. If you trust this file, load it with trust=True or set '
            'VISION_SPARSE_TRUST_CHECKPOINTS=1.')
    allowed = [(_restricted_getattr, n) if n == 'builtins.getattr' else _resolve(n)
               for n in names]
    if 'numpy.dtype' in names:
        # numpy.dtype(...) returns instances of numpy.dtypes.<X>DType, which the
        # unpickler then BUILDs: those classes must be allowed as well.
        import numpy as np
        allowed += [t for t in vars(np.dtypes).values()
                    if isinstance(t, type) and issubclass(t, np.dtype)]
    with torch.serialization.safe_globals(allowed):
        return torch.load(filename, map_location=map_location, weights_only=True)


__all__ = ['load_checkpoint_file', 'unsafe_globals']
