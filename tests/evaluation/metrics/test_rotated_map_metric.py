"""DOTAMetric through mmengine's process / compute / evaluate API."""
import logging

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData

from vision_sparse.evaluation.metrics import DOTAMetric
from vision_sparse.registry import METRICS
from vision_sparse.testing import shared_data_path

# Same hand case as tests/evaluation/functional/test_rotated_map.py: AP07 = 6/11, area AP = 5/9.
GTS = np.array([[10, 10, 10, 10, 0], [50, 10, 10, 10, 0], [90, 10, 10, 10, 0]], float)
DETS = np.array([[10, 10, 10, 10, 0], [200, 200, 10, 10, 0], [52, 10, 10, 10, 0],
                 [10, 10, 10, 10, 0]], float)
SCORES = np.array([0.9, 0.8, 0.7, 0.6])


def _flat_samples():
    # image 0: the hand case (class 'ship'); image 1: one perfect 'car' and a difficult 'car'
    s0 = dict(pred_boxes=DETS, pred_scores=SCORES, pred_labels=np.ones(4, int),
              gt_boxes=GTS, gt_labels=np.ones(3, int))
    s1 = dict(pred_boxes=torch.tensor([[5.0, 5, 4, 8, 0.3], [40, 40, 6, 6, 0.0]]),
              pred_scores=torch.tensor([0.9, 0.95]), pred_labels=torch.tensor([0, 0]),
              gt_boxes=torch.tensor([[5.0, 5, 4, 8, 0.3], [40, 40, 6, 6, 0.0]]),
              gt_labels=torch.tensor([0, 0]), gt_difficult=torch.tensor([False, True]))
    return [s0, s1]


def test_flat_dicts_process_and_compute():
    metric = METRICS.build(dict(type='DOTAMetric', classes=['car', 'ship']))
    metric.process(None, _flat_samples())
    out = metric.compute_metrics(metric.results)
    assert out['AP_car'] == 1.0  # the detection on the difficult car is ignored
    assert out['AP_ship'] == pytest.approx(6 / 11)
    assert out['mAP'] == pytest.approx((1 + 6 / 11) / 2)
    assert out['AP07_ship'] == pytest.approx(6 / 11)
    assert out['AParea_ship'] == pytest.approx(5 / 9)
    assert out['mAP_07'] == out['mAP']
    assert out['mAP_area'] == pytest.approx((1 + 5 / 9) / 2)


def test_evaluate_prefix_area_variant_and_dataset_meta():
    metric = DOTAMetric(use_07_metric=False, report_both=False)
    metric.dataset_meta = dict(classes=('car', 'ship', 'tank'))
    metric.process(None, _flat_samples())
    out = metric.evaluate(2)
    # 'tank' has no ground truth: no AP entry, out of the mean
    assert set(out) == {'dota/mAP', 'dota/AP_car', 'dota/AP_ship'}
    assert out['dota/AP_ship'] == pytest.approx(5 / 9)
    assert out['dota/mAP'] == pytest.approx((1 + 5 / 9) / 2)


def test_mmdet_style_instances_and_ignored_instances():
    pred = InstanceData(bboxes=torch.tensor(DETS, dtype=torch.float32),
                        scores=torch.tensor(SCORES, dtype=torch.float32),
                        labels=torch.zeros(4, dtype=torch.long))
    gt = InstanceData(bboxes=torch.tensor(GTS[:2], dtype=torch.float32),
                      labels=torch.zeros(2, dtype=torch.long))
    ignored = InstanceData(bboxes=torch.tensor(GTS[2:], dtype=torch.float32),
                           labels=torch.zeros(1, dtype=torch.long))
    extra = dict(pred_instances=InstanceData(bboxes=torch.tensor([[90.0, 10, 10, 10, 0]]),
                                             scores=torch.tensor([0.65]), labels=torch.tensor([0])),
                 gt_instances=InstanceData(bboxes=torch.zeros((0, 5)),
                                           labels=torch.zeros(0, dtype=torch.long)))
    metric = DOTAMetric(classes=['ship'])
    metric.process(None, [dict(pred_instances=pred, gt_instances=gt, ignored_instances=ignored), extra])
    out = metric.compute_metrics(metric.results)
    # third ground truth is ignored (difficult): recall over 2 gts, the detection on it in image 1
    # is a false positive (other image), so the curve is that of 5 ranked detections:
    # TP, FP, TP, FP(extra, 0.65), FP -> recall 1/2,1/2,1,1,1; precision 1,1/2,2/3,1/2,2/5
    assert out['AP_ship'] == pytest.approx((6 + 5 * 2 / 3) / 11)
    assert out['AParea_ship'] == pytest.approx(1 / 2 + 1 / 2 * 2 / 3)


