# PointOBB on DOTA-v1.0 tiles with one point per object, the paper's setting (GPU):
#   python tools/dota_split.py data/DOTA/trainval data/split_ss_dota/trainval --tile 1024 --gap 200
#   python tools/train.py configs/pointobb/pointobb_r50-fpn_24e_dota-v1.py
#   python tools/pointobb_pseudo_labels.py configs/pointobb/pointobb_r50-fpn_24e_dota-v1.py \
#       work_dirs/pointobb_r50-fpn_24e_dota-v1/epoch_24.pth --out data/dota_pointobb_pseudo
# then train an oriented detector on data/dota_pointobb_pseudo (labelTxt) and the tile images.
# View schedule (global iterations, kept across --resume): angle loss from 16000, oriented
# bags from 22000, as the official DOTA schedule.
_base_ = ['../_base_/models/pointobb_r50_fpn.py', '../_base_/datasets/dota-v1_points.py',
          '../_base_/schedules/sgd_24e.py', '../_base_/default_runtime.py']
model = dict(
    roi_head=dict(bbox_head=dict(num_classes=15)),
    rotation_agnostic_labels=[1, 9, 11])  # baseball-diamond, storage-tank, roundabout
