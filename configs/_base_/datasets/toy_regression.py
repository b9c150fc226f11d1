# A tiny exactly-solvable regression problem (vision_sparse/testing/toy.py).
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
