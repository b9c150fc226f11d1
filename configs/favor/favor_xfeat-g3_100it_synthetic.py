# FaVoR on the synthetic textured room (vision_sparse.testing.synthetic_scene):
# exact ground truth, runs on a CPU in a few minutes. The landmark map is built
# on first use (or with tools/favor_build_map.py) and cached at `map_path`.
#   python tools/favor_build_map.py configs/favor/favor_xfeat-g3_100it_synthetic.py
#   python tools/test.py configs/favor/favor_xfeat-g3_100it_synthetic.py
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vision_sparse.models.relocalizers', 'vision_sparse.datasets.relocalization',
             'vision_sparse.evaluation.metrics.reloc_metric'],
    allow_failed_imports=False)

synthetic = dict(num_train=16, num_test=8, image_size=(320, 240), trajectory='strafe', seed=0)
train_dataset = dict(type='RelocalizationDataset', format='synthetic', split='train',
                     synthetic=synthetic, lazy_init=True)
test_dataset = dict(type='RelocalizationDataset', format='synthetic', split='test',
                    synthetic=synthetic, lazy_init=True)

model = dict(
    type='FaVoRRelocalizer',
    extractor=dict(type='DenseFeatureExtractor', backend='xfeat', max_keypoints=2048),
    map_path='work_dirs/favor_xfeat-g3_100it_synthetic/landmark_map.pth',
    mapping=dict(
        dataset=train_dataset,
        tracker=dict(match_threshold=0.7, ransac_threshold=2.0, min_track_length=5),
        triangulator=dict(min_track_length=5, max_reprojection_error=2.0),
        trainer=dict(grid_size=3, iterations=100, rays_per_landmark=32, psnr_threshold=20.0,
                     max_landmarks=500),
        retrieval=dict(method='vlad', num_clusters=16)),
    num_iterations=3,
    match_threshold=0.7,
    reprojection_error=5.0)

test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       collate_fn=dict(type='pseudo_collate'), dataset=test_dataset)
test_evaluator = dict(type='RelocalizationMetric', max_translation=0.05, max_rotation=5.0)
test_cfg = dict(type='TestLoop')
