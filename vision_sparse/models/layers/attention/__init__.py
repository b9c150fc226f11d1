"""Attention layers."""
from .matching_attention import (ATTN_IMPLS, MatchingAttention,
                                 MatchingAttentionBlock,
                                 add_matching_attention, attention_to_matches,
                                 chunked_attention, naive_attention,
                                 sdpa_attention)

__all__ = [
    'ATTN_IMPLS', 'MatchingAttention', 'MatchingAttentionBlock',
    'add_matching_attention', 'attention_to_matches', 'chunked_attention',
    'naive_attention', 'sdpa_attention'
]
