# FaVoR on the synthetic textured room (vision_sparse.testing.synthetic_scene):
# exact ground truth, runs on a CPU in a few minutes. The landmark map is built
# on first use (or with tools/favor_build_map.py) and cached at `map_path`.
#   python tools/favor_build_map.py configs/favor/favor_xfeat-g3_100it_synthetic.py
#   python tools/test.py configs/favor/favor_xfeat-g3_100it_synthetic.py
_base_ = ['../_base_/models/favor.py', '../_base_/datasets/synthetic_room.py',
          '../_base_/schedules/test.py', '../_base_/default_runtime.py']

model = dict(
    map_path='work_dirs/favor_xfeat-g3_100it_synthetic/landmark_map.pth',
    mapping=dict(dataset={{_base_.train_dataset}}))
