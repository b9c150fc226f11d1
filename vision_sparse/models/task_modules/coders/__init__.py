"""Box and angle coders."""
from .psc_coder import PSCCoder
from .transfusion_bbox_coder import BOX_CODE_KEYS, TransFusionBBoxCoder

__all__ = ['PSCCoder', 'TransFusionBBoxCoder', 'BOX_CODE_KEYS']
