"""Rotated FCOS learns: the loss falls on a tiny synthetic set, one image is
overfitted to boxes of the right place, size and angle, and DOTAMetric scores it."""
import math

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper

from vision_sparse.evaluation import DOTAMetric
from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes

from .synthetic import build_model, losses_sum, make_batch

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def _optim(model, lr=2e-3):
    return OptimWrapper(torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4),
                        clip_grad=dict(max_norm=10.0))


def test_loss_falls_on_a_tiny_set():
    model = build_model(seed=1).train()
    optim = _optim(model)
    batches = [make_batch(10 + i, num_images=2) for i in range(3)]
    history = [losses_sum(model.train_step(batches[i % 3], optim)) for i in range(30)]
    first, last = np.mean(history[:3]), np.mean(history[-3:])
    assert np.isfinite(history).all()
    assert last < 0.4 * first, history


def _angle_error(a, b):
    d = torch.remainder(a - b, math.pi)
    return torch.minimum(d, math.pi - d)


def test_overfit_one_image_boxes_and_map():
    model = build_model(seed=2).train()
    optim = _optim(model)
    data = make_batch(20, num_images=1, num_objects=5)
    gt = data['data_samples'][0].gt_instances
    assert len(gt) == 5
    for _ in range(150):
        model.train_step(data, optim)
    model.eval()
    with torch.no_grad():
        sample = model.test_step(data)[0]
    pred = sample.pred_instances
    assert isinstance(pred.bboxes, RotatedBoxes) and len(pred) > 0
    # the best-scoring prediction of each object's class that overlaps it
    iou = RotatedBoxes.overlaps(gt.bboxes, pred.bboxes)  # (G, K)
    iou = iou * (gt.labels[:, None] == pred.labels[None]).float()
    best_iou, best = iou.max(dim=1)
    assert (best_iou > 0.5).sum() >= 4, best_iou
    matched = best_iou > 0.5
    err = _angle_error(gt.bboxes.angles[matched], pred.bboxes.angles[best[matched]])
    assert torch.rad2deg(err).median() < 5.0, torch.rad2deg(err)
    # the metric on these predictions
    metric = DOTAMetric(classes=('red', 'green'))
    metric.process({}, [sample])
    result = metric.compute_metrics(metric.results)
    assert result['mAP'] > 0.7, result
