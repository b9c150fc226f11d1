# FaVoR with ALIKED-n16 on Cambridge Landmarks ShopFacade (not shipped: pass
# --cfg-options data_root=/path/to/ShopFacade). Official settings: 2000 training
# iterations, 1024 rays per landmark and step, at most 10,000 landmarks,
# images resized to 1024 px wide, recall at 25 cm / 2 deg.
_base_ = ['../_base_/models/favor.py', '../_base_/datasets/cambridge_shopfacade.py',
          '../_base_/schedules/test.py', '../_base_/default_runtime.py']

model = dict(
    extractor=dict(_delete_=True, type='DenseFeatureExtractor', backend='aliked',
                   aliked_model='aliked-n16', max_keypoints=4096, detection_threshold=0.02),
    map_path='work_dirs/favor_aliked-g3_2000it_cambridge-shopfacade/landmark_map.pth',
    mapping=dict(
        dataset={{_base_.train_dataset}},
        trainer=dict(iterations=2000, rays_per_landmark=1024, max_landmarks=10000),
        retrieval=dict(num_clusters=32)),
    max_landmarks=5000)
