# PointOBB on the synthetic aerial set from points only, on CPU (about 2 minutes):
#   python tools/train.py configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py
#   python tools/pointobb_pseudo_labels.py configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py \
#       work_dirs/pointobb_xfeat-fpn_150it_synthetic-aerial/iter_150.pth \
#       --out work_dirs/pointobb_pseudo/synthetic-aerial --show-dir work_dirs/pointobb_pseudo/vis
# The model is the CPU recipe of _base_/models/pointobb_xfeat_fpn.py (frozen XFeat encoder,
# oriented MIL bags; see docs/pointobb.md for why and what it reaches). Validation scores the
# pseudo boxes of the TRAINING images against their true boxes (the paper's protocol).
_base_ = ['../_base_/models/pointobb_xfeat_fpn.py', '../_base_/datasets/synthetic-aerial.py',
          '../_base_/schedules/adamw_600it.py', '../_base_/default_runtime.py']

max_iters = 150
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
                     clip_grad=dict(max_norm=35.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', T_max=max_iters - 20, eta_min=0.0, by_epoch=False, begin=20,
         end=max_iters),
]
val_dataloader = dict(dataset=dict(seed=0, num_images=64, test_mode=False))
test_dataloader = val_dataloader
val_evaluator = dict(_delete_=True, type='PseudoBoxMetric')  # agnostic classes: the dataset's
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=max_iters, by_epoch=False, max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
