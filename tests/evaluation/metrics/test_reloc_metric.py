"""RelocalizationMetric on hand-made relocalizer outputs with known errors."""
import numpy as np
import pytest

from vision_sparse.evaluation.metrics.reloc_metric import RelocalizationMetric
from vision_sparse.registry import METRICS


def _pose(t):
    T = np.eye(4)
    T[:3, 3] = t
    return T


def _prediction(name, init_cm, iter_cm, success=True):
    """A relocalizer output whose poses are ``x`` centimetres off the identity."""
    iters = [None if c is None else _pose((c / 100, 0, 0)) for c in iter_cm]
    done = [p for p in iters if p is not None]
    return dict(name=name, gt_T_c2w=np.eye(4), T_init=_pose((init_cm / 100, 0, 0)),
                iteration_poses=iters, T_c2w=done[-1] if done else None, success=success,
                reason='' if success else 'iteration 1: 2 matches (need >= 4)', timings={})


def test_medians_per_iteration_recall_and_localized():
    preds = [_prediction('a', 20, [4, 2, 1]), _prediction('b', 30, [8, 6, None]),
             _prediction('c', 40, [None, None, None], success=False)]
    metric = METRICS.build(dict(type='RelocalizationMetric', max_translation=0.05,
                                max_rotation=5.0))
    metric.process(None, preds)
    out = metric.compute_metrics(metric.results)
    assert out['num_queries'] == 3
    assert out['init/median_translation_cm'] == pytest.approx(30.0)
    assert out['iter1/median_translation_cm'] == pytest.approx(8.0)
    assert out['iter3/median_translation_cm'] == float('inf')  # 1 of 3 localized at iteration 3
    assert out['iter1/recall'] == pytest.approx(1 / 3)
    # final: the last successful pose of each query (1 cm, 6 cm, not localized)
    assert out['median_translation_cm'] == pytest.approx(6.0)
    assert out['recall'] == pytest.approx(1 / 3)
    assert out['localized'] == pytest.approx(2 / 3)


def test_bad_arguments_and_missing_ground_truth():
    with pytest.raises(ValueError, match='max_translation'):
        RelocalizationMetric(max_translation=0.0)
    metric = RelocalizationMetric()
    pred = _prediction('a', 20, [1])
    del pred['gt_T_c2w']
    with pytest.raises(ValueError, match='gt_T_c2w'):
        metric.process(None, [pred])
    assert metric.compute_metrics([]) == dict(num_queries=0)
