# Baseline of A2PM: XFeat (mutual nearest neighbours) on the full images of the
# 15 shared ScanNet sample pairs, resized to 640x480 (the ScanNet-1500 protocol),
# relative pose from a MAGSAC essential matrix (0.5 px, 0.99999), AUC@5/10/20.
#   python tools/test.py configs/matcher/matcher_xfeat_test_scannet-sample.py
# XFeat + LighterGlue: add --cfg-options model.matcher.matcher=lighterglue model.method_name=xfeat_lighterglue
# Paths are relative to the working directory (run from the repository root).
_base_ = ['../_base_/models/matcher.py', '../_base_/datasets/scannet_sample_pairs.py',
          '../_base_/schedules/test.py', '../_base_/default_runtime.py']

model = dict(
    method_name='xfeat',
    matcher=dict(_delete_=True, type='XFeatMatcher', matcher='mnn', resize_max=640, top_k=4096))

default_hooks = dict(logger=dict(interval=5))
