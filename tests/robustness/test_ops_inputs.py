"""Bad-input corpus of the compiled ops (issue 10): every case asserts its exact outcome
on every path (compiled kernel when built, pure-PyTorch reference).

Cases that used to hang the kernel or exhaust memory (a tiny ``step_ratio``, a long
thin box) run in a subprocess with a time limit, so a regression fails instead of
hanging the suite.
"""
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from vision_sparse.ops import (MAX_SAMPLES_PER_RAY, VoxelRender, batched_nms_rotated,
                               batched_nms_rotated_reference, box_iou_rotated,
                               box_iou_rotated_reference, has_ext, nms_rotated,
                               nms_rotated_reference, voxel_render, voxel_render_reference)
from vision_sparse.ops import NMS_MIN_THRESHOLD

ROOT = Path(__file__).resolve().parents[2]
IOU_IMPLS = [box_iou_rotated, box_iou_rotated_reference]
NMS_IMPLS = [nms_rotated, nms_rotated_reference]
BATCHED_IMPLS = [batched_nms_rotated, batched_nms_rotated_reference]
VOXEL_IMPLS = [voxel_render, voxel_render_reference]
needs_ext = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C not built')


def _boxes(dtype=torch.float64):
    return torch.tensor([[0.0, 0.0, 4.0, 2.0, 0.0], [1.0, 0.0, 4.0, 2.0, 0.3],
                         [10.0, 10.0, 3.0, 3.0, 0.0]], dtype=dtype)


# ------------------------------------------------------------------- box_iou_rotated
@pytest.mark.parametrize('impl', IOU_IMPLS)
@pytest.mark.parametrize('which,col,value', [('boxes1', 0, math.nan), ('boxes1', 2, math.inf),
                                             ('boxes2', 3, -math.inf), ('boxes2', 4, math.nan)])
def test_iou_refuses_non_finite_boxes(impl, which, col, value):
    b1, b2 = _boxes(), _boxes()
    (b1 if which == 'boxes1' else b2)[1, col] = value
    with pytest.raises(ValueError, match=f'{which} must be finite'):
        impl(b1, b2)


@pytest.mark.parametrize('impl', IOU_IMPLS)
@pytest.mark.parametrize('dtype,value', [(torch.float32, 1e20), (torch.float64, 1e200)])
def test_iou_refuses_boxes_too_large_for_the_compute_dtype(impl, dtype, value):
    """w = h = 1e20 in float32 used to give IoU 1 in the kernel (float64) and NaN in
    the reference (w * h overflows float32)."""
    b = torch.tensor([[0.0, 0.0, value, value, 0.3], [value / 4, 0.0, value, value, 0.0]],
                     dtype=dtype)
    with pytest.raises(ValueError, match=r'boxes1: \|cx\|, \|cy\|, w and h must be at most'):
        impl(b, b)


@pytest.mark.parametrize('impl', NMS_IMPLS)
def test_nms_refuses_boxes_too_large_for_float64(impl):
    b = torch.tensor([[0.0, 0.0, 1e200, 1e200, 0.3], [0.0, 0.0, 1.0, 1.0, 0.0]],
                     dtype=torch.float64)
    with pytest.raises(ValueError, match=r'boxes: \|cx\|, \|cy\|, w and h must be at most'):
        impl(b, torch.tensor([0.9, 0.8], dtype=torch.float64), 0.5)


@pytest.mark.parametrize('impl', IOU_IMPLS)
@pytest.mark.parametrize('eps', [-1e-6, math.nan, math.inf, '1e-6', True])
def test_iou_refuses_bad_eps(impl, eps):
    with pytest.raises(ValueError, match='eps must be a finite number >= 0'):
        impl(_boxes(), _boxes(), eps=eps)


