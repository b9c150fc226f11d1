"""Multi-scale deformable attention sampling: the reference against mmcv's
``multi_scale_deformable_attn_pytorch``, the compiled kernel (CPU; CUDA where a GPU
is present) against the reference (forward and the three gradients), gradcheck,
out-of-range and non-finite locations, edge cases, bad input."""
import pytest
import torch

from vision_sparse.ops import has_ext, ms_deform_attn, ms_deform_attn_reference
from vision_sparse.ops.ms_deform_attn import MSDeformAttnFunction, ms_deform_attn_grads

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
EXT = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C is not built')
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')

LEVELS = [(12, 16), (6, 8), (3, 4), (1, 1)]


def _problem(dtype=torch.float64, bs=2, nq=7, nh=3, D=5, P=3, levels=LEVELS, seed=0,
             device='cpu'):
    """Random inputs; locations over [-0.3, 1.3] (some outside every map), a few
    exactly on pixel centres / corners, attention weights in [-0.5, 1]."""
    g = torch.Generator().manual_seed(seed)
    shapes = torch.tensor(levels, dtype=torch.int64)
    areas = shapes[:, 0] * shapes[:, 1]
    starts = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
    L, K = len(levels), int(areas.sum())
    value = torch.randn(bs, K, nh, D, generator=g, dtype=torch.float64)
    loc = torch.rand(bs, nq, nh, L, P, 2, generator=g, dtype=torch.float64) * 1.6 - 0.3
    if bs and nq and P > 1:
        loc[0, 0, 0, 0, 0] = torch.tensor([3.5 / 16, 5.5 / 12])  # a pixel centre: integer x, y
        loc[0, 0, 0, 1, 0] = torch.tensor([2 / 8, 1 / 6])  # a pixel corner
        loc[0, 0, 0, 0, 1] = torch.tensor([0.0, 1.0])  # the map's corner
    attn = torch.rand(bs, nq, nh, L, P, generator=g, dtype=torch.float64) * 1.5 - 0.5
    cast = dict(dtype=dtype, device=device)
    return (value.to(**cast), shapes.to(device), starts.to(device), loc.to(**cast),
            attn.to(**cast))


def _run(fn, value, shapes, starts, loc, attn, seed=3):
    """Output and the gradients w.r.t. value, locations and weights for a fixed grad_out."""
    xs = [t.detach().clone().requires_grad_(True) for t in (value, loc, attn)]
    out = fn(xs[0], shapes, starts, xs[1], xs[2])
    grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64).to(out)
    out.backward(grad)
    return [out.detach()] + [x.grad for x in xs]


def _mmcv_pytorch(value, shapes, starts, loc, attn):
    from mmcv.ops.multi_scale_deform_attn import multi_scale_deformable_attn_pytorch
    return multi_scale_deformable_attn_pytorch(value, shapes, loc, attn)


def _assert_all_close(got, want, tol):
    """|got - want| <= tol * max(1, max |want|) per tensor (the location gradients
    carry a factor W or H: float32 rounding scales with them)."""
    for g, w, name in zip(got, want, ('output', 'grad value', 'grad locations',
                                      'grad weights')):
        atol = tol * max(1.0, float(w.abs().max()) if w.numel() else 1.0)
        torch.testing.assert_close(g, w, rtol=0, atol=atol, msg=lambda m: f'{name}: {m}')


def test_reference_equals_mmcv_pytorch():
    pytest.importorskip('mmcv')
    prob = _problem()
    ref = _run(ms_deform_attn_reference, *prob)
    assert ref[0].shape == (2, 7, 15) and ref[0].abs().max() > 0
    assert all(g.abs().max() > 0 for g in ref[1:])
    _assert_all_close(ref, _run(_mmcv_pytorch, *prob), 1e-12)


@EXT
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_compiled_equals_reference_and_mmcv(dtype):
    prob = _problem(dtype)
    got = _run(ms_deform_attn, *prob)
    assert got[0].dtype == dtype and got[0].shape == (2, 7, 15)
    _assert_all_close(got, _run(ms_deform_attn_reference, *prob), TOL[dtype])
    if dtype == torch.float64:
        pytest.importorskip('mmcv')
        _assert_all_close(got, _run(_mmcv_pytorch, *prob), TOL[dtype])


