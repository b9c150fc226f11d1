"""The ``mmcv._ext`` stand-in: served ops equal their references (through mmcv's
own python wrappers), unserved ops raise, and an mmdet RetinaNet trains and
predicts end to end on mmcv-lite."""
import math

import pytest
from mmengine.registry import DefaultScope
import torch

import vision_sparse  # noqa: F401  (installs the stand-in, as custom_imports would)
from vision_sparse.utils.patches import is_mmcv_shim_installed

torchvision = pytest.importorskip('torchvision')

pytestmark = pytest.mark.skipif(not is_mmcv_shim_installed(),
                                reason='full mmcv installed: its own compiled ops run')


def _random_boxes(n, size=64.0, gen=None):
    xy = torch.rand(n, 2, generator=gen) * size
    wh = torch.rand(n, 2, generator=gen) * size / 2 + 1.0
    return torch.cat([xy, xy + wh], dim=1)


def _random_rboxes(n, gen=None):
    c = torch.rand(n, 2, generator=gen) * 40
    wh = torch.rand(n, 2, generator=gen) * 15 + 2
    t = (torch.rand(n, 1, generator=gen) - 0.5) * math.pi
    return torch.cat([c, wh, t], dim=1)


@pytest.mark.parametrize('score_thr,max_num', [(0.0, -1), (0.3, 5)])
def test_nms_equals_torchvision(score_thr, max_num):
    from mmcv.ops import nms
    gen = torch.Generator().manual_seed(0)
    boxes = _random_boxes(200, gen=gen)
    scores = torch.rand(200, generator=gen)
    dets, keep = nms(boxes, scores, 0.4, score_threshold=score_thr, max_num=max_num)
    valid = torch.nonzero(scores > score_thr).squeeze(1) if score_thr > 0 else torch.arange(200)
    ref = valid[torchvision.ops.nms(boxes[valid], scores[valid], 0.4)]
    if max_num > 0:
        ref = ref[:max_num]
    assert torch.equal(keep, ref)
    assert torch.equal(dets[:, :4], boxes[ref]) and torch.equal(dets[:, 4], scores[ref])


def _greedy_nms_offset1(boxes, scores, thr):
    """Plain greedy NMS with mmcv's offset=1 widths (x2 - x1 + 1)."""
    order = torch.argsort(scores, descending=True).tolist()
    b = boxes.double()
    area = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    keep, removed = [], set()
    for pos, i in enumerate(order):
        if i in removed:
            continue
        keep.append(i)
        for j in order[pos + 1:]:
            w = (torch.minimum(b[i, 2], b[j, 2]) - torch.maximum(b[i, 0], b[j, 0]) + 1).clamp(min=0)
            h = (torch.minimum(b[i, 3], b[j, 3]) - torch.maximum(b[i, 1], b[j, 1]) + 1).clamp(min=0)
            inter = w * h
            if inter / (area[i] + area[j] - inter) > thr:
                removed.add(j)
    return torch.tensor(keep, dtype=torch.long)


def test_nms_offset1_equals_greedy_reference():
    from mmcv.ops import nms
    gen = torch.Generator().manual_seed(1)
    boxes = _random_boxes(80, size=20.0, gen=gen).round()
    scores = torch.rand(80, generator=gen)
    _, keep = nms(boxes, scores, 0.3, offset=1)
    assert torch.equal(keep, _greedy_nms_offset1(boxes, scores, 0.3))
    # offset changes the result on small integer boxes (the test is not vacuous)
    _, keep0 = nms(boxes, scores, 0.3, offset=0)
    assert not torch.equal(keep, keep0)


def test_batched_nms_and_empty():
    from mmcv.ops import batched_nms, nms
    gen = torch.Generator().manual_seed(2)
    boxes = _random_boxes(100, gen=gen)
    scores = torch.rand(100, generator=gen)
    idxs = torch.randint(0, 3, (100,), generator=gen)
    _, keep = batched_nms(boxes, scores, idxs, dict(type='nms', iou_threshold=0.5))
    ref = torchvision.ops.batched_nms(boxes, scores, idxs, 0.5)
    assert torch.equal(keep, ref)
    dets, keep = nms(boxes[:0], scores[:0], 0.5)
    assert keep.shape == (0,) and dets.shape == (0, 5)


