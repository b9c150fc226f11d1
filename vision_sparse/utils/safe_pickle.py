"""Unpickling data files (info ``.pkl``, object ``.npy``) without running code.

``pickle.load`` calls whatever a file names (``os.system``, any class), so a
downloaded info file or mask file could run code. :class:`SafeUnpickler`
resolves only the globals in :data:`SAFE_GLOBALS` -- plain containers, numbers,
strings and bytes, numpy arrays, scalars and dtypes -- and raises
:class:`pickle.UnpicklingError` naming anything else. Pickles of those types
need nothing more: dicts, lists, tuples, strings and numbers have opcodes of
their own, and the globals below only rebuild data.

``trusted=True`` falls back to :func:`pickle.load` (only for files from a source
you trust); ``VISION_SPARSE_TRUST_PICKLES=1`` does the same for every call.
"""
import _compat_pickle
import io
import os
import pickle
from typing import IO, Any, Optional, Union

import numpy as np

#: Environment variable that makes every data-file unpickling trusted.
TRUST_ENV = 'VISION_SPARSE_TRUST_PICKLES'

#: (module, name) pairs a data pickle may use: containers, numbers, bytes, numpy data.
SAFE_GLOBALS = frozenset({
    ('builtins', 'set'), ('builtins', 'frozenset'), ('builtins', 'complex'),
    ('builtins', 'bytearray'), ('builtins', 'slice'), ('builtins', 'range'),
    ('_codecs', 'encode'),  # bytes in protocol 2
    ('collections', 'OrderedDict'), ('collections', 'defaultdict'),
    ('numpy', 'ndarray'), ('numpy', 'dtype'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy.core.multiarray', 'scalar'), ('numpy._core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'), ('numpy._core.numeric', '_frombuffer'),
})


def _numpy_dtype_class(module: str, name: str) -> Optional[type]:
    """``numpy.dtypes.Float64DType`` and friends (what ``numpy.dtype`` returns)."""
    if module != 'numpy.dtypes':
        return None
    cls = getattr(np.dtypes, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, np.dtype) else None


class SafeUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` that resolves only :data:`SAFE_GLOBALS`.

    ``collections.defaultdict`` is allowed, but its default factory must itself
    be a safe global (a type such as ``list``/``set`` is resolved via opcodes
    only when it is in the list), so no callable beyond the list is ever reached.
    """

    def find_class(self, module: str, name: str) -> Any:
        # protocol < 3 pickles spell Python 2 names (``__builtin__.set``)
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        dtype_cls = _numpy_dtype_class(module, name)
        if dtype_cls is not None:
            return dtype_cls
        raise pickle.UnpicklingError(
            f'{module}.{name} is not allowed in a data file (only containers, numbers, strings '
            'and numpy arrays are)')


def _trusted(trusted: Optional[bool]) -> bool:
    return os.environ.get(TRUST_ENV, '0') == '1' if trusted is None else bool(trusted)


def safe_load(file: IO[bytes], name: str = 'pickle', trusted: Optional[bool] = None) -> Any:
    """Unpickle from an open binary file with :class:`SafeUnpickler`.

    Args:
        file: binary file object positioned at the pickle.
        name (str): file name used in error messages.
        trusted (bool, optional): True uses :func:`pickle.load` (runs any code
            the file carries: only for files you trust). None reads
            ``VISION_SPARSE_TRUST_PICKLES`` (``1`` = trusted).

    Returns:
        The unpickled object.

    Raises:
        ValueError: the file names a global outside :data:`SAFE_GLOBALS` (the
            message names it), or it is truncated / not a pickle.
    """
    if _trusted(trusted):
        return pickle.load(file)  # noqa: S301 - explicitly trusted by the caller
    try:
        return SafeUnpickler(file).load()
    except pickle.UnpicklingError as err:
        if 'not allowed in a data file' in str(err):
            raise ValueError(
                f'{name}: refused by the safe unpickler: {err}. If you trust this file, pass '
                f'trusted=True or set {TRUST_ENV}=1 (see docs/security.md).') from err
        raise ValueError(f'{name}: not a valid pickle (truncated or corrupt): {err}') from err
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, UnicodeDecodeError) as err:
        raise ValueError(f'{name}: not a valid pickle (truncated or corrupt): '
                         f'{type(err).__name__}: {err}') from err


def safe_load_path(path: Union[str, os.PathLike], trusted: Optional[bool] = None) -> Any:
    """:func:`safe_load` of a file path."""
    with open(path, 'rb') as f:
        return safe_load(f, str(path), trusted)


def safe_loads(data: bytes, name: str = 'pickle', trusted: Optional[bool] = None) -> Any:
    """:func:`safe_load` of bytes."""
    return safe_load(io.BytesIO(data), name, trusted)


def load_npy(path: Union[str, os.PathLike], trusted: Optional[bool] = None) -> np.ndarray:
    """``np.load`` of a ``.npy`` file; object arrays go through :class:`SafeUnpickler`.

    numpy stores an object array as a pickle after the ``.npy`` header, and
    ``np.load(allow_pickle=True)`` unpickles it without restriction. Here plain
    arrays load as usual and object arrays are unpickled safely (or, with
    ``trusted=True``, by ``np.load(allow_pickle=True)``).

    Args:
        path (str | PathLike): ``.npy`` file.
        trusted (bool, optional): see :func:`safe_load`.

    Returns:
        np.ndarray: the stored array.

    Raises:
        ValueError: not a ``.npy`` file, refused globals, or a truncated file.
    """
    path = str(path)
    if _trusted(trusted):
        return np.load(path, allow_pickle=True)
    fmt = np.lib.format
    with open(path, 'rb') as f:
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                shape, fortran, dtype = fmt._read_array_header(f, version)
        except (ValueError, EOFError) as err:
            raise ValueError(f'{path}: not a .npy file: {err}') from err
        if not dtype.hasobject:
            return np.load(path, allow_pickle=False)
        arr = safe_load(f, path)
    if not isinstance(arr, np.ndarray):
        raise ValueError(f'{path}: the pickled payload is a {type(arr).__name__}, not an array')
    if arr.shape != tuple(shape):
        raise ValueError(f'{path}: header shape {tuple(shape)} != stored array {arr.shape}')
    return arr


__all__ = ['SAFE_GLOBALS', 'TRUST_ENV', 'SafeUnpickler', 'safe_load', 'safe_load_path',
           'safe_loads', 'load_npy']
