"""Every config under configs/ loads and its model (and datasets) build."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import DefaultScope

from vision_sparse.registry import DATASETS, MODELS

CONFIG_ROOT = Path(__file__).resolve().parents[1] / 'configs'
CONFIGS = sorted(p for p in CONFIG_ROOT.rglob('*.py') if '_base_' not in p.parts)


def test_there_are_configs():
    assert CONFIGS, f'no configs found under {CONFIG_ROOT}'


@pytest.mark.parametrize('path', CONFIGS, ids=[str(p.relative_to(CONFIG_ROOT)) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.get('default_scope') == 'vision_sparse'
    name = path.stem
    # naming: {method}_{parts}_{schedule}_{dataset}
    assert len(name.split('_')) >= 3, f'config name {name} does not follow the convention'
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        model = MODELS.build(cfg.model)
        assert model is not None
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            loader = cfg.get(key)
            if loader and cfg.get('build_datasets_in_test', True):
                DATASETS.build(loader['dataset'])
