# The oriented detector of the PointOBB pipeline (rotated FCOS, ResNet-18 + FPN from scratch,
# PSC angles) trained on the TRUE boxes of the synthetic aerial training set: the reference
# that the same detector trained on PointOBB's pseudo boxes is compared with
# (pointobb_rotated-fcos-xfeat_600it_synthetic-aerial-pseudo.py). CPU, a few minutes:
#   python tools/train.py configs/pointobb/pointobb_rotated-fcos-r18_600it_synthetic-aerial.py
#   python tools/test.py configs/pointobb/pointobb_rotated-fcos-r18_600it_synthetic-aerial.py \
#       work_dirs/pointobb_rotated-fcos-r18_600it_synthetic-aerial/iter_600.pth
_base_ = ['../_base_/models/rotated-fcos_r18_fpn.py', '../_base_/datasets/synthetic-aerial.py',
          '../_base_/schedules/adamw_600it.py', '../_base_/default_runtime.py']

# A light FPN / head for CPU training (128 channels, two stacked convs per branch).
model = dict(
    neck=dict(out_channels=128),
    bbox_head=dict(num_classes=6, in_channels=128, feat_channels=128, stacked_convs=2,
                   regress_ranges=((-1, 32), (32, 64), (64, 128), (128, 256), (256, 1e8))),
    test_cfg=dict(score_thr=0.05, max_per_img=200))

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=600, by_epoch=False, max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
