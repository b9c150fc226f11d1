"""Property tests of the compiled ops (hypothesis, bounded examples): compiled ==
reference on random valid inputs, degenerate ones included (zero-size, identical,
touching, nested and near-parallel boxes; float32 and float64); IoU symmetric and in
[0, 1]; NMS keeps a score-ordered subset, is idempotent, and batched NMS is per-class
NMS; voxel_render compiled == reference on random small grids.
"""
import math

import pytest
import torch

hypothesis = pytest.importorskip('hypothesis')
from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from vision_sparse.ops import (batched_nms_rotated, box_iou_rotated,  # noqa: E402
                               box_iou_rotated_reference, has_ext, nms_rotated,
                               nms_rotated_reference, voxel_render, voxel_render_reference)
from vision_sparse.ops import NMS_MIN_THRESHOLD  # noqa: E402

needs_ext = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C not built')
PROPS = settings(max_examples=60, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DTYPES = st.sampled_from([torch.float32, torch.float64])
# |compiled - reference| on one IoU: the reference computes in the input dtype,
# the kernels in float64
IOU_ATOL = {torch.float32: 2e-4, torch.float64: 1e-9}

coord = st.floats(-40, 40, allow_nan=False)
size = st.one_of(st.just(0.0), st.floats(0.01, 30))
angle = st.floats(-7, 7, allow_nan=False)
base_box = st.tuples(coord, coord, size, size, angle)


@st.composite
def box_sets(draw, min_size=0, max_size=12):
    """Random boxes, each possibly derived from an earlier one: identical, nested
    (same centre and angle, smaller), touching (shifted by its width along its own
    axis) or near-parallel (angle + 1e-7 .. 1e-4)."""
    n = draw(st.integers(min_size, max_size))
    out = []
    for _ in range(n):
        kind = draw(st.sampled_from(['new', 'new', 'identical', 'nested', 'touching',
                                     'parallel']))
        if not out or kind == 'new':
            out.append(list(draw(base_box)))
            continue
        cx, cy, w, h, t = out[draw(st.integers(0, len(out) - 1))]
        if kind == 'identical':
            out.append([cx, cy, w, h, t])
        elif kind == 'nested':
            f = draw(st.floats(0.1, 1.0))
            out.append([cx, cy, w * f, h * f, t])
        elif kind == 'touching':
            out.append([cx + w * math.cos(t), cy + w * math.sin(t), w, h, t])
        else:
            out.append([cx + draw(st.floats(-1, 1)), cy, w, h,
                        t + draw(st.floats(1e-7, 1e-4))])
    return out


def _tensor(rows, dtype):
    return torch.tensor(rows, dtype=dtype).reshape(-1, 5)


# ------------------------------------------------------------------- box_iou_rotated
@needs_ext
@PROPS
@given(b1=box_sets(), b2=box_sets(), dtype=DTYPES, mode=st.sampled_from(['iou', 'iof']),
       eps=st.sampled_from([0.0, 1e-6]))
def test_iou_compiled_equals_reference(b1, b2, dtype, mode, eps):
    t1, t2 = _tensor(b1, dtype), _tensor(b2, dtype)
    out = box_iou_rotated(t1, t2, mode=mode, eps=eps)
    ref = box_iou_rotated_reference(t1, t2, mode=mode, eps=eps)
    assert out.shape == (len(b1), len(b2)) and out.dtype == dtype
    torch.testing.assert_close(out, ref, atol=IOU_ATOL[dtype], rtol=0)
    k = min(len(b1), len(b2))
    al = box_iou_rotated(t1[:k], t2[:k], aligned=True, mode=mode, eps=eps)
    assert torch.equal(al, out[torch.arange(k), torch.arange(k)])
    torch.testing.assert_close(al, box_iou_rotated_reference(t1[:k], t2[:k], aligned=True,
                                                             mode=mode, eps=eps),
                               atol=IOU_ATOL[dtype], rtol=0)


@PROPS
@given(b1=box_sets(), b2=box_sets(), dtype=DTYPES, eps=st.sampled_from([0.0, 1e-6]),
       impl=st.sampled_from([box_iou_rotated, box_iou_rotated_reference]))
def test_iou_symmetric_and_in_unit_interval(b1, b2, dtype, eps, impl):
    t1, t2 = _tensor(b1, dtype), _tensor(b2, dtype)
    out = impl(t1, t2, eps=eps)
    assert bool(torch.isfinite(out).all())
    assert bool((out >= 0).all()) and bool((out <= 1).all())
    torch.testing.assert_close(out, impl(t2, t1, eps=eps).T, atol=IOU_ATOL[dtype], rtol=0)
    iof = impl(t1, t2, mode='iof', eps=eps)
    assert bool((iof >= 0).all()) and bool((iof <= 1).all())


# ------------------------------------------------------------------------ nms_rotated
THRESHOLDS = st.sampled_from([-0.5, 0.0, 0.1, 0.3, 0.5, 0.7, 0.95])


@st.composite
def nms_problems(draw):
    rows = draw(box_sets(0, 14))
    n = len(rows)
    # few distinct values: ties are common
    scores = draw(st.lists(st.sampled_from([0.1, 0.2, 0.5, 0.7, 0.9, 1.0]),
                           min_size=n, max_size=n))
    labels = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    return rows, scores, labels


def _check_keep(keep, scores, n):
    assert keep.dtype == torch.long
    kl = keep.tolist()
    assert len(set(kl)) == len(kl) and all(0 <= i < n for i in kl)
    for a, b in zip(kl, kl[1:]):  # by decreasing score, ties by index
        assert scores[a] > scores[b] or (scores[a] == scores[b] and a < b)


# touching boxes at thr = 0 (found by this test: the paths disagreed before
# NMS_MIN_THRESHOLD)
TOUCHING = ([[0.0, 0.0, 1.0, 1.0, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0],
             [math.cos(2.0), math.sin(2.0), 1.0, 1.0, 2.0]], [0.1, 0.1, 0.1], [0, 0, 0])


@PROPS
@given(prob=nms_problems(), dtype=DTYPES, thr=THRESHOLDS)
@example(prob=TOUCHING, dtype=torch.float64, thr=0.0)
def test_nms_properties(prob, dtype, thr):
    rows, sc, labels = prob
    boxes, scores = _tensor(rows, dtype), torch.tensor(sc, dtype=dtype)
    n = len(rows)
    keep = nms_rotated(boxes, scores, thr)
    _check_keep(keep, scores, n)
    assert torch.equal(keep, nms_rotated_reference(boxes, scores, thr))
    # idempotent: NMS of the kept boxes keeps them all
    again = nms_rotated(boxes[keep], scores[keep], thr)
    assert torch.equal(again, torch.arange(keep.numel()))
    # greedy: every dropped box overlaps a kept box of higher rank by more than
    # the threshold (thresholds in [0, NMS_MIN_THRESHOLD) act as NMS_MIN_THRESHOLD)
    thr = NMS_MIN_THRESHOLD if 0 <= thr < NMS_MIN_THRESHOLD else thr
    if n:
        iou = box_iou_rotated(boxes.double(), boxes.double())
        rank = torch.full((n,), n, dtype=torch.long)
        order = torch.sort(scores, descending=True, stable=True).indices
        rank[order] = torch.arange(n)
        kept = set(keep.tolist())
        for j in range(n):
            if j not in kept:
                assert any(rank[i] < rank[j] and iou[i, j] > thr for i in kept)


@PROPS
@given(prob=nms_problems(), dtype=DTYPES, thr=THRESHOLDS)
def test_batched_nms_is_per_class_nms(prob, dtype, thr):
    rows, sc, labels = prob
    boxes, scores = _tensor(rows, dtype), torch.tensor(sc, dtype=dtype)
    idxs = torch.tensor(labels, dtype=torch.long)
    keep = batched_nms_rotated(boxes, scores, idxs, thr)
    _check_keep(keep, scores, len(rows))
    expected = []
    for c in idxs.unique().tolist():
        members = (idxs == c).nonzero().squeeze(1)
        expected += members[nms_rotated(boxes[members], scores[members], thr)].tolist()
    # merged in global score order, ties by index
    expected.sort(key=lambda i: (-float(scores[i]), i))
    assert keep.tolist() == expected


# ----------------------------------------------------------------------- voxel_render
@st.composite
def voxel_problems(draw):
    seed = draw(st.integers(0, 2 ** 16))
    g = torch.Generator().manual_seed(seed)
    L = draw(st.integers(1, 3))
    grid = tuple(draw(st.integers(2, 4)) for _ in range(3))
    C = draw(st.integers(1, 4))
    R = draw(st.integers(0, 12))
    dtype = draw(DTYPES)
    lo = torch.rand(L, 3, generator=g, dtype=torch.float64) * 4 - 2
    hi = lo + 0.2 + torch.rand(L, 3, generator=g, dtype=torch.float64) * 2
    ids = torch.randint(0, L, (R,), generator=g)
    mode = draw(st.sampled_from(['through', 'inside', 'random']))
    target = lo[ids] + torch.rand(R, 3, generator=g, dtype=torch.float64) * (hi - lo)[ids]
    if mode == 'inside':  # rays starting inside their box
        o = lo[ids] + torch.rand(R, 3, generator=g, dtype=torch.float64) * (hi - lo)[ids]
    else:
        o = torch.randn(R, 3, generator=g, dtype=torch.float64) * 4
    d = target - o if mode != 'random' else torch.randn(R, 3, generator=g,
                                                        dtype=torch.float64)
    d = torch.where(d.norm(dim=-1, keepdim=True) > 1e-6, d, torch.ones_like(d))
    if draw(st.booleans()) and R:  # axis-parallel rays
        d = d * (torch.arange(3) == draw(st.integers(0, 2)))
        d = torch.where(d.norm(dim=-1, keepdim=True) > 0, d, torch.ones_like(d))
    density = (torch.randn(L, *grid, generator=g) * 3).to(dtype)
    features = torch.randn(L, C, *grid, generator=g).to(dtype)
    return dict(args=(density, features, lo.to(dtype), hi.to(dtype), o.to(dtype),
                      d.to(dtype), ids),
                step_ratio=draw(st.sampled_from([0.05, 0.1, 0.37, 1.0])),
                bg=draw(st.sampled_from([0.0, 1.0])))


@needs_ext
@PROPS
@given(p=voxel_problems())
def test_voxel_compiled_equals_reference(p):
    density, features, *geo = p['args']
    kw = dict(step_ratio=p['step_ratio'], bg=p['bg'])
    tol = dict(atol=1e-5, rtol=1e-5) if density.dtype == torch.float32 else \
        dict(atol=1e-10, rtol=1e-10)
    outs = []
    for impl in (voxel_render, voxel_render_reference):
        d = density.clone().requires_grad_(True)
        f = features.clone().requires_grad_(True)
        feat, t_last = impl(d, f, *geo, **kw)
        assert bool((t_last > 0).all()) and bool((t_last <= 1).all())
        (feat.square().sum() + t_last.sum()).backward()
        outs.append((feat.detach(), t_last.detach(), d.grad, f.grad))
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, **tol)
