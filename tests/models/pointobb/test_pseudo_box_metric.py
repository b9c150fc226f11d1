"""PseudoBoxMetric: mean IoU and long-side angle error of pseudo boxes."""
import math

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from vision_sparse.evaluation.metrics import PseudoBoxMetric
from vision_sparse.evaluation.metrics.pseudo_box_metric import long_side_angle_error
from vision_sparse.registry import METRICS
from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes


def _sample(pred, gt, labels, **meta):
    ds = DetDataSample(metainfo=meta)
    ds.gt_instances = InstanceData(bboxes=RotatedBoxes(torch.tensor(gt, dtype=torch.float32)),
                                   labels=torch.tensor(labels))
    ds.pred_instances = InstanceData(bboxes=RotatedBoxes(torch.tensor(pred, dtype=torch.float32)),
                                     labels=torch.tensor(labels), scores=torch.ones(len(labels)))
    return ds.to_dict()


def test_angle_error_periods():
    gt = np.array([[0, 0, 40, 10, 0.0], [0, 0, 40, 10, 0.0], [0, 0, 20, 20, 0.0], [0, 0, 40, 10, 1.5]])
    pred = np.array([[0, 0, 10, 40, math.pi / 2 + 0.1],   # same box with swapped sides: 0.1 rad off
                     [0, 0, 40, 10, math.pi - 0.05],       # 180-degree period
                     [0, 0, 20, 20, math.pi / 2 - 0.2],    # square: 90-degree period
                     [0, 0, 40, 10, -1.5]])
    err = long_side_angle_error(pred, gt)
    assert err == pytest.approx([math.degrees(0.1), math.degrees(0.05), math.degrees(0.2),
                                 math.degrees(math.pi - 3.0)], abs=1e-6)


def test_metric_values_and_agnostic_classes():
    metric = METRICS.build(dict(type='PseudoBoxMetric', angle_agnostic_classes=['tank']))
    metric.dataset_meta = dict(classes=('car', 'tank'))
    gt = [[50, 50, 40, 20, 0.3], [20, 20, 10, 10, 0.0], [80, 80, 30, 10, -0.5]]
    pred = [[50, 50, 40, 20, 0.3], [20, 20, 10, 10, 0.7], [80, 80, 30, 10, -0.5 + math.radians(10)]]
    metric.process({}, [_sample(pred, gt, [0, 1, 0])])
    # an image with point labels only is skipped
    metric.process({}, [_sample([[0, 0, 1, 1, 0]], [[0, 0, 0, 0, 0]], [0], has_gt_boxes=False)])
    res = metric.evaluate(1)
    assert res['pseudo/num_objects'] == 3
    assert res['pseudo/angle_err_deg'] == pytest.approx(5.0, abs=1e-3)  # median of 0 and 10
    assert res['pseudo/IoU_car'] < 1 and res['pseudo/IoU_tank'] < 1
    assert 0 < res['pseudo/mIoU'] < 1


def test_metric_bad_rows():
    metric = PseudoBoxMetric()
    with pytest.raises(ValueError, match='one row per true box'):
        metric.process({}, [dict(gt_instances=dict(bboxes=np.zeros((2, 5)), labels=np.zeros(2)),
                                 pred_instances=dict(bboxes=np.zeros((1, 5))))])
    with pytest.raises(ValueError, match='square_ratio'):
        PseudoBoxMetric(square_ratio=0.5)


def test_agnostic_classes_default_to_the_dataset_meta():
    metric = PseudoBoxMetric()
    metric.dataset_meta = dict(classes=('car', 'tank'), angle_agnostic_classes=('tank',))
    assert metric.angle_agnostic_classes == ['tank']
    assert PseudoBoxMetric(angle_agnostic_classes=[]).angle_agnostic_classes == []
