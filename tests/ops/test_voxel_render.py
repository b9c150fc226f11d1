"""Tests of the voxel_render op: reference, compiled CPU / CUDA kernels, module."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vision_sparse.ops._ext import has_cuda_ext, has_ext, use_ext
from vision_sparse.ops.voxel_render import (DEFAULT_DENSITY_SHIFT, VoxelRender, voxel_render,
                                            voxel_render_reference)
from vision_sparse.registry import MODELS
from vision_sparse.testing import shared_data_root

needs_ext = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C is not built')
needs_cuda = pytest.mark.skipif(not (torch.cuda.is_available() and has_cuda_ext()),
                                reason='needs a GPU and the CUDA kernels')

KEYS = ('density', 'features', 'box_min', 'box_max', 'rays_o', 'rays_d', 'ray_ids')


def _scene(L=6, C=5, G=(3, 3, 3), rays_per_landmark=12, dtype=torch.float64, seed=0):
    """Random landmarks (non-cubic boxes) and rays: most hit, some miss, a third start inside."""
    g = torch.Generator().manual_seed(seed)
    f64 = dict(generator=g, dtype=torch.float64)
    centre = torch.randn(L, 3, **f64) * 4
    half = 0.2 + torch.rand(L, 3, **f64)
    density = torch.randn(L, *G, **f64) * 3 + 2
    features = torch.randn(L, C, *G, **f64)
    R = L * rays_per_landmark
    ids = torch.arange(L).repeat_interleave(rays_per_landmark)
    origin = centre[ids] + torch.randn(R, 3, **f64) * 6
    inside = torch.arange(R) % 3 == 0
    origin[inside] = (centre[ids] + (torch.rand(R, 3, **f64) * 2 - 1) * half[ids] * 0.9)[inside]
    target = centre[ids] + (torch.rand(R, 3, **f64) * 2 - 1) * half[ids] * 1.4
    direction = (target - origin) * (0.3 + 2 * torch.rand(R, 1, **f64))
    return dict(density=density.to(dtype), features=features.to(dtype),
                box_min=(centre - half).to(dtype), box_max=(centre + half).to(dtype),
                rays_o=origin.to(dtype), rays_d=direction.to(dtype), ray_ids=ids)


def _run(fn, scene, seed=1, **kwargs):
    """Outputs and the gradients of <a, feat> + <b, T_last> (random a, b)."""
    density = scene['density'].clone().requires_grad_()
    features = scene['features'].clone().requires_grad_()
    args = [density, features] + [scene[k] for k in KEYS[2:]]
    feat, t_last = fn(*args, **kwargs)
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(feat.shape, generator=g, dtype=torch.float64).to(feat.dtype)
    b = torch.randn(t_last.shape, generator=g, dtype=torch.float64).to(feat.dtype)
    ((feat * a).sum() + (t_last * b).sum()).backward()
    zero_d, zero_f = torch.zeros_like(density), torch.zeros_like(features)
    return (feat.detach(), t_last.detach(),
            density.grad if density.grad is not None else zero_d,
            features.grad if features.grad is not None else zero_f)


def _assert_all_close(got, want, atol, rtol=0.0):
    for name, x, y in zip(('feat', 'T_last', 'grad_density', 'grad_features'), got, want):
        torch.testing.assert_close(x, y, atol=atol, rtol=rtol, msg=lambda m: f'{name}: {m}')


# ----------------------------------------------------------------- compiled vs reference
@needs_ext
@pytest.mark.parametrize('dtype,atol,rtol', [(torch.float32, 1e-5, 1e-4),
                                             (torch.float64, 1e-10, 0.0)])
@pytest.mark.parametrize('G', [(3, 3, 3), (2, 4, 3)])
def test_compiled_matches_reference(dtype, atol, rtol, G):
    scene = _scene(G=G, C=16, dtype=dtype)
    assert use_ext(scene['density'])  # voxel_render runs the compiled kernels
    want = _run(voxel_render_reference, scene)
    got = _run(voxel_render, scene)
    t_last = want[1]
    assert (t_last == 1).any() and (t_last < 0.99).any()  # misses and hits
    _assert_all_close(got, want, atol, rtol)


@needs_ext
def test_compiled_backward_independent_of_threads():
    scene = _scene(L=8, rays_per_landmark=20)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _run(voxel_render, scene)
        torch.set_num_threads(max(2, before))
        many = _run(voxel_render, scene)
    finally:
        torch.set_num_threads(before)
    for x, y in zip(one, many):
        assert torch.equal(x, y)  # rays grouped by landmark: no atomics, no reordering


def _tiny_gradcheck(fn, fast_mode):
    scene = _scene(L=2, C=3, rays_per_landmark=5, seed=3)
    density = scene['density'].clone().requires_grad_()
    features = scene['features'].clone().requires_grad_()
    rest = [scene[k] for k in KEYS[2:]]
    assert (fn(density, features, *rest)[1] < 1).sum() >= 4  # enough rays hit

    def f(d, ft):
        return fn(d, ft, *rest, density_shift=-1.0, bg=0.7)

    assert torch.autograd.gradcheck(f, (density, features), eps=1e-6, atol=1e-7,
                                    fast_mode=fast_mode)


def test_gradcheck_reference():
    _tiny_gradcheck(voxel_render_reference, fast_mode=True)  # the full check takes ~20 s


@needs_ext
def test_gradcheck_compiled():
    _tiny_gradcheck(voxel_render, fast_mode=False)


# ------------------------------------------------------------------------ analytic cases
IMPLS = [pytest.param(voxel_render_reference, id='reference'),
         pytest.param(voxel_render, id='compiled', marks=needs_ext)]


def _cube(centre, side, sigma, feature, G=3, dtype=torch.float64):
    """One landmark: a cube of the given side with a constant density and feature."""
    c = torch.as_tensor(centre, dtype=dtype)
    density = torch.full((1, G, G, G), float(sigma), dtype=dtype)
    feat = torch.as_tensor(feature, dtype=dtype)[None, :, None, None, None].expand(
        1, len(feature), G, G, G).contiguous()
    return density, feat, (c - side / 2)[None], (c + side / 2)[None]


@pytest.mark.parametrize('fn', IMPLS)
@pytest.mark.parametrize('side', [0.05, 1.0, 20.0])
def test_constant_density_transmittance(fn, side):
    sigma, shift, bg = 0.7, -1.3, 0.25
    f0 = [0.5, -2.0, 1.5]
    centre = torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    density, feats, lo, hi = _cube(centre, side, sigma, f0)
    # (1) along +x, (2) along -y, (3) along the diagonal through the centre,
    # (4) from the centre (inside the box) along +z
    d = torch.tensor([[1.0, 0, 0], [0, -1.0, 0], [1.0, 1.0, 1.0], [0, 0, 2.0]],
                     dtype=torch.float64)
    o = torch.stack([centre - torch.tensor([2 * side, 0.1 * side, -0.2 * side]),
                     centre + torch.tensor([0.3 * side, 3 * side, 0.0]),
                     centre - 5 * side,
                     centre]).double()
    ids = torch.zeros(4, dtype=torch.int64)
    feat, t_last = fn(density, feats, lo, hi, o, d, ids, step_ratio=0.1, density_shift=shift,
                      bg=bg)
    # path lengths in voxels (voxel = side / 3): 3, 3, 3 sqrt(3), 1.5
    n = torch.tensor([30.0, 30.0, math.ceil(30 * math.sqrt(3)), 15.0], dtype=torch.float64)
    s = math.log1p(math.exp(sigma + shift))
    want_t = torch.exp(-s * n * 0.1)
    torch.testing.assert_close(t_last, want_t, atol=1e-12, rtol=1e-12)
    want_feat = (1 - want_t)[:, None] * torch.tensor(f0, dtype=torch.float64) + want_t[:, None] * bg
    torch.testing.assert_close(feat, want_feat, atol=1e-12, rtol=1e-12)


def _softplus(x):
    return x if x > 20 else math.log1p(math.exp(x))  # torch's definition


def _march_by_hand(sig_nodes, feat_nodes, q_start, dq, n, shift, ratio, bg):
    """Explicit per-sample loop along grid x (grid coordinate q), 1-D interpolation."""
    T, acc = 1.0, np.zeros(len(feat_nodes[0]))
    for i in range(n):
        q = min(max(q_start + i * dq, 0.0), 2.0)
        c = min(int(q), 1)
        f = q - c
        sigma = (1 - f) * sig_nodes[c] + f * sig_nodes[c + 1]
        fv = (1 - f) * np.asarray(feat_nodes[c]) + f * np.asarray(feat_nodes[c + 1])
        alpha = 1 - math.exp(-_softplus(sigma + shift) * ratio)
        acc += T * alpha * fv
        T *= 1 - alpha
    return acc + T * bg, T


@pytest.mark.parametrize('fn', IMPLS)
def test_two_value_grid_known_path(fn):
    """Opaque faces at x-index 0 and 2, light middle: a ray sees the face it enters by."""
    shift, ratio, bg = DEFAULT_DENSITY_SHIFT, 0.1, 1.0
    dense, light = 30.0, -2.0  # dense is past the softplus threshold (20)
    f_a, f_b = [1.0, 0.0], [0.0, 1.0]
    density = torch.full((1, 3, 3, 3), light, dtype=torch.float64)
    density[:, 0] = dense
    density[:, 2] = dense
    feats = torch.tensor(f_b, dtype=torch.float64)[None, :, None, None, None].repeat(
        1, 1, 3, 3, 3)
    feats[:, :, 0] = torch.tensor(f_a, dtype=torch.float64)[:, None, None]
    lo = torch.zeros(1, 3, dtype=torch.float64)
    hi = torch.full((1, 3), 0.6, dtype=torch.float64)
    o = torch.tensor([[-1.0, 0.3, 0.25], [2.0, 0.1, 0.55]], dtype=torch.float64)
    d = torch.tensor([[1.0, 0.0, 0.0], [-3.0, 0.0, 0.0]], dtype=torch.float64)
    feat, t_last = fn(density, feats, lo, hi, o, d, torch.zeros(2, dtype=torch.int64),
                      step_ratio=ratio, density_shift=shift, bg=bg)
    # voxel 0.2, step 0.02 = 1/15 grid unit, 30 samples from either face
    sig = [dense, light, dense]
    fnodes = [f_a, f_b, f_b]
    want0 = _march_by_hand(sig, fnodes, 0.0, 1 / 15, 30, shift, ratio, bg)
    want1 = _march_by_hand(sig, fnodes, 2.0, -1 / 15, 30, shift, ratio, bg)
    np.testing.assert_allclose(feat[0].numpy(), want0[0], atol=1e-12)
    np.testing.assert_allclose(feat[1].numpy(), want1[0], atol=1e-12)
    np.testing.assert_allclose(t_last.numpy(), [want0[1], want1[1]], atol=1e-12)
    # front to back: each ray sees the feature of the face it enters by
    assert feat[0, 0] > 0.9 and feat[0, 1] < 0.1
    assert feat[1, 1] > 0.9 and feat[1, 0] < 0.1


@pytest.mark.parametrize('fn', IMPLS)
def test_rays_that_miss(fn):
    density, feats, lo, hi = _cube([0.0, 0.0, 0.0], 1.0, 5.0, [1.0, 2.0])
    o = torch.tensor([[0.0, 0.0, 3.0],    # box behind the origin
                      [2.0, 0.0, 0.0],    # parallel to the x slab, outside it
                      [-3.0, 0.51, 0.0],  # passes just beside
                      [-3.0, -3.0, 0.0]], dtype=torch.float64)  # passes below
    d = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.3, 0.0]],
                     dtype=torch.float64)
    scene = dict(density=density, features=feats, box_min=lo, box_max=hi, rays_o=o, rays_d=d,
                 ray_ids=torch.zeros(4, dtype=torch.int64))
    feat, t_last, g_d, g_f = _run(fn, scene, bg=0.4)
    assert torch.equal(t_last, torch.ones(4, dtype=torch.float64))
    assert torch.equal(feat, torch.full((4, 2), 0.4, dtype=torch.float64))
    assert torch.equal(g_d, torch.zeros_like(g_d)) and torch.equal(g_f, torch.zeros_like(g_f))


@pytest.mark.parametrize('fn', IMPLS)
def test_direction_length_does_not_matter(fn):
    scene = _scene(L=3, rays_per_landmark=6)
    feat, t_last = fn(*[scene[k] for k in KEYS])
    scaled = dict(scene, rays_d=scene['rays_d'] * torch.linspace(0.01, 50, 18)[:, None].double())
    feat2, t_last2 = fn(*[scaled[k] for k in KEYS])
    torch.testing.assert_close(feat2, feat, atol=1e-12, rtol=0)
    torch.testing.assert_close(t_last2, t_last, atol=1e-12, rtol=0)


@pytest.mark.parametrize('fn', IMPLS)
def test_voxel_units_are_scale_free(fn):
    """The alpha interval is in voxels: scaling the world leaves the rendering unchanged."""
    scene = _scene(L=3, rays_per_landmark=6)
    feat, t_last = fn(*[scene[k] for k in KEYS])
    big = dict(scene, **{k: scene[k] * 40.0 for k in ('box_min', 'box_max', 'rays_o')})
    feat2, t_last2 = fn(*[big[k] for k in KEYS])
    torch.testing.assert_close(feat2, feat, atol=1e-10, rtol=0)
    torch.testing.assert_close(t_last2, t_last, atol=1e-10, rtol=0)


# ------------------------------------------------------------------------- empty inputs
@pytest.mark.parametrize('fn', IMPLS)
@pytest.mark.parametrize('L', [0, 3])
def test_empty_batches(fn, L):
    density = torch.zeros(L, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    features = torch.zeros(L, 4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    box = torch.zeros(L, 3, dtype=torch.float64)
    rays = torch.zeros(0, 3, dtype=torch.float64)
    feat, t_last = fn(density, features, box, box + 1, rays, rays,
                      torch.zeros(0, dtype=torch.int64))
    assert feat.shape == (0, 4) and t_last.shape == (0,)
    (feat.sum() + t_last.sum()).backward()
    for p in (density, features):
        assert p.grad is None or not p.grad.any()


# ---------------------------------------------------------------------------- bad input
def _bad(name, value):
    def mutate(s):
        s = dict(s)
        s[name] = value(s) if callable(value) else value
        return s
    return mutate


BAD = [
    (_bad('density', lambda s: s['density'][0]), 'density must have shape'),
    (_bad('density', lambda s: s['density'][:, :1]), 'density must have shape'),
    (_bad('density', lambda s: s['density'].long()), 'density must be float32 or float64'),
    (_bad('features', lambda s: s['features'].float()), 'features must have the dtype'),
    (_bad('features', lambda s: s['features'][..., :2]), 'features must have shape'),
    (_bad('features', lambda s: s['features'][:-1]), 'features must have shape'),
    (_bad('box_min', lambda s: s['box_min'][:, :2]), r'box_min must have shape \(L, 3\)'),
    (_bad('box_max', lambda s: s['box_min'] - 1), 'box_max > box_min'),
    (_bad('rays_o', lambda s: s['rays_o'][:, None]), r'rays_o must have shape \(R, 3\)'),
    (_bad('rays_d', lambda s: s['rays_d'][:-1]), r'rays_d must have shape \(R, 3\)'),
    (_bad('ray_ids', lambda s: s['ray_ids'][:, None]), r'ray_ids must have shape \(R,\)'),
    (_bad('ray_ids', lambda s: s['ray_ids'].double()), 'ray_ids must be int64'),
    (_bad('ray_ids', lambda s: s['ray_ids'] + 3), r'ray_ids must lie in \[0, L\)'),
    (_bad('ray_ids', lambda s: s['ray_ids'] - 1), r'ray_ids must lie in \[0, L\)'),
    (_bad('rays_d', lambda s: s['rays_d'] * torch.tensor([[0.0]] * 5 + [[1.0]] * 13,
                                                           dtype=torch.float64)),
     'non-zero length'),
    (_bad('rays_o', lambda s: s['rays_o'] * math.inf), 'must be finite'),
    (_bad('rays_o', lambda s: s['rays_o'].numpy()), 'rays_o must be a torch.Tensor'),
]


@pytest.mark.parametrize('fn', [voxel_render, voxel_render_reference])
@pytest.mark.parametrize('mutate,match', BAD)
def test_bad_inputs_raise(fn, mutate, match):
    scene = mutate(_scene(L=3, rays_per_landmark=6))
    err = TypeError if 'torch.Tensor' in match else ValueError
    with pytest.raises(err, match=match):
        fn(*[scene[k] for k in KEYS])


@pytest.mark.parametrize('kwargs,match', [(dict(step_ratio=0.0), 'step_ratio must be > 0'),
                                          (dict(step_ratio=math.nan), 'step_ratio must be'),
                                          (dict(bg=math.inf), 'bg must be a finite number')])
def test_bad_scalars_raise(kwargs, match):
    scene = _scene(L=2, rays_per_landmark=2)
    with pytest.raises(ValueError, match=match):
        voxel_render(*[scene[k] for k in KEYS], **kwargs)


def test_no_landmarks_but_rays_raise():
    scene = _scene(L=2, rays_per_landmark=2)
    empty = dict(density=scene['density'][:0], features=scene['features'][:0],
                 box_min=scene['box_min'][:0], box_max=scene['box_max'][:0])
    with pytest.raises(ValueError, match='there are none'):
        voxel_render(**{**scene, **empty})


def test_int32_ids_accepted():
    scene = _scene(L=2, rays_per_landmark=4)
    a = voxel_render(*[scene[k] for k in KEYS])
    b = voxel_render(*[scene[k] for k in KEYS[:-1]], scene['ray_ids'].int())
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# -------------------------------------------------------------------------------- module
def test_module_dict_api_and_registry():
    scene = _scene(L=3, rays_per_landmark=5)
    module = MODELS.build(dict(type='VoxelRender', bg=1.5, clamp=(-1.0, 1.0)))
    assert isinstance(module, VoxelRender) and module.conf['step_ratio'] == 0.1
    out = module(scene)
    feat, t_last = voxel_render(*[scene[k] for k in KEYS], bg=1.5)
    torch.testing.assert_close(out['feat'], feat.clamp(-1, 1))
    torch.testing.assert_close(out['T_last'], t_last)
    assert (feat.abs() > 1).any()  # the clamp did something
    with pytest.raises(ValueError, match='VoxelRender got unknown options'):
        VoxelRender(stepsize=0.1)
    with pytest.raises(ValueError, match='missing keys'):
        module({k: scene[k] for k in KEYS[:-1]})


# ------------------------------------------------------------------------------ real data
def _seven_scenes_frame(seq, idx):
    import cv2
    root = shared_data_root() / 'relocalization' / '7scenes_stairs' / 'stairs' / seq
    pose = np.loadtxt(root / f'frame-{idx:06d}.pose.txt')  # camera-to-world, metres
    depth = cv2.imread(str(root / f'frame-{idx:06d}.depth.png'), cv2.IMREAD_UNCHANGED)
    return pose, depth


@pytest.mark.skipif(shared_data_root() is None, reason='shared sample data not available')
def test_real_7scenes_patch_rays_hit_their_landmark():
    """Landmarks from frame-0 depth, boxes sized for a 7-px patch; rays from frame 2."""
    pose0, depth0 = _seven_scenes_frame('seq-02', 0)
    pose2, _ = _seven_scenes_frame('seq-02', 2)
    v, u = np.mgrid[60:420:60, 80:580:80]
    z = depth0[v, u].astype(np.float64) / 1000.0
    ok = (z > 0.3) & (z < 6.0)
    u, v, z = u[ok], v[ok], z[ok]
    assert len(z) >= 10
    pts_cam = np.stack([(u - 320) / 585.0 * z, (v - 240) / 585.0 * z, z], 1)  # depth camera
    pts = pts_cam @ pose0[:3, :3].T + pose0[:3, 3]
    side = 7 * z / 525.0  # a 7-px patch at the observing distance (f = 525)
    L = len(z)
    centre = torch.from_numpy(pts)
    half = torch.from_numpy(side / 2)[:, None].expand(L, 3)
    density = torch.full((L, 3, 3, 3), 2.0, dtype=torch.float64)
    features = torch.randn(L, 8, 3, 3, 3, dtype=torch.float64,
                           generator=torch.Generator().manual_seed(0))
    cam = torch.from_numpy(pose2[:3, 3])
    R2 = torch.from_numpy(pose2[:3, :3])
    # ray 0: through the landmark centre; ray 1: 40 px to the side in image 2
    to_pt = centre - cam
    side_dir = R2[:, 0] * (40 / 525.0) * (to_pt @ R2[:, 2])[:, None]
    rays_d = torch.cat([to_pt, to_pt + side_dir])
    rays_o = cam.expand(2 * L, 3).contiguous()
    ids = torch.arange(L).repeat(2)
    args = (density, features, centre - half, centre + half, rays_o, rays_d, ids)
    feat, t_last = voxel_render_reference(*args)
    s = F.softplus(torch.tensor(2.0 + DEFAULT_DENSITY_SHIFT, dtype=torch.float64))
    # a chord through the centre of a cube is between 1 and sqrt(3) sides (3 voxels each)
    assert (t_last[:L] <= torch.exp(-s * 0.1 * 30) + 1e-12).all()
    assert (t_last[:L] >= torch.exp(-s * 0.1 * math.ceil(30 * math.sqrt(3))) - 1e-12).all()
    assert torch.equal(t_last[L:], torch.ones(L, dtype=torch.float64))  # beside: miss
    if has_ext():
        got = voxel_render(*args)
        torch.testing.assert_close(got[0], feat, atol=1e-10, rtol=0)
        torch.testing.assert_close(got[1], t_last, atol=1e-10, rtol=0)


# ----------------------------------------------------------------------------------- CUDA
@needs_cuda
@pytest.mark.parametrize('dtype,atol,rtol', [(torch.float32, 1e-5, 1e-4),
                                             (torch.float64, 1e-10, 0.0)])
def test_cuda_matches_cpu(dtype, atol, rtol):
    scene = _scene(L=10, C=40, rays_per_landmark=30, dtype=dtype)
    cpu = _run(voxel_render, scene)
    gpu = _run(voxel_render, {k: v.cuda() for k, v in scene.items()})
    _assert_all_close([x.cpu() for x in gpu], cpu, atol, rtol)


@needs_cuda
def test_cuda_empty_and_miss():
    scene = _scene(L=2, rays_per_landmark=3)
    scene = {k: v.cuda() for k, v in scene.items()}
    scene['rays_o'] = scene['rays_o'] + 1e3  # every ray now misses
    feat, t_last, g_d, g_f = _run(voxel_render, scene, bg=0.5)
    assert torch.equal(t_last, torch.ones_like(t_last)) and (feat == 0.5).all()
    assert not g_d.any() and not g_f.any()
    empty = dict(scene, rays_o=scene['rays_o'][:0], rays_d=scene['rays_d'][:0],
                 ray_ids=scene['ray_ids'][:0])
    feat, t_last = voxel_render(*[empty[k] for k in KEYS])
    assert feat.shape == (0, 5) and t_last.shape == (0,)


@needs_ext
def test_sample_bound_is_reachable_and_paths_agree_there():
    """Just inside MAX_SAMPLES_PER_RAY: a ray along the diagonal of a unit cube
    (2x2x2 grid, voxel 0.5) takes ~4092 samples on both paths, with equal results."""
    from vision_sparse.ops.voxel_render import MAX_SAMPLES_PER_RAY
    g = torch.Generator().manual_seed(3)
    density = torch.randn(1, 2, 2, 2, generator=g, dtype=torch.float64) - 4.0
    features = torch.randn(1, 3, 2, 2, 2, generator=g, dtype=torch.float64)
    lo, hi = torch.zeros(1, 3, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64)
    o = torch.tensor([[-1.0, -1.0, -1.0]], dtype=torch.float64)
    d = torch.ones(1, 3, dtype=torch.float64)
    ids = torch.zeros(1, dtype=torch.long)
    ratio = 2 * math.sqrt(3) / MAX_SAMPLES_PER_RAY * 1.001
    feat, t_last = voxel_render(density, features, lo, hi, o, d, ids, step_ratio=ratio)
    ref_feat, ref_t = voxel_render_reference(density, features, lo, hi, o, d, ids,
                                             step_ratio=ratio)
    torch.testing.assert_close(feat, ref_feat, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(t_last, ref_t, atol=1e-9, rtol=1e-9)
    # the optical depth is softplus times the path in voxels: ~2 sqrt(3) voxels here
    assert 0.0 < float(t_last) < 1.0
