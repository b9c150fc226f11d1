"""RotatedFCOSHead: box-frame encoding, target assignment inside rotated boxes,
losses, the predict contract, and use from mmdet's own FCOS."""
import math

import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.structures import InstanceData

from vision_sparse.models.dense_heads import RotatedFCOSHead, distance2rbox, rbox2distance
from vision_sparse.models.task_modules import PSCCoder
from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes, regularize_boxes

from .synthetic import build_model, make_batch, make_sample, small_model_cfg

pytestmark = pytest.mark.usefixtures('one_torch_thread')

INF = 1e8


def _head(**kw):
    cfg = dict(num_classes=2, in_channels=8, feat_channels=8, stacked_convs=1, strides=[8],
               regress_ranges=((-1, INF),), norm_cfg=None)
    cfg.update(kw)
    with DefaultScope.overwrite_default_scope('vision_sparse'):
        return RotatedFCOSHead(**cfg)


def _random_boxes(n, gen):
    ctr = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 100
    wh = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 40 + 4
    theta = (torch.rand(n, 1, generator=gen, dtype=torch.float64) - 0.5) * math.pi
    return torch.cat([ctr, wh, theta], dim=1)


def test_encode_decode_round_trip():
    gen = torch.Generator().manual_seed(0)
    boxes = _random_boxes(200, gen)
    # points inside (box-frame coordinates within the half sides) and outside
    uv = (torch.rand(200, 2, generator=gen, dtype=torch.float64) - 0.5) * 0.9 * boxes[:, 2:4]
    uv[100:] *= 3
    cos, sin = torch.cos(boxes[:, 4]), torch.sin(boxes[:, 4])
    points = boxes[:, :2] + torch.stack([cos * uv[:, 0] - sin * uv[:, 1],
                                         sin * uv[:, 0] + cos * uv[:, 1]], dim=1)
    dist, angles = rbox2distance(points, boxes)
    assert (dist[:100] > 0).all()  # inside: all four distances positive
    assert (dist[100:].min(dim=1).values < 0).any()
    torch.testing.assert_close(dist[:, 0] + dist[:, 2], boxes[:, 2])
    torch.testing.assert_close(dist[:, 1] + dist[:, 3], boxes[:, 3])
    torch.testing.assert_close(distance2rbox(points, dist, angles), boxes)
    # through the PSC angle code: the same rectangles (le90 angles)
    coder = PSCCoder(num_step=3)
    decoded = distance2rbox(points, dist, coder.decode(coder.encode(angles)))
    torch.testing.assert_close(decoded, regularize_boxes(boxes, 'le90'), atol=1e-9, rtol=0)


def test_decode_shapes_checked():
    with pytest.raises(ValueError, match='distances'):
        distance2rbox(torch.zeros(3, 2), torch.zeros(3, 5), torch.zeros(3))
    with pytest.raises(ValueError, match='boxes'):
        rbox2distance(torch.zeros(3, 2), torch.zeros(2, 5))


def _gt(boxes, labels):
    return InstanceData(bboxes=RotatedBoxes(torch.tensor(boxes, dtype=torch.float32)),
                        labels=torch.tensor(labels))


def test_targets_inside_the_rotated_box_only():
    head = _head()
    c, a = 64.0, math.pi / 4
    on_axis = (c + 20 * math.cos(a), c + 20 * math.sin(a))  # u = 20, v = 0
    points = torch.tensor([[c, c], on_axis,
                           [90.0, 40.0],   # inside the box's hbox, outside the box
                           [c + 30, c + 30], [5.0, 5.0]])
    # the same rectangle given either way round: (80 x 10 at 45 deg) == (10 x 80 at -45 deg)
    for box in ([c, c, 80.0, 10.0, a], [c, c, 10.0, 80.0, -a]):
        labels, dists, angles = head.get_targets([points], [_gt([box], [1])])
        assert labels[0].tolist() == [1, 1, 2, 2, 2]  # 2 = background
        torch.testing.assert_close(dists[0][1], torch.tensor([60.0, 5.0, 20.0, 5.0]))
        torch.testing.assert_close(dists[0][0], torch.tensor([40.0, 5.0, 40.0, 5.0]))
        torch.testing.assert_close(angles[0][:2], torch.full((2,), a))
        # ... whose axis-aligned box does contain the third point
        hbox = RotatedBoxes(torch.tensor([box])).convert_to('hbox').tensor[0]
        assert hbox[0] < 90 < hbox[2] and hbox[1] < 40 < hbox[3]
    # centerness on the box-frame distances
    ctr = head.centerness_target(dists[0][:2])
    torch.testing.assert_close(ctr, torch.tensor([1.0, math.sqrt(20 / 60)]))


