"""Build a component from a config dict, or pass an already built one through."""
from typing import Any, Callable, Optional

__all__ = ['build_from_cfg_or_obj']


def build_from_cfg_or_obj(cfg_or_obj: Any, registry, default_type: Optional[Callable] = None,
                          name: str = 'module', allow_none: bool = False, **extra: Any) -> Any:
    """A component from a config, or the object itself when it is already built.

    Args:
        cfg_or_obj (dict | object | None): a config dict (with ``type``, or without
            it when ``default_type`` is given), or a built object (anything callable).
        registry (mmengine.Registry): the registry that builds configs with ``type``.
        default_type (callable, optional): class called with the config's keys when the
            config has no ``type`` (and with ``{}`` when ``cfg_or_obj`` is None).
        name (str): the argument's name, used in error messages.
        allow_none (bool): return None for None (otherwise None means ``default_type()``).
        **extra: keys added to the config (ignored for a built object).

    Returns:
        The built object, ``cfg_or_obj`` itself, or None.

    Raises:
        ValueError: for a config without ``type`` and no ``default_type``, or an
            object that is neither a dict nor callable.
    """
    if cfg_or_obj is None:
        if allow_none or default_type is None:
            return None
        cfg_or_obj = {}
    if isinstance(cfg_or_obj, dict):
        cfg = {**cfg_or_obj, **extra}
        if 'type' in cfg:
            return registry.build(cfg)
        if default_type is None:
            raise ValueError(f'{name} config needs a "type" key, got keys {sorted(cfg)}')
        return default_type(**cfg)
    if callable(cfg_or_obj):
        return cfg_or_obj
    raise ValueError(f'{name} must be a config dict or a built module, '
                     f'got {type(cfg_or_obj).__name__}')
