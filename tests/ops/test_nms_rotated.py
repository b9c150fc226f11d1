"""Tests of vision_sparse.ops.nms_rotated (compiled kernels and reference)."""
import math

import pytest
import torch

from vision_sparse.ops._ext import has_ext
from vision_sparse.ops.box_iou_rotated import box_iou_rotated
from vision_sparse.ops.nms_rotated import (batched_nms_rotated, batched_nms_rotated_reference,
                                           nms_rotated, nms_rotated_reference)

needs_ext = pytest.mark.skipif(not has_ext(), reason='vision_sparse._C not built: run make ops')
needs_cuda = pytest.mark.skipif(
    not torch.cuda.is_available(), reason='needs a CUDA device')


def _compiled(boxes, scores, thr):
    return torch.ops.vision_sparse.nms_rotated(boxes, scores, thr, None)


def _compiled_batched(boxes, scores, idxs, thr):
    return torch.ops.vision_sparse.nms_rotated(boxes, scores, thr, idxs.long())


NMS = [
    pytest.param(nms_rotated_reference, id='reference'),
    pytest.param(_compiled, id='compiled', marks=needs_ext),
]
BATCHED = [
    pytest.param(batched_nms_rotated_reference, id='reference'),
    pytest.param(_compiled_batched, id='compiled', marks=needs_ext),
]


def rand_boxes(n, generator, img=1024.0, smin=8.0, smax=200.0, dtype=torch.float64):
    c = torch.rand(n, 2, generator=generator, dtype=torch.float64) * img
    wh = smin + torch.rand(n, 2, generator=generator, dtype=torch.float64) * (smax - smin)
    t = (torch.rand(n, 1, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi
    return torch.cat([c, wh, t], 1).to(dtype)


def brute_force_nms(boxes, scores, thr, idxs=None):
    """Greedy NMS from the full IoU matrix (small N)."""
    iou = box_iou_rotated(boxes.double(), boxes.double())
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    removed = set()
    keep = []
    for a, i in enumerate(order):
        if i in removed:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if iou[i, j] > thr and (idxs is None or idxs[i] == idxs[j]):
                removed.add(j)
    return torch.tensor(keep, dtype=torch.long)


@needs_ext
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('thr', [0.1, 0.5, 0.8])
def test_compiled_vs_reference(dtype, thr):
    g = torch.Generator().manual_seed(0)
    boxes = rand_boxes(160, g, img=220, dtype=dtype)
    # duplicates and near-duplicates, equal scores
    boxes = torch.cat([boxes, boxes[:20], boxes[20:40] + 0.5])
    scores = torch.rand(200, generator=g, dtype=dtype)
    scores[160:180] = scores[:20]
    keep = nms_rotated(boxes, scores, thr)
    ref = nms_rotated_reference(boxes, scores, thr)
    assert keep.dtype == torch.int64
    assert torch.equal(keep, ref)
    assert 10 < keep.numel() < 200
    if thr == 0.5:
        assert torch.equal(ref, brute_force_nms(boxes, scores, thr))


@needs_ext
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_batched_compiled_vs_reference(dtype):
    g = torch.Generator().manual_seed(1)
    boxes = rand_boxes(200, g, img=200, dtype=dtype)
    scores = torch.rand(200, generator=g, dtype=dtype)
    idxs = torch.randint(0, 4, (200,), generator=g)
    keep = batched_nms_rotated(boxes, scores, idxs, 0.3)
    ref = batched_nms_rotated_reference(boxes, scores, idxs, 0.3)
    assert torch.equal(keep, ref)
    if dtype == torch.float64:
        assert torch.equal(ref, brute_force_nms(boxes, scores, 0.3, idxs))


@pytest.mark.parametrize('impl', BATCHED)
def test_class_aware(impl):
    g = torch.Generator().manual_seed(2)
    boxes = rand_boxes(80, g, img=150)
    scores = torch.rand(80, generator=g, dtype=torch.float64)
    idxs = torch.randint(0, 3, (80,), generator=g)
    keep = impl(boxes, scores, idxs, 0.4)
    # the same as NMS per class, merged by score
    per_class = []
    for c in range(3):
        sel = (idxs == c).nonzero().squeeze(1)
        per_class.append(sel[nms_rotated_reference(boxes[sel], scores[sel], 0.4)])
    merged = torch.cat(per_class)
    merged = merged[torch.sort(scores[merged], descending=True, stable=True).indices]
    assert torch.equal(keep, merged)
    # identical boxes of different classes never suppress each other
    b = torch.tensor([[5.0, 5, 4, 2, 0.3]] * 4, dtype=torch.float64)
    s = torch.tensor([0.9, 0.8, 0.7, 0.6], dtype=torch.float64)
    keep = impl(b, s, torch.tensor([0, 1, 0, 2]), 0.5)
    assert keep.tolist() == [0, 1, 3]


@pytest.mark.parametrize('impl', NMS)
def test_threshold_semantics(impl):
    # IoU exactly 0.5: suppressed only when IoU > threshold
    boxes = torch.tensor([[0.0, 0, 2, 2, 0], [0.0, 0, 1, 2, 0]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8], dtype=torch.float64)
    assert box_iou_rotated(boxes[:1], boxes[1:]).item() == pytest.approx(0.5, abs=1e-12)
    assert impl(boxes, scores, 0.5 + 1e-9).tolist() == [0, 1]
    assert impl(boxes, scores, 0.5 - 1e-9).tolist() == [0]
    assert impl(boxes, scores, 1.0).tolist() == [0, 1]
    # disjoint boxes: IoU 0 is suppressed only by a negative threshold
    boxes = torch.tensor([[0.0, 0, 2, 2, 0], [10.0, 0, 1, 2, 0], [20.0, 0, 1, 1, 0]],
                         dtype=torch.float64)
    scores = torch.tensor([0.1, 0.3, 0.2], dtype=torch.float64)
    assert impl(boxes, scores, 0.0).tolist() == [1, 2, 0]
    assert impl(boxes, scores, -0.1).tolist() == [1]


@pytest.mark.parametrize('impl', NMS)
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_identical_boxes_keep_one(impl, dtype):
    boxes = torch.tensor([[100.0, 200, 30, 10, 0.7]] * 50, dtype=dtype)
    scores = torch.rand(50, generator=torch.Generator().manual_seed(3), dtype=dtype)
    keep = impl(boxes, scores, 0.5)
    assert keep.tolist() == [int(scores.argmax())]
    # equal scores: the first index wins
    keep = impl(boxes, torch.ones(50, dtype=dtype), 0.5)
    assert keep.tolist() == [0]


@pytest.mark.parametrize('impl', NMS)
def test_ties_are_stable(impl):
    boxes = torch.tensor([[10.0 * i, 0, 2, 2, 0] for i in range(6)], dtype=torch.float64)
    scores = torch.tensor([0.5, 0.7, 0.5, 0.7, 0.5, 0.1], dtype=torch.float64)
    assert impl(boxes, scores, 0.5).tolist() == [1, 3, 0, 2, 4, 5]


@pytest.mark.parametrize('impl', NMS)
def test_degenerate_boxes(impl):
    boxes = torch.tensor([[0.0, 0, 0, 2, 0], [0.0, 0, 2, 2, 0], [0.0, 0, 2, 0, 0],
                          [0.0, 0, 2, 2, 0], [0.0, 0, -2, -2, 0]], dtype=torch.float64)
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5], dtype=torch.float64)
    # zero-area boxes neither suppress nor are suppressed
    assert impl(boxes, scores, 0.5).tolist() == [0, 1, 2, 4]


