# (A test-only config: the 2-box scene of test_sparse_fusion_lidar.py on a 25.6 m square.
# The tiny model of the configs is configs/_base_/models/sparsefusion_tiny.py.)
# SparseFusion, LiDAR branch only (TransFusion-L), sized for a CPU: 0.4 m pillars on a
# 25.6 m square (64 x 64 pillars), a two-stage BEV backbone (stride 2 and 4) whose
# neck returns 32 channels at stride 2 (32 x 32 BEV cells), 3 classes, 20 queries,
# d_model 32. The paper's sizes (0.075 m voxels, spconv encoder, 180 x 180 BEV,
# 200 queries, d_model 128) need a GPU and spconv.
point_cloud_range = [-12.8, -12.8, -3.0, 12.8, 12.8, 3.0]
voxel_size = [0.4, 0.4, 6.0]
out_size_factor = 2
num_classes = 3

model = dict(
    type='SparseFusion',
    modality='lidar',
    pts_voxel_layer=dict(voxel_size=voxel_size, point_cloud_range=point_cloud_range,
                         max_num_points=16, max_voxels=(4000, 4000)),
    pts_voxel_encoder=dict(type='PillarFeatureNet', in_channels=4, feat_channels=[16],
                           voxel_size=voxel_size, point_cloud_range=point_cloud_range),
    pts_middle_encoder='pillars',
    pts_backbone=dict(type='SECONDBEV', in_channels=16, out_channels=[16, 32],
                      layer_nums=[1, 1], layer_strides=[2, 2]),
    pts_neck=dict(type='SECONDFPNBEV', in_channels=[16, 32], out_channels=[16, 16],
                  upsample_strides=[1, 2]),
    lidar_head=dict(
        type='TransFusionLiDARHead',
        in_channels=32, hidden_channels=32, num_classes=num_classes, num_proposals=20,
        nms_kernel_size=3, num_decoder_layers=1, num_heads=4, ffn_channels=64, dropout=0.0,
        head_conv=32,
        bbox_coder=dict(type='TransFusionBBoxCoder', point_cloud_range=point_cloud_range,
                        voxel_size=voxel_size, out_size_factor=out_size_factor, code_size=10),
        assigner=dict(type='HungarianAssigner3D', cls_weight=0.15, reg_weight=0.25,
                      iou_weight=0.25),
        gaussian_overlap=0.1, min_radius=2,
        score_threshold=0.0, post_center_range=[-15.0, -15.0, -5.0, 15.0, 15.0, 5.0],
        nms_radius=[1.0, 1.0, 0.5]))
