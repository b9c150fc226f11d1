# The oriented detector of the PointOBB pipeline with the CPU backbone of the PointOBB recipe
# (frozen XFeat encoder + FPN), rotated FCOS head with PSC angles, trained on the TRUE boxes
# of the synthetic aerial training set: the reference for the same detector trained on
# PointOBB's pseudo boxes (pointobb_rotated-fcos-xfeat_600it_synthetic-aerial-pseudo.py).
#   python tools/train.py configs/pointobb/pointobb_rotated-fcos-xfeat_600it_synthetic-aerial.py
#   python tools/test.py configs/pointobb/pointobb_rotated-fcos-xfeat_600it_synthetic-aerial.py \
#       work_dirs/pointobb_rotated-fcos-xfeat_600it_synthetic-aerial/iter_600.pth
_base_ = ['./pointobb_rotated-fcos-r18_600it_synthetic-aerial.py']

model = dict(
    backbone=dict(_delete_=True, type='XFeatBackbone', out_indices=(0, 1, 2, 3), frozen=True),
    neck=dict(in_channels=[24, 64, 64, 64], out_channels=64),
    bbox_head=dict(in_channels=64, feat_channels=64))
max_iters = 600
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, eta_min=1e-5, by_epoch=False, begin=50,
         end=max_iters),
]
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1))
