# A2PM: the bare point matcher, MESA and DMESA side by side (one run, results
# labelled `<method_prefix>matcher`, `..mesa`, `..dmesa`). Matches are
# evaluated at 640x480 (`eval_size`) whatever the input size.
# Areas are SAM-free (SegmentationAreaSource); to use SAM set
#   area_source=dict(type='SAMAreaSource', checkpoint='path/to/sam_vit_h_4b8939.pth')
# or precomputed masks: dict(type='MaskFileAreaSource', root='path/to/masks').
# Children replace the point matcher (`point_matcher` and `model.point_matcher`),
# the MESA coarse matcher and `method_prefix`.
custom_imports = dict(
    imports=['vision_sparse.models.matchers', 'vision_sparse.models.area_matchers',
             'vision_sparse.datasets.matching_pairs', 'vision_sparse.evaluation'],
    allow_failed_imports=False)

point_matcher = dict(type='SIFTMatcher', resize_max=640, ratio=0.8, max_keypoints=4096)
model = dict(
    type='A2PMEvalModel',
    methods=('matcher', 'mesa', 'dmesa'),
    method_prefix='sift_',
    eval_size=(640, 480),
    point_matcher=point_matcher,
    area_source=dict(type='SegmentationAreaSource', method='felzenszwalb'),
    # MESA scores every pair of area crops with a coarse matcher: small crops
    # keep it affordable on a CPU (the official code uses 480x480 on a GPU).
    mesa=dict(coarse_matcher=dict(type='SIFTMatcher', resize_max=256, ratio=0.9),
              crop_size=256, match_level=3),
    # DMESA: one coarse call on the whole pair (+ one reverse call for EM); without
    # a coarse_matcher it uses the point matcher.
    dmesa=dict(coarse_matcher=dict(type='SIFTMatcher', resize_max=640, ratio=0.9),
               match_level=3, em_iters=5),
    # fusion='consensus' (votes of independent sources; 'legacy' = the paper's
    # match-counting filter, which then uses alpha); verify_areas checks each area
    # pair against the full-image matches before the point matcher runs in it
    # (off: neutral to negative on the pose, docs/a2pm.md). consensus holds the
    # options of consensus_fusion; full_winner_output='bare': when the full image's
    # geometry wins (and the image is not weak) the point matcher's own matches are
    # returned as given ('merge' adds the agreeing area pairs' matches).
    a2pm=dict(crop_size=640, crop_expand=1.2, alpha=3.0, max_matches=5000,
              fusion='consensus', verify_areas=False,
              consensus=dict(full_winner_output='bare')))
