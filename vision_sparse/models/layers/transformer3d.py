"""Query layers of the SparseFusion / TransFusion 3-D heads: learned position embedding,
the post-norm decoder layer and the per-quantity prediction FFNs.

Query tensors are channel-first ``(B, C, Q)`` as in the heads; positions ``(B, Q, D)``
(BEV grid cells, or image pixels for the camera head).
"""
from typing import Dict, Mapping, Optional, Tuple

from torch import Tensor, nn

from vision_sparse.registry import MODELS
from vision_sparse.utils.config import merge_conf

__all__ = ['PositionEmbeddingLearned', 'TransformerDecoderLayer3D', 'SeparateHead3D']


@MODELS.register_module()
class PositionEmbeddingLearned(nn.Module):
    """MLP on positions: ``Conv1d(D, C, 1) -> BN -> ReLU -> Conv1d(C, C, 1)``.

    Args:
        input_channels (int): D, position dimensions (2 for BEV cells).
        num_pos_feats (int): C, the embedding width (= the model width).
    """

    def __init__(self, input_channels: int = 2, num_pos_feats: int = 128):
        super().__init__()
        self.position_embedding_head = nn.Sequential(
            nn.Conv1d(input_channels, num_pos_feats, 1), nn.BatchNorm1d(num_pos_feats),
            nn.ReLU(inplace=True), nn.Conv1d(num_pos_feats, num_pos_feats, 1))

    def forward(self, xyz: Tensor) -> Tensor:
        """(B, Q, D) positions -> (B, C, Q) embeddings."""
        return self.position_embedding_head(xyz.transpose(1, 2).contiguous())


@MODELS.register_module()
class TransformerDecoderLayer3D(nn.Module):
    """Post-norm decoder layer: self-attention over the queries, optional cross-attention
    to a key set, FFN; each followed by dropout, a residual and LayerNorm. Learned
    position embeddings (:class:`PositionEmbeddingLearned`) are added to the queries
    (self- and cross-attention) and to the keys.

    Args:
        d_model (int): query width C.
        nhead (int): attention heads.
        dim_feedforward (int): FFN hidden width.
        dropout (float): dropout after attention / in the FFN.
        activation (str): 'relu' or 'gelu'.
        cross_attn (bool): with the cross-attention (False: the fusion layer's
            self-attention + FFN only).
        query_pos_dim (int | None): D of the query positions (None: no query embedding).
        key_pos_dim (int | None): D of the key positions (None: no key embedding).
    """

    default_conf = dict(d_model=128, nhead=8, dim_feedforward=256, dropout=0.1,
                        activation='relu', cross_attn=True, query_pos_dim=2, key_pos_dim=2)

    def __init__(self, **conf):
        super().__init__()
        self.conf = c = merge_conf(self.default_conf, conf, type(self).__name__)
        d = c['d_model']
        if c['activation'] not in ('relu', 'gelu'):
            raise ValueError(f"activation must be 'relu' or 'gelu', got {c['activation']!r}")
        self.self_attn = nn.MultiheadAttention(d, c['nhead'], dropout=c['dropout'])
        self.norm1, self.dropout1 = nn.LayerNorm(d), nn.Dropout(c['dropout'])
        self.self_posembed = (PositionEmbeddingLearned(c['query_pos_dim'], d)
                              if c['query_pos_dim'] else None)
        if c['cross_attn']:
            self.cross_attn = nn.MultiheadAttention(d, c['nhead'], dropout=c['dropout'])
            self.norm2, self.dropout2 = nn.LayerNorm(d), nn.Dropout(c['dropout'])
            self.cross_posembed = (PositionEmbeddingLearned(c['key_pos_dim'], d)
                                   if c['key_pos_dim'] else None)
        self.ffn = nn.Sequential(nn.Linear(d, c['dim_feedforward']),
                                 nn.ReLU(inplace=True) if c['activation'] == 'relu' else nn.GELU(),
                                 nn.Dropout(c['dropout']), nn.Linear(c['dim_feedforward'], d))
        self.norm3, self.dropout3 = nn.LayerNorm(d), nn.Dropout(c['dropout'])

    @staticmethod
    def _embed(posembed: Optional[nn.Module], pos: Optional[Tensor]) -> Optional[Tensor]:
        if posembed is None or pos is None:
            return None
        return posembed(pos).permute(2, 0, 1)  # (L, B, C)

    def forward(self, query: Tensor, key: Optional[Tensor] = None,
                query_pos: Optional[Tensor] = None, key_pos: Optional[Tensor] = None,
                attn_mask: Optional[Tensor] = None) -> Tensor:
        """Update the queries.

        Args:
            query (Tensor): (B, C, Q) query features.
            key (Tensor, optional): (B, C, N) key features (needed with ``cross_attn``).
            query_pos (Tensor, optional): (B, Q, D) query positions.
            key_pos (Tensor, optional): (B, N, D) key positions.
            attn_mask (Tensor, optional): (Q, Q) bool self-attention mask (True = blocked).

        Returns:
            Tensor: (B, C, Q) updated queries.
        """
        if query.dim() != 3 or query.shape[1] != self.conf['d_model']:
            raise ValueError(f'query must be (B, {self.conf["d_model"]}, Q), got '
                             f'{tuple(query.shape)}')
        q_embed = self._embed(self.self_posembed, query_pos)
        q = query.permute(2, 0, 1)
        q_in = q if q_embed is None else q + q_embed
        q = self.norm1(q + self.dropout1(self.self_attn(q_in, q_in, q_in,
                                                        attn_mask=attn_mask)[0]))
        if self.conf['cross_attn']:
            if key is None:
                raise ValueError('key is required by a layer with cross_attn=True')
            k = key.permute(2, 0, 1)
            k_embed = self._embed(self.cross_posembed, key_pos)
            k = k if k_embed is None else k + k_embed
            q_in = q if q_embed is None else q + q_embed
            q = self.norm2(q + self.dropout2(self.cross_attn(q_in, k, k)[0]))
        q = self.norm3(q + self.dropout3(self.ffn(q)))
        return q.permute(1, 2, 0)


