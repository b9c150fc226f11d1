# FaVoR with XFeat on the 7-Scenes "stairs" samples (../shared/data): 6 mapping
# frames (sequences 2, 3), 6 queries (sequences 1, 4). The samples have only 3
# consecutive frames per sequence (a few millimetres apart), so tracks are at
# most 3 long and landmarks are initialised from the (unregistered) depth.
# Pass data_root=<.../7-scenes/stairs> (--cfg-options) for the full scene.
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vision_sparse.models.relocalizers', 'vision_sparse.datasets.relocalization',
             'vision_sparse.evaluation.metrics.reloc_metric'],
    allow_failed_imports=False)

data_root = None  # None: ../shared/data/relocalization/7scenes_stairs/stairs
scene = dict(format='7scenes', data_root=data_root,
             default_subdir='relocalization/7scenes_stairs/stairs', lazy_init=True)
train_dataset = dict(type='RelocalizationDataset', split='train', load_depth=True, **scene)
test_dataset = dict(type='RelocalizationDataset', split='test', **scene)

model = dict(
    type='FaVoRRelocalizer',
    extractor=dict(type='DenseFeatureExtractor', backend='xfeat', max_keypoints=4096,
                   detection_threshold=0.02),
    map_path='work_dirs/favor_xfeat-g3_100it_7scenes-stairs/landmark_map.pth',
    mapping=dict(
        dataset=train_dataset,
        tracker=dict(match_threshold=0.7, ransac_threshold=2.0, min_track_length=3),
        triangulator=dict(min_track_length=3, max_reprojection_error=2.0, use_depth=True,
                          depth_sigma=0.02),
        trainer=dict(grid_size=3, iterations=100, rays_per_landmark=32, psnr_threshold=20.0,
                     max_landmarks=1500),
        retrieval=dict(method='vlad', num_clusters=16)),
    num_iterations=3,
    match_threshold=0.7,
    reprojection_error=5.0,
    # FaVoR accepts any pose with > 3 PnP inliers; on these samples that accepts 6-10
    # wrong inliers among 40-80 matches: ask for 20 % inliers (docs/favor.md)
    min_inlier_ratio=0.2)

test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       collate_fn=dict(type='pseudo_collate'), dataset=test_dataset)
test_evaluator = dict(type='RelocalizationMetric', max_translation=0.05, max_rotation=5.0)
test_cfg = dict(type='TestLoop')
