# Evaluation only (training-free methods, or models given a checkpoint / a built map).
test_cfg = dict(type='TestLoop')