@pytest.mark.parametrize('aligned,sampling_ratio', [(True, 0), (False, 2), (True, 3)])
def test_roi_align_forward_backward_equal_torchvision(aligned, sampling_ratio):
    from mmcv.ops import RoIAlign, roi_align
    gen = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 3, 16, 20, dtype=torch.float64, generator=gen)
    boxes = _random_boxes(7, size=60.0, gen=gen).double()
    rois = torch.cat([torch.randint(0, 2, (7, 1), generator=gen).double(), boxes], dim=1)
    x1 = feats.clone().requires_grad_(True)
    x2 = feats.clone().requires_grad_(True)
    out = roi_align(x1, rois, (5, 4), 0.25, sampling_ratio, 'avg', aligned)
    ref = torchvision.ops.roi_align(x2, rois, (5, 4), 0.25, sampling_ratio, aligned)
    assert out.shape == (7, 3, 5, 4)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad = torch.randn(out.shape, dtype=torch.float64, generator=gen)
    out.backward(grad)
    ref.backward(grad)
    assert x1.grad.abs().sum() > 0
    torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=1e-12)
    # the module form, float32
    layer = RoIAlign((5, 4), 0.25, sampling_ratio, aligned=aligned)
    torch.testing.assert_close(layer(feats.float(), rois.float()), ref.detach().float())


def test_roi_align_gradcheck():
    from mmcv.ops import roi_align
    gen = torch.Generator().manual_seed(4)
    feats = torch.randn(1, 2, 6, 7, dtype=torch.float64, generator=gen, requires_grad=True)
    rois = torch.tensor([[0, 1.3, 2.2, 15.1, 20.7], [0, 4.0, 0.5, 9.9, 11.2]], dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda f: roi_align(f, rois, (3, 3), 0.5, 2, 'avg', True), (feats,))


def test_roi_align_max_mode_raises():
    from mmcv.ops import roi_align
    feats = torch.randn(1, 2, 8, 8)
    rois = torch.tensor([[0, 1.0, 1.0, 6.0, 6.0]])
    with pytest.raises(NotImplementedError, match="pool_mode='max'"):
        roi_align(feats, rois, 2, 1.0, 0, 'max', True)


@pytest.mark.parametrize('aligned', [False, True])
@pytest.mark.parametrize('mode', ['iou', 'iof'])
@pytest.mark.parametrize('clockwise', [True, False])
def test_box_iou_rotated_equals_ours(aligned, mode, clockwise):
    from mmcv.ops import box_iou_rotated as mmcv_box_iou_rotated

    from vision_sparse.ops import box_iou_rotated
    gen = torch.Generator().manual_seed(5)
    b1, b2 = _random_rboxes(9, gen), _random_rboxes(9 if aligned else 6, gen)
    out = mmcv_box_iou_rotated(b1, b2, mode, aligned, clockwise)
    flip = torch.tensor([1.0, 1, 1, 1, 1 if clockwise else -1])
    ref = box_iou_rotated(b1 * flip, b2 * flip, aligned=aligned, mode=mode)
    assert out.shape == ref.shape
    assert torch.equal(out, ref)
    assert (out > 0).any()


@pytest.mark.parametrize('with_labels', [False, True])
def test_nms_rotated_equals_ours(with_labels):
    from mmcv.ops import nms_rotated as mmcv_nms_rotated

    from vision_sparse.ops import batched_nms_rotated, nms_rotated
    gen = torch.Generator().manual_seed(6)
    boxes = _random_rboxes(120, gen)
    scores = torch.rand(120, generator=gen)
    labels = torch.randint(0, 3, (120,), generator=gen) if with_labels else None
    dets, keep = mmcv_nms_rotated(boxes, scores, 0.2, labels)
    ref = (batched_nms_rotated(boxes, scores, labels, 0.2) if with_labels
           else nms_rotated(boxes, scores, 0.2))
    assert torch.equal(keep, ref)
    assert 0 < keep.numel() < 120
    assert torch.equal(dets, torch.cat([boxes[ref], scores[ref, None]], dim=1))


def test_unserved_op_still_raises_clear_error():
    from mmcv.ops import softmax_focal_loss
    from vision_sparse.utils.mmcv_ops import SERVED_OPS
    assert {'nms', 'roi_align_forward', 'roi_align_backward', 'box_iou_rotated',
            'nms_rotated'} <= set(SERVED_OPS)
    served = ', '.join(sorted(SERVED_OPS))
    with pytest.raises(NotImplementedError,
                       match=f"mmcv op 'softmax_focal_loss_forward' is not available.*"
                             f'serves only {served}'):
        softmax_focal_loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]), 2.0, 0.25)
    import mmcv._ext as ext
    with pytest.raises(NotImplementedError, match="'roi_pool_forward' is not available"):
        ext.roi_pool_forward()


