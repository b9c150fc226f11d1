# The 15 shared ScanNet sample pairs (../shared/data/matching/scannet_pairs) with
# the ScanNet-1500 relative-pose protocol: MAGSAC essential matrix (0.5 px,
# 0.99999), AUC@5/10/20 of max(rotation, translation) error. Images resized to
# 640x480 (bare matchers); A2PM configs load them at full size (resize=None).
# Paths are relative to the working directory (run from the repository root);
# another copy of the data: --cfg-options test_dataloader.dataset.data_root=...
data_root = '../shared/data/matching/scannet_pairs'
# The config test builds every dataset; without the sample data there is nothing to build.
build_datasets_in_test = __import__('os').path.isdir(data_root)

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
