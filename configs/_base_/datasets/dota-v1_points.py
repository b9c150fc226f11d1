# DOTA-v1.0 for PointOBB: 1024x1024 tiles (gap 200) cut by
#   python tools/dota_split.py data/DOTA/trainval data/split_ss_dota/trainval --tile 1024 --gap 200
# with one point per object drawn from its box (the official rule: uniform in an ellipse of
# 0.1 x the box size around the centre, seeded per image). The model sees only the points
# and classes; the true boxes score the pseudo boxes (PseudoBoxMetric) of the same images.
# Point-only data: give point_dir='points' (files `x y class [difficult]`, see
# vision_sparse.datasets.oriented.points) instead of boxes.
dataset_type = 'DOTADataset'
data_root = 'data/split_ss_dota/trainval'
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
    dataset=dict(type=dataset_type, data_root=data_root, img_dir='images', ann_dir='labelTxt',
                 point_mode='ellipse', point_scale=0.1, point_seed=0,
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, img_dir='images', ann_dir='labelTxt',
                 point_mode='ellipse', point_scale=0.1, point_seed=0, test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='PseudoBoxMetric',
                     angle_agnostic_classes=['baseball-diamond', 'storage-tank', 'roundabout'])
test_evaluator = val_evaluator
# the data is not in the repository: config tests build the model only
build_datasets_in_test = False
