"""NuScenesDetMetric: registry build, DetDataSample input, flat result dict, table, bad input."""
import math

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData

from vision_sparse.datasets.formats.nuscenes_info import NUSCENES_CLASSES
from vision_sparse.evaluation.functional import NUSCENES_ATTRIBUTES, nuscenes_detection_eval
from vision_sparse.evaluation.metrics import NuScenesDetMetric
from vision_sparse.registry import METRICS
from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D

CLASSES = list(NUSCENES_CLASSES)


class _Log:
    def __init__(self):
        self.info_lines, self.warnings = [], []

    def info(self, msg):
        self.info_lines.append(msg)

    def warning(self, msg):
        self.warnings.append(msg)

    def log(self, level, msg):  # mmengine's print_log(logger='current')
        (self.warnings if level >= 30 else self.info_lines).append(msg)


@pytest.fixture
def log(monkeypatch):
    fake = _Log()
    monkeypatch.setattr(MMLogger, 'get_current_instance', classmethod(lambda cls: fake))
    return fake


def _data_sample(gt_boxes, gt_labels, pred_boxes, pred_labels, scores, gt_attrs=None):
    from mmdet.structures import DetDataSample
    ds = DetDataSample()
    gt = InstanceData(bboxes_3d=torch.as_tensor(np.asarray(gt_boxes, np.float32).reshape(-1, 9)),
                      labels_3d=torch.as_tensor(np.asarray(gt_labels, np.int64)))
    if gt_attrs is not None:
        gt.attr_labels = torch.as_tensor(np.asarray(gt_attrs, np.int64))
    ds.gt_instances_3d = gt
    ds.pred_instances_3d = InstanceData(
        bboxes_3d=LiDARBoxes3D(torch.as_tensor(np.asarray(pred_boxes, np.float32).reshape(-1, 9))),
        labels_3d=torch.as_tensor(np.asarray(pred_labels, np.int64)),
        scores_3d=torch.as_tensor(np.asarray(scores, np.float32)))
    return ds


def _scene(seed):
    rng = np.random.default_rng(seed)
    samples = []
    for _ in range(4):
        g = 8
        gb = np.concatenate([rng.uniform(-35, 35, (g, 2)), rng.uniform(-2, 0, (g, 1)), rng.uniform(0.5, 5, (g, 3)),
                             rng.uniform(-np.pi, np.pi, (g, 1)), rng.normal(0, 2, (g, 2))], axis=1)
        labels = rng.integers(0, 10, g)
        pb = gb + np.concatenate([rng.normal(0, 0.6, (g, 2)), np.zeros((g, 1)), np.zeros((g, 3)),
                                  rng.normal(0, 0.2, (g, 1)), rng.normal(0, 0.3, (g, 2))], axis=1)
        attrs = rng.integers(-1, 8, g)
        samples.append(_data_sample(gb, labels, pb, labels, rng.random(g), attrs))
    return samples


def test_registry_build_and_flat_results_equal_functional(log):
    metric = METRICS.build(dict(type='NuScenesDetMetric'))
    assert isinstance(metric, NuScenesDetMetric)
    metric.dataset_meta = dict(classes=CLASSES)
    samples = _scene(0)
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    res = metric.evaluate(len(samples))
    parsed = [metric.parse_sample(s) for s in samples]
    ref = nuscenes_detection_eval([p['gt'] for p in parsed], [p['pred'] for p in parsed], CLASSES)
    assert res['nuscenes/mAP'] == pytest.approx(ref['mAP']) and res['nuscenes/NDS'] == pytest.approx(ref['NDS'])
    assert 0 < res['nuscenes/mAP'] < 1
    assert res['nuscenes/mATE'] == pytest.approx(ref['tp_errors']['trans_err'])
    assert res['nuscenes/mAAE'] == pytest.approx(ref['tp_errors']['attr_err'])
    for name in CLASSES:
        assert res[f'nuscenes/AP/{name}'] == pytest.approx(ref['per_class'][name]['AP'])
        assert res[f'nuscenes/AP/{name}@0.5'] == pytest.approx(ref['per_class'][name]['AP@0.5'])
    assert math.isnan(res['nuscenes/AOE/traffic_cone']) and math.isnan(res['nuscenes/AVE/barrier'])
    assert set(k.split('/')[1] for k in res if k.count('/') == 1) >= {'mAP', 'NDS', 'mATE', 'mASE', 'mAOE',
                                                                     'mAVE', 'mAAE'}
    table = log.info_lines[-1]
    for word in ('AP@0.5', 'AP@4', 'ATE', 'ASE', 'AOE', 'AVE', 'AAE', 'traffic_cone', 'NDS'):
        assert word in table
    assert not log.warnings  # the GT carries attributes