def test_targets_smallest_box_center_sampling_and_ranges():
    points = torch.tensor([[50.0, 50.0], [50.0, 70.0]])
    big = [50.0, 55.0, 60.0, 40.0, 0.3]
    small = [50.0, 50.0, 20.0, 8.0, -1.0]
    labels, dists, angles = _head().get_targets([points], [_gt([big, small], [0, 1])])
    assert labels[0].tolist() == [1, 0]  # the smaller box wins where both contain the point
    assert angles[0][0] == pytest.approx(-1.0)
    # center sampling in the box frame: |u|, |v| < 1.5 * stride
    head = _head(center_sampling=True, center_sample_radius=1.5)
    a = 0.5
    pts = torch.tensor([[50 + 10 * math.cos(a), 50 + 10 * math.sin(a)],   # u = 10 < 12
                        [50 + 14 * math.cos(a), 50 + 14 * math.sin(a)]])  # u = 14 > 12
    labels, _, _ = head.get_targets([pts], [_gt([[50.0, 50.0, 60.0, 10.0, a]], [0])])
    assert labels[0].tolist() == [0, 2]
    # regress ranges on the largest box-frame distance; norm_on_bbox divides by the stride
    head = _head(strides=[8, 16], regress_ranges=((-1, 32), (32, INF)), norm_on_bbox=True)
    labels, dists, _ = head.get_targets([points[:1], points[:1]],
                                        [_gt([[50.0, 50.0, 100.0, 10.0, 0.2]], [1])])
    assert labels[0].tolist() == [2] and labels[1].tolist() == [1]
    torch.testing.assert_close(dists[1][0], torch.tensor([50.0, 5.0, 50.0, 5.0]) / 16)
    # no objects: all background
    labels, dists, angles = _head().get_targets([points], [_gt(torch.zeros(0, 5).tolist(), [])])
    assert labels[0].tolist() == [2, 2] and dists[0].shape == (2, 4)


def test_losses_empty_and_one_object():
    model = build_model()
    model.train()
    data = make_batch(1, num_images=1, num_objects=1)
    empty = make_batch(1, num_images=1, num_objects=1)
    empty['data_samples'][0] = make_sample(torch.zeros(0, 5).numpy(),
                                           torch.zeros(0, dtype=torch.long).numpy(), 128)
    for batch, has_objects in ((data, True), (empty, False)):
        batch = model.data_preprocessor(batch, True)
        losses = model(**batch, mode='loss')
        assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_angle', 'loss_centerness'}
        assert losses['loss_cls'] > 0
        for key in ('loss_bbox', 'loss_angle', 'loss_centerness'):
            assert (float(losses[key].detach()) > 0) == has_objects, (key, losses[key])
        sum(losses.values()).backward()  # a gradient path even without positives


def test_tensor_boxes_as_after_boxtype2tensor():
    """mmdet's DetDataPreprocessor(boxtype2tensor=True) hands (N, 5) tensors."""
    head = _head()
    points = torch.tensor([[64.0, 64.0]])
    box = [[64.0, 64.0, 30.0, 10.0, 0.4]]
    a = head.get_targets([points], [_gt(box, [0])])
    b = head.get_targets([points], [InstanceData(bboxes=torch.tensor(box),
                                                 labels=torch.tensor([0]))])
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)
    with pytest.raises(ValueError, match=r'\(N, 5\)'):
        head.get_targets([points], [InstanceData(bboxes=torch.zeros(1, 4),
                                                 labels=torch.tensor([0]))])


def test_point_only_samples_refused():
    model = build_model()
    data = make_batch(2, num_images=1)
    data['data_samples'][0].set_metainfo(dict(has_gt_boxes=False))
    with pytest.raises(ValueError, match='has_gt_boxes=False'):
        model(**model.data_preprocessor(data, True), mode='loss')


