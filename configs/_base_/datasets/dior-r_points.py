# DIOR-R for PointOBB (800x800 images, XML `robndbox` labels), one point per object drawn
# from its box (the official ellipse rule), trainval split; pseudo boxes scored against the
# true boxes (PseudoBoxMetric).
dataset_type = 'DIORDataset'
data_root = 'data/DIOR'
train_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='LoadOrientedAnnotations'),
    dict(type='RandomFlipOriented', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackOrientedDetInputs'),
]
test_pipeline = [
    dict(type='SafeLoadImageFromFile'),
    dict(type='LoadOrientedAnnotations'),
    dict(type='PackOrientedDetInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='ImageSets/Main/trainval.txt',
                 point_mode='ellipse', point_scale=0.1, point_seed=0,
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='ImageSets/Main/trainval.txt',
                 point_mode='ellipse', point_scale=0.1, point_seed=0, test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PseudoBoxMetric',
                     angle_agnostic_classes=['chimney', 'golffield', 'storagetank', 'windmill'])
test_evaluator = val_evaluator
build_datasets_in_test = False
