"""The pure-PyTorch rotated RoIAlign: against torchvision's roi_align at angle 0 (an
independent implementation), geometric identities, gradcheck, bad input."""
import math

import pytest
import torch
import torchvision

from vision_sparse.ops import RoIAlignRotated, roi_align_rotated_reference


def _rois(n, seed=0, dtype=torch.float64, batch=2):
    g = torch.Generator().manual_seed(seed)
    cx = torch.rand(n, generator=g, dtype=dtype) * 80
    cy = torch.rand(n, generator=g, dtype=dtype) * 70
    w = torch.rand(n, generator=g, dtype=dtype) * 40 + 4
    h = torch.rand(n, generator=g, dtype=dtype) * 30 + 4
    b = torch.randint(0, batch, (n,), generator=g).to(dtype)
    return torch.stack([b, cx, cy, w, h, torch.zeros(n, dtype=dtype)], 1)


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('ratio', [0, 2])
def test_matches_torchvision_at_angle_zero(aligned, ratio):
    feats = torch.randn(2, 3, 20, 24, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    rois = _rois(30)
    ours = roi_align_rotated_reference(feats, rois, (7, 6), 0.25, ratio, aligned)
    b, cx, cy, w, h = rois[:, :5].unbind(1)
    tv = torchvision.ops.roi_align(feats, torch.stack([b, cx - w / 2, cy - h / 2, cx + w / 2,
                                                       cy + h / 2], 1), (7, 6), 0.25, ratio, aligned)
    assert torch.allclose(ours, tv, atol=1e-12)


def test_quarter_turn_of_square_roi_rotates_the_grid():
    """A square RoI turned by +90 deg (clockwise=True, our boxes) samples the same points as
    the unturned one, with the output grid turned: out_rot[i, j] = out[n-1-j, i]."""
    feats = torch.randn(1, 2, 32, 32, dtype=torch.float64)
    roi = torch.tensor([[0, 30.0, 34.0, 20.0, 20.0, 0.0]], dtype=torch.float64)
    base = roi_align_rotated_reference(feats, roi, 4, 0.5, 2, True, clockwise=True)[0]
    roi_rot = roi.clone()
    roi_rot[0, 5] = math.pi / 2
    rot = roi_align_rotated_reference(feats, roi_rot, 4, 0.5, 2, True, clockwise=True)[0]
    # w axis now points along +y, h axis along -x: bin (ph, pw) of the turned roi sits at
    # offset (x, y) = (-(ph - c), pw - c), i.e. at unturned bin (row pw, col n - 1 - ph)
    assert base.abs().min() > 0  # inside the map
    assert torch.allclose(rot, base.transpose(1, 2).flip(1), atol=1e-12)
    # clockwise=False turns the other way
    ccw = roi_align_rotated_reference(feats, roi_rot, 4, 0.5, 2, True, clockwise=False)[0]
    assert torch.allclose(ccw, base.transpose(1, 2).flip(2), atol=1e-12)


def test_gradcheck():
    feats = torch.randn(2, 2, 9, 11, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0, 12.0, 10.0, 14.0, 6.0, 0.4], [1, 20.0, 14.0, 9.0, 12.0, -1.1],
                         [1, 2.0, 1.0, 8.0, 8.0, 2.5]], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda f: roi_align_rotated_reference(f, rois, (3, 2), 0.5, 0, True, True), (feats,))


def test_module_and_empty():
    m = RoIAlignRotated(7, 0.125, 2, clockwise=True)
    feats = torch.randn(1, 4, 8, 8)
    out = m(feats, torch.zeros((0, 6)))
    assert out.shape == (0, 4, 7, 7)
    far = torch.tensor([[0, 1e4, 1e4, 10.0, 10.0, 0.3]])
    assert m(feats, far).abs().max() == 0  # entirely outside the map


@pytest.mark.parametrize('rois,match', [
    (torch.zeros(2, 5), r'\(N, 6\)'),
    (torch.tensor([[0.5, 1, 1, 2, 2, 0.]]), 'batch index'),
    (torch.tensor([[1.0, 1, 1, 2, 2, 0.]]), 'batch index'),
    (torch.tensor([[0.0, 1, 1, -2, 2, 0.]]), 'widths and heights'),
    (torch.tensor([[0.0, float('nan'), 1, 2, 2, 0.]]), 'finite'),
    (torch.zeros(1, 6, dtype=torch.float64), 'dtype'),
])
def test_bad_rois(rois, match):
    with pytest.raises(ValueError, match=match):
        roi_align_rotated_reference(torch.zeros(1, 2, 4, 4), rois, 2)


@pytest.mark.parametrize('kw,match', [(dict(output_size=0), 'output_size'),
                                      (dict(output_size=(2, 2), spatial_scale=0.0), 'spatial_scale'),
                                      (dict(output_size=2, sampling_ratio=-1), 'sampling_ratio')])
def test_bad_options(kw, match):
    with pytest.raises(ValueError, match=match):
        roi_align_rotated_reference(torch.zeros(1, 2, 4, 4), torch.zeros(0, 6), **kw)
