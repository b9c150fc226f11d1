"""apis.train_fusion_quickly: a few in-process training iterations of a tiny SparseFusion
config on its synthetic scenes, stopping rules, progress, and bad arguments."""
from pathlib import Path

import numpy as np
import pytest
import torch

from vision_sparse.apis import FusionInferencer, train_fusion_quickly
from vision_sparse.testing.data import shared_data_path

LIDAR = str(Path(__file__).resolve().parents[2] / 'configs' / 'sparsefusion'
            / 'sparsefusion_tiny-lidar_600it_synthetic-fusion.py')


def test_trains_reports_and_stops():
    calls = []
    root = shared_data_path('lidar_camera', 'nuscenes')
    inf, info = train_fusion_quickly(LIDAR, iters=3, num_scenes=1, batch_size=1,
                                     data_root=str(root) if root else '/nonexistent',
                                     progress=lambda d, t, loss: calls.append((d, t, loss)),
                                     should_stop=lambda: len(calls) >= 2)
    assert isinstance(inf, FusionInferencer) and not inf.model.training
    assert info['stopped_by'] == 'request' and info['iters'] == 2 and info['planned'] == 3
    assert [c[:2] for c in calls] == [(1, 3), (2, 3)]
    assert np.isfinite(info['losses']).all() and len(info['losses']) == 2
    assert info['modality'] == 'lidar' and info['num_scenes'] == 1
    # a missing calibration pickle falls back to the built-in rig instead of failing
    assert info['camera_rig'] == ('calib_file' if root else 'built-in')
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform(-20, 20, (300, 2)), rng.uniform(-2, 1, (300, 1)),
                          rng.uniform(0, 1, (300, 2))], 1).astype(np.float32)
    res = inf(points=pts)
    assert res['bboxes_3d'].shape[1] == 9
    before = {k: v.clone() for k, v in inf.model.state_dict().items()}
    again, info = train_fusion_quickly(LIDAR, iters=5, num_scenes=1, batch_size=1,
                                       time_limit=1e-3, data_root='/nonexistent', inferencer=inf)
    assert again is inf and info['stopped_by'] == 'time' and info['iters'] == 1
    assert info['camera_rig'] == 'built-in'
    changed = [k for k, v in inf.model.state_dict().items()
               if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    assert changed  # the given model was trained further, not a fresh one
    with pytest.raises(ValueError, match='inferencer'):
        train_fusion_quickly(LIDAR, iters=1, inferencer=object())


@pytest.mark.parametrize('kwargs, match', [
    (dict(iters=0), 'iters'), (dict(batch_size=0), 'batch_size'), (dict(lr=0), 'lr'),
    (dict(num_scenes=0), 'num_scenes'), (dict(time_limit=0), 'time_limit'),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_fusion_quickly(LIDAR, **kwargs)


def test_config_without_training_set():
    with pytest.raises(ValueError, match='train_dataloader'):
        train_fusion_quickly(dict(model=dict(type='SparseFusion')), iters=1)
