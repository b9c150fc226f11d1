"""Registries: our scope, lazy locations, and use from an mmdet project."""
import subprocess
import sys

import pytest

from vision_sparse import registry


def test_children_of_mmengine_roots():
    from mmengine.registry import MODELS as ROOT_MODELS
    assert registry.MODELS.parent is ROOT_MODELS
    assert registry.MODELS.scope == 'vision_sparse'
    for name in ('DATASETS', 'TRANSFORMS', 'METRICS', 'TASK_UTILS', 'VISUALIZERS', 'HOOKS'):
        reg = getattr(registry, name)
        assert reg.scope == 'vision_sparse', name
        assert reg.parent is not None and reg.parent.scope == 'mmengine', name


def test_build_in_own_scope():
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        loss = registry.MODELS.build(dict(type='CorrespondenceLoss', loss_weight=2.0))
    assert type(loss).__module__ == 'vision_sparse.models.losses.correspondence_loss'
    assert loss.loss_weight == 2.0


def test_test_only_modules_build_after_importing_testing():
    import vision_sparse.testing  # noqa: F401  (registers the toy modules)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        model = registry.MODELS.build(dict(type='ToyRegressor', in_dim=3, out_dim=2))
    assert model.linear.in_features == 3


def test_registries_are_children_named_like_their_roots():
    import mmengine.registry as roots
    names = [n for n in registry.__all__ if n not in ('SCOPE', 'LOCATIONS')]
    assert len(names) == 22
    assert set(registry.LOCATIONS) <= set(names)
    for name in names:
        child, root = getattr(registry, name), getattr(roots, name)
        assert child.parent is root and child.name == root.name, name
        assert root.children['vision_sparse'] is child, name
        assert child._locations == registry.LOCATIONS.get(name, []), name


def test_unknown_type_raises_keyerror():
    with pytest.raises(KeyError):
        registry.MODELS.build(dict(type='NoSuchModuleAnywhere'))


MMDET_PROJECT = r'''
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings
cfg = Config(dict(
    default_scope='mmdet',
    custom_imports=dict(imports=['vision_sparse'], allow_failed_imports=False),
    model=dict(type='vision_sparse.CorrespondenceLoss', loss_weight=3.0)))
import_modules_from_strings(**cfg.custom_imports)
init_default_scope(cfg.default_scope)
from mmdet.registry import MODELS
model = MODELS.build(cfg.model)
assert type(model).__module__ == 'vision_sparse.models.losses.correspondence_loss', type(model)
assert model.loss_weight == 3.0
# an mmdet module still builds in the same project
pre = MODELS.build(dict(type='DetDataPreprocessor'))
print('OK', type(model).__name__, type(pre).__name__)
'''


def test_mmdet_project_builds_vision_sparse_module():
    """An mmdet config with custom_imports builds `vision_sparse.<Name>` through
    mmdet.registry.MODELS (fresh interpreter, as in a user's project)."""
    proc = subprocess.run([sys.executable, '-c', MMDET_PROJECT], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'OK CorrespondenceLoss DetDataPreprocessor' in proc.stdout


def test_mmcv_shim_raises_clear_error():
    from vision_sparse.utils.patches import is_mmcv_shim_installed
    if not is_mmcv_shim_installed():
        pytest.skip('full mmcv with compiled ops is installed: no stand-in needed')
    import mmcv._ext as ext
    with pytest.raises(NotImplementedError, match="'softnms' is not available.*serves only"):
        ext.softnms()
