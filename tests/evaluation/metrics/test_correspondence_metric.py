"""CorrespondenceMetric against a hand computation."""
import math

import numpy as np
import pytest
import torch

from vision_sparse.evaluation.metrics import CorrespondenceMetric
from vision_sparse.registry import METRICS


def _sample(pred_tokens, gt_tokens, valid, p=8, soft_shift=0.0):
    pred = torch.tensor(pred_tokens, dtype=torch.float32)
    gt = torch.tensor(gt_tokens, dtype=torch.float32)
    to_px = (lambda t: t * p + (p - 1) / 2)
    return dict(pred_tokens=pred, gt_tokens=gt, pred_xy=to_px(pred), gt_xy=to_px(gt),
                soft_xy=to_px(gt) + soft_shift, gt_valid=torch.tensor(valid))


def test_accuracy_and_end_point_error_by_hand():
    # pair 1: token errors (Chebyshev to the rounded truth) 0, 1, 2 and an invalid token
    a = _sample([[0, 0], [3, 1], [5, 5], [9, 9]],
                [[0.2, 0.0], [2.4, 1.6], [3.4, 5.0], [0.0, 0.0]], [True, True, True, False],
                soft_shift=3.0)
    # pair 2: one token 1.6 tokens off in x -> the rounded truth is 2 tokens away
    b = _sample([[4, 4]], [[2.4, 4.0]], [True], soft_shift=3.0)
    metric = METRICS.build(dict(type='CorrespondenceMetric', radius=1.0))
    metric.dataset_meta = {}
    metric.process({}, [a])
    metric.process({}, [b])
    out = metric.evaluate(2)
    # within 1 token: the first two tokens of pair 1 -> 2 of 4 valid tokens
    assert out['corr/accuracy'] == pytest.approx(50.0)
    # errors in pixels: 8 * |(0.2, 0)|, 8 * |(0.6, -0.6)|, 8 * 1.6, 8 * 1.6
    epe = 8 * np.array([0.2, math.hypot(0.6, 0.6), 1.6, 1.6])
    assert out['corr/epe_px'] == pytest.approx(epe.mean(), rel=1e-6)
    assert out['corr/soft_epe_px'] == pytest.approx(3 * math.sqrt(2), rel=1e-6)
    assert out['corr/num_tokens'] == 4 and out['corr/num_pairs'] == 2


def test_radius_and_missing_ground_truth():
    m = CorrespondenceMetric(radius=2.0)
    m.process({}, [_sample([[5, 5]], [[3.4, 5.0]], [True])])
    assert m.compute_metrics(m.results)['accuracy'] == 100.0
    with pytest.raises(ValueError, match='ground truth'):
        m.process({}, [dict(pred_xy=torch.zeros(1, 2))])
    with pytest.raises(ValueError, match='radius'):
        CorrespondenceMetric(radius=-1)
