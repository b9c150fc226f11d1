# A tiny exactly-solvable regression problem used to test the training engine
# (save / resume / test, DDP).  Not a method: see vision_sparse/testing/toy.py.
_base_ = ['../_base_/models/toy_linear.py', '../_base_/datasets/toy_regression.py',
          '../_base_/schedules/sgd_40it.py', '../_base_/default_runtime.py']
# the toy modules are test-only: registered by importing vision_sparse.testing
custom_imports = dict(imports=['vision_sparse.testing'], allow_failed_imports=False)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=10, by_epoch=False, max_keep_ckpts=-1),
)
log_processor = dict(by_epoch=False)
