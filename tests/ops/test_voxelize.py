"""Voxelisation and the BEV scatter: compiled kernels (CPU; CUDA where a GPU is
present) and the pure-PyTorch reference against a point-by-point oracle (mmcv's
sequential algorithm), against each other on the real nuScenes sweep, the cell
formula, caps and order, dynamic vs hard, bad input, BEV gradcheck."""
import math

import numpy as np
import pytest
import torch

from vision_sparse.ops import (Voxelization, bev_scatter, bev_scatter_reference, has_ext,
                               voxelize, voxelize_reference)
from vision_sparse.ops.voxelize import BevScatterFunction
from vision_sparse.testing import shared_data_path

EXT = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C is not built')
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
PATHS = [pytest.param(voxelize, marks=EXT, id='compiled'),
         pytest.param(voxelize_reference, id='reference')]
BEV_PATHS = [pytest.param(bev_scatter, marks=EXT, id='compiled'),
             pytest.param(bev_scatter_reference, id='reference')]
RANGE = [-54.0, -54.0, -5.0, 54.0, 54.0, 3.0]
_NUSCENES = shared_data_path('lidar_camera', 'nuscenes')
SWEEPS = sorted(_NUSCENES.glob('*.pcd.bin')) if _NUSCENES is not None else []


def _cloud(n, dtype=torch.float32, seed=0, chans=4, extent=3.0, bad=True):
    """Points in and around [-extent, extent]^3 (10% outside), with a few NaN / inf /
    very far points when ``bad``; many points share voxels."""
    g = torch.Generator().manual_seed(seed)
    p = (torch.rand(n, chans, generator=g, dtype=torch.float64) * 2.2 - 1.1) * extent
    if bad and n >= 8:
        p[1, 0] = math.nan
        p[3, 2] = math.inf
        p[5, 1] = -math.inf
        p[7, :3] = 1e30
    return p.to(dtype)


def _oracle(points, voxel_size, pc_range, max_points, max_voxels):
    """mmcv's CPU algorithm, point by point (numpy, points' dtype)."""
    p = points.numpy()
    dt = p.dtype.type
    lo = np.array(pc_range[:3], dtype=dt)
    size = np.array(voxel_size, dtype=dt)
    f32 = np.float32
    grid = np.round((np.array(pc_range[3:], f32) - np.array(pc_range[:3], f32))
                    / np.array(voxel_size, f32)).astype(np.int64)
    table, voxels, coors, num = {}, [], [], []
    with np.errstate(invalid='ignore', over='ignore'):
        cells = np.floor((p[:, :3] - lo) / size)
    for i in range(p.shape[0]):
        c = cells[i]
        if not all(0 <= c[j] < grid[j] for j in range(3)):
            continue
        key = tuple(int(v) for v in c[::-1])
        if key not in table:
            if len(voxels) >= max_voxels:
                continue
            table[key] = len(voxels)
            voxels.append(np.zeros((max_points, p.shape[1]), dtype=p.dtype))
            coors.append(key)
            num.append(0)
        v = table[key]
        if num[v] < max_points:
            voxels[v][num[v]] = p[i]
            num[v] += 1
    m = len(voxels)
    vox = np.stack(voxels) if m else np.zeros((0, max_points, p.shape[1]), p.dtype)
    return (torch.from_numpy(vox), torch.tensor(coors, dtype=torch.int32).reshape(m, 3),
            torch.tensor(num, dtype=torch.int32))


def _same(a, b):
    """Exact equality of two hard results, NaN == NaN."""
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert torch.equal(torch.nan_to_num(x, nan=-7.0), torch.nan_to_num(y, nan=-7.0))