def _rotated_rois(n, gen, img=(64.0, 80.0), batch=2):
    c = torch.rand(n, 2, generator=gen, dtype=torch.float64) * torch.tensor([img[1], img[0]])
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 30 + 2
    t = (torch.rand(n, 1, generator=gen, dtype=torch.float64) * 2 - 1) * math.pi
    b = torch.randint(0, batch, (n, 1), generator=gen).double()
    return torch.cat([b, c, wh, t], dim=1)


@pytest.mark.parametrize('aligned,sampling_ratio,clockwise',
                         [(True, 0, False), (True, 2, True), (False, 3, True)])
def test_roi_align_rotated_forward_backward_equal_ours(aligned, sampling_ratio, clockwise):
    from mmcv.ops import RoIAlignRotated as MMCVRoIAlignRotated
    from mmcv.ops import roi_align_rotated as mmcv_roi_align_rotated

    from vision_sparse.ops import roi_align_rotated
    gen = torch.Generator().manual_seed(10)
    feats = torch.randn(2, 3, 16, 20, dtype=torch.float64, generator=gen)
    rois = _rotated_rois(9, gen)
    x1 = feats.clone().requires_grad_(True)
    x2 = feats.clone().requires_grad_(True)
    out = mmcv_roi_align_rotated(x1, rois, (5, 4), 0.25, sampling_ratio, aligned, clockwise)
    ref = roi_align_rotated(x2, rois, (5, 4), 0.25, sampling_ratio, aligned, clockwise)
    assert out.shape == (9, 3, 5, 4) and out.abs().max() > 0
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-12)
    grad = torch.randn(out.shape, dtype=torch.float64, generator=gen)
    out.backward(grad)
    ref.backward(grad)
    assert x1.grad.abs().sum() > 0
    torch.testing.assert_close(x1.grad, x2.grad, rtol=0, atol=1e-12)
    # the module form, float32, with mmrotate's deprecated argument names
    layer = MMCVRoIAlignRotated(out_size=(5, 4), spatial_scale=0.25, sample_num=sampling_ratio,
                                aligned=aligned, clockwise=clockwise)
    torch.testing.assert_close(layer(feats.float(), rois.float()), ref.detach().float())


def test_roi_align_rotated_gradcheck_through_mmcv():
    from mmcv.ops import roi_align_rotated as mmcv_roi_align_rotated
    gen = torch.Generator().manual_seed(11)
    feats = torch.randn(1, 2, 6, 7, dtype=torch.float64, generator=gen, requires_grad=True)
    rois = torch.tensor([[0, 6.3, 5.2, 9.1, 4.7, 0.6], [0, 4.0, 8.5, 5.9, 11.2, -2.0]],
                        dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda f: mmcv_roi_align_rotated(f, rois, (3, 3), 0.5, 2, True, True), (feats,))


def _mmrotate_extractor(strides):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        # the roi_layer of mmrotate's rotated Faster R-CNN / Oriented R-CNN configs
        return MODELS.build(dict(
            type='mmdet.SingleRoIExtractor', out_channels=4, featmap_strides=strides,
            roi_layer=dict(type='RoIAlignRotated', out_size=7, sample_num=2, clockwise=True)))


def test_mmdet_single_roi_extractor_runs_rotated_rois_on_one_level():
    """mmdet's SingleRoIExtractor builds mmcv.ops.RoIAlignRotated from an mmrotate-style
    roi_layer and pools (N, 6) rotated rois (RotatedBoxes convention: clockwise=True)."""
    from vision_sparse.ops import roi_align_rotated
    from vision_sparse.structures import RotatedBoxes
    extractor = _mmrotate_extractor([8])
    gen = torch.Generator().manual_seed(12)
    feats = (torch.randn(2, 4, 16, 16, generator=gen),)
    boxes = RotatedBoxes(torch.tensor([[30.0, 40.0, 40.0, 12.0, 0.5],
                                       [70.0, 64.0, 24.0, 50.0, -1.2]]))
    rois = torch.cat([torch.tensor([[0.0], [1.0]]), boxes.tensor], dim=1)
    out = extractor(feats, rois)
    torch.testing.assert_close(out, roi_align_rotated(feats[0], rois, 7, 1 / 8, 2, True, True))
    assert extractor(feats, rois[:0]).shape == (0, 4, 7, 7)


