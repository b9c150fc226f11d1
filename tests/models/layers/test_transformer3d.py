import pytest
import torch

from vision_sparse.models.layers import (PositionEmbeddingLearned, SeparateHead3D,
                                         TransformerDecoderLayer3D)
from vision_sparse.registry import MODELS


def test_decoder_layer_shapes_grads_and_permutation():
    torch.manual_seed(0)
    layer = TransformerDecoderLayer3D(d_model=16, nhead=4, dim_feedforward=32, dropout=0.0)
    layer.eval()
    q, k = torch.randn(2, 16, 5, requires_grad=True), torch.randn(2, 16, 7)
    qp, kp = torch.rand(2, 5, 2), torch.rand(2, 7, 2)
    out = layer(q, k, qp, kp)
    assert out.shape == (2, 16, 5)
    # queries are a set: permuting them permutes the output
    perm = torch.tensor([4, 2, 0, 1, 3])
    out_p = layer(q[:, :, perm], k, qp[:, perm], kp)
    assert torch.allclose(out_p, out[:, :, perm], atol=1e-5)
    # keys too: permuting them changes nothing
    kperm = torch.randperm(7)
    assert torch.allclose(layer(q, k[:, :, kperm], qp, kp[:, kperm]), out, atol=1e-5)
    out.sum().backward()
    assert q.grad.abs().sum() > 0


def test_self_attention_only_layer():
    layer = MODELS.build(dict(type='TransformerDecoderLayer3D', d_model=8, nhead=2,
                              cross_attn=False, query_pos_dim=None))
    assert layer(torch.randn(1, 8, 3)).shape == (1, 8, 3)
    assert not hasattr(layer, 'cross_attn')
    with pytest.raises(ValueError, match='key is required'):
        TransformerDecoderLayer3D(d_model=8, nhead=2)(torch.randn(1, 8, 3))
    with pytest.raises(ValueError, match='query'):
        layer(torch.randn(1, 4, 3))


def test_separate_head_and_pos_embedding():
    head = SeparateHead3D(16, dict(center=(2, 2), heatmap=(3, 2), rot=(2, 1)), head_conv=8)
    out = head(torch.randn(2, 16, 5))
    assert {k: tuple(v.shape) for k, v in out.items()} == {
        'center': (2, 2, 5), 'heatmap': (2, 3, 5), 'rot': (2, 2, 5)}
    assert torch.allclose(head.heads['heatmap'][-1].bias, torch.full((3,), -2.19))
    assert PositionEmbeddingLearned(2, 16)(torch.rand(2, 5, 2)).shape == (2, 16, 5)
