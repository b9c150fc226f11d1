"""Lazy loading of the compiled extension ``vision_sparse._C``.

Nothing here runs at import time: the shared library is loaded the first time an
op asks for it (or ``HAS_EXT`` / ``HAS_CUDA_EXT`` is read).  A missing or broken
build never makes ``import vision_sparse`` fail; the ops then run their
pure-PyTorch references and :func:`ext_status` says why.

Set ``VISION_SPARSE_DISABLE_EXT=1`` to force the references (useful to compare).
"""
import importlib.util
import os
import threading
from typing import Optional

import torch

_lock = threading.Lock()
_loaded: Optional[bool] = None
_error: Optional[str] = None
_with_cuda = False
_path: Optional[str] = None


def _load() -> bool:
    global _loaded, _error, _with_cuda, _path
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        if os.environ.get('VISION_SPARSE_DISABLE_EXT', '0') == '1':
            _error = 'disabled by VISION_SPARSE_DISABLE_EXT=1'
            _loaded = False
            return False
        try:
            spec = importlib.util.find_spec('vision_sparse._C')
        except (ImportError, ValueError) as exc:  # pragma: no cover
            spec = None
            _error = repr(exc)
        if spec is None or spec.origin is None:
            _error = _error or ('vision_sparse._C was not built; run `make ops` or '
                                '`python setup.py build_ext --inplace`')
            _loaded = False
            return False
        try:
            torch.ops.load_library(spec.origin)
            _with_cuda = bool(torch.ops.vision_sparse.with_cuda())
            _path = spec.origin
            _loaded = True
        except Exception as exc:  # a stale or ABI-incompatible build
            _error = f'failed to load {spec.origin}: {exc}'
            _loaded = False
        return _loaded


def has_ext() -> bool:
    """Whether the compiled extension (C++ CPU kernels at least) is loaded."""
    return _load()


def has_cuda_ext() -> bool:
    """Whether the loaded extension was compiled with its CUDA kernels."""
    return _load() and _with_cuda


def use_ext(*tensors: torch.Tensor) -> bool:
    """Whether the compiled kernel can run on the device of ``tensors``."""
    if not _load():
        return False
    dev = tensors[0].device.type if tensors else 'cpu'
    if dev == 'cpu':
        return True
    if dev == 'cuda':
        return _with_cuda
    return False


def ext_status() -> str:
    """One human-readable line on what is compiled and loaded."""
    if _load():
        kinds = 'CPU + CUDA kernels' if _with_cuda else 'CPU kernels only'
        return f'vision_sparse._C loaded from {_path} ({kinds})'
    return f'vision_sparse._C not loaded: {_error}; using pure-PyTorch references'