@pytest.mark.xfail(strict=True, reason='mmdet SingleRoIExtractor.map_roi_levels reads rois as '
                   '(b, x1, y1, x2, y2): (N, 6) rotated rois go to wrong levels (mmrotate has '
                   'its own RotatedSingleRoIExtractor for this)')
def test_mmdet_single_roi_extractor_levels_of_rotated_rois():
    from vision_sparse.ops import roi_align_rotated
    extractor = _mmrotate_extractor([4, 8])
    gen = torch.Generator().manual_seed(13)
    feats = (torch.randn(1, 4, 32, 32, generator=gen), torch.randn(1, 4, 16, 16, generator=gen))
    # level 0 by its area (scale sqrt(20 * 40) = 28 px < 2 * 56), but mmdet reads
    # sqrt((w - cx) * (h - cy)) = sqrt(-900): NaN, no level, and the roi pools to 0
    rois = torch.tensor([[0, 50.0, 10.0, 20.0, 40.0, 0.3]])
    ref = roi_align_rotated(feats[0], rois, 7, 1 / 4, 2, True, True)
    assert ref.abs().max() > 0
    torch.testing.assert_close(extractor(feats, rois), ref)


def _retinanet_cfg():
    return dict(
        type='mmdet.RetinaNet',
        data_preprocessor=dict(type='mmdet.DetDataPreprocessor', mean=[0.0, 0.0, 0.0],
                               std=[255.0, 255.0, 255.0], bgr_to_rgb=False,
                               pad_size_divisor=32),
        backbone=dict(type='mmdet.ResNet', depth=18, num_stages=4, out_indices=(1, 2, 3),
                      frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True),
                      norm_eval=False, style='pytorch', zero_init_residual=False,
                      init_cfg=None),
        neck=dict(type='mmdet.FPN', in_channels=[128, 256, 512], out_channels=32,
                  start_level=0, add_extra_convs='on_input', num_outs=3),
        bbox_head=dict(
            type='mmdet.RetinaHead', num_classes=2, in_channels=32, stacked_convs=1,
            feat_channels=32,
            anchor_generator=dict(type='mmdet.AnchorGenerator', octave_base_scale=4,
                                  scales_per_octave=1, ratios=[0.5, 1.0, 2.0],
                                  strides=[8, 16, 32]),
            bbox_coder=dict(type='mmdet.DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                            target_stds=[1.0] * 4),
            loss_cls=dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25,
                          loss_weight=1.0),
            loss_bbox=dict(type='mmdet.L1Loss', loss_weight=1.0)),
        train_cfg=dict(
            assigner=dict(type='mmdet.MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4,
                          min_pos_iou=0, ignore_iof_thr=-1),
            sampler=dict(type='mmdet.PseudoSampler'), allowed_border=-1, pos_weight=-1,
            debug=False),
        test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.0,
                      nms=dict(type='nms', iou_threshold=0.5), max_per_img=20))


def _batch(gen):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    inputs, samples = [], []
    for i in range(2):
        img = torch.randint(0, 40, (3, 64, 64), generator=gen, dtype=torch.uint8)
        boxes = torch.tensor([[8.0, 10.0, 40.0, 34.0], [30.0, 28.0, 60.0, 62.0]]) + i
        for b in boxes.long():
            img[:, b[1]:b[3], b[0]:b[2]] = 200
        inputs.append(img)
        s = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                        scale_factor=(1.0, 1.0), pad_shape=(64, 64),
                                        batch_input_shape=(64, 64)))
        s.gt_instances = InstanceData(bboxes=boxes, labels=torch.tensor([0, 1]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def test_mmdet_retinanet_trains_and_predicts():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.optim import OptimWrapper
    from mmengine.utils import import_modules_from_strings
    cfg = Config(dict(custom_imports=dict(imports=['vision_sparse'],
                                          allow_failed_imports=False),
                      model=_retinanet_cfg()))
    import_modules_from_strings(**cfg.custom_imports)
    register_all_modules(init_default_scope=False)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):  # whatever an earlier test left
        model = MODELS.build(cfg.model)
    model.init_weights()  # the head's prior-probability bias; no pretrained weights
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9),
                         clip_grad=dict(max_norm=10.0))
    gen = torch.Generator().manual_seed(7)
    data = _batch(gen)
    before = [p.detach().clone() for p in model.parameters()]
    model.train()
    for _ in range(3):
        losses = model.train_step(data, optim)
        assert set(losses) >= {'loss_cls', 'loss_bbox'}
        assert all(math.isfinite(float(v.detach())) for v in losses.values()), losses
    # every parameter moves (zero_init_residual=False: no block starts at zero)
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters()))
    model.eval()
    with torch.no_grad():
        results = model.val_step(data)
    assert len(results) == 2
    for r in results:
        pred = r.pred_instances
        n = pred.bboxes.shape[0]
        assert 0 < n <= 20 and pred.bboxes.shape == (n, 4)
        assert pred.scores.shape == (n,) and pred.labels.shape == (n,)
        assert torch.isfinite(pred.bboxes).all()
        assert set(pred.labels.tolist()) <= {0, 1}


