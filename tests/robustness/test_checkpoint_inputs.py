"""Checkpoints of another model and damaged checkpoint files: clear errors, non-zero exits."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vision_sparse  # noqa: F401 - applies the CheckpointLoader patch
from vision_sparse.utils.checkpoint import (check_state_dict, load_checkpoint_file,
                                            load_model_checkpoint)

REPO_ROOT = Path(__file__).resolve().parents[2]
CFG = 'configs/toy/toy_linear-sgd_40it_synthetic.py'


def _run_tool(args):
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable] + args, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=300, env=env)


def _other_model_checkpoint(path):
    # the toy config's model is Linear(4, 2) as `linear`; this one is Linear(8, 3)
    other = torch.nn.Linear(8, 3)
    torch.save({'state_dict': {'linear.' + k: v for k, v in other.state_dict().items()},
                'meta': {'epoch': 0, 'iter': 20}}, path)
    return path


def test_tools_test_refuses_another_models_checkpoint(tmp_path):
    ckpt = _other_model_checkpoint(tmp_path / 'other.pth')
    proc = _run_tool(['tools/test.py', CFG, str(ckpt), '--work-dir', str(tmp_path / 'w')])
    assert proc.returncode != 0
    assert 'does not match the model ToyRegressor' in proc.stderr
    assert 'linear.weight: checkpoint (3, 8) vs model (2, 4)' in proc.stderr
    assert '--non-strict' in proc.stderr
    # explicit fine-tuning mode: loads what fits, runs to the end
    proc = _run_tool(['tools/test.py', CFG, str(ckpt), '--work-dir', str(tmp_path / 'w'),
                      '--non-strict'])
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_tools_train_resume_refuses_another_models_checkpoint(tmp_path):
    ckpt = _other_model_checkpoint(tmp_path / 'other.pth')
    proc = _run_tool(['tools/train.py', CFG, '--work-dir', str(tmp_path / 'w'),
                      '--resume', str(ckpt)])
    assert proc.returncode != 0
    assert 'does not match the model ToyRegressor' in proc.stderr
    assert not (tmp_path / 'w' / 'iter_30.pth').exists()


def test_load_model_checkpoint_is_strict_by_default(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    torch.save({'state_dict': {'0.weight': torch.zeros(2, 4), '1.bias': torch.zeros(2)}},
               tmp_path / 'c.pth')
    with pytest.raises(ValueError, match=r"missing keys: \['0.bias'\].*unexpected keys: "
                       r"\['1.bias'\]"):
        load_model_checkpoint(model, str(tmp_path / 'c.pth'))
    load_model_checkpoint(model, str(tmp_path / 'c.pth'), strict=False)
    assert torch.count_nonzero(model[0].weight) == 0
    # DDP's 'module.' prefix is not a mismatch
    check_state_dict(model, {'module.' + k: v for k, v in model.state_dict().items()})


@pytest.mark.parametrize('keep', [0.0, 0.01, 0.5, 0.999])
def test_truncated_checkpoint_names_the_file(tmp_path, keep):
    from mmengine.runner.checkpoint import CheckpointLoader
    full = tmp_path / 'full.pth'
    torch.save({'state_dict': {'w': torch.arange(1000.0)}, 'meta': {'iter': 3}}, full)
    data = full.read_bytes()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(data[:int(len(data) * keep)])
    with pytest.raises(ValueError, match=r'checkpoint .*cut\.pth is truncated or corrupt'):
        load_checkpoint_file(str(cut))
    with pytest.raises(ValueError, match=r'cut\.pth is truncated or corrupt'):
        CheckpointLoader.load_checkpoint(str(cut))


def test_tools_test_truncated_checkpoint(tmp_path):
    full = tmp_path / 'full.pth'
    torch.save({'state_dict': {'linear.weight': torch.zeros(2, 4)}}, full)
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(full.read_bytes()[:-20])
    proc = _run_tool(['tools/test.py', CFG, str(cut), '--work-dir', str(tmp_path / 'w')])
    assert proc.returncode != 0
    assert 'cut.pth is truncated or corrupt' in proc.stderr


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / 'README.pth'
    path.write_text('# not a checkpoint\n' * 20)
    with pytest.raises(ValueError, match='README.pth is truncated or corrupt'):
        load_checkpoint_file(str(path))
