"""Registries of vision_sparse.

Every registry is a child of the mmengine root registry of the same name, so that

* our configs (``default_scope = 'vision_sparse'``) can also use any mmengine /
  mmdet module by prefixing its scope (``type='mmdet.DetDataPreprocessor'``), and
* an mmdet project can use ours with ``custom_imports=dict(imports=['vision_sparse'])``
  and ``type='vision_sparse.<Name>'``.

:data:`LOCATIONS` lists the packages imported lazily the first time a registry of
the ``vision_sparse`` scope is searched, so building from a config works without
importing every module by hand (a new role folder adds its package there and to
``utils/setup_env.py``). Test-only modules (``vision_sparse.testing``) are in no
location: they are registered only when that package is imported.
"""
from typing import Tuple

from mmengine import registry as mmengine_registry
from mmengine.registry import Registry

SCOPE = 'vision_sparse'

#: Packages imported lazily the first time a registry is searched; a registry not
#: listed has no module of ours yet.
LOCATIONS = {
    # the oriented datasets import mmdet.datasets, so they are registered on first use
    'DATASETS': ['vision_sparse.datasets', 'vision_sparse.datasets.oriented',
                 'vision_sparse.datasets.synthetic.aerial', 'vision_sparse.datasets.det3d'],
    'DATA_SAMPLERS': ['vision_sparse.datasets'],
    'TRANSFORMS': ['vision_sparse.datasets.oriented', 'vision_sparse.datasets.det3d'],
    # detectors and their heads subclass mmdet.models: registered on first use too
    'MODELS': ['vision_sparse.models', 'vision_sparse.ops', 'vision_sparse.models.dense_heads',
               'vision_sparse.models.detectors', 'vision_sparse.models.voxel_encoders',
               'vision_sparse.models.data_preprocessors'],
    'TASK_UTILS': ['vision_sparse.models'],
    'METRICS': ['vision_sparse.evaluation'],
    'EVALUATOR': ['vision_sparse.evaluation'],
    'VISUALIZERS': ['vision_sparse.visualization'],
    'VISBACKENDS': ['vision_sparse.visualization'],
    'INFERENCERS': ['vision_sparse.apis'],
}


def _children(*root_names: str) -> Tuple[Registry, ...]:
    """``vision_sparse``-scoped children of mmengine's root registries.

    Args:
        *root_names (str): attribute names in :mod:`mmengine.registry`, e.g. ``'MODELS'``.

    Returns:
        tuple[Registry]: one child per name, named like its parent, with the
        :data:`LOCATIONS` of that name.
    """
    parents = [getattr(mmengine_registry, name) for name in root_names]
    return tuple(Registry(parent.name, parent=parent, scope=SCOPE,
                          locations=list(LOCATIONS.get(name, ())))
                 for name, parent in zip(root_names, parents))


# Runner and its parts.
RUNNERS, RUNNER_CONSTRUCTORS, LOOPS, HOOKS, LOG_PROCESSORS = _children(
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS')
# Data.
DATASETS, DATA_SAMPLERS, TRANSFORMS = _children('DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS')
# Models and their non-network parts (coders, assigners, samplers, trackers, ...).
MODELS, MODEL_WRAPPERS, WEIGHT_INITIALIZERS, TASK_UTILS = _children(
    'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'TASK_UTILS')
# Optimisation.
OPTIMIZERS, OPTIM_WRAPPERS, OPTIM_WRAPPER_CONSTRUCTORS, PARAM_SCHEDULERS = _children(
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS')
# Evaluation.
METRICS, EVALUATOR = _children('METRICS', 'EVALUATOR')
# Visualisation and inference.
VISUALIZERS, VISBACKENDS, INFERENCERS, FUNCTIONS = _children(
    'VISUALIZERS', 'VISBACKENDS', 'INFERENCERS', 'FUNCTIONS')

__all__ = [
    'SCOPE', 'LOCATIONS', 'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS',
    'TASK_UTILS', 'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'METRICS', 'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS', 'INFERENCERS',
    'FUNCTIONS'
]
