# PointOBB on DIOR-R with one point per object, the paper's setting (GPU):
#   python tools/train.py configs/pointobb/pointobb_r50-fpn_24e_dior-r.py
#   python tools/pointobb_pseudo_labels.py configs/pointobb/pointobb_r50-fpn_24e_dior-r.py \
#       work_dirs/pointobb_r50-fpn_24e_dior-r/epoch_24.pth --out data/dior_pointobb_pseudo
_base_ = ['../_base_/models/pointobb_r50_fpn.py', '../_base_/datasets/dior-r_points.py',
          '../_base_/schedules/sgd_24e.py', '../_base_/default_runtime.py']
model = dict(
    roi_head=dict(bbox_head=dict(num_classes=20)),
    rotation_agnostic_labels=[5, 9, 15, 19])  # chimney, golffield, storagetank, windmill
