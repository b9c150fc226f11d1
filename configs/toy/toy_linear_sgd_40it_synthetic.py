# A tiny exactly-solvable regression problem used to test the training engine
# (save / resume / test, DDP).  Not a method: see vision_sparse/testing/toy.py.
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(imports=['vision_sparse.testing'], allow_failed_imports=False)

model = dict(type='ToyRegressor', in_dim=4, out_dim=2)

train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='SyntheticRegressionDataset', num_samples=64, seed=0),
)
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='SyntheticRegressionDataset', num_samples=32, seed=0),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='RegressionMetric')
test_evaluator = val_evaluator

train_cfg = dict(type='IterBasedTrainLoop', max_iters=40, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[30], gamma=0.1)]

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=10, by_epoch=False, max_keep_ckpts=-1),
)
log_processor = dict(by_epoch=False)
