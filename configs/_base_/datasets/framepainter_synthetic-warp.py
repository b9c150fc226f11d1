# Image pairs made by warping one image with a known smooth flow (SyntheticWarpPairsDataset):
# rotation up to 10 deg, scale 0.9-1.1, shift up to 4 % of the size, 3 % sinusoidal wobble;
# exact ground truth for every pixel. Sources: the 30 ScanNet sample images of the shared data
# (first 24 for training, last 6 for validation and test), resized to 192x256; procedural
# textures (with a warning) when the folder is not there. Paths are relative to the working
# directory (run from the repository root).
image_dir = '../shared/data/matching/scannet_pairs/scannet_sample_images'
image_size = (192, 256)

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='SyntheticWarpPairsDataset', num_pairs=4000, image_size=image_size,
                 image_dir=image_dir, image_range=(0, 24), seed=0))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='SyntheticWarpPairsDataset', num_pairs=48, image_size=image_size,
                 image_dir=image_dir, image_range=(24, 30), seed=1))
test_dataloader = val_dataloader
# % of target tokens matched within 1 token of the truth, end-point errors in pixels
val_evaluator = dict(type='CorrespondenceMetric', radius=1.0)
test_evaluator = val_evaluator