@pytest.mark.parametrize('mode', ['iou', 'iof'])
@pytest.mark.parametrize('aligned', [False, True])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_iou_zero_area_boxes_with_eps_zero_is_zero_on_every_path(mode, aligned, dtype):
    """0 / 0 used to give NaN in the reference (0 in the kernel): now 0 on both."""
    b = torch.tensor([[0.0, 0.0, 0.0, 2.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.5],
                      [1.0, 1.0, -1.0, 2.0, 0.0]], dtype=dtype)
    for impl in IOU_IMPLS:
        out = impl(b, b, aligned=aligned, mode=mode, eps=0.0)
        assert out.dtype == dtype
        assert torch.equal(out, torch.zeros_like(out)), impl.__name__


# ------------------------------------------------------------------------ nms_rotated
def _nms_call(impl, boxes, scores, thr):
    if impl in BATCHED_IMPLS:
        return impl(boxes, scores, torch.zeros(boxes.shape[0], dtype=torch.long), thr)
    return impl(boxes, scores, thr)


@pytest.mark.parametrize('impl', NMS_IMPLS + BATCHED_IMPLS)
@pytest.mark.parametrize('value', [math.nan, math.inf, -math.inf])
def test_nms_refuses_non_finite_scores(impl, value):
    """A NaN score used to sort first and suppress the real boxes."""
    scores = torch.tensor([0.9, value, 0.5], dtype=torch.float64)
    with pytest.raises(ValueError, match='scores must be finite'):
        _nms_call(impl, _boxes(), scores, 0.1)


@pytest.mark.parametrize('impl', NMS_IMPLS + BATCHED_IMPLS)
@pytest.mark.parametrize('col,value', [(0, math.nan), (2, math.inf), (4, math.nan)])
def test_nms_refuses_non_finite_boxes(impl, col, value):
    boxes = _boxes()
    boxes[0, col] = value
    with pytest.raises(ValueError, match='boxes must be finite'):
        _nms_call(impl, boxes, torch.tensor([0.9, 0.8, 0.5]).double(), 0.1)


@pytest.mark.parametrize('impl', NMS_IMPLS + BATCHED_IMPLS)
@pytest.mark.parametrize('thr', [math.nan, math.inf, '0.5', None, torch.tensor(math.nan)])
def test_nms_refuses_bad_threshold(impl, thr):
    """A NaN threshold used to disable the suppression silently."""
    with pytest.raises(ValueError, match='iou_threshold must be a finite number'):
        _nms_call(impl, _boxes(), torch.tensor([0.9, 0.8, 0.5]).double(), thr)


# ----------------------------------------------------------------------- voxel_render
def _voxel_problem(dtype=torch.float64, box_max=(1.0, 1.0, 1.0), grid=(3, 3, 3)):
    g = torch.Generator().manual_seed(0)
    density = torch.randn(1, *grid, generator=g, dtype=dtype)
    features = torch.randn(1, 4, *grid, generator=g, dtype=dtype)
    box_min = torch.zeros(1, 3, dtype=torch.float64)
    box_max = torch.tensor([box_max], dtype=torch.float64)
    rays_o = torch.tensor([[-1.0, 0.5, 0.5], [0.5, -1.0, 0.5]], dtype=torch.float64)
    rays_d = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    ray_ids = torch.zeros(2, dtype=torch.long)
    return dict(density=density, features=features, box_min=box_min, box_max=box_max,
                rays_o=rays_o, rays_d=rays_d, ray_ids=ray_ids)


def _render(impl, p, **kw):
    return impl(p['density'], p['features'], p['box_min'], p['box_max'], p['rays_o'],
                p['rays_d'], p['ray_ids'], **kw)


@pytest.mark.parametrize('impl', VOXEL_IMPLS)
@pytest.mark.parametrize('name,index,value', [
    ('density', (0, 1, 1, 1), math.nan), ('density', (0, 0, 2, 1), math.inf),
    ('features', (0, 2, 1, 0, 1), math.nan), ('features', (0, 0, 0, 0, 0), -math.inf),
    ('box_min', (0, 1), math.nan), ('box_max', (0, 2), math.inf),
    ('rays_o', (1, 0), math.nan), ('rays_d', (0, 2), math.inf)])