@MODELS.register_module()
class SeparateHead3D(nn.Module):
    """One small FFN per predicted quantity on channel-first queries.

    Each head is ``num_conv - 1`` x (``Conv1d(k=1) -> BN -> ReLU``) then ``Conv1d`` to
    its output width; the ``heatmap`` head's last bias starts at ``init_bias``
    (-2.19: prior probability 0.1).

    Args:
        in_channels (int): query width C.
        heads (Mapping[str, tuple[int, int]]): ``name -> (out_channels, num_conv)``,
            e.g. ``center=(2, 2), height=(1, 2), dim=(3, 2), rot=(2, 2), vel=(2, 2),
            heatmap=(K, 2)`` (the prediction-dict contract).
        head_conv (int): hidden width.
        init_bias (float): initial bias of the ``heatmap`` output.
    """

    def __init__(self, in_channels: int, heads: Mapping[str, Tuple[int, int]],
                 head_conv: int = 64, init_bias: float = -2.19):
        super().__init__()
        self.heads = nn.ModuleDict()
        for name, (out, num_conv) in heads.items():
            if num_conv < 1:
                raise ValueError(f'head {name!r}: num_conv must be >= 1, got {num_conv}')
            layers, cin = [], in_channels
            for _ in range(num_conv - 1):
                layers += [nn.Conv1d(cin, head_conv, 1, bias=False), nn.BatchNorm1d(head_conv),
                           nn.ReLU(inplace=True)]
                cin = head_conv
            layers.append(nn.Conv1d(cin, out, 1))
            self.heads[name] = nn.Sequential(*layers)
        if 'heatmap' in self.heads:
            nn.init.constant_(self.heads['heatmap'][-1].bias, init_bias)

    def forward(self, x: Tensor) -> Dict[str, Tensor]:
        """(B, C, Q) -> ``{name: (B, out_channels, Q)}``."""
        return {name: head(x) for name, head in self.heads.items()}