def test_perfect_predictions_and_classes_from_config(log):
    a = NUSCENES_ATTRIBUTES.index
    gt = [[3, 4, -1, 4, 2, 1.5, 0.3, 5, 0], [0, -8, -1, 0.8, 0.6, 1.7, 1.0, 0, 0.1]]
    ds = _data_sample(gt, [0, 1], gt, [0, 1], [0.8, 0.7], gt_attrs=[a('vehicle.moving'), a('pedestrian.standing')])
    metric = NuScenesDetMetric(classes=['car', 'pedestrian'])
    metric.process({}, [ds])
    res = metric.evaluate(1)
    assert res['nuscenes/mAP'] == pytest.approx(1.0)
    assert res['nuscenes/mATE'] == pytest.approx(0.0, abs=1e-6)
    # Default attributes (moving car, still pedestrian) are right: AAE 0 -> NDS 1.
    assert res['nuscenes/mAAE'] == pytest.approx(0.0)
    assert res['nuscenes/NDS'] == pytest.approx(1.0, abs=1e-6)


def test_no_predictions_no_gt_never_crash(log):
    metric = NuScenesDetMetric()
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [_data_sample(np.zeros((0, 9)), [], np.zeros((0, 9)), [], [])])
    res = metric.evaluate(1)
    assert res['nuscenes/mAP'] == 0.0 and res['nuscenes/mATE'] == 1.0
    assert res['nuscenes/NDS'] == pytest.approx(0.0)
    assert log.warnings == []  # empty attr_labels was not given: only warned when GT lacks the field
    # GT without attr_labels -> warning about mAAE.
    metric.process({}, [_data_sample([[1, 1, 0, 4, 2, 1.5, 0, 0, 0]], [0], np.zeros((0, 9)), [], [])])
    res = metric.evaluate(1)
    assert res['nuscenes/AP/car'] == 0.0
    assert log.warnings and 'attr_labels' in log.warnings[0]


def _box_dict(boxes, labels, scores=None):
    d = dict(bboxes_3d=torch.as_tensor(boxes, dtype=torch.float32), labels_3d=torch.as_tensor(labels))
    if scores is not None:
        d['scores_3d'] = torch.as_tensor(scores, dtype=torch.float32)
    return d


_BOX = [[1.0, 1, 0, 4, 2, 1.5, 0, 0, 0]]


@pytest.mark.parametrize('sample, match', [
    (dict(pred_instances_3d=_box_dict(torch.zeros(1, 8), [0], [0.5]), gt_instances_3d=_box_dict(_BOX, [0])),
     r'pred_instances_3d\[0\]\.bboxes_3d must be \(M, 9\)'),
    (dict(pred_instances_3d=_box_dict(_BOX, [0], [0.5, 0.2]), gt_instances_3d=_box_dict(_BOX, [0])),
     r'pred_instances_3d\[0\]\.scores_3d must be \(1,\)'),
    (dict(pred_instances_3d=_box_dict(_BOX, [0]), gt_instances_3d=_box_dict(_BOX, [0])),
     r'pred_instances_3d\[0\] has no scores_3d'),
    (dict(pred_instances_3d=_box_dict(_BOX, [0], [0.5]), gt_instances_3d=_box_dict([[np.nan] * 9], [0])),
     r'gt_instances_3d\[0\]\.bboxes_3d has NaN'),
    (dict(pred_instances_3d=_box_dict(_BOX, [0], [0.5])), 'gt_instances_3d is missing'),
    (dict(pred_instances_3d=_box_dict(_BOX, [0], [0.5]), gt_instances_3d=_box_dict(_BOX, [10])),
     r'gt_instances_3d\[0\]\.labels_3d must be in'),
])
def test_bad_input_names_the_field(sample, match):
    metric = NuScenesDetMetric(classes=CLASSES)
    with pytest.raises(ValueError, match=match):
        metric.process({}, [sample])


def test_bad_options_and_missing_classes():
    with pytest.raises(ValueError, match='dist_th_tp'):
        NuScenesDetMetric(dist_th_tp=3.0)
    with pytest.raises(ValueError, match='classes'):
        NuScenesDetMetric().class_names
