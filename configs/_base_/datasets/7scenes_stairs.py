# 7-Scenes "stairs" samples (../shared/data): 6 mapping frames (sequences 2, 3)
# with depth, 6 queries (sequences 1, 4); recall at 5 cm / 5 deg.
# Pass data_root=<.../7-scenes/stairs> (--cfg-options) for the full scene.
data_root = '../shared/data/relocalization/7scenes_stairs/stairs'  # relative to the repository root
scene = dict(format='7scenes', data_root=data_root, lazy_init=True)
train_dataset = dict(type='RelocalizationDataset', split='train', load_depth=True, **scene)
test_dataset = dict(type='RelocalizationDataset', split='test', **scene)

test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       collate_fn=dict(type='pseudo_collate'), dataset=test_dataset)
test_evaluator = dict(type='RelocalizationMetric', max_translation=0.05, max_rotation=5.0)
