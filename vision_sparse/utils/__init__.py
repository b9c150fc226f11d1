from .setup_env import register_all_modules
from .threads import torch_threads
from .typing_utils import ConfigType, OptConfigType, OptMultiConfig, MultiConfig

__all__ = ['register_all_modules', 'torch_threads', 'ConfigType', 'OptConfigType', 'OptMultiConfig',
           'MultiConfig']
