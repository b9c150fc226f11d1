"""RelativePoseMetric / HomographyMetric on synthetic pairs with exact answers."""
import numpy as np
import pytest
from mmengine.evaluator import Evaluator

from vision_sparse.evaluation.functional import warp_points_homography
from vision_sparse.evaluation.metrics import HomographyMetric, RelativePoseMetric
from vision_sparse.registry import METRICS
from vision_sparse.testing.synthetic_pairs import make_two_view_scene, random_homography


def _pose_sample(method, seed, n=200, **kw):
    s = make_two_view_scene(n, seed=seed, **kw)
    return dict(kpts0=s['kpts0'].astype(np.float32), kpts1=s['kpts1'].astype(np.float32),
                K0=s['K0'], K1=s['K1'], T_0to1=s['T_0to1'], H_0to1=None, method=method,
                name0=f'a{seed}', name1=f'b{seed}')


def _homography_sample(method, seed, n=100, shuffle=False):
    H = random_homography((320, 240), seed=seed)
    k0 = np.random.default_rng(seed).uniform([0, 0], [319, 239], (n, 2))
    k1 = warp_points_homography(H, k0)
    if shuffle:
        k1 = k1[np.random.default_rng(1).permutation(n)]
    return dict(kpts0=k0, kpts1=k1, H_0to1=H, image_size0=np.array([320, 240]), K0=None,
                K1=None, T_0to1=None, method=method)


def test_keys_and_values_per_method():
    metric = METRICS.build(dict(type='RelativePoseMetric'))
    good = [_pose_sample('good', s) for s in range(4)]
    few = [_pose_sample('few', s, n=4) for s in range(3)]  # < 5 matches: failed estimates
    metric.process(None, good[:2] + few)
    metric.process(None, good[2:])
    out = metric.compute_metrics(metric.results)
    for m in ('good', 'few'):
        for k in ('auc@5', 'auc@10', 'auc@20', 'num_matches', 'precision', 'num_pairs'):
            assert f'{m}/{k}' in out
    assert out['good/auc@5'] > 99.9 and out['good/auc@20'] > 99.9
    assert out['few/auc@5'] == out['few/auc@20'] == 0.0
    assert out['good/num_matches'] == 200 and out['few/num_matches'] == 4
    assert out['good/precision'] == pytest.approx(1.0)
    assert out['good/num_pairs'] == 4 and out['few/num_pairs'] == 3
    assert not any(k.startswith(('good/hacc', 'few/hacc')) for k in out)


def test_default_method_and_mixed_auc():
    metric = RelativePoseMetric()
    samples = [_pose_sample(None, s) for s in range(2)]
    for s in samples:
        del s['method']
    bad = _pose_sample(None, 9)
    del bad['method']
    bad['kpts1'] = bad['kpts1'][np.random.default_rng(0).permutation(200)]
    metric.process(None, samples + [bad])
    out = metric.compute_metrics(metric.results)
    # two exact pairs, one failure: AUC = 2/3 at every threshold (errors ~0)
    assert out['matcher/auc@5'] == pytest.approx(200 / 3, abs=0.1)
    assert out['matcher/precision'] < 0.75


def test_homography_pairs_give_hacc():
    metric = RelativePoseMetric()
    metric.process(None, [_homography_sample('m', 0), _homography_sample('m', 1),
                          _homography_sample('m', 2, shuffle=True)])
    out = metric.compute_metrics(metric.results)
    assert out['m/hacc@3'] == pytest.approx(200 / 3)
    assert out['m/hacc@10'] == pytest.approx(200 / 3)
    assert 'm/hauc@5' in out and 'm/auc@5' not in out


def test_homography_metric_requires_H():
    metric = HomographyMetric()
    with pytest.raises(ValueError, match='H_0to1'):
        metric.process(None, [_pose_sample('x', 0)])
    metric.process(None, [_homography_sample('x', 0)])
    assert metric.compute_metrics(metric.results)['x/hacc@3'] == 100.0


def test_bad_samples_raise():
    metric = RelativePoseMetric()
    s = _pose_sample('x', 0)
    del s['kpts1']
    with pytest.raises(ValueError, match='kpts1'):
        metric.process(None, [s])
    s = _pose_sample('x', 0)
    s['T_0to1'] = None
    with pytest.raises(ValueError, match='neither'):
        metric.process(None, [s])
    with pytest.raises(ValueError, match='ransac_method'):
        RelativePoseMetric(ransac_method='lmeds')


def test_through_mmengine_evaluator():
    evaluator = Evaluator(RelativePoseMetric())
    evaluator.process([_pose_sample('e', s) for s in range(3)], data_batch=None)
    out = evaluator.evaluate(3)
    assert out['e/auc@10'] > 99.9


def test_several_methods_per_pair_survive_size_truncation():
    """A model returning one sample per method and pair (A2PM eval) must report every
    method although mmengine truncates the collected results to the dataset size."""
    import numpy as np
    from vision_sparse.evaluation.metrics import RelativePoseMetric
    rng = np.random.default_rng(0)
    K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])
    metric = RelativePoseMetric()
    for _ in range(2):  # two pairs, one batch each, three methods per pair
        samples = [dict(kpts0=rng.uniform(0, 600, (20, 2)).astype(np.float32),
                        kpts1=rng.uniform(0, 600, (20, 2)).astype(np.float32),
                        K0=K, K1=K, T_0to1=np.eye(4), method=m)
                   for m in ('matcher', 'mesa', 'dmesa')]
        metric.process(None, samples)
    out = metric.evaluate(size=2)
    for m in ('matcher', 'mesa', 'dmesa'):
        assert any(k.endswith(f'{m}/auc@10') for k in out), (m, sorted(out))
