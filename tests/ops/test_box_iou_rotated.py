"""Tests of vision_sparse.ops.box_iou_rotated (compiled kernels and reference)."""
import math

import numpy as np
import pytest
import torch

from vision_sparse.ops._ext import has_ext
from vision_sparse.ops.box_iou_rotated import box_iou_rotated, box_iou_rotated_reference

shapely = pytest.importorskip('shapely')

needs_ext = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C not built: run make ops')
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')


def _compiled(b1, b2, aligned=False, mode='iou', eps=1e-6):
    """The compiled kernel on the device of the inputs (no fallback)."""
    mode_id = {'iou': 0, 'iof': 1}[mode]
    return torch.ops.vision_sparse.box_iou_rotated(b1.contiguous(), b2.contiguous(), aligned,
                                                   mode_id, eps)


IMPLS = [
    pytest.param(box_iou_rotated_reference, id='reference'),
    pytest.param(_compiled, id='compiled', marks=needs_ext),
]


def rand_boxes(n, generator, img=1024.0, smin=8.0, smax=200.0, dtype=torch.float64):
    c = torch.rand(n, 2, generator=generator, dtype=torch.float64) * img
    wh = smin + torch.rand(n, 2, generator=generator, dtype=torch.float64) * (smax - smin)
    t = (torch.rand(n, 1, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    return torch.cat([c, wh, t], 1).to(dtype)


def to_polygons(boxes):
    b = boxes.detach().double().cpu().numpy()
    cx, cy, w, h, t = b.T
    sx = np.array([1.0, -1.0, -1.0, 1.0])
    sy = np.array([1.0, 1.0, -1.0, -1.0])
    lx = sx[None] * w[:, None] / 2
    ly = sy[None] * h[:, None] / 2
    c, s = np.cos(t)[:, None], np.sin(t)[:, None]
    x = cx[:, None] + lx * c - ly * s
    y = cy[:, None] + lx * s + ly * c
    return shapely.polygons(np.stack([x, y], -1))


def shapely_iou(b1, b2, aligned=False, mode='iou'):
    p1, p2 = to_polygons(b1), to_polygons(b2)
    if aligned:
        inter = shapely.area(shapely.intersection(p1, p2))
        a1, a2 = shapely.area(p1), shapely.area(p2)
    else:
        inter = shapely.area(shapely.intersection(p1[:, None], p2[None, :]))
        a1, a2 = shapely.area(p1)[:, None], shapely.area(p2)[None, :]
    denom = a1 if mode == 'iof' else a1 + a2 - inter
    return torch.from_numpy(inter / np.maximum(denom, 1e-6))


def T(rows, dtype=torch.float64):
    return torch.tensor(rows, dtype=dtype)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
class TestAnalytic:

    def test_identical(self, impl, dtype):
        b = T([[0, 0, 2, 2, 0], [3, -1, 5, 1, 0.3], [100, 50, 7, 3, -2.0],
               [5000, 4000, 30, 10, 1.1]], dtype)
        out = impl(b, b)
        assert out.dtype == dtype and out.shape == (4, 4)
        torch.testing.assert_close(out.diagonal(), torch.ones(4, dtype=dtype), atol=1e-5,
                                   rtol=0)
        torch.testing.assert_close(impl(b, b, aligned=True), torch.ones(4, dtype=dtype),
                                   atol=1e-5, rtol=0)

    def test_disjoint(self, impl, dtype):
        b1 = T([[0, 0, 2, 2, 0.5]], dtype)
        b2 = T([[10, 0, 2, 2, 0.1], [0, 3, 4, 1, 0.0]], dtype)
        assert torch.equal(impl(b1, b2), torch.zeros(1, 2, dtype=dtype))

    def test_square_rotated_90(self, impl, dtype):
        b1 = T([[1, 2, 3, 3, 0.2]] * 5, dtype)
        b2 = T([[1, 2, 3, 3, 0.2 + k * math.pi / 2] for k in (1, 2, -1, 4, 9)], dtype)
        torch.testing.assert_close(impl(b1, b2, aligned=True), torch.ones(5, dtype=dtype),
                                   atol=1e-5, rtol=0)

    def test_rectangle_periodic(self, impl, dtype):
        # a rectangle turned by pi (or 2 pi) is the same rectangle; by pi/2 it is not
        b1 = T([[0, 0, 4, 2, 0.4]] * 3, dtype)
        b2 = T([[0, 0, 4, 2, 0.4 + math.pi], [0, 0, 4, 2, 0.4 - 2 * math.pi],
                [0, 0, 4, 2, 0.4 + math.pi / 2]], dtype)
        out = impl(b1, b2, aligned=True)
        torch.testing.assert_close(out, T([1.0, 1.0, 4.0 / 12.0], dtype), atol=1e-5, rtol=0)

    def test_axis_aligned_overlap(self, impl, dtype):
        # [-2, 2] x [-1, 1] and [0, 4] x [0, 2]: inter 2, union 14
        b1 = T([[0, 0, 4, 2, 0]], dtype)
        b2 = T([[2, 1, 4, 2, 0]], dtype)
        torch.testing.assert_close(impl(b1, b2), T([[1 / 7]], dtype), atol=1e-6, rtol=0)
        torch.testing.assert_close(impl(b1, b2, mode='iof'), T([[2 / 8]], dtype), atol=1e-6,
                                   rtol=0)

    def test_square_45_degrees(self, impl, dtype):
        # octagon: inter = 8 sqrt(2) - 8, union = 16 - 8 sqrt(2) -> IoU = 1 / sqrt(2)
        b1 = T([[0, 0, 2, 2, 0]], dtype)
        b2 = T([[0, 0, 2, 2, math.pi / 4]], dtype)
        atol = 1e-6 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(impl(b1, b2), T([[1 / math.sqrt(2)]], dtype), atol=atol,
                                   rtol=0)
        torch.testing.assert_close(impl(b1, b2, mode='iof'),
                                   T([[(8 * math.sqrt(2) - 8) / 4]], dtype), atol=atol,
                                   rtol=0)

    def test_one_inside_another(self, impl, dtype):
        big = T([[0, 0, 10, 8, 0.3]], dtype)
        small = T([[0.5, -0.2, 2, 1, 1.2]], dtype)
        torch.testing.assert_close(impl(big, small), T([[2 / 80]], dtype), atol=1e-6, rtol=0)
        torch.testing.assert_close(impl(small, big, mode='iof'), T([[1.0]], dtype),
                                   atol=1e-6, rtol=0)
        torch.testing.assert_close(impl(big, small, mode='iof'), T([[2 / 80]], dtype),
                                   atol=1e-6, rtol=0)

    def test_coincident_edges(self, impl, dtype):
        # shifted by half a width along the box axis: shares two edges, IoU 1/3
        for theta in (0.0, 0.3, -1.2, math.pi / 2):
            c, s = math.cos(theta), math.sin(theta)
            b1 = T([[10, 20, 2, 1, theta], [10, 20, 2, 1, theta]], dtype)
            b2 = T([[10 + c, 20 + s, 2, 1, theta], [10, 20, 1, 1, theta]], dtype)
            out = impl(b1, b2, aligned=True)
            torch.testing.assert_close(out, T([1 / 3, 1 / 2], dtype), atol=1e-5, rtol=0)

    def test_touching_edges(self, impl, dtype):
        for theta in (0.0, 0.7):
            c, s = math.cos(theta), math.sin(theta)
            b1 = T([[0, 0, 2, 2, theta], [0, 0, 2, 2, theta]], dtype)
            # side by side, and corner to corner
            b2 = T([[2 * c, 2 * s, 2, 2, theta], [2 * c - 2 * s, 2 * s + 2 * c, 2, 2, theta]],
                   dtype)
            out = impl(b1, b2, aligned=True)
            assert torch.isfinite(out).all()
            assert out.abs().max() < 1e-5

    def test_degenerate(self, impl, dtype):
        b1 = T([[0, 0, 0, 2, 0], [0, 0, 2, 0, 0.3], [0, 0, -2, -2, 0], [0, 0, 0, 0, 0],
                [1, 1, 2, 2, 0]], dtype)
        out = impl(b1, b1)
        assert torch.isfinite(out).all()
        expected = torch.zeros(5, 5, dtype=dtype)
        expected[4, 4] = 1
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
        out = impl(b1, b1, mode='iof')
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)

    def test_empty(self, impl, dtype):
        e = torch.zeros(0, 5, dtype=dtype)
        b = T([[0, 0, 1, 1, 0]] * 3, dtype)
        assert impl(e, b).shape == (0, 3)
        assert impl(b, e).shape == (3, 0)
        assert impl(e, e).shape == (0, 0)
        assert impl(e, e, aligned=True).shape == (0,)
        assert impl(e, b).dtype == dtype


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('mode', ['iou', 'iof'])
def test_vs_shapely(impl, dtype, mode):
    g = torch.Generator().manual_seed(1)
    b1 = rand_boxes(80, g, img=250, dtype=dtype)
    b2 = rand_boxes(60, g, img=250, dtype=dtype)
    expected = shapely_iou(b1, b2, mode=mode)  # from the same (rounded) values
    out = impl(b1, b2, mode=mode)
    assert (expected > 0).float().mean() > 0.2  # many overlapping pairs
    torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=0)
    out = impl(b1[:60], b2, aligned=True, mode=mode)
    torch.testing.assert_close(out.double(), shapely_iou(b1[:60], b2, True, mode), atol=1e-4,
                               rtol=0)


