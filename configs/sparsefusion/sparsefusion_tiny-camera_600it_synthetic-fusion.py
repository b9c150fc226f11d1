# SparseFusion, camera only (the sparse camera head on 6 views, its queries transformed
# into the LiDAR frame; images only: no geometric transfer) on the synthetic scenes.
# Everything else (model, data, 600-iteration AdamW budget, evaluator, hooks) comes from
# the fused config, so the three configs can be compared. CPU, a few minutes:
#   python tools/train.py configs/sparsefusion/sparsefusion_tiny-camera_600it_synthetic-fusion.py
#   python tools/test.py configs/sparsefusion/sparsefusion_tiny-camera_600it_synthetic-fusion.py \
#       work_dirs/sparsefusion_tiny-camera_600it_synthetic-fusion/iter_600.pth
_base_ = ['./sparsefusion_tiny-fusion_600it_synthetic-fusion.py']

model = dict(modality='camera', geometric_transfer=None)
