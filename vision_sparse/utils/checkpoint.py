"""Loading checkpoints without running code from them.

``torch.load(weights_only=True)`` (the torch >= 2.6 default) unpickles only
tensors and plain containers, and mmengine 0.10 calls ``torch.load`` without
arguments for local files and with ``weights_only=False`` for URLs. The first
fails on the ``HistoryBuffer`` and numpy objects that mmengine itself writes
(so ``resume`` breaks); the second runs whatever a downloaded pickle asks for.

:func:`load_checkpoint_file` loads with ``weights_only=True`` and, when the file
needs more, allows exactly the globals listed in :data:`ALLOWED_GLOBALS` (what
mmengine's ``CheckpointHook`` writes: numpy array / scalar / dtype
reconstructors and ``HistoryBuffer``) -- never a whole package and never a class
whose construction does anything but hold data. Anything else raises a
``ValueError`` naming the objects. :func:`load_checkpoint` does the same for
every mmengine URL scheme (``http(s)://`` downloads to torch's hub cache, the
model-zoo names ``torchvision://``, ``open-mmlab://``, ``mmcls://`` resolve to
those, ``s3://`` / ``petrel://`` / ``pavi://`` fetch the bytes) and refuses
schemes it does not know.

``trust=True`` (or ``VISION_SPARSE_TRUST_CHECKPOINTS=1`` in the environment)
loads with ``weights_only=False``: only for files from a source you trust.

``import vision_sparse`` makes :func:`load_checkpoint` the loader of every
scheme of mmengine's ``CheckpointLoader`` (see :mod:`vision_sparse.utils.patches`),
which covers ``load_from``, ``resume``, ``tools/test.py`` and ``init_cfg``
``Pretrained`` weights. ``docs/security.md`` lists what is trusted and refused.
"""
import os
import os.path as osp
import pickle
import re
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

#: Environment variable that makes every checkpoint load trusted (weights_only=False).
TRUST_ENV = 'VISION_SPARSE_TRUST_CHECKPOINTS'

#: Exact globals allowed in a checkpoint besides torch's own (tensors, storages,
#: OrderedDict, set, bytes ...). Every one only rebuilds data: numpy arrays,
#: scalars and dtypes, and mmengine's ``HistoryBuffer`` (built with ``__new__`` and
#: its ``__dict__``: its ``__init__`` never runs).
ALLOWED_GLOBALS = (
    'numpy.core.multiarray._reconstruct',
    'numpy._core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
    'numpy._core.multiarray.scalar',
    'numpy.ndarray',
    'numpy.dtype',
    'mmengine.logging.history_buffer.HistoryBuffer',
    'builtins.getattr',  # served by _restricted_getattr: HistoryBuffer statistics only
)

#: URL schemes handled by :func:`load_checkpoint` (mmengine's ``CheckpointLoader`` prefixes).
HTTP_PREFIXES = ('http://', 'https://')
ZOO_PREFIXES = ('torchvision://', 'modelzoo://', 'open-mmlab://', 'openmmlab://', 'mmcls://')
BACKEND_PATTERNS = (r'(\S+\:)?s3://', r'(\S+\:)?petrel://')
PAVI_PREFIX = 'pavi://'


def _import_global(name: str) -> Any:
    """The object a dotted global name refers to (module attribute, maybe nested)."""
    import importlib
    parts = name.split('.')
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f'cannot import {name!r}')


def _history_buffer_statistics() -> Dict[str, Any]:
    """``HistoryBuffer``'s own statistics methods (the defaults and any registered one)."""
    from mmengine.logging import HistoryBuffer
    names = {'min', 'max', 'mean', 'current'} | set(HistoryBuffer._statistics_methods)
    own = vars(HistoryBuffer)
    return {k: own[k] for k in names if k in own and callable(own[k]) and not k.startswith('_')}


def _restricted_getattr(obj: Any, name: str) -> Any:
    """``getattr`` for unpickling: only ``HistoryBuffer``'s statistics methods.

    mmengine's ``HistoryBuffer`` pickles its ``_statistics_methods`` (``min``,
    ``max``, ``mean``, ``current``) as ``getattr(HistoryBuffer, 'min')``. Nothing
    else is served, and the unpickler cannot call what this returns.
    """
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and isinstance(name, str) and name in _history_buffer_statistics():
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed while loading a checkpoint')


