import pytest
import torch

from vision_sparse.registry import MODELS


def test_backbone_and_neck_shapes_and_grads():
    torch.manual_seed(0)
    backbone = MODELS.build(dict(type='SECONDBEV', in_channels=5, out_channels=[8, 12],
                                 layer_nums=[1, 1], layer_strides=[2, 2]))
    neck = MODELS.build(dict(type='SECONDFPNBEV', in_channels=[8, 12], out_channels=[6, 6],
                             upsample_strides=[1, 2]))
    x = torch.randn(2, 5, 16, 20, requires_grad=True)
    feats = backbone(x)
    assert [f.shape for f in feats] == [(2, 8, 8, 10), (2, 12, 4, 5)]
    out = neck(feats)
    assert len(out) == 1 and out[0].shape == (2, 12, 8, 10)
    assert neck.out_channels_total == 12
    out[0].sum().backward()
    assert x.grad.abs().sum() > 0
    down = MODELS.build(dict(type='SECONDFPNBEV', in_channels=[8], out_channels=[4],
                             upsample_strides=[0.5]))
    assert down([feats[0]])[0].shape == (2, 4, 4, 5)


def test_bad_config():
    with pytest.raises(ValueError, match='same length'):
        MODELS.build(dict(type='SECONDBEV', out_channels=[8], layer_nums=[1, 1],
                          layer_strides=[1]))
