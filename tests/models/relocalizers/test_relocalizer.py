import numpy as np
import pytest
import torch

from vision_sparse.evaluation.functional.relocalization import absolute_pose_error
from vision_sparse.evaluation.metrics.reloc_metric import RelocalizationMetric
from vision_sparse.models.relocalizers import (FaVoRRelocalizer, GlobalRetrieval, LandmarkMap,
                                               kmeans)
from vision_sparse.structures.results import check_result
from vision_sparse.testing.synthetic_scene import perturb_pose


@pytest.fixture(scope='module')
def relocalizer(extractor, landmark_map):
    model = FaVoRRelocalizer(extractor=extractor, seed=0)
    model.set_map(landmark_map)
    return model


def test_recovers_the_true_pose_from_a_perturbed_one(scene, relocalizer):
    rng = np.random.default_rng(3)
    for frame in scene['test']:
        T0 = perturb_pose(frame['T_c2w'], 0.08, 3.0, rng)  # 8 cm, 3 degrees off
        out = relocalizer.relocalize(frame['image'], frame['K'], T_init=T0)
        assert out['success'], out['reason']
        check_result(out)
        assert out['reason'] == '' and out['stop_reason'] == ''
        assert set(out['timings']) == {'extract', 'retrieval', 'render', 'match', 'pnp'}
        assert out['timings']['retrieval'] == 0.0  # T_init given
        assert all(out['timings'][k] > 0 for k in ('extract', 'render', 'match', 'pnp'))
        assert len(out['iterations']) == 3 and all(p is not None for p in out['iteration_poses'])
        dt, dr = absolute_pose_error(out['T_c2w'], frame['T_c2w'])
        assert dt < 0.02 and dr < 0.5
        assert out['iterations'][-1]['num_inliers'] >= 20
        assert out['matches']['inliers'].sum() == out['iterations'][-1]['num_inliers']


def test_retrieval_gives_the_initial_pose(scene, relocalizer):
    frame = scene['test'][0]
    out = relocalizer.relocalize(frame['image'], frame['K'])
    # the query lies between two mapping frames: retrieval must pick one of them
    d = [absolute_pose_error(f['T_c2w'], frame['T_c2w'])[0] for f in scene['train']]
    nearest = {scene['train'][i]['name'] for i in np.argsort(d)[:2]}
    assert out['init_name'] in nearest
    assert out['success'] and out['timings']['retrieval'] > 0
    assert absolute_pose_error(out['T_c2w'], frame['T_c2w'])[0] < 0.02


def test_a_query_that_sees_no_landmark(scene, relocalizer):
    frame = scene['test'][0]
    away = frame['T_c2w'].copy()
    away[:3, :3] = away[:3, :3] @ np.diag([-1.0, 1.0, -1.0])  # turn around (yaw 180 deg)
    out = relocalizer.relocalize(frame['image'], frame['K'], T_init=away)
    assert not out['success'] and out['T_c2w'] is None
    check_result(out)
    assert 'no landmark projects' in out['reason'] and out['stop_reason'] == out['reason']
    assert out['iteration_poses'] == [None, None, None]
    assert out['matches']['keypoints'].shape == (0, 2)


def test_a_later_failed_iteration_keeps_the_pose_and_says_why(scene, extractor, landmark_map):
    """Iteration 2's PnP fails: the pose of iteration 1 is the result,
    ``success`` with an empty ``reason``, the failure in ``stop_reason``."""
    model = FaVoRRelocalizer(extractor=extractor, seed=0)
    model.set_map(landmark_map)
    calls = []
    pnp = model._pnp

    def failing_after_one(*args, **kwargs):
        T, inl = pnp(*args, **kwargs)
        calls.append(1)
        return T, (inl if len(calls) == 1 else np.zeros_like(inl))

    model._pnp = failing_after_one
    frame = scene['test'][0]
    out = model.relocalize(frame['image'], frame['K'], T_init=frame['T_c2w'])
    check_result(out)
    assert out['success'] and out['reason'] == ''
    assert out['stop_reason'].startswith('iteration 2: 0 PnP inliers')
    assert len(out['iterations']) == 1 and out['iteration_poses'][1:] == [None, None]
    assert out['T_c2w'] is out['iterations'][0]['T_c2w']


