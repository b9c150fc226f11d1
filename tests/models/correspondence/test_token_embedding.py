"""RandomPatchEmbedding: fixed, seeded tokens with neighbourhood context."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vision_sparse.models.correspondence import RandomPatchEmbedding

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def test_shapes_and_normalisation():
    emb = RandomPatchEmbedding(patch_size=8, dim=16, context=(3, 7), seed=0)
    frames = torch.rand(3, 2, 3, 32, 48)
    tokens, hw = emb(frames)
    assert hw == (4, 6) and emb.out_channels == 48
    assert tokens.shape == (6, 24, 48)
    torch.testing.assert_close(tokens.mean(-1), torch.zeros(6, 24), atol=1e-5, rtol=0)
    assert not any(p.requires_grad for p in emb.parameters())
    assert set(emb.state_dict()) == {'weight', 'bias'}


def test_seeded_weights_are_those_of_a_conv_drawn_after_manual_seed():
    """``seed=s`` gives the conv ``torch.manual_seed(s); nn.Conv2d(...)`` would (the demo's)."""
    seeded = RandomPatchEmbedding(patch_size=4, dim=8, seed=7)
    torch.manual_seed(7)
    conv = nn.Conv2d(3, 8, 8, stride=4, padding=2)
    torch.testing.assert_close(seeded.weight, conv.weight.detach(), rtol=0, atol=0)
    torch.testing.assert_close(seeded.bias, conv.bias.detach(), rtol=0, atol=0)
    torch.manual_seed(7)
    from_global = RandomPatchEmbedding(patch_size=4, dim=8, seed=None)
    torch.testing.assert_close(from_global.weight, seeded.weight, rtol=0, atol=0)
    assert not torch.equal(RandomPatchEmbedding(patch_size=4, dim=8, seed=8).weight,
                           seeded.weight)


def test_features_follow_the_definition():
    emb = RandomPatchEmbedding(patch_size=4, dim=5, context=(3, ), seed=1)
    frames = torch.rand(1, 2, 3, 12, 16) * 255
    tokens, _ = emb(frames)
    x = frames[0]
    x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / (x.std(dim=(0, 2, 3), keepdim=True) + 1e-6)
    f = F.gelu(F.conv2d(x, emb.weight, emb.bias, stride=4, padding=2))
    f = torch.cat([f, F.avg_pool2d(f, 3, 1, 1, count_include_pad=False)], 1)
    ref = F.layer_norm(f.flatten(2).transpose(1, 2), (10, ))
    torch.testing.assert_close(tokens, ref)


def test_bad_arguments():
    with pytest.raises(ValueError, match='patch_size'):
        RandomPatchEmbedding(patch_size=5)
    with pytest.raises(ValueError, match='context'):
        RandomPatchEmbedding(context=(2, ))
    emb = RandomPatchEmbedding(patch_size=8)
    with pytest.raises(ValueError, match='multiples of patch_size=8'):
        emb(torch.rand(1, 2, 3, 30, 32))
    with pytest.raises(ValueError, match=r'\(B, F, 3, H, W\)'):
        emb(torch.rand(2, 3, 32, 32))
