# SparseFusion, LiDAR only (TransFusion-L: the LiDAR head on the pillar BEV features), on
# the synthetic driving scenes, CPU-sized (the head reads the 32 BEV channels alone).
# Everything else (model, data, 600-iteration AdamW budget, evaluator, hooks) comes from
# the fused config, so the three configs can be compared. CPU, a few minutes:
#   python tools/train.py configs/sparsefusion/sparsefusion_tiny-lidar_600it_synthetic-fusion.py
#   python tools/test.py configs/sparsefusion/sparsefusion_tiny-lidar_600it_synthetic-fusion.py \
#       work_dirs/sparsefusion_tiny-lidar_600it_synthetic-fusion/iter_600.pth
_base_ = ['./sparsefusion_tiny-fusion_600it_synthetic-fusion.py']

model = dict(modality='lidar', lidar_head=dict(in_channels=_base_.bev_channels))