@EXT
def test_compiled_path_is_used_and_grads_function_matches():
    value, shapes, starts, loc, attn = _problem()
    v = value.clone().requires_grad_(True)
    out = ms_deform_attn(v, shapes, starts, loc, attn)
    assert out.grad_fn is not None and 'MSDeformAttnFunction' in type(out.grad_fn).__name__
    grad = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(5))
    ref = _run(ms_deform_attn_reference, value, shapes, starts, loc, attn, seed=5)
    for got, want in zip(ms_deform_attn_grads(grad, value, shapes, starts, loc, attn), ref[1:]):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


@EXT
def test_gradcheck_compiled():
    value, shapes, starts, loc, attn = _problem(bs=1, nq=3, nh=2, D=2, P=2,
                                                levels=[(4, 5), (2, 3)], seed=4)
    inputs = [t.clone().requires_grad_(True) for t in (value, loc, attn)]
    assert torch.autograd.gradcheck(
        lambda v, lo, a: MSDeformAttnFunction.apply(v, shapes, starts, lo, a), inputs,
        eps=1e-7, atol=1e-6)


@pytest.mark.parametrize('fn', [ms_deform_attn, ms_deform_attn_reference])
def test_locations_outside_contribute_zero(fn):
    value, shapes, starts, loc, attn = _problem(nq=4)
    far = loc.clone()
    far[..., 0] = far[..., 0].abs() + 1.5  # right of every map, beyond the last half pixel
    out = _run(fn, value, shapes, starts, far, attn)
    assert all(float(t.abs().max()) == 0.0 for t in out)
    # within a pixel of the border, at x = -0.75 on every level: only the corners
    # at x = 0 count, with weight 0.25 -- a quarter of sampling at x = 0 (zero padding)
    inv_w = 1.0 / shapes[:, 1].to(loc)[:, None]
    edge = loc.clone()
    edge[..., 1] = 0.4
    edge[..., 0] = -0.25 * inv_w
    out = fn(value, shapes, starts, edge, attn)
    edge[..., 0] = 0.5 * inv_w
    want = 0.25 * ms_deform_attn_reference(value, shapes, starts, edge, attn)
    assert want.abs().max() > 0
    torch.testing.assert_close(out, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize('fn', [ms_deform_attn, ms_deform_attn_reference])
@pytest.mark.parametrize('bad', [float('nan'), float('inf'), -float('inf')])
def test_non_finite_locations_contribute_zero(fn, bad):
    value, shapes, starts, loc, attn = _problem()
    mask = torch.zeros(loc.shape[:-1], dtype=torch.bool)
    mask[0, 1] = True
    mask[1, 3, 2, 1, 0] = True
    loc_bad = loc.clone()
    loc_bad[..., 0][mask] = bad
    got = _run(fn, value, shapes, starts, loc_bad, attn)
    # equal to the same points with zero attention weight
    want = _run(ms_deform_attn_reference, value, shapes, starts, loc,
                attn.masked_fill(mask, 0.0))
    assert torch.isfinite(got[0]).all() and torch.isfinite(got[2]).all()
    torch.testing.assert_close(got[0], want[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(got[1], want[1], rtol=0, atol=1e-10)
    assert float(got[2][mask].abs().max()) == 0.0 and float(got[3][mask].abs().max()) == 0.0
    torch.testing.assert_close(got[2][~mask], want[2][~mask], rtol=0, atol=1e-10)
    torch.testing.assert_close(got[3][~mask], want[3][~mask], rtol=0, atol=1e-10)


@pytest.mark.parametrize('fn', [ms_deform_attn, ms_deform_attn_reference])
def test_empty_and_degenerate(fn):
    value, shapes, starts, loc, attn = _problem(nq=0)
    assert fn(value, shapes, starts, loc, attn).shape == (2, 0, 15)
    value, shapes, starts, loc, attn = _problem(bs=0)
    assert fn(value, shapes, starts, loc, attn).shape == (0, 7, 15)
    # a level of zero pixels contributes 0
    prob = _problem(levels=[(4, 5), (0, 3), (2, 2)])
    out = _run(fn, *prob)
    value, shapes, starts, loc, attn = prob
    attn0 = attn.clone()
    attn0[:, :, :, 1] = 0
    want = _run(ms_deform_attn_reference, value, shapes, starts, loc, attn0)
    for g, w in zip(out[:2], want[:2]):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-10)


@EXT
def test_non_contiguous_and_half():
    value, shapes, starts, loc, attn = _problem()
    v_nc = value.transpose(1, 2).contiguous().transpose(1, 2)
    assert not v_nc.is_contiguous()
    torch.testing.assert_close(ms_deform_attn(v_nc, shapes, starts, loc, attn),
                               ms_deform_attn_reference(value, shapes, starts, loc, attn),
                               rtol=0, atol=1e-10)
    # float16 is computed in float32; int32 level tensors are accepted
    half = [t.half() for t in (value, loc, attn)]
    out = ms_deform_attn(half[0], shapes.int(), starts.int(), half[1], half[2])
    assert out.dtype == torch.float16
    ref = ms_deform_attn_reference(half[0].float(), shapes, starts, half[1].float(),
                                   half[2].float())
    torch.testing.assert_close(out.float(), ref, rtol=1e-3, atol=1e-3)


@EXT
def test_backward_deterministic_and_thread_independent():
    value, shapes, starts, loc, attn = _problem(torch.float32, nq=40, nh=4)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _run(ms_deform_attn, value, shapes, starts, loc, attn)
        torch.set_num_threads(max(2, threads))
        many = _run(ms_deform_attn, value, shapes, starts, loc, attn)
        again = _run(ms_deform_attn, value, shapes, starts, loc, attn)
    finally:
        torch.set_num_threads(threads)
    for a, b, c in zip(one, many, again):
        assert torch.equal(a, b) and torch.equal(b, c)


def _bad_cases():
    value, shapes, starts, loc, attn = _problem()
    ok = dict(value=value, spatial_shapes=shapes, level_start_index=starts,
              sampling_locations=loc, attention_weights=attn)
    cases = [
        (dict(value=value[0]), 'value must be a floating-point'),
        (dict(value=value.long()), 'value must be a floating-point'),
        (dict(sampling_locations=loc[..., :1]), 'sampling_locations must have shape'),
        (dict(sampling_locations=loc[:1]), 'bs .* and num_heads'),
        (dict(attention_weights=attn[..., :1]), 'attention_weights must have shape'),
        (dict(sampling_locations=loc.float()), 'sampling_locations must have the dtype'),
        (dict(attention_weights=attn.float()), 'attention_weights must have the dtype'),
        (dict(spatial_shapes=shapes.double()), 'spatial_shapes must be an integer'),
        (dict(spatial_shapes=shapes[:3]), r'spatial_shapes must have shape \(4, 2\)'),
        (dict(level_start_index=starts[None]), r'level_start_index must have shape \(4,\)'),
        (dict(spatial_shapes=shapes + torch.tensor([[0, 0], [0, 0], [0, 0], [0, 1]])),
         'but value has num_keys = 253'),
        (dict(level_start_index=starts + torch.tensor([0, 0, 1, 0])),
         'level_start_index must be'),
        (dict(spatial_shapes=shapes * torch.tensor([[1, 1], [1, 1], [1, 1], [-1, -1]])),
         'spatial_shapes must be >= 0'),
    ]
    return ok, cases


@pytest.mark.parametrize('fn', [ms_deform_attn, ms_deform_attn_reference])
def test_bad_input_raises_before_any_kernel(fn):
    ok, cases = _bad_cases()
    for change, match in cases:
        with pytest.raises(ValueError, match=match):
            fn(**{**ok, **change})
    with pytest.raises(ValueError, match='grad_out must be'):
        ms_deform_attn_grads(torch.zeros(2, 7, 14, dtype=torch.float64), *ok.values())


@EXT
def test_kernel_checks_its_arguments():
    ok, _ = _bad_cases()
    op = torch.ops.vision_sparse.ms_deform_attn_forward
    args = list(ok.values())
    with pytest.raises(RuntimeError, match='num_keys'):
        op(args[0][:, :-1], *args[1:])
    with pytest.raises(RuntimeError, match='exclusive cumulative sum'):
        op(args[0], args[1], args[2] + 1, *args[3:])
    with pytest.raises(RuntimeError, match='int64'):
        op(args[0], args[1].int(), *args[2:])
    with pytest.raises(RuntimeError, match='dtype of value'):
        op(args[0], args[1], args[2], args[3].float(), args[4])


def test_registered_module():
    from vision_sparse.registry import MODELS
    layer = MODELS.build(dict(type='MSDeformAttnSampler'))
    prob = _problem()
    torch.testing.assert_close(layer(*prob), ms_deform_attn_reference(*prob), rtol=0, atol=1e-10)


@CUDA
@EXT
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_cuda_equals_reference(dtype):
    prob = _problem(dtype, device='cuda', nq=33)
    got = _run(ms_deform_attn, *prob)
    want = _run(ms_deform_attn_reference, *(t.cpu() for t in prob))
    _assert_all_close([t.cpu() for t in got], want, TOL[dtype] * 10)
