# FramePainter matching attention trained as a dense matcher on synthetic warps of the
# ScanNet sample images (CPU, a few minutes):
#   python tools/train.py configs/framepainter/framepainter_matching-attention_300it_synthetic-warp.py
#   python tools/test.py configs/framepainter/framepainter_matching-attention_300it_synthetic-warp.py \
#       work_dirs/framepainter_matching-attention_300it_synthetic-warp/iter_300.pth
#   python -m vision_sparse.apis attention CONFIG SRC TGT --checkpoint CKPT --out matches.png
_base_ = ['../_base_/models/framepainter_matching-attention.py',
          '../_base_/datasets/framepainter_synthetic-warp.py',
          '../_base_/schedules/framepainter_adam_300it.py', '../_base_/default_runtime.py']

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=300, by_epoch=False, max_keep_ckpts=1),
)
log_processor = dict(by_epoch=False)