def test_predict_contract():
    model = build_model().eval()
    data = make_batch(3, num_images=2)
    with torch.no_grad():
        out = model.test_step(data)  # untrained: every score < score_thr
    for sample in out:
        pred = sample.pred_instances
        assert isinstance(pred.bboxes, RotatedBoxes) and pred.bboxes.tensor.shape == (0, 5)
        assert pred.scores.shape == (0,) and pred.labels.shape == (0,)
    with torch.no_grad():
        feats = model.extract_feat(model.data_preprocessor(data, False)['inputs'])
        outs = model.bbox_head(feats)
        metas = [s.metainfo for s in data['data_samples']]
        cfg = dict(score_thr=0.0, nms_pre=50, min_bbox_size=0, nms=dict(iou_threshold=0.1),
                   max_per_img=30)
        plain = model.bbox_head.predict_by_feat(*outs, batch_img_metas=metas, cfg=cfg)
        for m in metas:
            m['scale_factor'] = (2.0, 2.0)
        scaled = model.bbox_head.predict_by_feat(*outs, batch_img_metas=metas, cfg=cfg,
                                                 rescale=True)
        no_nms = model.bbox_head.predict_by_feat(*outs, batch_img_metas=metas, cfg=cfg,
                                                 with_nms=False)
    for p, s, n in zip(plain, scaled, no_nms):
        k = len(p)
        assert 0 < k <= 30 and isinstance(p.bboxes, RotatedBoxes)
        assert p.bboxes.tensor.shape == (k, 5)
        assert p.labels.dtype == torch.int64 and set(p.labels.tolist()) <= {0, 1}
        assert torch.all(p.scores[:-1] >= p.scores[1:])
        assert p.bboxes.angles.min() >= -math.pi / 2 and p.bboxes.angles.max() < math.pi / 2
        torch.testing.assert_close(s.bboxes.tensor[:, :4], p.bboxes.tensor[:, :4] / 2)
        assert len(n) == 30 >= k  # NMS removed overlapping boxes
        # class-aware rotated NMS at 0.1: kept boxes of one class overlap by <= 0.1
        for c in (0, 1):
            b = p.bboxes[p.labels == c]
            iou = RotatedBoxes.overlaps(b, b) - torch.eye(len(b))
            assert (iou <= 0.1 + 1e-5).all()


def test_mmdet_fcos_with_our_head():
    """From an mmdet project: ``type='mmdet.FCOS'`` with ``vision_sparse.RotatedFCOSHead``."""
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmdet.utils import register_all_modules
    from mmengine.optim import OptimWrapper
    register_all_modules(init_default_scope=False)
    cfg = small_model_cfg()
    cfg['type'] = 'FCOS'
    cfg['data_preprocessor']['type'] = 'DetDataPreprocessor'
    cfg['data_preprocessor']['boxtype2tensor'] = True  # mmdet's default: boxes as tensors
    for part in ('backbone', 'neck'):
        cfg[part]['type'] = cfg[part]['type'].replace('mmdet.', '')
    cfg['bbox_head']['type'] = 'vision_sparse.RotatedFCOSHead'
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = MMDET_MODELS.build(cfg)
    assert type(model).__name__ == 'FCOS'
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    losses = model.train_step(make_batch(4, num_images=2), optim)
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    model.bbox_head.test_cfg['score_thr'] = 0.0
    with torch.no_grad():
        pred = model.test_step(make_batch(4, num_images=1))[0].pred_instances
    assert pred.bboxes.dim() == 2 and pred.bboxes.shape[1] == 5 and len(pred) > 0


FRESH = r'''
import sys
import vision_sparse
assert 'mmdet.models' not in sys.modules  # the detector parts register lazily
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmengine.utils import import_modules_from_strings
cfg = Config(dict(custom_imports=dict(imports=['vision_sparse'], allow_failed_imports=False),
                  head=dict(type='vision_sparse.RotatedFCOSHead', num_classes=3, in_channels=8,
                            feat_channels=8, stacked_convs=1, strides=[8],
                            regress_ranges=((-1, 1e8),), norm_cfg=None)))
import_modules_from_strings(**cfg.custom_imports)
register_all_modules(init_default_scope=False)
with DefaultScope.overwrite_default_scope('mmdet'):
    head = MODELS.build(cfg.head)
print(type(head).__module__, type(head.angle_coder).__name__)
'''


def test_registered_for_an_mmdet_project_in_a_fresh_interpreter():
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, '-c', FRESH], cwd=root, capture_output=True,
                         text=True, timeout=300, env={**__import__('os').environ,
                                                      'PYTHONPATH': str(root)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert 'vision_sparse.models.dense_heads.rotated_fcos_head PSCCoder' in out.stdout


def test_base_config_builds_trains_and_predicts():
    """configs/_base_/models/rotated-fcos_r18_fpn.py as written (ResNet-18, 256-ch FPN)."""
    from mmengine.config import Config
    from mmengine.optim import OptimWrapper

    from .synthetic import BASE_CONFIG
    cfg = Config.fromfile(str(BASE_CONFIG)).model
    assert cfg.bbox_head.angle_coder == dict(type='PSCCoder', num_step=3)
    model = build_model(cfg=cfg.to_dict())
    assert type(model).__name__ == 'RotatedFCOS'
    assert model.bbox_head.conv_angle.out_channels == 3 and model.bbox_head.num_classes == 15
    data = make_batch(5, num_images=1, size=96, num_objects=2)
    losses = model.train_step(data, OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3)))
    assert all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        pred = model.test_step(data)[0].pred_instances
    assert isinstance(pred.bboxes, RotatedBoxes) and pred.bboxes.tensor.shape[1:] == (5,)