@pytest.mark.parametrize('fn', PATHS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('caps', [(35, 20000), (3, 20000), (1, 7), (2, 0), (5, 40)])
def test_hard_equals_oracle(fn, dtype, caps):
    points = _cloud(600, dtype, seed=caps[0] + caps[1])
    size, rng = [0.9, 1.1, 1.5], [-3.0, -3.0, -3.0, 3.0, 3.0, 3.0]
    _same(fn(points, size, rng, *caps), _oracle(points, size, rng, *caps))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@EXT
def test_compiled_equals_reference_random(dtype):
    for seed in range(3):
        points = _cloud(5000, dtype, seed=seed, chans=5, extent=60.0)
        for size in ([0.075, 0.075, 0.2], [0.2, 0.2, 8.0]):
            _same(voxelize(points, size, RANGE, 10, 30000),
                  voxelize_reference(points, size, RANGE, 10, 30000))
            assert torch.equal(voxelize(points, size, RANGE, -1),
                               voxelize_reference(points, size, RANGE, -1))


@pytest.mark.skipif(not SWEEPS, reason='no nuScenes sweep in ../shared/data/lidar_camera/nuscenes (or $VISION_SPARSE_DATA)')
@pytest.mark.parametrize('size', [[0.075, 0.075, 0.2], [0.2, 0.2, 8.0]])
@EXT
def test_compiled_equals_reference_nuscenes(size):
    from vision_sparse.datasets.formats import load_points
    points = torch.from_numpy(load_points(SWEEPS[0], dim=5))
    for caps in ((10, 120000), (35, 20000), (5, 1000)):
        hard = voxelize(points, size, RANGE, *caps)
        _same(hard, voxelize_reference(points, size, RANGE, *caps))
    dyn = voxelize(points, size, RANGE, -1)
    assert torch.equal(dyn, voxelize_reference(points, size, RANGE, -1))
    assert int((dyn[:, 0] >= 0).sum()) > 30000  # most of the sweep is inside the range
    _check_cells(points, dyn, size, RANGE)


def _check_cells(points, coors_zyx, size, rng):
    """Each kept point is in cell floor((p - min) / size) (float32 arithmetic)."""
    p = points[:, :3].double().numpy().astype(np.float32)
    cell = np.floor((p - np.float32(rng[:3])) / np.array(size, np.float32))
    kept = coors_zyx[:, 0] >= 0
    assert np.array_equal(coors_zyx[kept].flip(1).numpy(), cell[kept.numpy()].astype(np.int32))
    grid = np.round((np.float32(rng[3:]) - np.float32(rng[:3])) / np.array(size, np.float32))
    inside = np.all((cell >= 0) & (cell < grid), axis=1)
    assert np.array_equal(inside, kept.numpy())


@pytest.mark.parametrize('fn', PATHS)
def test_each_point_in_its_voxel(fn):
    points = _cloud(3000, seed=4, bad=False)
    size, rng = [0.5, 0.4, 0.7], [-3.0, -2.0, -3.0, 3.0, 2.5, 3.0]
    dyn = fn(points, size, rng, -1)
    _check_cells(points, dyn, size, rng)
    voxels, coors, num = fn(points, size, rng, 100, 100000)
    lo, sz = torch.tensor(rng[:3]), torch.tensor(size)
    for v in range(coors.shape[0]):
        pts = voxels[v, :num[v], :3]
        assert torch.equal(torch.floor((pts - lo) / sz).int(), coors[v].flip(0).expand_as(pts))
        assert not voxels[v, num[v]:].any()  # unused slots are zero


@pytest.mark.parametrize('fn', PATHS)
def test_dynamic_and_hard_agree(fn):
    """Uncapped hard voxels = the distinct dynamic cells, in first-point order, with
    their point counts and points in input order."""
    points = _cloud(2000, seed=5)
    size, rng = [0.6, 0.6, 0.6], [-3.0, -3.0, -3.0, 3.0, 3.0, 3.0]
    dyn = fn(points, size, rng, -1)
    voxels, coors, num = fn(points, size, rng, 2000, 100000)
    kept = torch.nonzero(dyn[:, 0] >= 0).flatten()
    seen = {}
    for i in kept.tolist():
        seen.setdefault(tuple(dyn[i].tolist()), []).append(i)
    assert [tuple(c) for c in coors.tolist()] == list(seen)
    assert num.tolist() == [len(v) for v in seen.values()]
    for v, rows in enumerate(seen.values()):
        assert torch.equal(voxels[v, :len(rows)], points[rows])
    # max_voxels=-1 is dynamic too (mmcv)
    assert torch.equal(fn(points, size, rng, 35, -1), dyn)


@pytest.mark.parametrize('fn', PATHS)
def test_caps_and_order(fn):
    """Four points in voxel A, two in B, one in C, interleaved: A first, then B, C."""
    pts = torch.tensor([[0.5, 0.5, 0.5], [1.5, 0.5, 0.5], [0.6, 0.5, 0.5], [0.7, 0.5, 0.5],
                        [1.6, 0.5, 0.5], [0.8, 0.5, 0.5], [2.5, 0.5, 0.5]])
    rng = [0.0, 0.0, 0.0, 3.0, 1.0, 1.0]
    voxels, coors, num = fn(pts, [1.0, 1.0, 1.0], rng, 3, 20000)
    assert coors.tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert num.tolist() == [3, 2, 1]
    assert torch.equal(voxels[0], pts[[0, 2, 3]])  # the 4th point of A is dropped
    assert torch.equal(voxels[1, :2], pts[[1, 4]])
    voxels, coors, num = fn(pts, [1.0, 1.0, 1.0], rng, 3, 2)  # C is not created
    assert coors.tolist() == [[0, 0, 0], [0, 0, 1]] and num.tolist() == [3, 2]


@pytest.mark.parametrize('fn', PATHS)
def test_empty_and_dropped(fn):
    size = [0.5, 0.5, 0.5]
    for pts in (torch.zeros(0, 4), torch.full((5, 4), math.nan),
                torch.tensor([[1e30, 0.0, 0.0, 1.0], [-1e30, 1e30, 1e30, 2.0],
                              [math.inf, 0.0, 0.0, 1.0], [100.0, 0.0, 0.0, 1.0]])):
        voxels, coors, num = fn(pts, size, RANGE, 35, 20000)
        assert voxels.shape == (0, 35, 4) and coors.shape == (0, 3) and num.shape == (0,)
        assert coors.dtype == num.dtype == torch.int32
        dyn = fn(pts, size, RANGE, -1)
        assert dyn.shape == (pts.shape[0], 3) and bool((dyn == -1).all())


def test_upper_bound_excluded():
    """A point on range_max is outside (cell == grid), one just below is inside."""
    pts = torch.tensor([[2.0, 0.5, 0.5], [1.9999, 0.5, 0.5], [0.0, 0.0, 0.0]])
    for fn in (voxelize, voxelize_reference):
        dyn = fn(pts, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 2.0, 1.0, 1.0], -1)
        assert dyn.tolist() == [[-1, -1, -1], [0, 0, 1], [0, 0, 0]]


