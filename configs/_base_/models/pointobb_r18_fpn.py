# PointOBB sized for CPU training on small images: ResNet-18 (from scratch: no pretrained
# weights offline) + a 64-channel FPN, MIL heads with 256-wide FC layers, the PSC angle head
# on the same FPN. Same parts and losses as pointobb_r50_fpn.py.
num_classes = 6
model = dict(
    type='PointOBB',
    data_preprocessor=dict(type='mmdet.DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32,
                           boxtype2tensor=False),
    backbone=dict(type='mmdet.ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3),
                  frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=False, style='pytorch', init_cfg=None),
    neck=dict(type='mmdet.FPN', in_channels=[64, 128, 256, 512], out_channels=64,
              start_level=0, add_extra_convs='on_input', num_outs=4,
              norm_cfg=dict(type='GN', num_groups=16, requires_grad=True)),
    roi_head=dict(
        type='PointOBBRoIHead',
        bbox_roi_extractor=dict(
            type='RotatedSingleRoIExtractor',
            roi_layer=dict(type='RoIAlignRotated', output_size=7, sampling_ratio=2,
                           clockwise=True),
            out_channels=64, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(type='MILBBoxHead', num_classes=num_classes, in_channels=64,
                       fc_out_channels=256, num_stages=2, init_std=None),
        bag_generator=dict(type='PointBagGenerator'),
        loss_mil0=dict(type='MILLoss', loss_type='binary_cross_entropy', loss_weight=0.25),
        loss_mil1=dict(type='MILLoss', loss_type='focal', loss_weight=0.25, neg_loss_weight=0.75),
        top_k=7, num_neg=128, neg_iou_thr=0.3),
    angle_head=dict(type='PointOBBAngleHead', in_channels=64, feat_channels=64,
                    stacked_convs=2, num_step=3, strides=(4, 8, 16, 32), pos_radius=1.5,
                    code_act='none', scale_codes=True, detach_feats=False,
                    loss_levels='pooled', beta=0.1, loss_weight=0.5,
                    angle_agnostic_labels=[4]),  # storage-tank
    ssc_loss=dict(type='SSCLoss', beta=1.0, cls_weight=1.0, ins_weight=2.0),
    view_schedule=dict(angle_start_iter=150, rotated_bags_start_iter=350),
    rotation_agnostic_labels=[4],
    test_cfg=dict(rotate_bags=True))