def _safe_globals(names: Sequence[str]) -> List[Any]:
    allowed: List[Any] = []
    for name in names:
        if name == 'builtins.getattr':
            allowed.append((_restricted_getattr, name))
        else:
            allowed.append(_import_global(name))
    if 'numpy.dtype' in names:
        # numpy.dtype(...) returns numpy.dtypes.<X>DType instances, which the
        # unpickler then BUILDs (sets their byte order / fields): allow those types.
        import numpy as np
        allowed += [t for t in vars(np.dtypes).values()
                    if isinstance(t, type) and issubclass(t, np.dtype)]
    return allowed


def unsafe_globals(filename: str) -> List[str]:
    """Names of the globals a checkpoint file needs beyond torch's defaults."""
    return list(torch.serialization.get_unsafe_globals_in_checkpoint(filename))


def _trusted(trust: Optional[bool]) -> bool:
    return os.environ.get(TRUST_ENV, '0') == '1' if trust is None else bool(trust)


def _corrupt(filename: str, err: BaseException) -> ValueError:
    return ValueError(f'checkpoint {filename} is truncated or corrupt (not a complete torch.save '
                      f'file, {osp.getsize(filename)} bytes): {type(err).__name__}: {err}')


def _is_reader_error(err: BaseException) -> bool:
    if isinstance(err, (OSError, EOFError)):
        return True
    text = str(err)
    return isinstance(err, (RuntimeError, ValueError)) and any(
        key in text for key in ('zip archive', 'PytorchStreamReader',
                                'checkpoint returned by torch.save'))


