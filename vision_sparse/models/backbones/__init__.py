"""Backbones: pretrained local-feature encoders (ALIKED, XFeat) as multi-scale backbones."""
from .local_feature_backbones import ALIKEDBackbone, XFeatBackbone

__all__ = ['ALIKEDBackbone', 'XFeatBackbone']
