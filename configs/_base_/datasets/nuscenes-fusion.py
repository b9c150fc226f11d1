# nuScenes LiDAR + 6 cameras (NuScenesFusionDataset) with the SparseFusion paper's data
# settings, for GPU users with the full dataset: mmdet3d (>= 1.0) info pickles
# (nuscenes_infos_{train,val}.pkl, made by mmdet3d's create_data.py; image and LiDAR paths
# are resolved relative to the pickle's folder), range [-54, -54, -5, 54, 54, 3] m, views
# resized to 800x448, ImageNet normalisation. Points: the keyframe only (5 columns:
# x, y, z, intensity, time lag = 0; the file's ring index is overwritten as mmdet3d's sweep
# loader does); the official code adds 9 previous sweeps (not implemented here). The shared sample (one keyframe) can be used by pointing ann_file at
# ../shared/data/lidar_camera/nuscenes/n015-2018-07-24-11-22-45+0800.pkl.
dataset_type = 'NuScenesFusionDataset'
data_root = 'data/nuscenes/'
# the official config's class order
class_names = ['car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier',
               'motorcycle', 'bicycle', 'pedestrian', 'traffic_cone']
metainfo = dict(classes=class_names)
point_cloud_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]
img_size = (800, 448)  # (width, height)
img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                    bgr_to_rgb=True)

train_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=[0, 1, 2, 3, 4], time_dim=4),
    dict(type='LoadMultiViewImages'),
    dict(type='GlobalRotScaleTransFusion', rot_range=[-0.785, 0.785],
         scale_ratio_range=[0.9, 1.1], translation_std=[0.5, 0.5, 0.5]),
    dict(type='ResizeMultiView', scale=img_size),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(type='PackFusionInputs'),
]
test_pipeline = [
    dict(type='LoadPointsFromFile', load_dim=5, use_dim=[0, 1, 2, 3, 4], time_dim=4),
    dict(type='LoadMultiViewImages'),
    dict(type='ResizeMultiView', scale=img_size),
    dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='PackFusionInputs', point_cloud_range=point_cloud_range),
]
train_dataset = dict(type=dataset_type, data_root=data_root,
                     ann_file='nuscenes_infos_train.pkl', metainfo=metainfo,
                     use_valid_flag=True, pipeline=train_pipeline)
val_dataset = dict(type=dataset_type, data_root=data_root, ann_file='nuscenes_infos_val.pkl',
                   metainfo=metainfo, test_mode=True, pipeline=test_pipeline)

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=train_dataset)
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=val_dataset)
test_dataloader = val_dataloader
data_preprocessor = dict(type='FusionDataPreprocessor', pad_size_divisor=32, **img_norm_cfg)
