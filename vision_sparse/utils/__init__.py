"""Shared helpers: config options, building, patches of other libraries, registration, threads."""
from .build import build_from_cfg_or_obj
from .config import merge_conf
from .patches import apply_patches
from .setup_env import register_all_modules
from .threads import torch_threads
from .typing_utils import ConfigType, MultiConfig, OptConfigType, OptMultiConfig

__all__ = ['build_from_cfg_or_obj', 'merge_conf', 'apply_patches', 'register_all_modules',
           'torch_threads', 'ConfigType', 'OptConfigType', 'OptMultiConfig', 'MultiConfig']
