# Synthetic LiDAR + 6-camera driving scenes with exact 3-D boxes (SyntheticFusionDataset,
# vision_sparse/datasets/synthetic/multimodal.py): 5 classes on a textured road inside a
# square of building walls, a 32-beam sweep with the real nuScenes beam pattern and 6 views
# rendered with the real nuScenes keyframe's calibration at 1/8 of 1600x900 (200x112).
# Made in memory on first access (~0.5 s a scene on one CPU core), deterministic in
# (seed, index). A tiny CPU set: 48 training scenes (seed 0), 12 validation scenes (seed 1).
# Paths are relative to the working directory (run from the repository root); without the
# calibration pickle set calib_file=None (a built-in nuScenes-like rig is used).
dataset_type = 'SyntheticFusionDataset'
data_root = '../shared/data/lidar_camera/nuscenes/'
calib_file = 'n015-2018-07-24-11-22-45+0800.pkl'
class_names = ['car', 'truck', 'pedestrian', 'traffic_cone', 'barrier']
metainfo = dict(classes=class_names)
# objects stand 4-30 m from the LiDAR; the walls are at 42 m
point_cloud_range = [-32.0, -32.0, -3.0, 32.0, 32.0, 3.0]
image_scale = 0.125
img_size = (200, 112)  # (width, height) of the rendered views
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=True)

train_pipeline = [
    dict(type='LoadPointsFromFile', use_dim=[0, 1, 2, 3, 4], time_dim=4),
    dict(type='LoadMultiViewImages'),
    dict(type='GlobalRotScaleTransFusion', rot_range=[-0.3925, 0.3925],
         scale_ratio_range=[0.95, 1.05], translation_std=[0.2, 0.2, 0.1]),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PackFusionInputs'),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', use_dim=[0, 1, 2, 3, 4], time_dim=4),
    dict(type='LoadMultiViewImages'),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PackFusionInputs', point_cloud_range=point_cloud_range),
]
train_dataset = dict(type=dataset_type, data_root=data_root, calib_file=calib_file,
                     num_scenes=48, seed=0, image_scale=image_scale, metainfo=metainfo,
                     pipeline=train_pipeline)
val_dataset = dict(type=dataset_type, data_root=data_root, calib_file=calib_file,
                   num_scenes=12, seed=1, image_scale=image_scale, metainfo=metainfo,
                   test_mode=True, pipeline=test_pipeline)

train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=train_dataset)
val_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=val_dataset)
test_dataloader = val_dataloader
data_preprocessor = dict(type='FusionDataPreprocessor', **img_norm_cfg)