BAD = [
    (lambda p: (p[:, :2], [0.5] * 3, RANGE), 'points'),
    (lambda p: (p[0], [0.5] * 3, RANGE), 'points'),
    (lambda p: (p.int(), [0.5] * 3, RANGE), 'points'),
    (lambda p: ([[0.0, 0.0, 0.0]], [0.5] * 3, RANGE), 'points'),
    (lambda p: (p, [0.5, 0.0, 0.5], RANGE), 'voxel_size'),
    (lambda p: (p, [0.5, -1.0, 0.5], RANGE), 'voxel_size'),
    (lambda p: (p, [0.5, 0.5], RANGE), 'voxel_size'),
    (lambda p: (p, [0.5, math.nan, 0.5], RANGE), 'voxel_size'),
    (lambda p: (p, [0.5] * 3, [1.0, 0, 0, 1.0, 1, 1]), 'x1 > x0'),
    (lambda p: (p, [0.5] * 3, [0.0, 0, 0, 1.0, 1, -1]), 'z1 > z0'),
    (lambda p: (p, [0.5] * 3, RANGE[:5]), 'point_cloud_range'),
    (lambda p: (p, [500.0, 0.5, 0.5], RANGE), 'larger than'),
    (lambda p: (p, [1e-12] * 3, RANGE), 'too small'),
]


@pytest.mark.parametrize('fn', PATHS)
@pytest.mark.parametrize('case', range(len(BAD)))
def test_bad_input(fn, case):
    make, match = BAD[case]
    with pytest.raises(ValueError, match=match):
        fn(*make(_cloud(10, bad=False)))


@pytest.mark.parametrize('fn', PATHS)
def test_bad_caps(fn):
    p = _cloud(10, bad=False)
    for mp, mv, what in ((0, 10, 'max_points'), (-2, 10, 'max_points'), (2.5, 10, 'max_points'),
                         (5, -3, 'max_voxels'), (True, 10, 'max_points')):
        with pytest.raises(ValueError, match=what):
            fn(p, [0.5] * 3, RANGE, mp, mv)


