"""tools/train.py and tools/test.py on the fused tiny config: 3 training iterations on the
synthetic scenes, then the nuScenes detection metric on 2 validation scenes."""
import json

import pytest

from tests.conftest import run_py

CFG = 'configs/sparsefusion/sparsefusion_tiny-fusion_600it_synthetic-fusion.py'


@pytest.mark.slow
def test_train_then_test_prints_the_nuscenes_metric(tmp_path):
    work = tmp_path / 'work'
    env = dict(OMP_NUM_THREADS='1')
    run_py(['tools/train.py', CFG, '--work-dir', str(work), '--cfg-options',
            'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
            'default_hooks.checkpoint.interval=3', 'val_dataloader.dataset.num_scenes=2'],
           timeout=600, env=env)
    ckpt = work / 'iter_3.pth'
    assert ckpt.is_file()
    out = tmp_path / 'metrics.json'
    proc = run_py(['tools/test.py', CFG, str(ckpt), '--work-dir', str(work), '--out', str(out),
                   '--cfg-options', 'test_dataloader.dataset.num_scenes=2'],
                  timeout=600, env=env)
    text = proc.stdout + proc.stderr
    assert 'mAP' in text and 'NDS' in text and 'nuScenes detection (2 samples' in text
    metrics = json.loads(out.read_text())
    metrics = metrics.get('metrics', metrics)
    for key in ('nuscenes/mAP', 'nuscenes/NDS', 'nuscenes/AP/car', 'nuscenes/AP/barrier'):
        assert key in metrics, sorted(metrics)
    assert 0.0 <= metrics['nuscenes/mAP'] <= 1.0 and 0.0 <= metrics['nuscenes/NDS'] <= 1.0
