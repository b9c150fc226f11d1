from .setup_env import register_all_modules
from .typing_utils import ConfigType, OptConfigType, OptMultiConfig, MultiConfig

__all__ = ['register_all_modules', 'ConfigType', 'OptConfigType', 'OptMultiConfig',
           'MultiConfig']
