# Synthetic aerial images with exact oriented boxes (SyntheticAerialDataset): real objects
# of the shared oriented samples (ships, vehicles, planes, a golf field; round storage tanks)
# cut along their boxes and pasted, rotated and scaled, onto backgrounds of the same images.
# Rendered in memory, deterministic from (seed, index). Paths are relative to the working
# directory (run from the repository root); set data_root to where `oriented/` is.
#   training set: 64 images of 512x512 (seed 0), one annotated point per object drawn in a
#                 small ellipse around the box centre (the official point rule);
#   test set:     16 other images (seed 1), their true boxes.
# A PointOBB config scores the pseudo boxes of the TRAINING images (the paper's protocol:
# pseudo labels are made for the training set) with PseudoBoxMetric; an oriented-detector
# config scores detections on the test images with DOTAMetric.
dataset_type = 'SyntheticAerialDataset'
data_root = '../shared/data/oriented'
img_size = (512, 512)
num_objects = (5, 15)

train_pipeline = [
    dict(type='LoadOrientedAnnotations'),
    dict(type='RandomFlipOriented', prob=0.5, direction=['horizontal', 'vertical']),
    dict(type='PackOrientedDetInputs'),
]
test_pipeline = [
    dict(type='LoadOrientedAnnotations'),
    dict(type='PackOrientedDetInputs'),
]
train_dataset = dict(type=dataset_type, data_root=data_root, num_images=64, seed=0,
                     img_size=img_size, num_objects=num_objects, point_mode='ellipse',
                     point_scale=0.1, pipeline=train_pipeline)
test_dataset = dict(type=dataset_type, data_root=data_root, num_images=16, seed=1,
                    img_size=img_size, num_objects=num_objects, point_mode='ellipse',
                    point_scale=0.1, test_mode=True, pipeline=test_pipeline)

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=train_dataset)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=test_dataset)
test_dataloader = val_dataloader
# DOTA-style mAP@0.5 (rotated IoU), VOC07 11-point and area-under-curve variants
val_evaluator = dict(type='DOTAMetric', iou_thr=0.5, use_07_metric=True, report_both=True)
test_evaluator = val_evaluator