@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_large_coordinates(impl, dtype):
    g = torch.Generator().manual_seed(2)
    b1 = rand_boxes(60, g, img=100, smin=4, smax=60, dtype=torch.float64)
    b2 = rand_boxes(50, g, img=100, smin=4, smax=60, dtype=torch.float64)
    b1[:, :2] += 5000
    b2[:, :2] += 5000
    b1, b2 = b1.to(dtype), b2.to(dtype)
    expected = shapely_iou(b1, b2)
    out = impl(b1, b2)
    assert (expected > 0).float().mean() > 0.2
    torch.testing.assert_close(out.double(), expected, atol=1e-4, rtol=0)


@needs_ext
@pytest.mark.parametrize('dtype,atol', [(torch.float32, 1e-4), (torch.float64, 1e-9)])
@pytest.mark.parametrize('mode', ['iou', 'iof'])
def test_compiled_vs_reference(dtype, atol, mode):
    g = torch.Generator().manual_seed(3)
    b1 = rand_boxes(100, g, img=250, dtype=dtype)
    b2 = rand_boxes(80, g, img=250, dtype=dtype)
    # and some exact / near-degenerate configurations
    extra = torch.cat([b1[:10], b1[10:20] + torch.tensor([0, 0, 0, 0, math.pi / 2],
                                                         dtype=dtype)])
    b2 = torch.cat([b2, extra])
    out = box_iou_rotated(b1, b2, mode=mode)
    ref = box_iou_rotated_reference(b1, b2, mode=mode)
    assert out.dtype == dtype and out.shape == (100, 100)
    torch.testing.assert_close(out, ref, atol=atol, rtol=0)
    out = box_iou_rotated(b1, b2, aligned=True, mode=mode)
    ref = box_iou_rotated_reference(b1, b2, aligned=True, mode=mode)
    torch.testing.assert_close(out, ref, atol=atol, rtol=0)


