"""What a plain ``import vision_sparse`` changes in mmengine, mmcv and mmdet.

A fresh interpreter imports the parts of mmengine / mmdet that load without
mmcv's compiled ops, takes a snapshot (module attributes, class attributes,
registries, checkpoint loaders, mmdet's box types, ``sys.modules``), imports
vision_sparse and compares. The differences must be exactly the documented set:
the patches of :mod:`vision_sparse.utils.patches` and the registrations listed in
``docs/engine.md``.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

SNAPSHOT = r'''
import importlib, json, sys, types

LIBS = ('mmengine', 'mmcv', 'mmdet')

import mmengine.registry
import mmengine.runner.checkpoint
import mmdet.registry
from mmengine.registry import DefaultScope, Registry
from mmengine.runner.checkpoint import CheckpointLoader


def lib_modules():
    return {n: m for n, m in list(sys.modules.items())
            if n.split('.')[0] in LIBS and isinstance(m, types.ModuleType)}


def name_of(obj):
    mod = getattr(obj, '__module__', None) or type(obj).__module__
    return f"{mod}.{getattr(obj, '__qualname__', type(obj).__qualname__)}"


def attributes(modules):
    """(owner, attribute) -> id of the value, for modules and their classes."""
    out = {}
    for mname, mod in modules.items():
        for key, value in list(vars(mod).items()):
            out[(mname, key)] = id(value)
            if isinstance(value, type) and value.__module__ == mname:
                for ckey, cvalue in list(vars(value).items()):
                    out[(f'{mname}.{value.__qualname__}', ckey)] = id(cvalue)
    return out


def registries(modules):
    regs = {}
    for mod in modules.values():
        for value in list(vars(mod).values()):
            if isinstance(value, Registry):
                regs[id(value)] = value
    return regs


before_modules = lib_modules()
before_attrs = attributes(before_modules)
before_regs = {i: (dict(r._module_dict), dict(r._children)) for i, r in registries(before_modules).items()}
before_schemes = dict(CheckpointLoader._schemes)
before_scope = DefaultScope.get_current_instance()

import vision_sparse

after_modules = lib_modules()
after_attrs = attributes({n: m for n, m in after_modules.items() if n in before_modules})
lib_dirs = {lib: importlib.import_module(lib).__path__[0] for lib in LIBS}

report = {}
# sys.modules entries of the libraries that are not their own files (stand-ins)
report['stand_in_modules'] = sorted(
    n for n, m in after_modules.items() if n not in before_modules
    and not str(getattr(m, '__file__', None) or '').startswith(lib_dirs[n.split('.')[0]]))
# module / class attributes that existed before and now hold another object
report['rebound_attributes'] = sorted(
    f'{owner}.{key}' for (owner, key), ident in before_attrs.items()
    if (owner, key) in after_attrs and after_attrs[(owner, key)] != ident)
# objects of ours placed in any namespace of the libraries (beyond the tables below)
report['our_objects_in_library_namespaces'] = sorted(
    f'{mname}.{key}' for mname, mod in after_modules.items()
    for key, value in list(vars(mod).items())
    if not isinstance(value, types.ModuleType)
    and str(getattr(value, '__module__', '')).startswith('vision_sparse'))
# registries: ours registered in theirs, new children
regs = registries(after_modules)
report['their_registries_with_our_modules'] = sorted(
    f'{r.scope}.{r.name}:{k}' for r in regs.values() for k, v in r._module_dict.items()
    if v.__module__.startswith('vision_sparse'))
report['new_children'] = sorted(
    f'{r.scope}.{r.name}<-{k}' for i, r in regs.items() for k in r._children
    if k not in before_regs.get(i, ({}, {}))[1])
report['changed_checkpoint_schemes'] = {
    p: name_of(fn) for p, fn in CheckpointLoader._schemes.items() if before_schemes.get(p) is not fn}
report['all_checkpoint_schemes'] = sorted(before_schemes)
from mmdet.structures.bbox import box_type
report['box_types'] = {k: name_of(v) for k, v in box_type.box_types.items()
                       if v.__module__.startswith('vision_sparse')}
report['box_converters'] = sorted(k for k, v in box_type.box_converters.items()
                                  if v.__module__.startswith('vision_sparse'))
report['default_scope_changed'] = DefaultScope.get_current_instance() is not before_scope
report['imported'] = sorted(n for n in ('mmdet.models', 'mmdet.apis', 'mmdet.datasets',
                                        'mmcv.ops', 'mmdet.structures', 'vision_sparse.testing')
                            if n in sys.modules)
from vision_sparse.utils.patches import PATCHES, is_mmcv_shim_installed
report['patches'] = sorted(PATCHES)
report['shim'] = is_mmcv_shim_installed()
print('REPORT', json.dumps(report, sort_keys=True))
'''

# Every mmengine root registry gets a `vision_sparse` child (vision_sparse/registry.py).
ROOTS = ('runner', 'runner constructor', 'loop', 'hook', 'log_processor', 'dataset',
         'data sampler', 'transform', 'model', 'model_wrapper', 'weight initializer',
         'task util', 'optimizer', 'optim_wrapper', 'optimizer wrapper constructor',
         'parameter scheduler', 'metric', 'evaluator', 'visualizer', 'vis_backend',
         'inferencer', 'function')


@pytest.fixture(scope='module')
def report():
    env = dict(os.environ)
    env['PYTHONPATH'] = str(REPO_ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    env.pop('VISION_SPARSE_NO_MMCV_SHIM', None)
    proc = subprocess.run([sys.executable, '-c', SNAPSHOT], capture_output=True, text=True,
                          timeout=600, env=env, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith('REPORT ')][-1]
    return json.loads(line[len('REPORT '):])


def test_patches_are_the_documented_two(report):
    assert report['patches'] == ['mmcv._ext', 'mmengine.CheckpointLoader']
    # patch 'mmcv._ext': a stand-in module, only when mmcv has no compiled ops
    assert report['stand_in_modules'] == (['mmcv._ext'] if report['shim'] else [])
    # patch 'mmengine.CheckpointLoader': the loader of every scheme, nothing else
    assert report['changed_checkpoint_schemes'] == {
        p: 'vision_sparse.utils.patches.load_from_safe_loader'
        for p in report['all_checkpoint_schemes']}
    assert {'', 'http://', 'https://', 'open-mmlab://', 'pavi://'} <= set(
        report['all_checkpoint_schemes'])
    # register_scheme rebuilds the (sorted) scheme table: the only rebound attribute
    assert report['rebound_attributes'] == [
        'mmengine.runner.checkpoint.CheckpointLoader._schemes']
    assert report['our_objects_in_library_namespaces'] == []


def test_registrations_are_the_documented_ones(report):
    # our modules go to our child registries only
    assert report['their_registries_with_our_modules'] == []
    assert report['new_children'] == sorted(f'mmengine.{r}<-vision_sparse' for r in ROOTS)
    # mmdet's box-type table: RotatedBoxes as 'rbox' and its converters to/from 'hbox'
    assert report['box_types'] == {
        'rbox': 'vision_sparse.structures.bbox.rotated_boxes.RotatedBoxes'}
    assert report['box_converters'] == ['hbox2rbox', 'rbox2hbox']
    assert report['default_scope_changed'] is False


def test_imports_neither_mmdet_models_nor_testing(report):
    # mmdet.structures (our boxes subclass its BaseBoxes) imports mmcv.ops; nothing more
    assert report['imported'] == ['mmcv.ops', 'mmdet.structures']


def test_documented_in_engine_md():
    from vision_sparse.utils.patches import PATCHES
    text = (REPO_ROOT / 'docs' / 'engine.md').read_text()
    for name in PATCHES:
        assert f'`{name}`' in text, name
    for item in ('rbox', 'hbox2rbox', 'rbox2hbox', "`vision_sparse` child"):
        assert item in text, item


def test_apply_patches_is_idempotent():
    from mmengine.runner.checkpoint import CheckpointLoader

    from vision_sparse.utils.patches import apply_patches, is_mmcv_shim_installed
    first = apply_patches()
    schemes = dict(CheckpointLoader._schemes)
    ext = sys.modules.get('mmcv._ext')
    assert apply_patches() == first
    assert dict(CheckpointLoader._schemes) == schemes
    assert sys.modules.get('mmcv._ext') is ext
    assert first['mmcv._ext'] == is_mmcv_shim_installed()


TEST_ONLY = r'''
import vision_sparse
from vision_sparse.registry import DATASETS, METRICS, MODELS
names = ('ToyRegressor', 'SyntheticRegressionDataset', 'RegressionMetric',
         'SyntheticHomographyPairs')
def registered():
    return [n for n in names if any(n in r.module_dict for r in (MODELS, DATASETS, METRICS))]
assert registered() == [], registered()
# a search of the registries (lazy import of their locations) does not import them either
assert MODELS.get('ToyRegressor') is None and DATASETS.get('SyntheticRegressionDataset') is None
import sys
assert 'vision_sparse.testing' not in sys.modules
import vision_sparse.testing
assert registered() == list(names), registered()
print('OK')
'''


def test_test_only_modules_are_registered_by_the_testing_package_only():
    env = dict(os.environ)
    env['PYTHONPATH'] = str(REPO_ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    proc = subprocess.run([sys.executable, '-c', TEST_ONLY], capture_output=True, text=True,
                          timeout=600, env=env, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip().endswith('OK')
