# SparseFusion, LiDAR only (TransFusion-L: the LiDAR head on the pillar BEV features), on
# the synthetic driving scenes, CPU-sized (the head reads the 32 BEV channels alone).
# The same model, data and 600-iteration AdamW budget as the camera-only and fused
# configs next to it, so the three can be compared. CPU, a few minutes:
#   python tools/train.py configs/sparsefusion/sparsefusion_tiny-lidar_600it_synthetic-fusion.py
#   python tools/test.py configs/sparsefusion/sparsefusion_tiny-lidar_600it_synthetic-fusion.py \
#       work_dirs/sparsefusion_tiny-lidar_600it_synthetic-fusion/iter_600.pth
_base_ = ['../_base_/models/sparsefusion_tiny.py', '../_base_/datasets/synthetic-fusion.py',
          '../_base_/schedules/adamw_600it.py', '../_base_/default_runtime.py']

model = dict(modality='lidar', lidar_head=dict(in_channels=_base_.bev_channels),
             data_preprocessor=_base_.data_preprocessor)

val_evaluator = dict(type='NuScenesDetMetric', classes=_base_.class_names)
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=600, by_epoch=False, max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
