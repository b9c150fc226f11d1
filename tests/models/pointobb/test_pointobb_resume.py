"""Resuming a PointOBB run mid-schedule gives the same views and weights as an uninterrupted run."""
import copy

import torch
from mmengine.dataset import pseudo_collate
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

import vision_sparse.models  # noqa: F401
from vision_sparse.registry import MODELS
from .helpers import make_batch, tiny_model_cfg
from .test_pointobb_detector import FakeAngleHead


class _Samples(Dataset):
    def __init__(self):
        self.items = []
        for seed in range(4):
            batch = make_batch(seed, batch=1)
            self.items.append(dict(inputs=batch['inputs'][0], data_samples=batch['data_samples'][0]))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return copy.deepcopy(self.items[i])


class _RecordPhases(Hook):
    def __init__(self):
        self.seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.seen.append((runner.iter, int(outputs['view_phase'])))


def _runner(work_dir, max_iters, resume=False):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg(
        angle_head=FakeAngleHead(), view_schedule=dict(angle_start_iter=2, rotated_bags_start_iter=3)))
    loader = DataLoader(_Samples(), batch_size=2, shuffle=False, collate_fn=pseudo_collate)
    recorder = _RecordPhases()
    runner = Runner(
        model=model, work_dir=str(work_dir), train_dataloader=loader,
        train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=10 ** 6),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.004, momentum=0.9), clip_grad=dict(max_norm=5)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[recorder], default_scope='vision_sparse', resume=resume,
        randomness=dict(seed=0), experiment_name=f'resume_{work_dir.name}_{max_iters}_{resume}')
    return runner, recorder


def test_resume_keeps_the_view_schedule_and_the_weights(tmp_path):
    full_dir, part_dir = tmp_path / 'full', tmp_path / 'part'
    full, full_rec = _runner(full_dir, 4)
    full.train()
    assert full_rec.seen == [(0, 1), (1, 1), (2, 2), (3, 3)]  # (0-based iteration, phase)

    first, _ = _runner(part_dir, 2)
    first.train()
    assert (part_dir / 'iter_2.pth').exists()
    resumed, rec = _runner(part_dir, 4, resume=True)
    resumed.train()
    assert rec.seen == [(2, 2), (3, 3)]  # phases 2 and 3, not a restart at phase 1

    a = full.model.state_dict()
    b = resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key].float(), b[key].float(), atol=1e-6), key