def test_mmdet_single_roi_extractor_equals_torchvision():
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        extractor = MODELS.build(dict(
            type='mmdet.SingleRoIExtractor', out_channels=4, featmap_strides=[4, 8],
            roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=0)))
    gen = torch.Generator().manual_seed(8)
    feats = (torch.randn(2, 4, 32, 32, generator=gen), torch.randn(2, 4, 16, 16, generator=gen))
    # the first roi (scale ~20 px) maps to level 0 (stride 4), the second (~122 px) to level 1
    rois = torch.tensor([[0, 2.0, 3.0, 20.0, 25.0], [1, 0.0, 0.0, 120.0, 124.0]])
    out = extractor(feats, rois)
    ref0 = torchvision.ops.roi_align(feats[0], rois[:1], 7, 0.25, 0, True)
    ref1 = torchvision.ops.roi_align(feats[1], rois[1:], 7, 0.125, 0, True)
    torch.testing.assert_close(out, torch.cat([ref0, ref1]))
    assert extractor(feats, rois[:0]).shape == (0, 4, 7, 7)


def test_mmdet_fcos_predicts():
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules(init_default_scope=False)
    cfg = _retinanet_cfg()
    cfg.update(type='mmdet.FCOS', train_cfg=None,
               bbox_head=dict(type='mmdet.FCOSHead', num_classes=2, in_channels=32,
                              stacked_convs=1, feat_channels=32, strides=[8, 16, 32]))
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MODELS.build(Config(dict(model=cfg)).model)
    model.eval()
    img = torch.randint(0, 255, (3, 64, 64), generator=torch.Generator().manual_seed(9),
                        dtype=torch.uint8)
    sample = DetDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64),
                                         scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        pred = model.test_step(dict(inputs=[img], data_samples=[sample]))[0].pred_instances
    assert pred.bboxes.shape == (20, 4) and torch.isfinite(pred.bboxes).all()
    assert torch.all(pred.scores[:-1] >= pred.scores[1:])


def test_sigmoid_focal_loss_served_equals_mmdet_python_version():
    """mmcv.ops.sigmoid_focal_loss (what mmdet's FocalLoss calls on GPU) through the stand-in
    equals mmdet's pure-python focal loss, values and gradients, background rows included."""
    import vision_sparse  # noqa: F401  (installs the stand-in)
    from mmcv.ops import sigmoid_focal_loss
    from mmdet.models.losses.focal_loss import py_sigmoid_focal_loss
    torch.manual_seed(0)
    logits = (torch.randn(12, 4, dtype=torch.float64) * 3).requires_grad_(True)
    target = torch.tensor([0, 1, 2, 3, 4, 4, 1, 0, 4, 2, 3, 4])  # 4 = background
    ours = sigmoid_focal_loss(logits, target, 2.0, 0.25, None, 'none')
    (g_ours,) = torch.autograd.grad(ours.sum(), logits)
    one_hot = torch.nn.functional.one_hot(target, 5)[:, :4].to(logits.dtype)
    ref = py_sigmoid_focal_loss(logits, one_hot, None, 2.0, 0.25, 'none')
    (g_ref,) = torch.autograd.grad(ref.sum(), logits)
    assert torch.allclose(ours, ref, atol=1e-12)
    assert torch.allclose(g_ours, g_ref, atol=1e-10)
    mean = sigmoid_focal_loss(logits, target, 2.0, 0.25, None, 'mean')
    assert torch.allclose(mean, ref.sum() / 12)


