"""LiDAR -> camera sparse depth maps: the compiled kernel (CPU; CUDA where a GPU is
present) against the pure-PyTorch reference on the real nuScenes keyframe and on
hand-made cases (nearest wins, ties, behind the camera, NaN / inf, borders), thread
independence, plausibility at the annotated objects, bad input."""
import math

import numpy as np
import pytest
import torch

from vision_sparse.ops import depth_projection_reference, has_ext, project_depth
from vision_sparse.testing.data import shared_data_root

DATA = shared_data_root()
NUS = None if DATA is None else DATA / 'lidar_camera' / 'nuscenes'
needs_nus = pytest.mark.skipif(
    NUS is None or not NUS.is_dir() or not any(NUS.glob('*.pkl')),
    reason='nuScenes sample (../shared/data/lidar_camera/nuscenes) not found; '
    'set VISION_SPARSE_DATA')
needs_ext = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C is not built')
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason='no CUDA device')
PATHS = [depth_projection_reference,
         pytest.param(project_depth, marks=needs_ext)]


def _nus(dtype=torch.float32):
    """Points (P, 5), lidar2img (6, 4, 4) = cam2img @ lidar2cam, (H, W), the info."""
    from vision_sparse.datasets.formats import load_det3d_info, load_points
    info = load_det3d_info(next(NUS.glob('*.pkl')))[0]
    pts = torch.from_numpy(load_points(info['lidar_path'], info['num_pts_feats']))
    cams = list(info['cameras'].values())
    mats = []
    for cam in cams:
        k = np.eye(4)
        c = np.asarray(cam['cam2img'], np.float64)
        k[:c.shape[0], :c.shape[1]] = c
        mats.append(k @ np.asarray(cam['lidar2cam'], np.float64))
    sizes = {(int(c['height']), int(c['width'])) for c in cams if c.get('height')}
    size = sizes.pop() if len(sizes) == 1 else (900, 1600)
    return pts.to(dtype), torch.from_numpy(np.stack(mats)).to(dtype), size, info