def test_poly_box_type_and_logged_table():
    def corners(b):
        cx, cy, w, h, _ = b
        return [cx + w / 2, cy + h / 2, cx - w / 2, cy + h / 2,
                cx - w / 2, cy - h / 2, cx + w / 2, cy - h / 2]

    metric = DOTAMetric(classes=['ship'], box_type='poly')
    metric.process(None, [dict(pred_boxes=np.array([corners(b) for b in DETS]), pred_scores=SCORES,
                               pred_labels=np.zeros(4, int), gt_boxes=np.array([corners(b) for b in GTS]),
                               gt_labels=np.zeros(3, int))])
    logger = MMLogger.get_instance('test_dota_metric')
    messages = []

    class _Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger.addHandler(_Keep())
    out = metric.compute_metrics(metric.results)
    assert out['mAP'] == pytest.approx(6 / 11)
    assert any('ship' in m and '0.5455' in m and '0.5556' in m for m in messages)


def test_bad_samples_raise():
    with pytest.raises(ValueError, match='box_type'):
        DOTAMetric(box_type='obb')
    with pytest.raises(ValueError, match='iou_thr'):
        DOTAMetric(iou_thr=1.5)
    metric = DOTAMetric()
    with pytest.raises(ValueError, match="no 'gt_boxes'"):
        metric.process(None, [dict(pred_boxes=DETS, pred_scores=SCORES, pred_labels=np.zeros(4, int))])
    with pytest.raises(ValueError, match='must be a dict'):
        metric.process(None, [DETS])
    metric.process(None, [dict(pred_boxes=DETS * np.nan, pred_scores=SCORES, pred_labels=np.zeros(4, int),
                               gt_boxes=GTS, gt_labels=np.zeros(3, int))])
    with pytest.raises(ValueError, match='finite'):
        metric.compute_metrics(metric.results)


def test_real_dota_labels_through_the_metric():
    from vision_sparse.datasets.formats.dota import load_dota_txt

    folder = shared_data_path('oriented', 'dota', 'labelTxt')
    files = sorted(folder.glob('*.txt')) if folder else []
    if not files:
        pytest.skip('DOTA sample labels not found')
    labels = [load_dota_txt(f) for f in files]
    classes = sorted({c for lab in labels for c in lab['labels']})
    metric = DOTAMetric(classes=classes, box_type='poly')
    metric.process(None, [dict(pred_boxes=lab['polys'], pred_scores=np.ones(len(lab['labels'])),
                               pred_labels=lab['labels'], gt_boxes=lab['polys'], gt_labels=lab['labels'],
                               gt_difficult=lab['difficult']) for lab in labels])
    out = metric.evaluate(len(labels))
    assert out['dota/mAP'] == pytest.approx(1.0) and out['dota/mAP_area'] == pytest.approx(1.0)
    assert {f'dota/AP_{c}' for c in classes} <= set(out)


def test_built_from_an_mmdet_registry_by_scoped_name():
    mmdet_registry = pytest.importorskip('mmdet.registry')
    metric = mmdet_registry.METRICS.build(dict(type='vision_sparse.DOTAMetric', classes=['ship']))
    assert isinstance(metric, DOTAMetric) and metric.classes == ['ship']


def test_poly_metric_with_rotated_boxes_and_only_ignored_ground_truth():
    # image 0: one ship; image 1: only an ignored (difficult) ship, detected -> ignored
    metric = DOTAMetric(classes=['ship'], box_type='poly')
    box = torch.tensor([[10.0, 10, 10, 10, 0.2]])
    metric.process(None, [
        dict(pred_instances=dict(bboxes=box, scores=torch.tensor([0.5]), labels=torch.tensor([0])),
             gt_instances=dict(bboxes=box, labels=torch.tensor([0]))),
        dict(pred_instances=dict(bboxes=box, scores=torch.tensor([0.9]), labels=torch.tensor([0])),
             gt_instances=dict(bboxes=torch.zeros((0, 8)), labels=torch.zeros(0, dtype=torch.long)),
             ignored_instances=dict(bboxes=box, labels=torch.tensor([0])))])
    out = metric.compute_metrics(metric.results)
    assert out['mAP'] == pytest.approx(1.0) and out['AParea_ship'] == pytest.approx(1.0)