def test_symmetric():
    g = torch.Generator().manual_seed(4)
    b1 = rand_boxes(30, g, img=200)
    b2 = rand_boxes(20, g, img=200)
    torch.testing.assert_close(box_iou_rotated(b1, b2), box_iou_rotated(b2, b1).T)
    torch.testing.assert_close(box_iou_rotated_reference(b1, b2),
                               box_iou_rotated_reference(b2, b1).T)


def test_gradcheck_reference():
    b1 = torch.tensor([[0.0, 0.0, 4.0, 3.0, 0.3], [1.0, 2.0, 5.0, 2.0, -0.5],
                       [10.0, 10.0, 3.0, 3.0, 0.0]], dtype=torch.float64, requires_grad=True)
    b2 = torch.tensor([[1.0, 0.5, 3.0, 4.0, -0.4], [0.5, 1.5, 3.0, 3.0, 1.0],
                       [11.0, 10.5, 2.5, 4.0, 0.7]], dtype=torch.float64, requires_grad=True)
    for mode in ('iou', 'iof'):
        assert torch.autograd.gradcheck(
            lambda a, b: box_iou_rotated_reference(a, b, aligned=True, mode=mode), (b1, b2))
        assert torch.autograd.gradcheck(
            lambda a, b: box_iou_rotated_reference(a, b, mode=mode), (b1[:2], b2[:2]))