@pytest.mark.parametrize('grad', [False, True])
def test_voxel_refuses_non_finite(impl, name, index, value, grad):
    """NaN in used to give NaN out (and, with inf, the CPU kernel and the reference
    disagreed on which rays were NaN); each tensor is named."""
    p = _voxel_problem()
    p[name][index] = value
    if grad:
        p['density'].requires_grad_(True)
        p['features'].requires_grad_(True)
    with pytest.raises(ValueError, match=rf'^{name} must be finite \(no NaN or inf\)'):
        _render(impl, p)


@pytest.mark.parametrize('impl', VOXEL_IMPLS)
@pytest.mark.parametrize('scale', [1e200, 1e-200])
def test_voxel_refuses_rays_d_whose_length_overflows(impl, scale):
    """|d|^2 overflowing float64 used to make a ray that starts inside its box a
    silent miss (feat = bg, T_last = 1) on both paths."""
    p = _voxel_problem()
    p['rays_o'][0] = torch.tensor([0.5, 0.5, 0.5], dtype=torch.float64)
    p['rays_d'][0] = torch.tensor([scale, 0.0, 0.0], dtype=torch.float64)
    with pytest.raises(ValueError, match='every rays_d must have a non-zero length whose '
                                         'square is finite'):
        _render(impl, p)


def test_voxel_module_refuses_nan_density():
    p = _voxel_problem(torch.float32)
    p['density'][0, 0, 0, 0] = math.nan
    with pytest.raises(ValueError, match='density must be finite'):
        VoxelRender()(p)


@pytest.mark.parametrize('impl', VOXEL_IMPLS)
def test_voxel_refuses_just_past_the_sample_bound(impl):
    """A unit cube, 2x2x2 grid (voxel 0.5): the diagonal takes sqrt(3) / (0.5 r) steps."""
    p = _voxel_problem(grid=(2, 2, 2))
    ratio = 2 * math.sqrt(3) / MAX_SAMPLES_PER_RAY * 0.999
    with pytest.raises(ValueError, match=r'step_ratio=.* is too small for box 0 .*'
                                         r'MAX_SAMPLES_PER_RAY = 4096'):
        _render(impl, p, step_ratio=ratio)


# Each snippet must finish without error within the time limit (a hang or a giant
# allocation fails the test instead of blocking the suite).
_SUBPROCESS_CASES = {
    # a tiny step in a unit cube: ~1.7e12 samples per ray
    'tiny_step_ratio': '''
        p = problem()
        for impl in (voxel_render, voxel_render_reference):
            expect_error(lambda: render(impl, p, step_ratio=1e-12), ValueError,
                         'MAX_SAMPLES_PER_RAY')
    ''',
    # a 1e6 x 1e-3 x 1e-3 box (voxel 0.5): 2e7 samples per ray along it, 2,000 rays
    'long_thin_box': '''
        p = problem(box_max=(1e6, 1e-3, 1e-3), grid=(2, 2, 2), rays=2000)
        for impl in (voxel_render, voxel_render_reference):
            expect_error(lambda: render(impl, p, step_ratio=0.1), ValueError,
                         'is too small for box 0')
    ''',
    # the smallest positive step: the step (and the diagonal over it) overflow
    'denormal_step_ratio': '''
        p = problem()
        for impl in (voxel_render, voxel_render_reference):
            expect_error(lambda: render(impl, p, step_ratio=5e-324), ValueError,
                         'MAX_SAMPLES_PER_RAY')
    ''',
    # the compiled ops called directly (no Python checks) refuse it too, forward and
    # backward, before any allocation
    'raw_op_tiny_step_ratio': '''
        if not has_ext():
            return
        p = problem()
        args = [p[k] for k in ('density', 'features', 'box_min', 'box_max', 'rays_o',
                               'rays_d', 'ray_ids')]
        expect_error(lambda: torch.ops.vision_sparse.voxel_render_forward(
            *args, 1e-12, 0.0, 1.0), RuntimeError, 'MAX_SAMPLES_PER_RAY = 4096')
        feat = torch.zeros(2, 4, dtype=torch.float64)
        t_last = torch.ones(2, dtype=torch.float64)
        expect_error(lambda: torch.ops.vision_sparse.voxel_render_backward(
            feat, t_last, feat, t_last, *args, 1e-12, 0.0, 1.0), RuntimeError,
            'MAX_SAMPLES_PER_RAY = 4096')
    ''',
}

