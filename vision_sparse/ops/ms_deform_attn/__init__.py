"""Multi-scale deformable attention sampling (mmcv's ``MultiScaleDeformableAttnFunction``
layout): every query samples ``P`` points on each of ``L`` feature maps per head,
bilinearly (``grid_sample``'s ``align_corners=False``, zero padding), and sums them
with its attention weights.

The compiled kernels (CPU / CUDA) are used when available, else the reference.
"""
from .ms_deform_attn import (MSDeformAttnFunction, MSDeformAttnSampler, ms_deform_attn,
                             ms_deform_attn_grads)
from .reference import check_ms_deform_attn_inputs, ms_deform_attn_reference

__all__ = ['ms_deform_attn', 'ms_deform_attn_reference', 'ms_deform_attn_grads',
           'MSDeformAttnFunction', 'MSDeformAttnSampler', 'check_ms_deform_attn_inputs']
