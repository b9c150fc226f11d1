"""Registries of vision_sparse.

Every registry is a child of the mmengine root registry of the same name, so that

* our configs (``default_scope = 'vision_sparse'``) can also use any mmengine /
  mmdet module by prefixing its scope (``type='mmdet.DetDataPreprocessor'``), and
* an mmdet project can use ours with ``custom_imports=dict(imports=['vision_sparse'])``
  and ``type='vision_sparse.<Name>'``.

``locations`` lists the packages imported lazily the first time a registry of the
``vision_sparse`` scope is searched, so building from a config works without
importing every module by hand. A registry without locations has no module of
ours yet (a new role folder adds its package here and to
``utils/setup_env.py``). Test-only modules (``vision_sparse.testing``) are in no
location: they are registered only when that package is imported.
"""
from typing import Sequence

from mmengine import registry as mmengine_registry
from mmengine.registry import Registry

SCOPE = 'vision_sparse'


def _child(root_name: str, locations: Sequence[str] = ()) -> Registry:
    """A ``vision_sparse``-scoped child of mmengine's root registry ``root_name``.

    Args:
        root_name (str): attribute name in :mod:`mmengine.registry`, e.g. ``'MODELS'``.
        locations (sequence of str): packages imported when the registry is first searched.

    Returns:
        Registry: the child, named like its parent.
    """
    parent = getattr(mmengine_registry, root_name)
    return Registry(parent.name, parent=parent, scope=SCOPE, locations=list(locations))


# Runner and its parts.
RUNNERS = _child('RUNNERS')
RUNNER_CONSTRUCTORS = _child('RUNNER_CONSTRUCTORS')
LOOPS = _child('LOOPS')
HOOKS = _child('HOOKS')
LOG_PROCESSORS = _child('LOG_PROCESSORS')

# Data.
DATASETS = _child('DATASETS', ['vision_sparse.datasets'])
DATA_SAMPLERS = _child('DATA_SAMPLERS', ['vision_sparse.datasets'])
TRANSFORMS = _child('TRANSFORMS')

# Models and their non-network parts (coders, assigners, samplers, ...).
MODELS = _child('MODELS', ['vision_sparse.models', 'vision_sparse.ops'])
MODEL_WRAPPERS = _child('MODEL_WRAPPERS')
WEIGHT_INITIALIZERS = _child('WEIGHT_INITIALIZERS')
TASK_UTILS = _child('TASK_UTILS', ['vision_sparse.models'])

# Optimisation.
OPTIMIZERS = _child('OPTIMIZERS')
OPTIM_WRAPPERS = _child('OPTIM_WRAPPERS')
OPTIM_WRAPPER_CONSTRUCTORS = _child('OPTIM_WRAPPER_CONSTRUCTORS')
PARAM_SCHEDULERS = _child('PARAM_SCHEDULERS')

# Evaluation.
METRICS = _child('METRICS', ['vision_sparse.evaluation'])
EVALUATOR = _child('EVALUATOR', ['vision_sparse.evaluation'])

# Visualisation and inference.
VISUALIZERS = _child('VISUALIZERS', ['vision_sparse.visualization'])
VISBACKENDS = _child('VISBACKENDS', ['vision_sparse.visualization'])
INFERENCERS = _child('INFERENCERS', ['vision_sparse.apis'])
FUNCTIONS = _child('FUNCTIONS')

__all__ = [
    'SCOPE', 'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'DATASETS',
    'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS',
    'TASK_UTILS', 'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'INFERENCERS',
    'FUNCTIONS'
]