_PRELUDE = '''
import sys
import torch
from vision_sparse.ops import has_ext, voxel_render, voxel_render_reference

def problem(box_max=(1.0, 1.0, 1.0), grid=(3, 3, 3), rays=2):
    density = torch.zeros(1, *grid, dtype=torch.float64)
    features = torch.ones(1, 4, *grid, dtype=torch.float64)
    box_min = torch.zeros(1, 3, dtype=torch.float64)
    bmax = torch.tensor([box_max], dtype=torch.float64)
    mid = bmax[0] / 2
    rays_o = (mid - torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)).repeat(rays, 1)
    rays_d = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64).repeat(rays, 1)
    return dict(density=density, features=features, box_min=box_min, box_max=bmax,
                rays_o=rays_o, rays_d=rays_d, ray_ids=torch.zeros(rays, dtype=torch.long))

def render(impl, p, **kw):
    return impl(p['density'], p['features'], p['box_min'], p['box_max'], p['rays_o'],
                p['rays_d'], p['ray_ids'], **kw)

def run(name, fn):
    try:
        fn()
    except BaseException as exc:  # reported per case
        print(f'{name}: {type(exc).__name__}: ' + ' '.join(str(exc).split()), flush=True)
    else:
        print(f'{name}: OK', flush=True)

def expect_error(fn, cls, text):
    try:
        fn()
    except cls as exc:
        assert text in str(exc), str(exc)
    else:
        raise AssertionError(f'no {cls.__name__}')
'''


_TIME_LIMIT = 120  # seconds, for all the cases together (each takes milliseconds)


@pytest.fixture(scope='module')
def no_hang_results():
    """Runs every case of _SUBPROCESS_CASES in one subprocess (one import of torch),
    each in its own function; returns {case: 'OK' or the error}."""
    body = []
    for name, snippet in sorted(_SUBPROCESS_CASES.items()):
        body.append(f'def case_{name}():\n' + textwrap.indent(textwrap.dedent(snippet), '    '))
        body.append(f'run({name!r}, case_{name})')
    code = _PRELUDE + '\n'.join(body) + '\n'
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    try:
        proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=_TIME_LIMIT)
    except subprocess.TimeoutExpired:
        return {name: f'still running after {_TIME_LIMIT} s (hang)'
                for name in _SUBPROCESS_CASES}
    out = {}
    for line in proc.stdout.splitlines():
        name, _, result = line.partition(': ')
        out[name] = result
    for name in _SUBPROCESS_CASES:
        out.setdefault(name, f'no result (exit {proc.returncode}): {proc.stderr[-2000:]}')
    return out


@pytest.mark.parametrize('case', sorted(_SUBPROCESS_CASES))
def test_voxel_no_hang(case, no_hang_results):
    assert no_hang_results[case] == 'OK'


@pytest.mark.parametrize('theta', [2.0, -0.7])
def test_nms_zero_threshold_keeps_touching_boxes_on_every_path(theta):
    """Touching boxes have an IoU of rounding noise (~1e-17 in the reference, 0 or
    ~1e-14 in the kernel): with thr = 0 their suppression depended on the path.
    Thresholds below NMS_MIN_THRESHOLD act as it: both paths keep them."""
    c, s = math.cos(theta), math.sin(theta)
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0, theta], [c, s, 1.0, 1.0, theta],
                          [-s, c, 1.0, 1.0, theta]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.7], dtype=torch.float64)
    for impl in NMS_IMPLS:
        assert impl(boxes, scores, 0.0).tolist() == [0, 1, 2], impl.__name__
        assert impl(boxes, scores, NMS_MIN_THRESHOLD / 2).tolist() == [0, 1, 2]
    # an overlap of IoU ~0.05 is still suppressed at thr = 0
    boxes[1, 0:2] = torch.tensor([0.9 * c, 0.9 * s])
    for impl in NMS_IMPLS:
        assert impl(boxes, scores, 0.0).tolist() == [0, 2], impl.__name__
