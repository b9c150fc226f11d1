"""Reusable network layers."""
from .attention import (MatchingAttention, MatchingAttentionBlock,
                        add_matching_attention, attention_to_matches,
                        chunked_attention, naive_attention, sdpa_attention)
from .fusion import (DeformableCrossAttention, SemanticTransfer, SparseDepthEncoder,
                     ViewTransformer, camera_repr_to_lidar, lidar_to_camera_repr)
from .sparse_control_encoder import (SparseControlEncoder, TimeResBlock,
                                     apply_to_edited_frame, timestep_embedding)
from .transformer3d import PositionEmbeddingLearned, SeparateHead3D, TransformerDecoderLayer3D

__all__ = [
    'MatchingAttention', 'MatchingAttentionBlock', 'add_matching_attention',
    'attention_to_matches', 'chunked_attention', 'naive_attention',
    'sdpa_attention', 'SparseControlEncoder', 'TimeResBlock',
    'apply_to_edited_frame', 'timestep_embedding', 'PositionEmbeddingLearned',
    'SeparateHead3D', 'TransformerDecoderLayer3D', 'DeformableCrossAttention',
    'SemanticTransfer', 'SparseDepthEncoder', 'ViewTransformer', 'camera_repr_to_lidar',
    'lidar_to_camera_repr'
]
