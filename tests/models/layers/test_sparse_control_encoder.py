"""Tests of SparseControlEncoder and apply_to_edited_frame."""
import pytest
import torch
from torch import nn

from vision_sparse.models.layers import (SparseControlEncoder,
                                         apply_to_edited_frame,
                                         timestep_embedding)
from vision_sparse.registry import MODELS


pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _encoder(**kwargs):
    torch.manual_seed(0)
    kwargs.setdefault('channels', (16, 16, 32))
    kwargs.setdefault('out_channels', 24)
    return SparseControlEncoder(**kwargs)


def test_output_shape_is_one_eighth():
    enc = MODELS.build(dict(type='SparseControlEncoder', in_channels=4,
                            out_channels=24, channels=(16, 16, 32)))
    assert enc.stride == 8
    out = enc(torch.randn(2, 4, 64, 48), torch.tensor([10, 500]))
    assert out.shape == (2, 24, 8, 6)
    # zero-initialised output conv: nothing is added until trained
    assert torch.equal(out, torch.zeros_like(out))


def test_gradients_reach_output_conv_and_scale_start():
    enc = _encoder()
    out = enc(torch.randn(2, 3, 32, 32), 5)
    out.sum().backward()
    assert enc.out_conv.weight.grad.abs().sum() > 0
    nn.init.normal_(enc.out_conv.weight)
    enc.init_weights()
    assert torch.count_nonzero(enc.out_conv.weight) == 0


def test_time_conditioning_changes_output_once_out_conv_nonzero():
    enc = _encoder()
    control = torch.randn(2, 3, 32, 32)
    t0 = enc(control, torch.tensor([0, 0]))
    t1 = enc(control, torch.tensor([0, 900]))
    assert torch.equal(t0, t1)  # both zero: out conv is zero
    with torch.no_grad():
        nn.init.normal_(enc.out_conv.weight, std=0.1)
        enc.scale.fill_(2.0)
    t0 = enc(control, torch.tensor([0, 0]))
    t1 = enc(control, torch.tensor([0, 900]))
    torch.testing.assert_close(t0[0], t1[0])  # same timestep: same output
    assert (t0[1] - t1[1]).abs().max() > 1e-3  # other timestep: different
    # a number is shared by the batch; the scale multiplies the output
    torch.testing.assert_close(enc(control, 0), t0)
    with torch.no_grad():
        enc.scale.fill_(1.0)
    torch.testing.assert_close(enc(control, 0), t0 / 2)


def test_timestep_embedding():
    emb = timestep_embedding(torch.tensor([0.0, 3.0]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))
    torch.testing.assert_close(emb[1, 0], torch.cos(torch.tensor(3.0)))
    assert timestep_embedding(torch.tensor([1.0]), 7).shape == (1, 7)
    with pytest.raises(ValueError, match='1-D'):
        timestep_embedding(torch.zeros(2, 1), 8)


def test_input_validation():
    enc = _encoder()
    with pytest.raises(ValueError, match='4-D'):
        enc(torch.randn(3, 32, 32), 0)
    with pytest.raises(ValueError, match='C_in == 3'):
        enc(torch.randn(1, 2, 32, 32), 0)
    with pytest.raises(ValueError, match='multiples of 8'):
        enc(torch.randn(1, 3, 30, 32), 0)
    with pytest.raises(ValueError, match='timesteps'):
        enc(torch.randn(2, 3, 32, 32), torch.zeros(3))
    with pytest.raises(ValueError, match='num_groups'):
        SparseControlEncoder(channels=(12, 16), num_groups=8)


def test_apply_to_edited_frame_only():
    feats = torch.randn(6, 4, 2, 3, requires_grad=True)  # B=2, F=3
    control = torch.randn(2, 4, 2, 3, requires_grad=True)
    out = apply_to_edited_frame(feats, control, num_frames=3, edited_frame=1)
    assert out.shape == feats.shape
    for b in range(2):
        for f in range(3):
            expected = feats[b * 3 + f] + (control[b] if f == 1 else 0)
            torch.testing.assert_close(out[b * 3 + f], expected)
    out.sum().backward()
    assert torch.equal(control.grad, torch.ones_like(control))
    with pytest.raises(ValueError, match='multiple of num_frames'):
        apply_to_edited_frame(feats[:5], control, num_frames=3)
    with pytest.raises(ValueError, match='control must be'):
        apply_to_edited_frame(feats, control[:1], num_frames=3)
    with pytest.raises(ValueError, match='edited_frame'):
        apply_to_edited_frame(feats, control, num_frames=3, edited_frame=3)


def test_encoder_into_edited_frame_end_to_end():
    enc = _encoder(out_channels=8)
    with torch.no_grad():
        nn.init.normal_(enc.out_conv.weight, std=0.1)
    sketch = torch.randn(2, 3, 32, 32)
    feats = torch.randn(4, 8, 4, 4)  # first down block, B=2, F=2
    out = apply_to_edited_frame(feats, enc(sketch, torch.tensor([1, 2])), 2)
    assert torch.equal(out[0::2], feats[0::2])  # source frames untouched
    assert not torch.allclose(out[1::2], feats[1::2])
