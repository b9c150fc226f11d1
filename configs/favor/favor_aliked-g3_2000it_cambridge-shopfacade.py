# FaVoR with ALIKED-n16 on Cambridge Landmarks ShopFacade (not shipped: pass
# --cfg-options data_root=/path/to/ShopFacade). Official settings: 2000 training
# iterations, 1024 rays per landmark and step, at most 10,000 landmarks,
# images resized to 1024 px wide, recall at 25 cm / 2 deg.
_base_ = ['../_base_/default_runtime.py']
custom_imports = dict(
    imports=['vision_sparse.models.relocalizers', 'vision_sparse.datasets.relocalization',
             'vision_sparse.evaluation.metrics.reloc_metric'],
    allow_failed_imports=False)

data_root = 'data/Cambridge/ShopFacade'
scene = dict(format='cambridge', data_root=data_root, resize_width=1024, lazy_init=True)
train_dataset = dict(type='RelocalizationDataset', split='train', **scene)
test_dataset = dict(type='RelocalizationDataset', split='test', **scene)

model = dict(
    type='FaVoRRelocalizer',
    extractor=dict(type='DenseFeatureExtractor', backend='aliked', aliked_model='aliked-n16',
                   max_keypoints=4096, detection_threshold=0.02),
    map_path='work_dirs/favor_aliked-g3_2000it_cambridge-shopfacade/landmark_map.pth',
    mapping=dict(
        dataset=train_dataset,
        tracker=dict(match_threshold=0.7, ransac_threshold=2.0, min_track_length=5),
        triangulator=dict(min_track_length=5, max_reprojection_error=2.0),
        trainer=dict(grid_size=3, iterations=2000, rays_per_landmark=1024,
                     psnr_threshold=20.0, max_landmarks=10000),
        retrieval=dict(method='vlad', num_clusters=32)),
    num_iterations=3,
    match_threshold=0.7,
    reprojection_error=5.0,
    max_landmarks=5000)

test_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                       sampler=dict(type='DefaultSampler', shuffle=False),
                       collate_fn=dict(type='pseudo_collate'), dataset=test_dataset)
test_evaluator = dict(type='RelocalizationMetric', max_translation=0.25, max_rotation=2.0)
test_cfg = dict(type='TestLoop')
