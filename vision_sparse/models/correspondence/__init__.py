"""Dense correspondence models: FramePainter matching attention trained on known warps."""
from .attention_correspondence import MatchingAttentionCorrespondence, tokens_to_pixels
from .token_embedding import RandomPatchEmbedding

__all__ = ['MatchingAttentionCorrespondence', 'RandomPatchEmbedding', 'tokens_to_pixels']