@EXT
def test_deterministic_across_threads():
    points = _cloud(150000, seed=6, chans=5, extent=40.0)  # above the kernels' grain
    size = [0.2, 0.2, 0.4]
    threads = torch.get_num_threads()
    try:
        outs = []
        for nt in (1, 2, 1):
            torch.set_num_threads(nt)
            outs.append(voxelize(points, size, RANGE, 5, 3000))
    finally:
        torch.set_num_threads(threads)
    _same(outs[0], outs[1])
    _same(outs[0], outs[2])
    _same(outs[0], voxelize_reference(points, size, RANGE, 5, 3000))


def test_half_points():
    points = _cloud(300, seed=7, bad=False).half()
    size, rng = [0.5, 0.5, 0.5], [-3.0, -3.0, -3.0, 3.0, 3.0, 3.0]
    voxels, coors, num = voxelize(points, size, rng, 4, 100)
    ref = voxelize_reference(points.float(), size, rng, 4, 100)
    assert voxels.dtype == torch.float16
    _same((voxels.float(), coors, num), ref)


def test_module_registry_and_modes():
    from vision_sparse.registry import MODELS
    m = MODELS.build(dict(type='Voxelization', voxel_size=[0.2, 0.2, 8.0],
                          point_cloud_range=RANGE, max_num_points=3, max_voxels=(50, 20)))
    assert m.grid_size.tolist() == [540, 540, 1] and m.pcd_shape == [1, 540, 540]
    points = _cloud(3000, seed=8, extent=5.0, bad=False)
    m.train()
    assert m(points)[1].shape[0] == 50
    m.eval()
    assert m(points)[1].shape[0] == 20
    _same(m(points), voxelize_reference(points, [0.2, 0.2, 8.0], RANGE, 3, 20))
    dyn = Voxelization([0.2, 0.2, 8.0], RANGE, max_num_points=-1)
    assert dyn(points).shape == (3000, 3)
    assert 'max_voxels=(50, 20)' in repr(m)
    with pytest.raises(ValueError, match='voxel_size'):
        Voxelization([0.0, 0.2, 8.0], RANGE, 5)
    with pytest.raises(ValueError, match='max_voxels'):
        Voxelization([0.2, 0.2, 8.0], RANGE, 5, max_voxels=(1, 2, 3))


# ---------------------------------------------------------------- BEV scatter

def _pillars(m, feats=6, batch=2, nx=7, ny=5, dtype=torch.float64, seed=0, itype=torch.int32):
    g = torch.Generator().manual_seed(seed)
    f = torch.randn(m, feats, generator=g, dtype=torch.float64).to(dtype)
    c = torch.stack([torch.randint(0, batch, (m,), generator=g),
                     torch.randint(0, 3, (m,), generator=g),
                     torch.randint(0, ny, (m,), generator=g),
                     torch.randint(0, nx, (m,), generator=g)], 1)
    c[0] = torch.tensor([-1, -1, -1, -1])  # a dropped row
    c[1] = torch.tensor([batch - 1, 0, ny - 1, nx - 1])  # the far corner
    return f, c.to(itype)


def _bev_loop(f, c, batch, nx, ny):
    """The definition: rows in order, the last one of a cell wins."""
    out = torch.zeros(batch, f.shape[1], ny, nx, dtype=f.dtype)
    for i in range(f.shape[0]):
        b, _, y, x = c[i].tolist()
        if b >= 0 and y >= 0 and x >= 0:
            out[b, :, y, x] = f[i]
    return out


@pytest.mark.parametrize('fn', BEV_PATHS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('itype', [torch.int32, torch.int64])
def test_bev_scatter_last_wins(fn, dtype, itype):
    f, c = _pillars(60, dtype=dtype, itype=itype)  # 60 rows on 70 cells: duplicates
    out = fn(f, c, 2, (7, 5))
    assert out.shape == (2, 6, 5, 7) and out.dtype == dtype
    assert torch.equal(out, _bev_loop(f, c, 2, 7, 5))


@pytest.mark.parametrize('fn', BEV_PATHS)
def test_bev_scatter_gradcheck(fn):
    f, c = _pillars(40, feats=3, nx=4, ny=3)
    f.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: fn(x, c, 2, (4, 3)), (f,))
    out = fn(f, c, 2, (4, 3))
    out.backward(torch.ones_like(out))
    cells = {}
    for i, (b, _, y, x) in enumerate(c.tolist()):
        if b >= 0:
            cells[(b, y, x)] = i
    winners = torch.zeros(40, dtype=torch.bool)
    winners[list(cells.values())] = True
    assert torch.equal(f.grad, winners[:, None].double().expand_as(f))  # losers get 0


