# SparseFusion on nuScenes with the paper's setting (GPU, the full dataset's mmdet3d info
# pickles under data/nuscenes/): LiDAR + 6 cameras at 800 x 448, 200 + 200 queries,
# d_model 128, 8 heads, ResNet-50 + FPN, the official 6-epoch cyclic AdamW schedule.
# Pillars instead of spconv voxels: see configs/_base_/models/sparsefusion_r50.py.
#   python tools/train.py configs/sparsefusion/sparsefusion_r50-fpn_6e_nuscenes-fusion.py \
#       --cfg-options load_from=<TransFusion-L checkpoint>
#   python tools/test.py configs/sparsefusion/sparsefusion_r50-fpn_6e_nuscenes-fusion.py \
#       work_dirs/sparsefusion_r50-fpn_6e_nuscenes-fusion/epoch_6.pth
_base_ = ['../_base_/models/sparsefusion_r50.py', '../_base_/datasets/nuscenes-fusion.py',
          '../_base_/schedules/adamw-cyclic_6e.py', '../_base_/default_runtime.py']

model = dict(data_preprocessor=_base_.data_preprocessor)

val_evaluator = dict(type='NuScenesDetMetric', classes=_base_.class_names)
test_evaluator = val_evaluator

# the dataset needs the nuScenes files: the config tests build the model only
build_datasets_in_test = False