def load_checkpoint_file(filename: str, map_location: Optional[Any] = None,
                         trust: Optional[bool] = None) -> Any:
    """``torch.load`` a local checkpoint without running code from it.

    Args:
        filename (str): path of the checkpoint file.
        map_location: as in :func:`torch.load`.
        trust (bool, optional): load with ``weights_only=False`` (runs arbitrary
            pickled code: only for files you trust). None reads the environment
            variable ``VISION_SPARSE_TRUST_CHECKPOINTS`` (``1`` = trust).

    Returns:
        The unpickled checkpoint (a dict for mmengine checkpoints).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the checkpoint needs objects outside :data:`ALLOWED_GLOBALS`
            (named in the message), or the file is truncated / not a checkpoint.
    """
    filename = osp.expanduser(os.fspath(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found.')
    try:
        if _trusted(trust):
            return torch.load(filename, map_location=map_location, weights_only=False)
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:
            pass
        names = unsafe_globals(filename)
        refused = [n for n in names if n not in ALLOWED_GLOBALS]
        if refused:
            raise ValueError(
                f'checkpoint {filename} needs objects that are not on the safe list (they could '
                f'run code while loading): {refused}. Refused. If you trust this file, load it '
                f'with trust=True or set {TRUST_ENV}=1 (see docs/security.md).')
        with torch.serialization.safe_globals(_safe_globals(names)):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise ValueError(f'checkpoint {filename} was refused by the safe loader: {err}. If you '
                         f'trust this file, load it with trust=True or set {TRUST_ENV}=1.') from err
    except Exception as err:  # noqa: BLE001 - re-raised with the file name
        if _is_reader_error(err):
            raise _corrupt(filename, err) from err
        raise


def _load_bytes(data: bytes, source: str, map_location: Any, trust: Optional[bool]) -> Any:
    """Safe-load checkpoint bytes (fetched from a storage backend) via a temporary file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, osp.basename(source.rstrip('/')) or 'checkpoint.pth')
        with open(path, 'wb') as f:
            f.write(data)
        try:
            return load_checkpoint_file(path, map_location, trust)
        except ValueError as err:
            raise ValueError(str(err).replace(path, source)) from err


def download_checkpoint(url: str, model_dir: Optional[str] = None) -> str:
    """Download ``url`` to torch's hub cache (once) and return the local path.

    Args:
        url (str): ``http://`` or ``https://`` address.
        model_dir (str, optional): cache folder; default
            ``<torch hub dir>/checkpoints`` (as ``torch.hub.load_state_dict_from_url``).

    Returns:
        str: path of the cached file (named after the URL's last path component).
    """
    from urllib.parse import urlparse

    from mmengine.dist import get_dist_info
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    name = osp.basename(urlparse(url).path) or 'checkpoint.pth'
    cached = osp.join(model_dir, name)

    def fetch():
        if not osp.exists(cached):
            torch.hub.download_url_to_file(url, cached, None, progress=False)

    rank, world_size = get_dist_info()
    if rank == 0:
        fetch()
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            fetch()
    return cached


def _resolve_zoo(filename: str) -> str:
    """A model-zoo name (``torchvision://``, ``open-mmlab://``, ``mmcls://``) -> URL or path."""
    from mmengine.runner import checkpoint as mm
    if filename.startswith(('torchvision://', 'modelzoo://')):
        return mm.get_torchvision_models()[filename.split('://', 1)[1]]
    if filename.startswith('mmcls://'):
        return mm.get_mmcls_models()[filename[len('mmcls://'):]]
    name = filename.split('://', 1)[1]
    name = mm.get_deprecated_model_names().get(name, name)
    url = mm.get_external_models()[name]
    return url if url.startswith(HTTP_PREFIXES) else osp.join(mm._get_mmengine_home(), url)


def load_checkpoint(filename: str, map_location: Optional[Any] = None,
                    trust: Optional[bool] = None) -> Any:
    """Load a checkpoint from a path or any mmengine URL scheme, safely.

    Every route ends in :func:`load_checkpoint_file` (allow-list, no code runs):
    ``http(s)://`` is downloaded first (:func:`download_checkpoint`), model-zoo
    names resolve to their URL / file, ``s3://`` / ``petrel://`` / ``pavi://``
    fetch the file through mmengine's backend / pavi. A scheme not listed here
    (one registered later by another library) is refused unless trusted.

    Args:
        filename (str): local path or URL.
        map_location: as in :func:`torch.load`.
        trust (bool, optional): see :func:`load_checkpoint_file`.

    Raises:
        ValueError: refused objects, an unknown scheme (untrusted), or a corrupt file.
    """
    filename = os.fspath(filename)
    if filename.startswith(HTTP_PREFIXES):
        return load_checkpoint_file(download_checkpoint(filename), map_location, trust)
    if filename.startswith(ZOO_PREFIXES):
        ckpt = load_checkpoint(_resolve_zoo(filename), map_location, trust)
        if filename.startswith('mmcls://'):
            from mmengine.runner.checkpoint import _process_mmcls_checkpoint
            ckpt = _process_mmcls_checkpoint(ckpt)
        return ckpt
    if any(re.match(p, filename) for p in BACKEND_PATTERNS):
        from mmengine.fileio import get_file_backend
        backend = get_file_backend(filename, backend_args={'backend': 'petrel'})
        return _load_bytes(backend.get(filename), filename, map_location, trust)
    if filename.startswith(PAVI_PREFIX):
        try:
            from pavi import modelcloud
        except ImportError as err:
            raise ImportError('Please install pavi to load checkpoint from modelcloud.') from err
        model = modelcloud.get(filename[len(PAVI_PREFIX):])
        with tempfile.TemporaryDirectory() as tmp:
            path = osp.join(tmp, model.name)
            model.download(path)
            return load_checkpoint_file(path, map_location, trust)
    scheme = re.match(r'^([A-Za-z][\w+.-]*:)?[A-Za-z][\w+.-]*://', filename)
    if scheme:
        if _trusted(trust):
            from mmengine.runner.checkpoint import CheckpointLoader
            loader = _ORIGINAL_LOADERS.get(_matching_prefix(CheckpointLoader, filename))
            if loader is not None:
                return loader(filename, map_location)
        raise ValueError(
            f'checkpoint {filename}: the scheme {scheme.group(0)!r} has no safe loader in '
            'vision_sparse; download the file and pass its path, or (for a source you trust) '
            f'set {TRUST_ENV}=1.')
    return load_checkpoint_file(filename, map_location, trust)


#: mmengine's own loaders of schemes we do not know, kept for the trusted mode.
_ORIGINAL_LOADERS: Dict[str, Callable] = {}


def _matching_prefix(loader_cls: Any, path: str) -> Optional[str]:
    for prefix in loader_cls._schemes:
        if re.match(prefix, path) is not None:
            return prefix
    return None


# ----------------------------------------------------------------- state dict checks
def state_dict_mismatches(model: nn.Module, state_dict: Dict[str, Any],
                          revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''),)
                          ) -> Dict[str, List[str]]:
    """Keys of ``state_dict`` that do not fit ``model``.

    Args:
        model (nn.Module): the model the weights are for.
        state_dict (dict): name -> tensor (a checkpoint's ``state_dict``).
        revise_keys: ``(pattern, replacement)`` applied to the checkpoint's keys
            first (default strips DDP's ``module.`` prefix, as mmengine does).

    Returns:
        dict: ``missing`` (model keys not in the checkpoint; BatchNorm
        ``num_batches_tracked`` ignored), ``unexpected`` (checkpoint keys the model
        lacks), ``shape`` (``'key: checkpoint (a, b) vs model (c, d)'``).
    """
    revised = {}
    for key, value in state_dict.items():
        for pattern, repl in revise_keys:
            key = re.sub(pattern, repl, key)
        revised[key] = value
    own = model.state_dict()
    missing = [k for k in own if k not in revised and 'num_batches_tracked' not in k]
    unexpected = [k for k in revised if k not in own]
    shape = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
             for k, v in revised.items()
             if k in own and hasattr(v, 'shape') and tuple(v.shape) != tuple(own[k].shape)]
    return dict(missing=missing, unexpected=unexpected, shape=shape)


def check_state_dict(model: nn.Module, checkpoint: Any, filename: str = 'checkpoint',
                     revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''),)) -> None:
    """Raise unless ``checkpoint`` holds exactly the weights ``model`` has.

    Args:
        model (nn.Module): the model.
        checkpoint: a loaded checkpoint (dict with ``state_dict``, or a state dict).
        filename (str): named in the error.
        revise_keys: see :func:`state_dict_mismatches`.

    Raises:
        ValueError: no state dict, or missing / unexpected keys or shape
            mismatches (listed, at most 10 of each).
    """
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'checkpoint {filename} holds no state dict')
    bad = state_dict_mismatches(model, state, revise_keys)
    if any(bad.values()):
        parts = [f'{len(v)} {k}{" keys" if k != "shape" else " mismatches"}: {v[:10]}'
                 for k, v in bad.items() if v]
        raise ValueError(
            f'checkpoint {filename} does not match the model {type(model).__name__} (a '
            f'checkpoint of another model?): {"; ".join(parts)}. To load the matching part only '
            '(fine-tuning), pass --non-strict (tools) or strict=False.')