@EXT
def test_bev_scatter_compiled_equals_reference():
    f, c = _pillars(3000, feats=16, batch=3, nx=60, ny=50, dtype=torch.float32, seed=3)
    x1 = f.clone().requires_grad_(True)
    x2 = f.clone().requires_grad_(True)
    o1, o2 = bev_scatter(x1, c, 3, (60, 50)), bev_scatter_reference(x2, c, 3, (60, 50))
    assert torch.equal(o1, o2)
    g = torch.randn(o1.shape, generator=torch.Generator().manual_seed(1))
    o1.backward(g)
    o2.backward(g)
    assert torch.equal(x1.grad, x2.grad)
    # voxelize -> bev_scatter round trip: every pillar lands on its own cell
    points = _cloud(4000, seed=9, extent=50.0, bad=False)
    _, coors, num = voxelize(points, [0.8, 0.8, 8.0], RANGE, 8, 20000)
    pc = torch.cat([torch.zeros(coors.shape[0], 1, dtype=torch.int32), coors], 1)
    bev = bev_scatter(num[:, None].float(), pc, 1, (135, 135))
    assert bev.sum() == num.sum()
    assert torch.equal(bev[0, 0, coors[:, 1].long(), coors[:, 2].long()], num.float())


@pytest.mark.parametrize('fn', BEV_PATHS)
def test_bev_scatter_bad_and_empty(fn):
    f, c = _pillars(10)
    assert fn(f[:0], c[:0], 2, (7, 5)).shape == (2, 6, 5, 7)
    for args, what in (((f, c.float(), 2, (7, 5)), 'coors'),
                       ((f, c[:, :3], 2, (7, 5)), 'coors'),
                       ((f, c[:5], 2, (7, 5)), 'coors'),
                       ((f[0], c, 2, (7, 5)), 'features'),
                       ((f.int(), c, 2, (7, 5)), 'features'),
                       ((f, c, 0, (7, 5)), 'batch_size'),
                       ((f, c, 2, (7, 0)), 'grid'),
                       ((f, c, 2, 7), 'grid'),
                       ((f, c, 1, (7, 5)), 'batch index'),
                       ((f, c, 2, (7, 4)), 'y index'),
                       ((f, c, 2, (6, 5)), 'x index')):
        with pytest.raises(ValueError, match=what):
            fn(*args)


@EXT
def test_bev_function_saves_no_grad_for_coors():
    f, c = _pillars(20)
    out = BevScatterFunction.apply(f.requires_grad_(True), c, 2, 7, 5)
    assert out.requires_grad


# ---------------------------------------------------------------- CUDA

@CUDA
@EXT
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_cuda_equals_cpu(dtype):
    points = _cloud(20000, dtype, seed=10, chans=5, extent=60.0)
    for size in ([0.075, 0.075, 0.2], [0.2, 0.2, 8.0]):
        for caps in ((10, 30000), (3, 500), (35, 0)):
            cpu = voxelize(points, size, RANGE, *caps)
            gpu = voxelize(points.cuda(), size, RANGE, *caps)
            _same(cpu, tuple(t.cpu() for t in gpu))
        assert torch.equal(voxelize(points, size, RANGE, -1),
                           voxelize(points.cuda(), size, RANGE, -1).cpu())
    f, c = _pillars(3000, feats=16, batch=3, nx=60, ny=50, dtype=dtype, seed=3)
    xg = f.cuda().requires_grad_(True)
    out = bev_scatter(xg, c.cuda(), 3, (60, 50))
    assert torch.equal(out.cpu(), bev_scatter_reference(f, c, 3, (60, 50)))
    out.backward(torch.ones_like(out))
    x = f.clone().requires_grad_(True)
    bev_scatter_reference(x, c, 3, (60, 50)).sum().backward()
    assert torch.equal(xg.grad.cpu(), x.grad)
