"""The compiled rotated RoIAlign (CPU kernel; CUDA where a GPU is present) against the
pure-PyTorch reference: forward and backward equality over the options, gradcheck,
edge cases (empty, outside the map, non-contiguous, half), bad input."""
import math

import pytest
import torch
import torchvision

from vision_sparse.ops import has_ext, roi_align_rotated, roi_align_rotated_reference
from vision_sparse.ops.roi_align_rotated import (RoIAlignRotatedFunction,
                                                 roi_align_rotated_features_grad)

pytestmark = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C is not built')

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')


def _rois(n, dtype, seed=0, batch=2, size=(40, 48), scale=0.25):
    """Rotated rois over a (size / scale) image: most inside, some across the border,
    a few far outside, one with a zero side."""
    g = torch.Generator().manual_seed(seed)
    h_img, w_img = size[0] / scale, size[1] / scale
    cx = torch.rand(n, generator=g, dtype=torch.float64) * w_img * 1.2 - 0.1 * w_img
    cy = torch.rand(n, generator=g, dtype=torch.float64) * h_img * 1.2 - 0.1 * h_img
    w = torch.rand(n, generator=g, dtype=torch.float64) * 60 + 1
    h = torch.rand(n, generator=g, dtype=torch.float64) * 40 + 1
    t = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * math.pi
    b = torch.randint(0, batch, (n,), generator=g).double()
    rois = torch.stack([b, cx, cy, w, h, t], 1)
    rois[0, 1:3] = torch.tensor([5 * w_img, -3 * h_img])  # far outside
    rois[1, 3] = 0.0  # a zero width
    rois[2, 5] = 0.0  # axis-aligned
    return rois.to(dtype)


def _feats(dtype, batch=2, chans=5, size=(40, 48), seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, chans, *size, generator=g, dtype=torch.float64).to(dtype)


def _both(feats, rois, *args, **kw):
    """Forward and feature gradient (for a fixed random grad_out) of both paths."""
    outs = []
    for fn in (roi_align_rotated, roi_align_rotated_reference):
        x = feats.detach().clone().requires_grad_(True)
        out = fn(x, rois, *args, **kw)
        g = torch.randn(out.shape, generator=torch.Generator().manual_seed(2),
                        dtype=torch.float64).to(out.dtype)
        out.backward(g)
        outs.append((out.detach(), x.grad))
    (o1, g1), (o2, g2) = outs
    return o1, g1, o2, g2


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('ratio', [0, 2])
@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('clockwise', [True, False])
def test_compiled_equals_reference(dtype, ratio, aligned, clockwise):
    feats, rois = _feats(dtype), _rois(60, dtype)
    out, grad, ref, ref_grad = _both(feats, rois, (7, 6), 0.25, ratio, aligned, clockwise)
    assert out.shape == (60, 5, 7, 6) and out.dtype == dtype
    assert out[0].abs().max() == 0 and grad.abs().sum() > 0
    assert (out[1].abs().max() == 0) == aligned  # zero width: no samples when aligned
    assert (out - ref).abs().max() <= TOL[dtype]
    assert (grad - ref_grad).abs().max() <= TOL[dtype]


def test_compiled_path_is_taken():
    feats = _feats(torch.float64).requires_grad_(True)
    out = roi_align_rotated(feats, _rois(4, torch.float64), 3, 0.25)
    assert type(out.grad_fn).__name__ == 'RoIAlignRotatedFunctionBackward'


