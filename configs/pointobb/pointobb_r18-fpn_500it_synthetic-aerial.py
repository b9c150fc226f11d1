# PointOBB on the synthetic aerial set (points only; CPU, a few minutes):
#   python tools/train.py configs/pointobb/pointobb_r18-fpn_500it_synthetic-aerial.py
#   python tools/pointobb_pseudo_labels.py configs/pointobb/pointobb_r18-fpn_500it_synthetic-aerial.py \
#       work_dirs/pointobb_r18-fpn_500it_synthetic-aerial/iter_500.pth \
#       --out work_dirs/pointobb_pseudo/synthetic-aerial --show-dir work_dirs/pointobb_pseudo/vis
# View schedule (global iterations, kept across --resume): original + resized views (SSC)
# until 150, then original + rotated / flipped views (angle self-supervision), oriented
# bags from 350.
_base_ = ['../_base_/models/pointobb_r18_fpn.py', '../_base_/datasets/synthetic-aerial.py',
          '../_base_/schedules/adamw_600it.py', '../_base_/default_runtime.py']

max_iters = 500
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_iters - 50, eta_min=1e-5, by_epoch=False, begin=50,
         end=max_iters),
]
# pseudo boxes of the training images scored against their true boxes
val_dataloader = dict(dataset=dict(seed=0, num_images=96, test_mode=False))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='PseudoBoxMetric')  # agnostic classes: the dataset's
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
