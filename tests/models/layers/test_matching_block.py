"""copy_qkv_projections: the branch gets the self-attention's q/k/v exactly."""
import pytest
import torch
from torch import nn

from vision_sparse.models.layers import MatchingAttention
from vision_sparse.models.layers.attention.matching_block import \
    copy_qkv_projections


def test_copy_from_multihead_attention_with_bias():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, bias=True, batch_first=True)
    with torch.no_grad():
        mha.in_proj_bias.normal_()
    branch = MatchingAttention(8, 2, qkv_bias=True)
    copy_qkv_projections(mha, branch)
    w_q, w_k, w_v = mha.in_proj_weight.chunk(3, dim=0)
    b_q, b_k, b_v = mha.in_proj_bias.chunk(3, dim=0)
    for lin, w, b in ((branch.to_q, w_q, b_q), (branch.to_k, w_k, b_k),
                      (branch.to_v, w_v, b_v)):
        assert torch.equal(lin.weight, w) and torch.equal(lin.bias, b)


def test_missing_source_bias_zeroes_branch_bias_and_sizes_checked():
    mha = nn.MultiheadAttention(8, 2, bias=False, batch_first=True)
    branch = MatchingAttention(8, 2, qkv_bias=True)
    with torch.no_grad():
        branch.to_k.bias.fill_(3.0)
    copy_qkv_projections(mha, branch)
    assert torch.count_nonzero(branch.to_k.bias) == 0
    with pytest.raises(ValueError, match='dim and inner_dim'):
        copy_qkv_projections(mha, MatchingAttention(8, 2, inner_dim=4))
    with pytest.raises(ValueError, match='self_attn must be'):
        copy_qkv_projections(nn.Linear(8, 8), branch)