@pytest.mark.parametrize('aligned', [True, False])
@pytest.mark.parametrize('ratio', [0, 3])
def test_compiled_matches_torchvision_at_angle_zero(aligned, ratio):
    feats, rois = _feats(torch.float64), _rois(40, torch.float64)
    rois[:, 5] = 0
    if not aligned:
        # a side under 1 feature px grows to 1 px around the centre here, from x1 / y1
        # in (axis-aligned) roi_align: only rois of at least 1 px compare
        rois = rois[(rois[:, 3:5] * 0.25 >= 1).all(1)]
    out = roi_align_rotated(feats, rois, (4, 5), 0.25, ratio, aligned)
    b, cx, cy, w, h = rois[:, :5].unbind(1)
    boxes = torch.stack([b, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    tv = torchvision.ops.roi_align(feats, boxes, (4, 5), 0.25, ratio, aligned)
    assert (out - tv).abs().max() <= 1e-12


@pytest.mark.parametrize('ratio', [0, 2])
def test_gradcheck_compiled(ratio):
    feats = _feats(torch.float64, chans=2, size=(9, 11)).requires_grad_(True)
    rois = torch.tensor([[0, 12.0, 10.0, 14.0, 6.0, 0.4], [1, 20.0, 14.0, 9.0, 12.0, -1.1],
                         [1, 2.0, 1.0, 8.0, 8.0, 2.5], [0, 40.0, 3.0, 5.0, 30.0, 0.9]],
                        dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda f: RoIAlignRotatedFunction.apply(f, rois, 3, 2, 0.5, ratio, True, True),
        (feats,))


def test_empty_and_outside():
    feats = _feats(torch.float32).requires_grad_(True)
    out = roi_align_rotated(feats, torch.zeros((0, 6)), 7, 0.25)
    assert out.shape == (0, 5, 7, 7)
    out.sum().backward()
    assert feats.grad.shape == feats.shape and feats.grad.abs().max() == 0
    far = torch.tensor([[0, 1e5, 1e5, 10.0, 10.0, 0.3], [1, -50.0, 20.0, 100.0, 8.0, 0.0]])
    out = roi_align_rotated(feats, far, 7, 0.25, 2)
    assert out.abs().max() == 0  # the second one ends 6 px left of the image
    # a map without pixels pools to 0 on both paths
    empty_map = torch.zeros(1, 3, 0, 4)
    one = torch.tensor([[0, 1.0, 1.0, 2.0, 2.0, 0.0]])
    assert roi_align_rotated(empty_map, one, 2).abs().max() == 0
    assert roi_align_rotated_reference(empty_map, one, 2).abs().max() == 0


def test_non_contiguous_and_channels_last():
    feats, rois = _feats(torch.float32, chans=6), _rois(30, torch.float32)
    ref = roi_align_rotated(feats, rois, 5, 0.25, 0, True, True)
    big = torch.randn(2, 12, 40, 96)
    big[:, ::2, :, ::2] = feats
    strided = big[:, ::2, :, ::2]
    assert not strided.is_contiguous()
    torch.testing.assert_close(roi_align_rotated(strided, rois, 5, 0.25, 0, True, True), ref,
                               rtol=0, atol=0)
    cl = feats.to(memory_format=torch.channels_last)
    torch.testing.assert_close(roi_align_rotated(cl, rois, 5, 0.25, 0, True, True), ref,
                               rtol=0, atol=0)
    # strided rois and grad_out
    rois_nc = torch.cat([rois, rois], 1)[:, ::2]
    rois_nc[:] = rois
    assert not rois_nc.is_contiguous()
    torch.testing.assert_close(roi_align_rotated(feats, rois_nc, 5, 0.25, 0, True, True), ref,
                               rtol=0, atol=0)
    g = torch.randn(5, 5, 6, 30).permute(3, 2, 0, 1)
    x = feats.clone().requires_grad_(True)
    roi_align_rotated(x, rois, 5, 0.25, 0, True, True).backward(g)
    ref_grad = roi_align_rotated_features_grad(g.contiguous(), rois, feats.shape, 0.25, 0,
                                               True, True)
    torch.testing.assert_close(x.grad, ref_grad, rtol=0, atol=0)


def test_half_is_computed_in_float():
    feats, rois = _feats(torch.float32), _rois(20, torch.float32)
    out = roi_align_rotated(feats.half(), rois.half(), 4, 0.25, 2)
    assert out.dtype == torch.float16
    ref = roi_align_rotated(feats.half().float(), rois.half().float(), 4, 0.25, 2)
    torch.testing.assert_close(out, ref.half())


def test_backward_does_not_depend_on_threads():
    feats, rois = _feats(torch.float32, chans=40), _rois(80, torch.float32)
    g = torch.randn(80, 40, 7, 7)
    prev = torch.get_num_threads()
    grads = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            grads.append(roi_align_rotated_features_grad(g, rois, feats.shape, 0.25, 2))
    finally:
        torch.set_num_threads(prev)
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[0], grads[2])


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_features_grad_equals_autograd(dtype):
    feats, rois = _feats(dtype), _rois(25, dtype)
    x = feats.clone().requires_grad_(True)
    out = roi_align_rotated_reference(x, rois, (3, 4), 0.25, 0, False, True)
    g = torch.randn(out.shape, dtype=dtype)
    ref, = torch.autograd.grad(out, x, g)
    got = roi_align_rotated_features_grad(g, rois, feats.shape, 0.25, 0, False, True)
    assert (got - ref).abs().max() <= TOL[dtype]
    assert roi_align_rotated_features_grad(g[:0], rois[:0], feats.shape, 0.25).abs().max() == 0
    with pytest.raises(ValueError, match='grad_out'):
        roi_align_rotated_features_grad(g[:, :2], rois, feats.shape, 0.25)


@pytest.mark.parametrize('rois,match', [
    (torch.zeros(2, 5), r'\(N, 6\)'),
    (torch.tensor([[0.5, 1, 1, 2, 2, 0.]]), 'batch index'),
    (torch.tensor([[1.0, 1, 1, 2, 2, 0.]]), 'batch index'),
    (torch.tensor([[0.0, 1, 1, -2, 2, 0.]]), 'widths and heights'),
    (torch.tensor([[0.0, float('nan'), 1, 2, 2, 0.]]), 'finite'),
    (torch.zeros(1, 6, dtype=torch.float64), 'dtype'),
])
def test_bad_rois_raise_the_same_on_both_paths(rois, match):
    feats = torch.zeros(1, 2, 4, 4)
    errors = []
    for fn in (roi_align_rotated, roi_align_rotated_reference):
        with pytest.raises(ValueError, match=match) as info:
            fn(feats, rois, 2)
        errors.append(str(info.value))
    assert errors[0] == errors[1]


@pytest.mark.parametrize('kw,match', [(dict(output_size=0), 'output_size'),
                                      (dict(output_size=(2, 2), spatial_scale=0.0),
                                       'spatial_scale'),
                                      (dict(output_size=2, sampling_ratio=-1), 'sampling_ratio'),
                                      (dict(output_size=2, sampling_ratio=1.5),
                                       'sampling_ratio')])
def test_bad_options_raise_the_same_on_both_paths(kw, match):
    for fn in (roi_align_rotated, roi_align_rotated_reference):
        with pytest.raises(ValueError, match=match):
            fn(torch.zeros(1, 2, 4, 4), torch.zeros(1, 6), **kw)
    with pytest.raises(ValueError, match='floating-point'):
        roi_align_rotated(torch.zeros(1, 2, 4, 4, dtype=torch.long), torch.zeros(1, 6), 2)


def test_kernel_refuses_bad_arguments():
    """The schema-level checks of the compiled op (callers that skip the wrapper)."""
    op = torch.ops.vision_sparse.roi_align_rotated_forward
    with pytest.raises(RuntimeError, match=r'\(N, 6\)'):
        op(torch.zeros(1, 2, 4, 4), torch.zeros(1, 5), 2, 2, 1.0, 0, True, False)
    with pytest.raises(RuntimeError, match='spatial_scale'):
        op(torch.zeros(1, 2, 4, 4), torch.zeros(1, 6), 2, 2, 0.0, 0, True, False)
    with pytest.raises(RuntimeError, match='float32 or float64'):
        op(torch.zeros(1, 2, 4, 4).half(), torch.zeros(1, 6).half(), 2, 2, 1.0, 0, True, False)
    # an out-of-range batch index reads nothing (the wrapper refuses it earlier)
    out = op(torch.ones(1, 2, 4, 4), torch.tensor([[3.0, 2, 2, 2, 2, 0]]), 2, 2, 1.0, 0, True,
             False)
    assert out.abs().max() == 0
    back = torch.ops.vision_sparse.roi_align_rotated_backward
    with pytest.raises(RuntimeError, match='grad_out'):
        back(torch.zeros(1, 3, 2, 2), torch.zeros(1, 6), 1, 2, 4, 4, 1.0, 0, True, False)


@CUDA
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('ratio', [0, 2])
@pytest.mark.parametrize('clockwise', [True, False])
def test_cuda_equals_reference(dtype, ratio, clockwise):
    feats, rois = _feats(dtype), _rois(60, dtype)
    _, _, ref, ref_grad = _both(feats, rois, (7, 6), 0.25, ratio, True, clockwise)
    x = feats.cuda().requires_grad_(True)
    out = roi_align_rotated(x, rois.cuda(), (7, 6), 0.25, ratio, True, clockwise)
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(2),
                    dtype=torch.float64).to(dtype)
    out.backward(g.cuda())
    assert type(out.grad_fn).__name__ == 'RoIAlignRotatedFunctionBackward'
    assert (out.detach().cpu() - ref).abs().max() <= TOL[dtype]
    assert (x.grad.cpu() - ref_grad).abs().max() <= TOL[dtype] * 10  # atomics' order


