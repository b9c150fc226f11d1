# FaVoR relocalization with XFeat features and 3x3x3 voxel landmarks. Children set
# `model.map_path`, `model.mapping.dataset` (the mapping split of their data,
# {{_base_.train_dataset}}) and the landmark training schedule
# (`model.mapping.trainer`: iterations, rays per landmark); they may replace the
# extractor (the map is tied to it).
custom_imports = dict(
    imports=['vision_sparse.models.relocalizers', 'vision_sparse.datasets.relocalization',
             'vision_sparse.evaluation.metrics.reloc_metric'],
    allow_failed_imports=False)

model = dict(
    type='FaVoRRelocalizer',
    extractor=dict(type='DenseFeatureExtractor', backend='xfeat', max_keypoints=2048),
    map_path=None,
    mapping=dict(
        tracker=dict(match_threshold=0.7, ransac_threshold=2.0, min_track_length=5),
        triangulator=dict(min_track_length=5, max_reprojection_error=2.0),
        trainer=dict(grid_size=3, iterations=100, rays_per_landmark=32, psnr_threshold=20.0,
                     max_landmarks=500),
        retrieval=dict(method='vlad', num_clusters=16)),
    num_iterations=3,
    match_threshold=0.7,
    reprojection_error=5.0)
