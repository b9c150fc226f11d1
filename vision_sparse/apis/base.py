"""What every inferencer shares: config -> model (+ checkpoint) -> call on plain inputs."""
import copy
import os
import os.path as osp
from typing import Any, Dict, Optional, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import load_state_dict
from mmengine.utils import import_modules_from_strings
from torch import nn

from vision_sparse.registry import MODELS
from vision_sparse.structures.results import check_result, finalize_result
from vision_sparse.utils.checkpoint import load_checkpoint as load_checkpoint_safely

__all__ = ['BaseInferencer', 'load_config', 'load_image', 'as_matrix', 'ConfigLike', 'ImageLike']

#: a config file path, a config dict (e.g. ``Config.fromfile(path).to_dict()``) or a ``Config``
ConfigLike = Union[str, os.PathLike, dict, Config]
#: an image file path or an ``(H, W, 3)`` RGB / ``(H, W)`` gray uint8 array
ImageLike = Union[str, os.PathLike, np.ndarray]


def load_config(config: ConfigLike, cfg_options: Optional[Dict] = None) -> Config:
    """A ``Config`` from a file path, a dict or a ``Config`` (copied), its custom imports done.

    Args:
        config (str | PathLike | dict | Config): the config.
        cfg_options (dict, optional): overrides merged in with
            ``Config.merge_from_dict`` (dotted keys, as ``--cfg-options``).

    Returns:
        Config: the config (never the caller's object).

    Raises:
        FileNotFoundError: a path that is not a file.
        ValueError: another type, or a config without ``model``.
    """
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if not osp.isfile(path):
            raise FileNotFoundError(f'config file {path} does not exist')
        cfg = Config.fromfile(path)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif isinstance(config, dict):
        cfg = Config(copy.deepcopy(config))
    else:
        raise ValueError('config must be a config file path, a dict or an mmengine Config, got '
                         f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not isinstance(cfg.get('model'), dict):
        raise ValueError('the config has no `model` dict to build')
    custom = cfg.get('custom_imports')
    if custom:  # Config.fromfile does this for files; a dict needs it here
        import_modules_from_strings(**custom)
    return cfg


def load_image(image: ImageLike, name: str = 'image') -> np.ndarray:
    """An image given as a file path or an array, as ``(H, W, 3)`` RGB or ``(H, W)`` gray uint8.

    Args:
        image (str | PathLike | np.ndarray): a file OpenCV can read (loaded as
            RGB), or an ``(H, W, 3)`` RGB / ``(H, W)`` / ``(H, W, 1)`` gray uint8 array.
        name (str): argument name used in error messages.

    Returns:
        np.ndarray: ``(H, W, 3)`` or ``(H, W)`` uint8, C-contiguous.

    Raises:
        ValueError: a missing or unreadable file, or an array of another
            type, dtype or shape.
    """
    from vision_sparse.utils.image import check_image
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not osp.isfile(path):
            raise ValueError(f'{name}: image file {path!r} does not exist')
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise ValueError(f'{name}: {path!r} is not an image file OpenCV can read')
        return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if image is not None and not isinstance(image, np.ndarray):
        raise ValueError(f'{name} must be an image file path or a numpy array (H, W, 3) RGB or '
                         f'(H, W) gray uint8, got {type(image).__name__}')
    return check_image(image, name)


def as_matrix(value: Any, shape: tuple, name: str) -> Optional[np.ndarray]:
    """``value`` as a finite float64 array of ``shape``, or None for None.

    Raises:
        ValueError: another shape or non-finite entries.
    """
    if value is None:
        return None
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{name} must be a {shape} array of numbers') from exc
    if arr.shape != tuple(shape):
        raise ValueError(f'{name} must have shape {tuple(shape)}, got {arr.shape}')
    if not np.isfinite(arr).all():
        raise ValueError(f'{name} must be finite, got {arr.tolist()}')
    return arr


class BaseInferencer:
    """Build a method from a config (and a checkpoint) and run it on plain inputs.

    Subclasses implement :meth:`__call__` and return one result dict that
    follows :mod:`vision_sparse.structures.results` (``success``, ``reason``,
    ``timings`` plus their documented outputs); :meth:`finish` enforces it.

    Args:
        config (str | PathLike | dict | Config): config file, or its dict.
        checkpoint (str, optional): weights loaded into the model with the
            project's safe loader (:func:`~vision_sparse.utils.checkpoint.load_checkpoint_file`,
            ``weights_only`` with an allow-list); an mmengine checkpoint
            (``state_dict`` inside) or a bare state dict.
        device (str | torch.device, optional): where the model runs; None keeps
            the devices the config chooses (matchers: ``device='auto'``).
        cfg_options (dict, optional): config overrides (dotted keys).
        strict (bool): checkpoint keys must match the model's exactly.

    Attributes:
        cfg (Config): the loaded config.
        model (nn.Module): the built model, in eval mode.
        checkpoint_meta (dict): the checkpoint's ``meta`` (empty without one).
    """

    def __init__(self, config: ConfigLike, checkpoint: Optional[str] = None,
                 device: Optional[Union[str, torch.device]] = None,
                 cfg_options: Optional[Dict] = None, strict: bool = True) -> None:
        self.cfg = load_config(config, cfg_options)
        self.model = self.build_model(self.cfg.model)
        self.checkpoint_meta: Dict[str, Any] = {}
        if checkpoint is not None:
            self.checkpoint_meta = self.load_checkpoint(checkpoint, strict=strict)
        if device is not None:
            self.to(device)
        self.model.eval()

    # ------------------------------------------------------------------ building
    def build_model(self, model_cfg: dict) -> nn.Module:
        """Build ``model_cfg`` in the config's registry scope (``default_scope``)."""
        from vision_sparse.utils import register_all_modules
        register_all_modules(init_default_scope=False)
        cfg = model_cfg.to_dict() if hasattr(model_cfg, 'to_dict') else copy.deepcopy(model_cfg)
        with DefaultScope.overwrite_default_scope(self.cfg.get('default_scope', 'vision_sparse')):
            return MODELS.build(cfg)

    def load_checkpoint(self, checkpoint: str, strict: bool = True) -> Dict[str, Any]:
        """Load weights into :attr:`model`; returns the checkpoint's ``meta``.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file needs objects outside the safe list, or holds no
                state dict.
            RuntimeError: (``strict``) missing or unexpected keys.
        """
        ckpt = load_checkpoint_safely(os.fspath(checkpoint), map_location='cpu')
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f'checkpoint {checkpoint} holds no state dict')
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        load_state_dict(self.model, state, strict=strict)
        meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
        return dict(meta) if isinstance(meta, dict) else {}

    def to(self, device: Union[str, torch.device]) -> 'BaseInferencer':
        """Move the model, and tell components that keep their device (matchers) where."""
        device = torch.device(device)
        self.model.to(device)
        for module in self.model.modules():
            if (isinstance(getattr(module, 'device', None), torch.device)
                    and not isinstance(getattr(type(module), 'device', None), property)):
                module.device = device  # an attribute (matchers), not a computed property
        return self

    # ------------------------------------------------------------------ results
    @staticmethod
    def finish(result: Dict[str, Any], timings: Optional[Dict[str, float]] = None,
               name: str = 'result') -> Dict[str, Any]:
        """Merge ``timings`` in, fill and check the contract keys; returns ``result``."""
        own = dict(result.get('timings') or {})
        if timings:
            own.update(timings)
        result['timings'] = own
        return check_result(finalize_result(result), name)

    def __call__(self, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        """Run the method on plain inputs; returns a result dict (subclasses)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f'{type(self).__name__}(model={type(self.model).__name__})'