def _pinhole(f=100.0, cx=32.0, cy=24.0):
    """(1, 4, 4) lidar2img of a camera looking along +x of the LiDAR (x fwd, y left, z up)."""
    k = torch.tensor([[f, 0, cx, 0], [0, f, cy, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
                     dtype=torch.float64)
    lidar2cam = torch.tensor([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]],
                             dtype=torch.float64)
    return (k @ lidar2cam)[None]


def _cloud(n, seed=0, dtype=torch.float64):
    """Random points in front of / around the pinhole of :func:`_pinhole`, with
    duplicates (exact ties) and some NaN / inf rows."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(n, 4, generator=g, dtype=torch.float64)
    pts[:, 0] = pts[:, 0] * 3 + 5
    pts[:, 1:3] *= 1.5
    pts[n // 2:n // 2 + 20] = pts[:20]  # exact duplicates: ties
    pts[5, 1] = math.nan
    pts[6, 0] = math.inf
    pts[7, 2] = -math.inf
    return pts.to(dtype)


@needs_nus
@needs_ext
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_keyframe_compiled_equals_reference(dtype):
    pts, mats, size, _ = _nus(dtype)
    d1, i1 = project_depth(pts, mats, size, return_index=True)
    d2, i2 = depth_projection_reference(pts, mats, size, return_index=True)
    assert d1.shape == (6, *size) and d1.dtype == dtype
    assert torch.equal(d1, d2) and torch.equal(i1, i2)
    assert torch.equal(project_depth(pts, mats, size), d1)
    for v in range(6):  # every camera sees some of the sweep
        assert int((d1[v] > 0).sum()) > 500, v
    # the index points at a point of exactly that depth (row 2 of lidar2img)
    hit = i1 >= 0
    assert torch.equal(hit, d1 > 0)
    v_id = torch.nonzero(hit)[:, 0]
    p = pts[i1[hit]]
    m = mats[v_id, 2]
    z = ((m[:, 0] * p[:, 0] + m[:, 1] * p[:, 1]) + m[:, 2] * p[:, 2]) + m[:, 3]
    assert torch.equal(z, d1[hit])


@needs_nus
def test_keyframe_depth_plausible_at_objects():
    """Around the projected centre of every annotated object with LiDAR points
    (>= 3) in view, the median depth of the map's points in a 31 x 31 window is
    within the object's half-diagonal (+ 1 m) of the centre's depth for most of
    them (the points hit the object; the rest are occluded by nearer objects)."""
    pts, mats, size, info = _nus(torch.float64)
    depth = project_depth(pts, mats, size)
    boxes = info['gt_bboxes_3d']
    centres = boxes.gravity_center.double()
    half_diag = boxes.dims.double().norm(dim=1) / 2
    counts = torch.as_tensor(info['num_lidar_pts'])
    checked = good = 0
    hom = torch.cat([centres, torch.ones(len(centres), 1, dtype=torch.float64)], 1)
    for v in range(mats.shape[0]):
        pix = hom @ mats[v, :3].T
        zc = pix[:, 2]
        for b in range(len(centres)):
            if counts[b] < 3 or zc[b] <= 1.0:
                continue
            u, w = float(pix[b, 0] / zc[b]), float(pix[b, 1] / zc[b])
            if not (15 <= u < size[1] - 15 and 15 <= w < size[0] - 15):
                continue
            win = depth[v, int(w) - 15:int(w) + 16, int(u) - 15:int(u) + 16]
            vals = win[win > 0]
            if len(vals) < 2:
                continue
            checked += 1
            good += abs(float(vals.median()) - float(zc[b])) <= float(half_diag[b]) + 1.0
    assert checked >= 20
    assert good >= 0.8 * checked, (good, checked)


@pytest.mark.parametrize('fn', PATHS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_nearest_wins_ties_lowest_index_behind_skipped(fn, dtype):
    mats = _pinhole().to(dtype)
    # three points on the ray of pixel (row 24, col 32): u = 32.5, v = 24.5
    ray = torch.tensor([-0.5 / 100, -0.5 / 100], dtype=torch.float64)

    def on_ray(x):
        return [x, float(ray[0]) * x, float(ray[1]) * x]

    pts = torch.tensor([on_ray(8.0), on_ray(4.0), on_ray(4.0), on_ray(-4.0), on_ray(6.0),
                        [1e-4, 0.0, 0.0]], dtype=dtype)
    depth, index = fn(pts, mats, (48, 64), return_index=True)
    assert float(depth[0, 24, 32]) == pytest.approx(4.0)
    assert int(index[0, 24, 32]) == 1  # tie between 1 and 2: the lower index
    assert int((depth > 0).sum()) == 1 and int((index >= 0).sum()) == 1
    # reversed order: the tie goes to the (new) lower index of the same point pair
    depth2, index2 = fn(pts.flip(0), mats, (48, 64), return_index=True)
    assert torch.equal(depth2, depth) and int(index2[0, 24, 32]) == len(pts) - 3
    # a point exactly on a pixel corner goes to the pixel right / below (floor)
    corner = torch.tensor([[5.0, -0.0, -0.0], [5.0, 0.05, 0.05]], dtype=dtype)
    d3, i3 = fn(corner, mats, (48, 64), return_index=True)
    assert int(i3[0, 24, 32]) == 0 and int(i3[0, 23, 31]) == 1


@pytest.mark.parametrize('fn', PATHS)
def test_range_border_and_nonfinite_points(fn):
    mats = _pinhole()
    pts = torch.tensor([[5.0, 0.0, 0.0],            # (24, 32), kept
                        [5.0, 0.32 * 5, 0.0],       # u = 0 exactly: kept (col 0)
                        [5.0, -0.32 * 5, 0.0],      # u = 64 = W: outside
                        [50.0, 0.0, 0.01],          # beyond max_depth
                        [0.0005, 0.0, 0.0],         # depth <= min_depth
                        [math.nan, 0.0, 0.0], [5.0, math.inf, 0.0],
                        [5.0, 0.0, -math.inf], [math.inf, 0.0, 0.0]], dtype=torch.float64)
    depth, index = fn(pts, mats, (48, 64), max_depth=20.0, return_index=True)
    assert sorted(index[index >= 0].tolist()) == [0, 1]
    assert int(index[0, 24, 32]) == 0 and int(index[0, 24, 0]) == 1
    assert torch.isfinite(depth).all()
    # min_depth is a strict bound, max_depth an inclusive one
    d = fn(pts[:1], mats, (48, 64), min_depth=5.0)
    assert int((d > 0).sum()) == 0
    d = fn(pts[:1], mats, (48, 64), max_depth=5.0)
    assert float(d[0, 24, 32]) == 5.0


@needs_ext
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64, torch.float16])
def test_random_cloud_compiled_equals_reference(dtype):
    pts = _cloud(4000, dtype=dtype)
    mats = torch.cat([_pinhole(), _pinhole(80.0, 10.0, 40.0), -_pinhole()]).to(torch.float64)
    d1, i1 = project_depth(pts, mats, (48, 64), return_index=True)
    d2, i2 = depth_projection_reference(pts, mats, (48, 64), return_index=True)
    assert d1.dtype == dtype and i1.dtype == torch.long
    assert torch.equal(d1, d2) and torch.equal(i1, i2)
    assert int((i1 >= 0).sum()) > 100
    # non-contiguous points (a column slice of a wider array) and a (V, 3, 4) matrix
    wide = torch.cat([pts, pts], 1)[:, 2:]
    d3, i3 = project_depth(wide[:, 2:], mats[:, :3], (48, 64), return_index=True)
    assert torch.equal(d3, d1) and torch.equal(i3, i1)


@needs_ext
def test_compiled_independent_of_threads():
    pts = _cloud(30000, seed=3, dtype=torch.float32)
    mats = torch.cat([_pinhole(), _pinhole(120.0, 30.0, 20.0)]).float()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        d1, i1 = project_depth(pts, mats, (48, 64), return_index=True)
        torch.set_num_threads(max(3, before))
        d2, i2 = project_depth(pts, mats, (48, 64), return_index=True)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(d1, d2) and torch.equal(i1, i2)


@pytest.mark.parametrize('fn', PATHS)
def test_empty_inputs(fn):
    mats = _pinhole().repeat(2, 1, 1)
    depth, index = fn(torch.zeros(0, 5), mats, (4, 6), return_index=True)
    assert depth.shape == (2, 4, 6) and not depth.any() and (index == -1).all()
    depth = fn(torch.zeros(3, 3), torch.zeros(0, 4, 4), (4, 6))
    assert depth.shape == (0, 4, 6)
    # every point behind the camera: all zeros
    assert not fn(torch.tensor([[-5.0, 0.0, 0.0]]), mats, (4, 6)).any()


@pytest.mark.parametrize('fn', PATHS)
def test_image_size_per_view(fn):
    pts = _cloud(200)
    mats = _pinhole().repeat(2, 1, 1)
    assert torch.equal(fn(pts, mats, [(48, 64), (48, 64)]), fn(pts, mats, (48, 64)))
    with pytest.raises(ValueError, match='different sizes across views'):
        fn(pts, mats, [(48, 64), (48, 60)])


@pytest.mark.parametrize('fn', PATHS)
@pytest.mark.parametrize('kwargs, match', [
    (dict(points=torch.zeros(4, 2)), 'points must be'),
    (dict(points=torch.zeros(4, 3, dtype=torch.long)), 'points must be'),
    (dict(lidar2img=torch.eye(4)), 'lidar2img must be'),
    (dict(lidar2img=torch.zeros(2, 3, 3)), 'lidar2img must be'),
    (dict(lidar2img=torch.full((1, 4, 4), math.nan)), 'lidar2img must be finite'),
    (dict(lidar2img=torch.eye(4)[None] * math.inf), 'lidar2img must be finite'),
    (dict(image_size=(0, 64)), 'image_size'),
    (dict(image_size=(48, -1)), 'image_size'),
    (dict(image_size=(48.0, 64)), 'image_size'),
    (dict(image_size=48), 'image_size'),
    (dict(min_depth=-1.0), 'min_depth'),
    (dict(min_depth=math.nan), 'min_depth'),
    (dict(max_depth=0.0), 'max_depth'),
    (dict(max_depth=math.nan), 'max_depth'),
])
def test_bad_input(fn, kwargs, match):
    args = dict(points=torch.zeros(4, 3), lidar2img=_pinhole().float(), image_size=(48, 64))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        fn(**args)


@needs_ext
def test_kernel_checks_before_running():
    """The op itself refuses what the Python checks would (no crash inside)."""
    op = torch.ops.vision_sparse.depth_projection
    mats = _pinhole().float()
    with pytest.raises(RuntimeError, match='lidar2img must have shape'):
        op(torch.zeros(4, 3), torch.zeros(1, 2, 4), 4, 4, 0.0, math.inf, False)
    with pytest.raises(RuntimeError, match='dtype'):
        op(torch.zeros(4, 3), mats.double(), 4, 4, 0.0, math.inf, False)
    with pytest.raises(RuntimeError, match='height and width'):
        op(torch.zeros(4, 3), mats, 0, 4, 0.0, math.inf, False)
    with pytest.raises(RuntimeError, match='points must have shape'):
        op(torch.zeros(4, 2), mats, 4, 4, 0.0, math.inf, False)


@CUDA
@needs_ext
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_cuda_equals_cpu(dtype):
    pts = _cloud(20000, seed=5, dtype=dtype)
    mats = torch.cat([_pinhole(), _pinhole(80.0, 10.0, 40.0)]).to(dtype)
    d1, i1 = project_depth(pts, mats, (48, 64), return_index=True)
    d2, i2 = project_depth(pts.cuda(), mats.cuda(), (48, 64), return_index=True)
    d3, i3 = depth_projection_reference(pts.cuda(), mats.cuda(), (48, 64), return_index=True)
    assert torch.equal(d2.cpu(), d1) and torch.equal(i2.cpu(), i1)
    assert torch.equal(d3.cpu(), d1) and torch.equal(i3.cpu(), i1)
    if NUS is not None and NUS.is_dir():
        pts, mats, size, _ = _nus(dtype)
        d1, i1 = project_depth(pts, mats, size, return_index=True)
        d2, i2 = project_depth(pts.cuda(), mats.cuda(), size, return_index=True)
        assert torch.equal(d2.cpu(), d1) and torch.equal(i2.cpu(), i1)


@needs_ext
def test_large_maps_are_ordinary_tensors():
    """Maps of >= 2 MB come from fresh system pages (depth_projection_cpu.cpp): zero
    where empty, writable, cloned / saved / freed like any tensor."""
    import io
    pts = _cloud(5000, seed=7, dtype=torch.float32)
    mats = _pinhole(800.0, 500.0, 400.0).float()
    for _ in range(3):  # mapped and unmapped again
        depth = project_depth(pts, mats, (900, 1100))
        assert torch.equal(depth, depth_projection_reference(pts, mats, (900, 1100)))
        assert int((depth > 0).sum()) > 1000 and float(depth[0, :5, :5].abs().sum()) == 0
    depth.add_(1.0)
    buf = io.BytesIO()
    torch.save(depth, buf)
    buf.seek(0)
    assert torch.equal(torch.load(buf), depth) and torch.equal(depth.clone(), depth)
    assert float(depth.numpy().min()) == 1.0