def test_grad_dispatches_to_reference():
    b1 = torch.tensor([[0.0, 0.0, 4.0, 3.0, 0.3]], requires_grad=True)
    b2 = torch.tensor([[1.0, 0.5, 3.0, 4.0, -0.4], [0, 0, 0, 2, 0]])
    out = box_iou_rotated(b1, b2)
    assert out.requires_grad
    out.sum().backward()
    assert torch.isfinite(b1.grad).all() and b1.grad.abs().sum() > 0
    # no NaN gradients from degenerate / disjoint / identical pairs
    b = torch.tensor([[0, 0, 0, 2, 0], [0, 0, 2, 2, 0], [0, 0, 2, 2, 0], [9, 9, 1, 1, 0]],
                     dtype=torch.float64, requires_grad=True)
    box_iou_rotated(b, b).sum().backward()
    assert torch.isfinite(b.grad).all()


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_half_inputs(dtype):
    g = torch.Generator().manual_seed(5)
    b1 = rand_boxes(30, g, img=100, dtype=torch.float32).to(dtype)
    b2 = rand_boxes(20, g, img=100, dtype=torch.float32).to(dtype)
    out = box_iou_rotated(b1, b2)
    assert out.dtype == dtype and out.shape == (30, 20)
    ref = box_iou_rotated(b1.float(), b2.float())
    torch.testing.assert_close(out.float(), ref, atol=1e-2, rtol=0)
    assert box_iou_rotated_reference(b1, b2).dtype == dtype


@pytest.mark.parametrize('fn', [box_iou_rotated, box_iou_rotated_reference])
def test_bad_inputs(fn):
    good = torch.zeros(3, 5)
    with pytest.raises(ValueError, match=r'boxes1 must have shape \(N, 5\).*\(3, 4\)'):
        fn(torch.zeros(3, 4), good)
    with pytest.raises(ValueError, match=r'boxes2 must have shape \(M, 5\)'):
        fn(good, torch.zeros(5))
    with pytest.raises(ValueError, match='boxes1 must have shape'):
        fn(torch.zeros(2, 3, 5), good)
    with pytest.raises(ValueError, match='same length'):
        fn(good, torch.zeros(2, 5), aligned=True)
    with pytest.raises(ValueError, match='mode'):
        fn(good, good, mode='giou')
    with pytest.raises(TypeError):
        fn(np.zeros((3, 5)), good)


@needs_ext
def test_ext_loaded():
    assert torch.ops.vision_sparse.box_iou_rotated is not None
    b = torch.tensor([[0.0, 0, 2, 2, 0]])
    assert torch.ops.vision_sparse.box_iou_rotated(b, b, False, 0).item() == 1.0


@needs_cuda
@needs_ext
@pytest.mark.parametrize('dtype,atol', [(torch.float32, 1e-4), (torch.float64, 1e-9)])
@pytest.mark.parametrize('mode', ['iou', 'iof'])
def test_cuda_vs_cpu(dtype, atol, mode):
    if not torch.ops.vision_sparse.with_cuda():
        pytest.skip('vision_sparse._C built without CUDA kernels')
    g = torch.Generator().manual_seed(6)
    b1 = rand_boxes(700, g, img=500, dtype=dtype)
    b2 = rand_boxes(300, g, img=500, dtype=dtype)
    b2[:5, 2] = 0  # degenerate boxes
    cpu = box_iou_rotated(b1, b2, mode=mode)
    gpu = box_iou_rotated(b1.cuda(), b2.cuda(), mode=mode)
    assert gpu.is_cuda and gpu.dtype == dtype
    torch.testing.assert_close(gpu.cpu(), cpu, atol=atol, rtol=0)
    cpu = box_iou_rotated(b1[:300], b2, aligned=True, mode=mode)
    gpu = box_iou_rotated(b1[:300].cuda(), b2.cuda(), aligned=True, mode=mode)
    torch.testing.assert_close(gpu.cpu(), cpu, atol=atol, rtol=0)
    e = torch.zeros(0, 5, dtype=dtype, device='cuda')
    assert box_iou_rotated(e, b2.cuda()).shape == (0, 300)


@pytest.mark.parametrize('impl', IMPLS)
def test_eps_zero_on_valid_boxes_is_the_exact_ratio(impl):
    b1 = torch.tensor([[0.0, 0.0, 2.0, 2.0, 0.0], [0.0, 0.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    b2 = torch.tensor([[1.0, 0.0, 2.0, 2.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(impl(b1, b2, eps=0.0),
                               torch.tensor([[1 / 3], [0.0]], dtype=torch.float64),
                               atol=1e-12, rtol=0)