def load_model_checkpoint(model: nn.Module, filename: str, strict: bool = True,
                          map_location: Optional[Any] = 'cpu', trust: Optional[bool] = None,
                          revise_keys: Sequence[Tuple[str, str]] = ((r'^module\.', ''),)) -> Any:
    """Load a checkpoint safely into ``model``; strict by default.

    Args:
        model (nn.Module): receives the weights.
        filename (str): path or URL (see :func:`load_checkpoint`).
        strict (bool): every key and shape must match (:func:`check_state_dict`);
            False loads the matching part and logs the rest (mmengine's behaviour).
        map_location, trust: see :func:`load_checkpoint`.
        revise_keys: see :func:`state_dict_mismatches`.

    Returns:
        The loaded checkpoint.
    """
    from mmengine.runner.checkpoint import _load_checkpoint_to_model
    ckpt = load_checkpoint(filename, map_location, trust)
    if strict:
        check_state_dict(model, ckpt, filename, revise_keys)
    elif not isinstance(ckpt, dict):
        raise ValueError(f'checkpoint {filename} holds no state dict')
    return _load_checkpoint_to_model(model, ckpt, strict=False, revise_keys=list(revise_keys))


def strict_checkpoint_hook():
    """An mmengine hook that makes ``load_from`` / ``resume`` strict.

    mmengine's ``Runner`` loads with ``strict=False`` (a checkpoint of another
    model only logs "size mismatch"); this hook's ``after_load_checkpoint`` runs
    :func:`check_state_dict` first, so such a checkpoint raises ``ValueError``
    listing the mismatched keys. Register with ``runner.register_hook(hook, 'VERY_HIGH')``.
    """
    from mmengine.hooks import Hook
    from mmengine.model import is_model_wrapper

    class StrictCheckpointHook(Hook):
        priority = 'VERY_HIGH'

        def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            name = getattr(runner, '_load_from', None) or 'resumed from the work dir'
            check_state_dict(model, checkpoint, str(name))

    return StrictCheckpointHook()


__all__ = ['ALLOWED_GLOBALS', 'TRUST_ENV', 'load_checkpoint_file', 'load_checkpoint',
           'download_checkpoint', 'unsafe_globals', 'state_dict_mismatches', 'check_state_dict',
           'load_model_checkpoint', 'strict_checkpoint_hook']