@CUDA
def test_cuda_gradcheck():
    feats = _feats(torch.float64, chans=2, size=(9, 11)).cuda().requires_grad_(True)
    rois = torch.tensor([[0, 12.0, 10.0, 14.0, 6.0, 0.4], [1, 20.0, 14.0, 9.0, 12.0, -1.1]],
                        dtype=torch.float64, device='cuda')
    assert torch.autograd.gradcheck(
        lambda f: RoIAlignRotatedFunction.apply(f, rois, 3, 2, 0.5, 0, True, True), (feats,))


def test_large_adaptive_rois_span_several_tap_batches():
    """Rois of ~200 px at sampling_ratio 0 have 29 x 29 samples per bin: 40 of them
    exceed the kernel's tap budget per batch of rois (4M), so the CPU kernel pools
    them in several batches (the backward carries its gradient over)."""
    g = torch.Generator().manual_seed(5)
    feats = torch.randn(2, 3, 64, 64, generator=g, dtype=torch.float64)
    n = 40
    rois = torch.cat([torch.randint(0, 2, (n, 1), generator=g).double(),
                      torch.rand(n, 2, generator=g, dtype=torch.float64) * 64,
                      190 + torch.rand(n, 2, generator=g, dtype=torch.float64) * 20,
                      torch.rand(n, 1, generator=g, dtype=torch.float64) * 3], 1)
    out, grad, ref, ref_grad = _both(feats, rois, 7, 1.0, 0, True, True)
    assert out.abs().max() > 0
    assert (out - ref).abs().max() <= 1e-10
    assert (grad - ref_grad).abs().max() <= 1e-10
