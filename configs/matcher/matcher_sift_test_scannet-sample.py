# Baseline of A2PM: SIFT (ratio test + mutual check) on the full images of the
# 15 shared ScanNet sample pairs, resized to 640x480 (the ScanNet-1500 protocol),
# relative pose from a MAGSAC essential matrix (0.5 px, 0.99999), AUC@5/10/20.
#   python tools/test.py configs/matcher/matcher_sift_test_scannet-sample.py
# Paths are relative to the working directory (run from the repository root).
_base_ = ['../_base_/models/matcher.py', '../_base_/datasets/scannet_sample_pairs.py',
          '../_base_/schedules/test.py', '../_base_/default_runtime.py']

default_hooks = dict(logger=dict(interval=5))
