import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from vision_sparse.models.relocalizers import (BatchedLandmarkTrainer, TrainingRays,
                                               build_training_rays, fused_landmark_loss,
                                               landmark_loss_terms, total_variation)
from vision_sparse.registry import TASK_UTILS

BENCH = Path(__file__).resolve().parents[3] / 'benchmarks' / 'bench_voxel_render.py'


def _per_landmark_trainer():
    """The benchmark's per-landmark loop trainer (not part of the library)."""
    spec = importlib.util.spec_from_file_location('bench_voxel_render', BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.PerLandmarkTrainer


def _tiny(triangulated, n=4):
    """The first ``n`` landmarks of the scene (their rays and boxes)."""
    tk = triangulated['tracks']
    keep = tk.track_ids < n
    return (tk.select_observations(keep), triangulated['points'][:n],
            triangulated['box_min'][:n], triangulated['box_max'][:n])


def test_rays_go_through_the_patch_pixels(triangulated):
    tk, pts, _, _ = _tiny(triangulated, 3)
    rays = build_training_rays(tk)
    assert len(rays) == tk.uv.shape[0] * 49 and rays.num_landmarks == 3
    # the centre ray of every observation passes through its keypoint
    centre = torch.arange(tk.uv.shape[0]) * 49 + 24
    K = tk.intrinsics[tk.frame_ids]
    w2c = torch.linalg.inv(tk.poses[tk.frame_ids])
    X = rays.origins[centre].double() + 2.0 * rays.dirs[centre].double()
    Xc = torch.einsum('mij,mj->mi', w2c[:, :3, :3], X) + w2c[:, :3, 3]
    uv = torch.stack([K[:, 0, 0] * Xc[:, 0] / Xc[:, 2] + K[:, 0, 2],
                      K[:, 1, 1] * Xc[:, 1] / Xc[:, 2] + K[:, 1, 2]], -1)
    assert torch.allclose(uv.float(), tk.uv, atol=1e-3)
    assert torch.equal(rays.targets[centre], tk.patches[:, 3, 3])
    # and every centre ray hits its landmark's box (the point lies on it)
    assert (rays.landmark[centre] == tk.track_ids).all()


def test_ray_sampling_stays_inside_each_landmark():
    lm = torch.tensor([0, 0, 0, 1, 3, 3])  # landmark 2 has no rays
    rays = TrainingRays(torch.zeros(6, 3), torch.ones(6, 3), torch.zeros(6, 4), lm, 4)
    assert rays.offsets.tolist() == [0, 3, 4, 4, 6]
    gen = torch.Generator().manual_seed(0)
    idx = rays.sample(5, gen, landmarks=torch.tensor([0, 3]))
    assert idx.shape == (10,)
    assert set(idx[:5].tolist()) <= {0, 1, 2} and set(idx[5:].tolist()) <= {4, 5}
    assert rays.sample(0, gen).tolist() == list(range(6))
    assert rays.sample(0, gen, landmarks=torch.tensor([3, 1])).tolist() == [4, 5, 3]
    sub = rays.subset(torch.tensor([3, 0]))
    assert sub.landmark.tolist() == [0, 0, 1, 1, 1] and sub.num_landmarks == 2


def test_batched_training_lowers_the_loss_and_matches_the_loop(triangulated):
    tk, pts, bmin, bmax = _tiny(triangulated, 4)
    conf = dict(iterations=12, rays_per_landmark=0, show_progress=False, tv_from_fraction=0.5)
    rays = build_training_rays(tk)
    batched = BatchedLandmarkTrainer(**conf)
    res_b = batched.optimize(rays, bmin, bmax)
    res_l = _per_landmark_trainer()(**conf).optimize(rays, bmin, bmax)
    h = res_b['history']
    assert h[-1] < 0.75 * h[0]
    assert np.allclose(h, res_l['history'], rtol=1e-4, atol=1e-6)
    assert torch.allclose(res_b['density'], res_l['density'], atol=1e-4)
    assert torch.allclose(res_b['features'], res_l['features'], atol=1e-4)
    ev = batched.evaluate(rays, bmin, bmax, res_b['density'], res_b['features'])
    ev0 = batched.evaluate(rays, bmin, bmax, *batched.init_grids(4, tk.descriptor_dim))
    assert (ev['total'] < ev0['total']).all() and (ev['psnr'] > ev0['psnr']).all()
    assert torch.allclose(ev['psnr'], 10 * torch.log10(4 / ev['total']))


def test_the_benchmark_loop_trainer_is_not_registered():
    assert TASK_UTILS.get('PerLandmarkTrainer') is None
    assert TASK_UTILS.get('BatchedLandmarkTrainer') is BatchedLandmarkTrainer


def test_trained_landmarks_pass_the_psnr_filter(trained, triangulated):
    assert 0 < len(trained['centers']) <= 100
    assert (trained['psnr'] >= 20).all()
    # the cap keeps the longest tracks first
    n_obs = trained['num_obs']
    assert (n_obs[:-1] >= n_obs[1:]).all()
    assert torch.equal(trained['centers'], triangulated['points'][trained['index']])


def test_psnr_filter_and_cap(triangulated):
    tk, pts, bmin, bmax = _tiny(triangulated, 6)
    trainer = BatchedLandmarkTrainer(iterations=3, rays_per_landmark=8, psnr_threshold=99.0,
                                     show_progress=False)
    assert len(trainer(tk, pts, bmin, bmax)['centers']) == 0
    capped = BatchedLandmarkTrainer(iterations=3, rays_per_landmark=8, psnr_threshold=-99.0,
                                    max_landmarks=2, show_progress=False)(tk, pts, bmin, bmax)
    assert len(capped['centers']) == 2
    assert capped['num_obs'].tolist() == sorted(tk.lengths().tolist(), reverse=True)[:2]


def test_total_variation_of_a_constant_grid_is_zero():
    g = torch.ones(2, 5, 3, 3, 3)
    assert torch.equal(total_variation(g), torch.zeros(2))
    g[1, :, 0] = 0  # a step along the first grid axis: 1/2 of the x-pairs differ by 1
    assert torch.allclose(total_variation(g), torch.tensor([0.0, 0.5]))


def test_bad_options():
    with pytest.raises(ValueError, match='unknown'):
        BatchedLandmarkTrainer(iters=3)
    with pytest.raises(ValueError, match='grid_size'):
        BatchedLandmarkTrainer(grid_size=1)


@pytest.mark.parametrize('rays_each, use_cosine', [(0, True), (5, True), (5, False)])
def test_fused_loss_equals_the_autograd_of_the_loss_terms(rays_each, use_cosine):
    """The hand-written backward of the training loss (clamp, MSE, entropy,
    cosine) against autograd of ``landmark_loss_terms``, float64, including clamped
    descriptors, a saturated transmittance and an all-zero descriptor."""
    g = torch.Generator().manual_seed(0)
    L, C = 4, 6
    R = L * 5
    lm = (torch.arange(L).repeat_interleave(5) if rays_each
          else torch.randint(0, L, (R,), generator=g))
    feat = (torch.randn(R, C, generator=g, dtype=torch.float64) * 0.8)
    feat[0, :2] = torch.tensor([1.7, -2.5], dtype=torch.float64)  # clamped entries
    feat[1] = 0.0  # zero descriptor: cosine's norm is clamped
    t_last = torch.rand(R, generator=g, dtype=torch.float64)
    t_last[2] = 0.0  # outside the entropy clamp
    target = torch.nn.functional.normalize(torch.randn(R, C, generator=g, dtype=torch.float64),
                                           dim=-1)
    ew, cw = 0.1, (0.2 if use_cosine else 0.0)
    f1, t1 = feat.clone().requires_grad_(True), t_last.clone().requires_grad_(True)
    ref = landmark_loss_terms(f1.clamp(-1, 1), t1, target, lm, L, ew, cw, rays_each)['total'].sum()
    ref.backward()
    f2, t2 = feat.clone().requires_grad_(True), t_last.clone().requires_grad_(True)
    out = fused_landmark_loss(f2, t2, target, lm, L, ew, cw, target.square().sum(-1), rays_each)
    out.backward()
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12)
    assert torch.allclose(f2.grad, f1.grad, rtol=1e-10, atol=1e-12)
    assert torch.allclose(t2.grad, t1.grad, rtol=1e-10, atol=1e-12)
