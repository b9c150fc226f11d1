# SparseFusion with the paper's sizes (GPU): nuScenes range [-54, -54, -5, 54, 54, 3] m,
# 10 classes, 200 LiDAR + 200 camera queries, d_model 128, 8 heads, one decoder layer per
# stage and one fusion layer, ResNet-50 + FPN (256 ch, 4 levels at strides 4..32) on
# 800 x 448 views, semantic transfer (128 ch) and geometric transfer (sparse depth).
#
# LiDAR encoder: PILLARS, not the official 0.075 m voxels + spconv SparseEncoder. spconv
# cannot be used here (docs/sparsefusion.md: its backward needs the CUDA driver and our
# 'spconv' middle encoder is a placeholder). Pillars of 0.075 m would be a dense
# 1440 x 1440 map (~0.5 GB per 64-channel activation per sample); 0.15 m pillars (2 x the
# voxel, 720 x 720) with the first BEV stage at stride 2 and the neck resampling both
# stages to stride 4 give out_size_factor 4 and the paper's 180 x 180 BEV of 0.6 m cells
# (0.075 m x 8), so the heads, queries, heatmaps and the semantic transfer run on the
# official grid.
bev_range = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]
voxel_size = [0.15, 0.15, 8.0]
out_size_factor = 4
num_classes = 10
hidden = 128
img_channels = 256
bev_channels = 512
semantic_channels = 128
bbox_coder = dict(type='TransFusionBBoxCoder', point_cloud_range=bev_range,
                  voxel_size=voxel_size, out_size_factor=out_size_factor, code_size=10)
model = dict(
    type='SparseFusion',
    modality='fusion',
    pts_voxel_layer=dict(voxel_size=voxel_size, point_cloud_range=bev_range,
                         max_num_points=20, max_voxels=(120000, 160000)),
    pts_voxel_encoder=dict(type='PillarFeatureNet', in_channels=5, feat_channels=[64],
                           voxel_size=voxel_size, point_cloud_range=bev_range),
    pts_middle_encoder='pillars',
    pts_backbone=dict(type='SECONDBEV', in_channels=64, out_channels=[128, 256],
                      layer_nums=[5, 5], layer_strides=[2, 2]),
    pts_neck=dict(type='SECONDFPNBEV', in_channels=[128, 256], out_channels=[256, 256],
                  upsample_strides=[0.5, 1]),
    lidar_head=dict(
        type='TransFusionLiDARHead',
        in_channels=bev_channels + semantic_channels, hidden_channels=hidden,
        num_classes=num_classes, num_proposals=200, nms_kernel_size=3, num_decoder_layers=1,
        num_heads=8, ffn_channels=256, dropout=0.1, head_conv=64, bbox_coder=bbox_coder,
        assigner=dict(type='HungarianAssigner3D', cls_weight=0.15, reg_weight=0.25,
                      iou_weight=0.25),
        loss_heatmap=dict(type='mmdet.GaussianFocalLoss', reduction='mean', loss_weight=0.1),
        gaussian_overlap=0.1, min_radius=2, score_threshold=0.0,
        post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
        # the official circle-NMS thresholds are squared distances (0.35, 0.175, 0.1 m^2)
        nms_radius=[0.59, 0.59, 0.59, 0.59, 0.59, 0.42, 0.32, -1.0, 0.32, 0.32]),
    img_backbone=dict(type='mmdet.ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                      frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True),
                      norm_eval=True, style='pytorch',
                      init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    img_neck=dict(type='mmdet.FPN', in_channels=[256, 512, 1024, 2048],
                  out_channels=img_channels, num_outs=5),
    geometric_transfer=dict(type='SparseDepthEncoder', in_channels=img_channels,
                            depth_channels=32, num_levels=4, stride=4),
    semantic_transfer=dict(type='SemanticTransfer', img_channels=img_channels,
                           bev_channels=bev_channels, embed_dims=semantic_channels,
                           num_heads=8, num_levels=4, num_points=4,
                           point_cloud_range=bev_range, voxel_size=voxel_size,
                           out_size_factor=out_size_factor),
    camera_head=dict(type='SparseCameraHead', in_channels=img_channels, hidden_channels=hidden,
                     num_classes=num_classes, num_levels=4, strides=(4, 8, 16, 32),
                     num_queries=200, num_heads=8, num_points=4, ffn_channels=256,
                     dropout=0.1,
                     loss_heatmap=dict(type='mmdet.GaussianFocalLoss', reduction='mean',
                                       loss_weight=0.1),
                     point_cloud_range=bev_range, voxel_size=voxel_size,
                     out_size_factor=out_size_factor),
    fusion_layer=dict(type='QueryFusionLayer', hidden_channels=hidden, num_classes=num_classes,
                      num_layers=1, num_heads=8, ffn_channels=256, dropout=0.1, head_conv=64),
)
