"""Registries of vision_sparse.

Every registry is a child of the matching mmengine root registry, so that

* our configs (``default_scope = 'vision_sparse'``) can also use any mmengine /
  mmdet module by prefixing its scope (``type='mmdet.DetDataPreprocessor'``), and
* an mmdet project can use ours with ``custom_imports=dict(imports=['vision_sparse'])``
  and ``type='vision_sparse.<Name>'``.

``locations`` lists the packages imported lazily the first time a registry of the
``vision_sparse`` scope is searched, so building from a config works without
importing every module by hand.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import \
    OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import \
    RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import \
    WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = 'vision_sparse'

# Runner and its parts.
RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope=SCOPE)
RUNNER_CONSTRUCTORS = Registry(
    'runner constructor', parent=MMENGINE_RUNNER_CONSTRUCTORS, scope=SCOPE)
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope=SCOPE)
HOOKS = Registry(
    'hook', parent=MMENGINE_HOOKS, scope=SCOPE, locations=['vision_sparse.engine'])
LOG_PROCESSORS = Registry(
    'log_processor', parent=MMENGINE_LOG_PROCESSORS, scope=SCOPE)

# Data.
DATASETS = Registry(
    'dataset', parent=MMENGINE_DATASETS, scope=SCOPE,
    locations=['vision_sparse.datasets', 'vision_sparse.testing'])
DATA_SAMPLERS = Registry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope=SCOPE,
    locations=['vision_sparse.datasets'])
TRANSFORMS = Registry(
    'transform', parent=MMENGINE_TRANSFORMS, scope=SCOPE,
    locations=['vision_sparse.datasets.transforms'])

# Models and their non-network parts (coders, assigners, samplers, ...).
MODELS = Registry(
    'model', parent=MMENGINE_MODELS, scope=SCOPE,
    locations=['vision_sparse.models', 'vision_sparse.ops', 'vision_sparse.testing'])
MODEL_WRAPPERS = Registry(
    'model_wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope=SCOPE)
WEIGHT_INITIALIZERS = Registry(
    'weight initializer', parent=MMENGINE_WEIGHT_INITIALIZERS, scope=SCOPE)
TASK_UTILS = Registry(
    'task util', parent=MMENGINE_TASK_UTILS, scope=SCOPE,
    locations=['vision_sparse.models.task_modules'])

# Optimisation.
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope=SCOPE)
OPTIM_WRAPPERS = Registry(
    'optim_wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope=SCOPE)
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS, scope=SCOPE)
PARAM_SCHEDULERS = Registry(
    'parameter scheduler', parent=MMENGINE_PARAM_SCHEDULERS, scope=SCOPE)

# Evaluation.
METRICS = Registry(
    'metric', parent=MMENGINE_METRICS, scope=SCOPE,
    locations=['vision_sparse.evaluation', 'vision_sparse.testing'])
EVALUATOR = Registry(
    'evaluator', parent=MMENGINE_EVALUATOR, scope=SCOPE,
    locations=['vision_sparse.evaluation'])

# Visualisation and inference.
VISUALIZERS = Registry(
    'visualizer', parent=MMENGINE_VISUALIZERS, scope=SCOPE,
    locations=['vision_sparse.visualization'])
VISBACKENDS = Registry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, scope=SCOPE,
    locations=['vision_sparse.visualization'])
INFERENCERS = Registry(
    'inferencer', parent=MMENGINE_INFERENCERS, scope=SCOPE,
    locations=['vision_sparse.apis'])
FUNCTIONS = Registry('function', parent=MMENGINE_FUNCTIONS, scope=SCOPE)
