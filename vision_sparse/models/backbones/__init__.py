"""Backbones: pretrained local-feature encoders (ALIKED, XFeat) as multi-scale backbones,
and the SECOND-style BEV backbone + neck of the SparseFusion LiDAR branch."""
from .local_feature_backbones import ALIKEDBackbone, XFeatBackbone
from .second_bev import SECONDBEV, SECONDFPNBEV

__all__ = ['ALIKEDBackbone', 'XFeatBackbone', 'SECONDBEV', 'SECONDFPNBEV']
