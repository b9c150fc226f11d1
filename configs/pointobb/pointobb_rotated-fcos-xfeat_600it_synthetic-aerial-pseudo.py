# The same rotated FCOS (frozen XFeat + FPN) as pointobb_rotated-fcos-xfeat_600it_synthetic-aerial.py, trained on
# PointOBB's PSEUDO boxes of the same training images instead of the true boxes, tested on
# the same held-out images. The pipeline end to end (CPU):
#   python tools/train.py configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py
#   python tools/pointobb_pseudo_labels.py configs/pointobb/pointobb_xfeat-fpn_150it_synthetic-aerial.py \
#       work_dirs/pointobb_xfeat-fpn_150it_synthetic-aerial/iter_150.pth \
#       --out work_dirs/pointobb_pseudo/synthetic-aerial
#   python tools/train.py configs/pointobb/pointobb_rotated-fcos-xfeat_600it_synthetic-aerial-pseudo.py
#   python tools/test.py configs/pointobb/pointobb_rotated-fcos-xfeat_600it_synthetic-aerial-pseudo.py \
#       work_dirs/pointobb_rotated-fcos-xfeat_600it_synthetic-aerial-pseudo/iter_600.pth
# (benchmarks/bench_pointobb.py runs these steps and prints pseudo/truth mAP.)
_base_ = ['./pointobb_rotated-fcos-xfeat_600it_synthetic-aerial.py']

pseudo_root = 'work_dirs/pointobb_pseudo/synthetic-aerial'
aerial_classes = ('plane', 'ship', 'small-vehicle', 'large-vehicle', 'storage-tank', 'golf-field')
train_dataloader = dict(dataset=dict(
    _delete_=True, type='DOTADataset', data_root=pseudo_root, img_dir='images',
    ann_dir='labelTxt', metainfo=dict(classes=aerial_classes),
    filter_cfg=dict(filter_empty_gt=True),
    pipeline=[
        dict(type='SafeLoadImageFromFile'),
        dict(type='LoadOrientedAnnotations'),
        dict(type='RandomFlipOriented', prob=0.5, direction=['horizontal', 'vertical']),
        dict(type='PackOrientedDetInputs'),
    ]))
# the pseudo-label folder is made by tools/pointobb_pseudo_labels.py: config tests build the
# model only
build_datasets_in_test = False
