# PointOBB as the paper trains it (GPU-sized): ResNet-50 + FPN (GN), MIL stage 0 (BCE) and
# stage 1 (focal MIL) on rotated RoIAlign 7x7 features of proposal bags (10 base scales x
# 7 ratios per point), SSC between the original and a resized view, the PSC angle head with
# dense-to-sparse matching and the rotation/flip self-supervision, progressive view switching
# by the global iteration. No pretrained weights are available offline (init_cfg=None); with
# them a child sets:
#   model.backbone.init_cfg = dict(type='Pretrained', checkpoint='torchvision://resnet50')
# Children set num_classes, the rotation-agnostic classes and the schedule iterations.
num_classes = 15
model = dict(
    type='PointOBB',
    data_preprocessor=dict(type='mmdet.DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32,
                           boxtype2tensor=False),
    backbone=dict(type='mmdet.ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3),
                  frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True,
                  style='pytorch', init_cfg=None),
    neck=dict(type='mmdet.FPN', in_channels=[256, 512, 1024, 2048], out_channels=256,
              start_level=0, add_extra_convs='on_input', num_outs=4,
              norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
    roi_head=dict(
        type='PointOBBRoIHead',
        bbox_roi_extractor=dict(
            type='RotatedSingleRoIExtractor',
            roi_layer=dict(type='RoIAlignRotated', output_size=7, sampling_ratio=2,
                           clockwise=True),
            out_channels=256, featmap_strides=[4, 8, 16, 32]),
        bbox_head=dict(type='MILBBoxHead', num_classes=num_classes, in_channels=256,
                       fc_out_channels=1024, num_stages=2, init_std=0.01),
        bag_generator=dict(type='PointBagGenerator',
                           base_scales=[4, 8, 16, 24, 32, 48, 64, 72, 80, 96],
                           base_ratios=[1 / 3, 1 / 2, 1 / 1.5, 1.0, 1.5, 2.0, 3.0],
                           base_size=None, cut_mode='symmetry',
                           refine_ratios=[1.0, 1.2, 1.3, 0.8, 0.7], refine_shifts=[0.1],
                           min_inside=0.8),
        loss_mil0=dict(type='MILLoss', loss_type='binary_cross_entropy', loss_weight=0.25),
        loss_mil1=dict(type='MILLoss', loss_type='focal', loss_weight=0.25, neg_loss_weight=0.75),
        top_k=7, num_neg=500, neg_iou_thr=0.3),
    angle_head=dict(type='PointOBBAngleHead', in_channels=256, feat_channels=256,
                    stacked_convs=2, num_step=3, strides=(4, 8, 16, 32), pos_radius=1.5,
                    code_act='none', scale_codes=True, detach_feats=False,
                    loss_levels='pooled', beta=0.1, loss_weight=0.5),
    ssc_loss=dict(type='SSCLoss', beta=1.0, cls_weight=1.0, ins_weight=2.0),
    view_schedule=dict(angle_start_iter=16000, rotated_bags_start_iter=22000, resize_view=True,
                       resize_after_angle_start=False, resize_range=(0.5, 1.5),
                       rotate_range_deg=(45.0, 135.0), flip_prob=0.05, padding_mode='zeros',
                       seed=0),
    rotation_agnostic_labels=[],
    test_cfg=dict(rotate_bags=True))
