# Baseline of A2PM: XFeat (mutual nearest neighbours) on the full images of the
# 15 shared ScanNet sample pairs, resized to 640x480 (the ScanNet-1500 protocol),
# relative pose from a MAGSAC essential matrix (0.5 px, 0.99999), AUC@5/10/20.
#   python tools/test.py configs/a2pm/xfeat_bare_scannet_sample.py
# XFeat + LighterGlue: add --cfg-options model.matcher.matcher=lighterglue model.method_name=xfeat_lighterglue
# Paths are relative to the working directory (run from the repository root).
_base_ = ['../_base_/default_runtime.py', '../_base_/datasets/scannet_sample_pairs.py']

custom_imports = dict(
    imports=['vision_sparse.models.matchers', 'vision_sparse.datasets.matching_pairs',
             'vision_sparse.evaluation'],
    allow_failed_imports=False)

model = dict(
    type='MatcherEvalModel',
    method_name='xfeat',
    matcher=dict(type='XFeatMatcher', matcher='mnn', resize_max=640, top_k=4096))

default_hooks = dict(logger=dict(interval=5))
