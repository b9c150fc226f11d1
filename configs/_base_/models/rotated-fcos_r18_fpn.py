# Rotated FCOS (one-stage oriented detector) with ResNet-18 + FPN: box-frame
# distances with mmdet's IoU loss, PSC-coded le90 angles with an L1 loss
# ("separate angle" recipe of mmrotate's rotated FCOS), class-aware rotated NMS.
# No pretrained weights are available offline (init_cfg=None), so the backbone
# trains from scratch: nothing frozen, BN statistics updated. With ImageNet weights
# a child sets mmrotate's recipe:
#   model.backbone.update(init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18'),
#                         frozen_stages=1, norm_eval=True)
# Children set `model.bbox_head.num_classes` (15 for DOTA-v1.0, 20 for DIOR-R).
angle_version = 'le90'
model = dict(
    type='RotatedFCOS',
    data_preprocessor=dict(
        type='mmdet.DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        boxtype2tensor=False),  # keep gt boxes as RotatedBoxes
    backbone=dict(
        type='mmdet.ResNet',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None),
    neck=dict(
        type='mmdet.FPN',
        in_channels=[64, 128, 256, 512],
        out_channels=256,
        start_level=1,
        add_extra_convs='on_output',
        num_outs=5,
        relu_before_extra_convs=True),
    bbox_head=dict(
        type='RotatedFCOSHead',
        num_classes=15,
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        center_sampling=True,
        center_sample_radius=1.5,
        norm_on_bbox=True,
        centerness_on_reg=True,
        angle_version=angle_version,
        angle_coder=dict(type='PSCCoder', num_step=3),
        scale_angle=False,
        loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0),
        loss_bbox=dict(type='mmdet.IoULoss', loss_weight=1.0),
        loss_angle=dict(type='mmdet.L1Loss', loss_weight=0.2),
        loss_centerness=dict(type='mmdet.CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0)),
    train_cfg=None,
    test_cfg=dict(
        nms_pre=2000,
        min_bbox_size=0,
        score_thr=0.05,
        nms=dict(type='nms_rotated', iou_threshold=0.1),
        max_per_img=2000))
