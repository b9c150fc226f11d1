"""Attention layers: kernels, FramePainter matching attention, adding it to a network."""
from .kernels import chunked_attention, naive_attention, sdpa_attention
from .matching_attention import (ATTN_IMPLS, MatchingAttention,
                                 attention_to_matches)
from .matching_block import MatchingAttentionBlock, add_matching_attention

__all__ = [
    'ATTN_IMPLS', 'MatchingAttention', 'MatchingAttentionBlock',
    'add_matching_attention', 'attention_to_matches', 'chunked_attention',
    'naive_attention', 'sdpa_attention'
]
