# SparseFusion sized for a CPU, on the BEV grid of the synthetic scenes
# (configs/_base_/datasets/synthetic-fusion.py: 5 classes, range +-32 m, 6 views of
# 200 x 112, points (x, y, z, intensity, time)). All three modalities' parts are here;
# a model builds only those its `modality` uses, so the LiDAR-only, camera-only and fused
# configs share every common sub-module (same sizes, same budget).
#
# (`bev_range` = the dataset base's point_cloud_range; mmengine forbids one name in two bases.)
# LiDAR: 0.5 m pillars (128 x 128), SECOND-style BEV backbone (strides 2, 4) + FPN neck
# -> 32 channels at stride 2 (64 x 64 BEV cells of 1 m), 32 queries, d_model 32.
# Camera: ResNet-18 (2 stages, no ImageNet weights offline) + FPN 32 ch, levels at
# strides 4 and 8, 32 camera queries, sparse-depth geometric transfer.
# Fusion: semantic transfer (32 ch, 3 anchor heights) concatenated with the LiDAR BEV
# (the LiDAR head then reads 32 + 32 channels), one fusion layer (4 heads).
# The paper's sizes are in sparsefusion_r50.py.
bev_range = [-32.0, -32.0, -3.0, 32.0, 32.0, 3.0]
voxel_size = [0.5, 0.5, 6.0]
out_size_factor = 2
num_classes = 5
hidden = 32
img_channels = 32
bev_channels = 32
semantic_channels = 32
bbox_coder = dict(type='TransFusionBBoxCoder', point_cloud_range=bev_range,
                  voxel_size=voxel_size, out_size_factor=out_size_factor, code_size=10)
model = dict(
    type='SparseFusion',
    modality='fusion',
    pts_voxel_layer=dict(voxel_size=voxel_size, point_cloud_range=bev_range,
                         max_num_points=16, max_voxels=(12000, 12000)),
    pts_voxel_encoder=dict(type='PillarFeatureNet', in_channels=5, feat_channels=[16],
                           voxel_size=voxel_size, point_cloud_range=bev_range),
    pts_middle_encoder='pillars',
    pts_backbone=dict(type='SECONDBEV', in_channels=16, out_channels=[16, 32],
                      layer_nums=[1, 1], layer_strides=[2, 2]),
    pts_neck=dict(type='SECONDFPNBEV', in_channels=[16, 32], out_channels=[16, 16],
                  upsample_strides=[1, 2]),
    lidar_head=dict(
        type='TransFusionLiDARHead',
        in_channels=bev_channels + semantic_channels, hidden_channels=hidden,
        num_classes=num_classes, num_proposals=32, nms_kernel_size=3, num_decoder_layers=1,
        num_heads=4, ffn_channels=64, dropout=0.0, head_conv=32, bbox_coder=bbox_coder,
        assigner=dict(type='HungarianAssigner3D', cls_weight=0.15, reg_weight=0.25,
                      iou_weight=0.25),
        gaussian_overlap=0.1, min_radius=2, score_threshold=0.0,
        post_center_range=[-35.0, -35.0, -5.0, 35.0, 35.0, 5.0],
        # car, truck, pedestrian, traffic_cone, barrier (official radii x ~3: 1 m cells)
        nms_radius=[1.0, 1.0, 0.3, 0.3, 0.5]),
    img_backbone=dict(type='mmdet.ResNet', depth=18, num_stages=2, strides=(1, 2),
                      dilations=(1, 1), out_indices=(0, 1), norm_eval=False, init_cfg=None),
    img_neck=dict(type='mmdet.FPN', in_channels=[64, 128], out_channels=img_channels,
                  num_outs=2),
    geometric_transfer=dict(type='SparseDepthEncoder', in_channels=img_channels,
                            depth_channels=8, num_levels=2, stride=4),
    semantic_transfer=dict(type='SemanticTransfer', img_channels=img_channels,
                           bev_channels=bev_channels, embed_dims=semantic_channels,
                           num_heads=4, num_levels=2, num_points=2, heights=(-1.5, -0.5, 0.5),
                           point_cloud_range=bev_range, voxel_size=voxel_size,
                           out_size_factor=out_size_factor),
    camera_head=dict(type='SparseCameraHead', in_channels=img_channels, hidden_channels=hidden,
                     num_classes=num_classes, num_levels=2, strides=(4, 8), num_queries=32,
                     num_heads=4, num_points=2, ffn_channels=64, dropout=0.0,
                     # the official 2-D heatmap weight (its focal loss starts in the hundreds)
                     loss_heatmap=dict(type='mmdet.GaussianFocalLoss', reduction='mean',
                                       loss_weight=0.1),
                     point_cloud_range=bev_range, voxel_size=voxel_size,
                     out_size_factor=out_size_factor),
    fusion_layer=dict(type='QueryFusionLayer', hidden_channels=hidden, num_classes=num_classes,
                      num_layers=1, num_heads=4, ffn_channels=64, dropout=0.0, head_conv=32),
)
