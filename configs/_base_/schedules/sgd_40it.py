# SGD (lr 0.1, momentum 0.9) for 40 iterations, lr x0.1 after 30; validation every 20.
train_cfg = dict(type='IterBasedTrainLoop', max_iters=40, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9))
param_scheduler = [dict(type='MultiStepLR', by_epoch=False, milestones=[30], gamma=0.1)]