@pytest.mark.parametrize('fn', [nms_rotated, nms_rotated_reference])
def test_empty(fn):
    keep = fn(torch.zeros(0, 5), torch.zeros(0), 0.5)
    assert keep.shape == (0,) and keep.dtype == torch.int64


@pytest.mark.parametrize('fn', [batched_nms_rotated, batched_nms_rotated_reference])
def test_batched_empty(fn):
    keep = fn(torch.zeros(0, 5), torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5)
    assert keep.shape == (0,) and keep.dtype == torch.int64


def test_public_api_half_and_grad_inputs():
    g = torch.Generator().manual_seed(4)
    boxes = rand_boxes(60, g, img=150, dtype=torch.float32)
    scores = torch.rand(60, generator=g)
    ref = nms_rotated_reference(boxes, scores, 0.3)
    keep = nms_rotated(boxes.clone().requires_grad_(), scores, 0.3)
    assert torch.equal(keep, ref)
    keep16 = nms_rotated(boxes.half(), scores.half(), 0.3)
    assert keep16.dtype == torch.int64 and keep16.numel() > 0


def test_bad_inputs():
    b = torch.zeros(3, 5)
    s = torch.zeros(3)
    with pytest.raises(ValueError, match=r'boxes must have shape \(N, 5\).*\(3, 4\)'):
        nms_rotated(torch.zeros(3, 4), s, 0.5)
    with pytest.raises(ValueError, match=r'scores must have shape \(N,\)'):
        nms_rotated(b, torch.zeros(4), 0.5)
    with pytest.raises(ValueError, match=r'idxs must have shape \(N,\)'):
        batched_nms_rotated(b, s, torch.zeros(2, dtype=torch.long), 0.5)
    with pytest.raises(ValueError, match='idxs must be an integer tensor'):
        batched_nms_rotated(b, s, torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match='boxes must have shape'):
        nms_rotated_reference(torch.zeros(3), s, 0.5)


@needs_cuda
@needs_ext
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_cuda_vs_cpu(dtype):
    if not torch.ops.vision_sparse.with_cuda():
        pytest.skip('vision_sparse._C built without CUDA kernels')
    g = torch.Generator().manual_seed(5)
    boxes = rand_boxes(3000, g, img=600, dtype=dtype)
    boxes = torch.cat([boxes, boxes[:100]])
    scores = torch.rand(3100, generator=g, dtype=dtype)
    idxs = torch.randint(0, 5, (3100,), generator=g)
    for thr in (0.0, 0.3, 0.7):
        cpu = nms_rotated(boxes, scores, thr)
        gpu = nms_rotated(boxes.cuda(), scores.cuda(), thr)
        assert gpu.is_cuda and gpu.dtype == torch.int64
        assert torch.equal(gpu.cpu(), cpu)
        cpu = batched_nms_rotated(boxes, scores, idxs, thr)
        gpu = batched_nms_rotated(boxes.cuda(), scores.cuda(), idxs.cuda(), thr)
        assert torch.equal(gpu.cpu(), cpu)
    assert nms_rotated(boxes[:0].cuda(), scores[:0].cuda(), 0.5).shape == (0,)
    # all identical: one kept
    same = boxes[:1].expand(500, 5).contiguous().cuda()
    assert nms_rotated(same, torch.ones(500, device='cuda', dtype=dtype), 0.5).tolist() == [0]