def _deform_attn_inputs(dtype=torch.float64, seed=12):
    gen = torch.Generator().manual_seed(seed)
    shapes = torch.tensor([[10, 12], [5, 6], [3, 3]])
    starts = torch.tensor([0, 120, 150])
    value = torch.randn(2, 159, 4, 6, generator=gen, dtype=torch.float64).to(dtype)
    loc = (torch.rand(2, 9, 4, 3, 2, 2, generator=gen, dtype=torch.float64) * 1.4 - 0.2).to(dtype)
    attn = torch.rand(2, 9, 4, 3, 2, generator=gen, dtype=torch.float64).to(dtype)
    return value, shapes, starts, loc, attn


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_ms_deform_attn_function_equals_mmcv_pytorch(dtype):
    """mmcv's MultiScaleDeformableAttnFunction (its compiled-op path) through the
    stand-in equals mmcv's multi_scale_deformable_attn_pytorch: output and the
    gradients w.r.t. value, sampling locations and attention weights."""
    from mmcv.ops.multi_scale_deform_attn import (MultiScaleDeformableAttnFunction,
                                                  multi_scale_deformable_attn_pytorch)
    value, shapes, starts, loc, attn = _deform_attn_inputs(dtype)
    results = []
    for use_function in (True, False):
        xs = [t.clone().requires_grad_(True) for t in (value, loc, attn)]
        if use_function:
            out = MultiScaleDeformableAttnFunction.apply(xs[0], shapes, starts, xs[1], xs[2], 64)
        else:
            out = multi_scale_deformable_attn_pytorch(xs[0], shapes, xs[1], xs[2])
        grad = torch.randn(out.shape, generator=torch.Generator().manual_seed(1),
                           dtype=torch.float64).to(dtype)
        out.backward(grad)
        results.append([out.detach()] + [x.grad for x in xs])
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert results[0][0].shape == (2, 9, 24) and all(t.abs().max() > 0 for t in results[0])
    for got, want in zip(*results):  # relative to the largest value (location grads ~ W)
        torch.testing.assert_close(got, want, rtol=0,
                                   atol=tol * max(1.0, float(want.abs().max())))


def test_mmcv_multiscale_deformable_attention_module_through_standin(monkeypatch):
    """mmcv's MultiScaleDeformableAttention module: its forward / backward with the
    sampling routed through MultiScaleDeformableAttnFunction (what it runs on GPU;
    on CPU it calls the pytorch version, which is patched here to the Function)
    equals the module's own pytorch path."""
    import mmcv.ops.multi_scale_deform_attn as msda
    from mmcv.ops import MultiScaleDeformableAttention

    def through_function(value, shapes, loc, attn):
        areas = shapes[:, 0] * shapes[:, 1]
        starts = torch.cat([areas.new_zeros(1), areas.cumsum(0)[:-1]])
        return msda.MultiScaleDeformableAttnFunction.apply(value, shapes, starts, loc, attn, 64)

    torch.manual_seed(0)
    layer = MultiScaleDeformableAttention(embed_dims=32, num_heads=4, num_levels=3,
                                          num_points=2, dropout=0.0, batch_first=True).double()
    with torch.no_grad():  # non-trivial offsets (init_weights makes a fixed pattern)
        layer.sampling_offsets.weight.normal_(0, 0.3)
    value, shapes, starts, _, _ = _deform_attn_inputs()
    value = value.reshape(2, 159, 24)[..., :8].repeat(1, 1, 4)  # (bs, num_keys, 32)
    query = torch.randn(2, 9, 32, dtype=torch.float64)
    ref_pts = torch.rand(2, 9, 3, 2, dtype=torch.float64)
    results = []
    for patched in (False, True):
        if patched:
            monkeypatch.setattr(msda, 'multi_scale_deformable_attn_pytorch', through_function)
        layer.zero_grad()
        q = query.clone().requires_grad_(True)
        out = layer(q, value=value, reference_points=ref_pts, spatial_shapes=shapes,
                    level_start_index=starts)
        out.pow(2).sum().backward()
        results.append([out.detach(), q.grad, layer.sampling_offsets.weight.grad.clone(),
                        layer.attention_weights.weight.grad.clone(),
                        layer.value_proj.weight.grad.clone()])
    assert results[1][2].abs().max() > 0
    for got, want in zip(results[1], results[0]):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