def test_forward_and_metric(scene, relocalizer):
    frames = scene['test']
    batch = dict(inputs=[torch.from_numpy(f['image']).permute(2, 0, 1) for f in frames],
                 data_samples=dict(K=[f['K'] for f in frames], T_c2w=[f['T_c2w'] for f in frames],
                                   name=[f['name'] for f in frames]))  # pseudo_collate layout
    outs = relocalizer(**batch, mode='predict')
    assert [o['name'] for o in outs] == [f['name'] for f in frames]
    metric = RelocalizationMetric()
    metric.process(None, outs)
    res = metric.compute_metrics(metric.results)
    assert res['recall'] == 1.0 and res['localized'] == 1.0
    assert res['median_translation_cm'] < 2.0 and res['median_rotation_deg'] < 0.5
    assert res['init/median_translation_cm'] > res['iter3/median_translation_cm']
    with pytest.raises(ValueError, match="no 'loss' mode"):
        relocalizer(**batch, mode='loss')


def test_map_of_another_extractor_is_rejected(landmark_map, extractor):
    other = LandmarkMap(landmark_map.centers, landmark_map.box_min, landmark_map.box_max,
                        landmark_map.density, landmark_map.features, 'aliked-n16')
    model = FaVoRRelocalizer(extractor=extractor)
    with pytest.raises(ValueError, match="'aliked-n16'"):
        model.set_map(other)
    missing = FaVoRRelocalizer(extractor=extractor, map_path='/nonexistent/map.pth')
    with pytest.raises(FileNotFoundError, match='favor_build_map'):
        missing.ensure_map()


def test_retrieval_finds_the_same_image():
    gen = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(4, 16, generator=gen), dim=-1)
    # each image mixes the 4 "words" in different proportions
    sets = [torch.nn.functional.normalize(centres[torch.randint(0, 4, (60,), generator=gen)]
                                          + 0.05 * torch.randn(60, 16, generator=gen), dim=-1)
            for _ in range(6)]
    ret = GlobalRetrieval(num_clusters=4).build(sets, torch.eye(4).repeat(6, 1, 1))
    assert len(ret) == 6
    cb = kmeans(torch.cat(sets), 4)
    assert (cb @ centres.T).max(0).values.min() > 0.95  # every true centre found
    for i, s in enumerate(sets):
        top = ret.query(s)
        assert int(top['index'][0]) == i and float(top['score'][0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match='method'):
        GlobalRetrieval(method='netvlad')


def test_kmeans_is_deterministic_and_handles_few_distinct_vectors():
    gen = torch.Generator().manual_seed(1)
    x = torch.nn.functional.normalize(torch.randn(200, 8, generator=gen), dim=-1)
    a, b = kmeans(x, 5, seed=3), kmeans(x, 5, seed=3)
    assert a.shape == (5, 8) and torch.equal(a, b)
    assert torch.allclose(a.norm(dim=-1), torch.ones(5))
    # fewer distinct vectors than clusters: one centre per distinct vector
    two = x[:2].repeat(10, 1)
    cb = kmeans(two, 4)
    assert cb.shape == (2, 8) and (cb @ x[:2].T).max(0).values.min() > 1 - 1e-6
    with pytest.raises(ValueError, match='N >= 1'):
        kmeans(torch.zeros(0, 8), 2)


def test_min_inlier_ratio_rejects_poses_from_mostly_wrong_matches(scene, extractor,
                                                                   landmark_map):
    """Move 80 % of the landmarks to other landmarks' places (descriptors kept):
    most matches point at wrong 3-D points. FaVoR's rule (> 3 inliers) still
    accepts a pose; min_inlier_ratio=0.5 refuses it with a reason."""
    g = torch.Generator().manual_seed(0)
    L = len(landmark_map)
    moved = torch.randperm(L, generator=g)[: int(0.8 * L)]
    perm = torch.arange(L)
    perm[moved] = moved[torch.randperm(len(moved), generator=g)]
    lm = landmark_map.select(torch.arange(L))
    lm.centers, lm.box_min, lm.box_max = (lm.centers[perm], lm.box_min[perm],
                                          lm.box_max[perm])
    frame = scene['test'][0]
    strict = FaVoRRelocalizer(extractor=extractor, seed=0, min_inlier_ratio=0.5,
                              max_focal_deviation=None)
    strict.set_map(lm)
    out = strict.relocalize(frame['image'], frame['K'], T_init=frame['T_c2w'])
    assert not out['success'] and out['T_c2w'] is None
    assert 'min_inlier_ratio' in out['reason'] or 'inliers (need' in out['reason']
    loose = FaVoRRelocalizer(extractor=extractor, seed=0, min_inliers=4, min_inlier_ratio=0.0,
                             max_focal_deviation=None, max_pose_change=None)  # FaVoR's rule
    loose.set_map(lm)
    res = loose.relocalize(frame['image'], frame['K'], T_init=frame['T_c2w'])
    if res['iterations']:
        it = res['iterations'][0]
        assert it['num_inliers'] < 0.5 * it['num_matches']
    with pytest.raises(ValueError, match='min_inlier_ratio'):
        FaVoRRelocalizer(extractor=extractor, min_inlier_ratio=1.5)
