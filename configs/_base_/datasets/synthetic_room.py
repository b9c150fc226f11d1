# The synthetic textured room (vision_sparse.testing.synthetic_scene): 16 posed
# mapping frames and 8 queries, 320x240, exact ground truth. FaVoR configs build
# their map from `train_dataset` (model.mapping.dataset = {{_base_.train_dataset}}).
# texture_root: the sample photos used as wall textures (procedural textures without it)
synthetic = dict(num_train=16, num_test=8, image_size=(320, 240), trajectory='strafe', seed=0,
                 texture_root='../shared/data')
train_dataset = dict(type='RelocalizationDataset', format='synthetic', split='train',
                     synthetic=synthetic, lazy_init=True)
test_dataset = dict(type='RelocalizationDataset', format='synthetic', split='test',
                    synthetic=synthetic, lazy_init=True)

test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       collate_fn=dict(type='pseudo_collate'), dataset=test_dataset)
test_evaluator = dict(type='RelocalizationMetric', max_translation=0.05, max_rotation=5.0)
