# FaVoR with XFeat on the 7-Scenes "stairs" samples (../shared/data): 6 mapping
# frames (sequences 2, 3), 6 queries (sequences 1, 4). The samples have only 3
# consecutive frames per sequence (a few millimetres apart), so tracks are at
# most 3 long and landmarks are initialised from the (unregistered) depth.
# Pass data_root=<.../7-scenes/stairs> (--cfg-options) for the full scene.
_base_ = ['../_base_/models/favor.py', '../_base_/datasets/7scenes_stairs.py',
          '../_base_/schedules/test.py', '../_base_/default_runtime.py']

model = dict(
    extractor=dict(max_keypoints=4096, detection_threshold=0.02),
    map_path='work_dirs/favor_xfeat-g3_100it_7scenes-stairs/landmark_map.pth',
    mapping=dict(
        dataset={{_base_.train_dataset}},
        tracker=dict(min_track_length=3),
        triangulator=dict(min_track_length=3, use_depth=True, depth_sigma=0.02),
        trainer=dict(max_landmarks=1500)),
    # FaVoR accepts any pose with > 3 PnP inliers; on these samples that accepts 6-10
    # wrong inliers among 40-80 matches: ask for 20 % inliers (docs/favor.md)
    min_inlier_ratio=0.2)
