# The official SparseFusion schedule: AdamW (lr 1e-4, weight decay 0.01), 6 epochs of one
# cosine cycle (lr up to 8x over the first 40 %, then down to 1e-4 x; AdamW's beta1
# down to 0.85 / 0.95 of its value and back), gradients clipped at norm 0.1; the
# pretrained parts (image encoder, LiDAR encoder and the LiDAR head's layers) learn at
# 0.1 x the rate. Batch 16 (4 GPUs x 4). The official run starts from a TransFusion-L
# checkpoint (set load_from).
max_epochs = 6
lr = 1e-4
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

slow = dict(lr_mult=0.1)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=lr, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(custom_keys={
        'img_backbone': slow, 'img_neck': slow, 'pts_voxel_encoder': slow,
        'pts_middle_encoder': slow, 'pts_backbone': slow, 'pts_neck': slow,
        'lidar_head.decoder': slow, 'lidar_head.class_encoding': slow,
        'lidar_head.heatmap_head': slow, 'lidar_head.shared_conv': slow}))
up = max_epochs * 0.4
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=up, eta_min=lr * 8, begin=0, end=up, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - up, eta_min=lr * 1e-4, begin=up,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
    # (momentum eta_min values are absolute: AdamW's beta1 0.9 -> 0.9 x 0.85 / 0.95 -> 0.9)
    dict(type='CosineAnnealingMomentum', T_max=up, eta_min=0.9 * 0.85 / 0.95, begin=0, end=up,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=max_epochs - up, eta_min=0.9, begin=up,
         end=max_epochs, by_epoch=True, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
