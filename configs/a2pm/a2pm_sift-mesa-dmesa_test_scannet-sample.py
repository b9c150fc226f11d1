# A2PM with SIFT: the bare matcher, MESA and DMESA on the 15 shared ScanNet
# sample pairs, in one run. Images are loaded at full resolution (1296x968):
# A2PM crops areas from them, as the official code does; all matches are then
# evaluated at 640x480 with the ScanNet-1500 protocol (MAGSAC essential matrix,
# 0.5 px, 0.99999; AUC@5/10/20 of max(rotation, translation) error).
#   python tools/test.py configs/a2pm/a2pm_sift-mesa-dmesa_test_scannet-sample.py
# Paths are relative to the working directory (run from the repository root).
_base_ = ['../_base_/models/a2pm_mesa-dmesa.py',
          '../_base_/datasets/scannet_sample_pairs_full-size.py',
          '../_base_/schedules/test.py', '../_base_/default_runtime.py']

default_hooks = dict(logger=dict(interval=1))
