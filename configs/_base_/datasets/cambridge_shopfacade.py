# Cambridge Landmarks ShopFacade (not shipped: pass --cfg-options
# data_root=/path/to/ShopFacade): images resized to 1024 px wide, recall at
# 25 cm / 2 deg.
data_root = 'data/Cambridge/ShopFacade'
scene = dict(format='cambridge', data_root=data_root, resize_width=1024, lazy_init=True)
train_dataset = dict(type='RelocalizationDataset', split='train', **scene)
test_dataset = dict(type='RelocalizationDataset', split='test', **scene)

test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       collate_fn=dict(type='pseudo_collate'), dataset=test_dataset)
test_evaluator = dict(type='RelocalizationMetric', max_translation=0.25, max_rotation=2.0)
