"""FaVoR benchmark: voxel_render speed, batched training, memory, relocalization accuracy.

1. ``voxel_render`` forward + backward on 1,500 landmarks x 3x3x3 cells x 128-d
   (``--rays`` rays per landmark, random boxes in front of a few cameras):
   the compiled CPU kernel vs the pure-PyTorch reference, both through the
   op's public API (``voxel_render`` / ``voxel_render_reference``); median of
   ``--repeats`` calls after a warm-up. No compiled op -> ``nan`` and FAIL.
2. Training: ``--train-iters`` steps of :class:`BatchedLandmarkTrainer` on all
   1,500 landmarks vs :class:`PerLandmarkTrainer` (defined here: the official
   per-landmark Python loop, running the batched trainer's own step) on the
   first ``--loop-subset`` of the same landmarks, the loop's time extrapolated linearly to 1,500 landmarks (it is linear in the
   number of landmarks: each is trained on its own). Same rays, same settings.
3. Memory per landmark of a 1,500-landmark, 128-d :class:`LandmarkMap` (KiB).
4. Relocalization on the synthetic room (settings of
   ``configs/favor/favor_xfeat-g3_100it_synthetic.py``): map built from 16
   frames, 8 queries, median errors after the last iteration.
5. Relocalization on the 7-Scenes "stairs" samples (``../shared/data``; skipped
   when absent), settings of ``configs/favor/favor_xfeat-g3_100it_7scenes-stairs.py``.
6. The same samples on an interleaved sanity split (frames 0 and 2 of every
   sequence map, frame 1 queries: ``..._7scenes-stairs-interleaved.py``).

Prints measured numbers, then one ``TARGET`` line per target; exits 0.

Usage::

    python benchmarks/bench_voxel_render.py [--rays 32] [--repeats 3] [--train-iters 3]
        [--loop-subset 100] [--threads 0] [--skip-reloc]
"""
import argparse
import math
import os
import os.path as osp
import sys
import time

from typing import Dict

import numpy as np
import torch
from torch import Tensor

from vision_sparse.models.relocalizers import BatchedLandmarkTrainer, TrainingRays
from vision_sparse.ops._ext import has_ext
from vision_sparse.ops.voxel_render import voxel_render, voxel_render_reference

L, C, G = 1500, 128, 3


class PerLandmarkTrainer(BatchedLandmarkTrainer):
    """The official way: one grid, one Adam and one loop of steps per landmark.

    Same maths and the same step (:meth:`BatchedLandmarkTrainer.train_step`:
    fused loss, fused Adam) as the library's batched trainer, one landmark at a
    time, so the benchmark measures what batching buys and nothing else; with
    ``rays_per_landmark=0`` (every ray at every step) both give the same grids
    up to float rounding (``tests/models/relocalizers/test_trainer.py`` checks
    it). Benchmark-only: not registered in the library.
    """

    def _optimize(self, rays: TrainingRays, box_min: Tensor, box_max: Tensor, density: Tensor,
                  features: Tensor, progress=None) -> Dict:
        from tqdm import tqdm
        c = self.conf
        n_lm = rays.num_landmarks
        out_d, out_f = density.detach().clone(), features.detach().clone()
        gen = torch.Generator().manual_seed(int(c['seed']))
        history = np.zeros(c['iterations'])
        for lm in tqdm(range(n_lm), desc='training landmarks one by one',
                       disable=not c['show_progress']):
            sub = rays.subset(torch.tensor([lm]))
            tt = sub.targets.float().square().sum(-1)
            d = out_d[lm:lm + 1].clone().requires_grad_(True)
            f = out_f[lm:lm + 1].clone().requires_grad_(True)
            bmin, bmax = box_min[lm:lm + 1], box_max[lm:lm + 1]
            opt = self.make_optimizer([d, f])
            for it in range(c['iterations']):
                history[it] += self.train_step(opt, d, f, bmin, bmax, sub, tt, gen, it) / n_lm
            out_d[lm], out_f[lm] = d.detach()[0], f.detach()[0]
            if progress is not None:  # landmarks done, as the batched trainer reports steps
                progress(lm + 1, n_lm)
        return dict(density=out_d, features=out_f, history=history.tolist())


def compiled_available() -> bool:
    return has_ext() and hasattr(torch.ops.vision_sparse, 'voxel_render_forward')


def make_problem(rays_per_landmark: int, seed: int = 0):
    """1,500 landmark boxes 1-4 m in front of 4 cameras and rays through them."""
    gen = torch.Generator().manual_seed(seed)
    centres = torch.rand(L, 3, generator=gen) * torch.tensor([4.0, 3.0, 2.0]) + \
        torch.tensor([-2.0, 1.0, -1.0])
    cams = torch.tensor([[-0.5, 0, 0], [0.5, 0, 0], [0, -0.3, 0.2], [0, 0.2, -0.2]])
    cam_of = torch.randint(0, 4, (L,), generator=gen)
    half = 0.012 * (centres - cams[cam_of]).norm(dim=-1, keepdim=True)  # FaVoR: 6 px at f ~ 500
    ids = torch.arange(L).repeat_interleave(rays_per_landmark)
    origins = cams[cam_of][ids]
    target = centres[ids] + (torch.rand(len(ids), 3, generator=gen) - 0.5) * half[ids]
    return dict(box_min=centres - half, box_max=centres + half, rays_o=origins,
                rays_d=target - origins, ray_ids=ids,
                targets=torch.nn.functional.normalize(torch.randn(len(ids), C, generator=gen),
                                                      dim=-1))


def time_op(fn, p, density, features, repeats: int) -> float:
    times = []
    for r in range(repeats + 1):
        d = density.clone().requires_grad_(True)
        f = features.clone().requires_grad_(True)
        t0 = time.perf_counter()
        feat, t_last = fn(d, f, p['box_min'], p['box_max'], p['rays_o'], p['rays_d'], p['ray_ids'])
        (feat.square().sum() + t_last.sum()).backward()
        if r:  # the first call is a warm-up
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_op(args):
    p = make_problem(args.rays)
    gen = torch.Generator().manual_seed(1)
    density = torch.randn(L, G, G, G, generator=gen) + 3.0
    features = torch.randn(L, C, G, G, G, generator=gen) * 0.1
    print(f'[1] voxel_render fwd+bwd: {L} landmarks x {G}^3 x {C}-d, {len(p["ray_ids"])} rays')
    t_ref = time_op(voxel_render_reference, p, density, features, max(1, args.repeats - 1))
    print(f'    pure-PyTorch reference: {t_ref * 1e3:9.1f} ms')
    if not compiled_available():
        print('    compiled kernel: not built (run `make ops`)')
        return float('nan')
    t_ext = time_op(voxel_render, p, density, features, args.repeats)
    print(f'    compiled CPU kernel:    {t_ext * 1e3:9.1f} ms   -> {t_ref / t_ext:.1f}x')
    return t_ref / t_ext


def bench_training(args):
    p = make_problem(args.rays, seed=2)
    rays = TrainingRays(p['rays_o'], p['rays_d'], p['targets'], p['ray_ids'], L)
    conf = dict(iterations=args.train_iters, rays_per_landmark=args.rays, show_progress=False)
    warm = rays.subset(torch.arange(2))  # first-call costs (lazy imports of the optimiser)
    for cls in (BatchedLandmarkTrainer, PerLandmarkTrainer):
        cls(**dict(conf, iterations=1)).optimize(warm, p['box_min'][:2], p['box_max'][:2])
    n = min(args.loop_subset, L)
    sub = rays.subset(torch.arange(n))
    t_b, t_l = [], []
    for _ in range(3):  # interleaved, median of 3 of each
        t0 = time.perf_counter()
        BatchedLandmarkTrainer(**conf).optimize(rays, p['box_min'], p['box_max'])
        t_b.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        PerLandmarkTrainer(**conf).optimize(sub, p['box_min'][:n], p['box_max'][:n])
        t_l.append((time.perf_counter() - t0) * L / n)
    t_batched, t_loop = float(np.median(t_b)), float(np.median(t_l))
    print(f'[2] training {args.train_iters} steps, {args.rays} rays per landmark and step:')
    print(f'    batched, all {L} landmarks (median of 3):  {t_batched:8.2f} s')
    print(f'    per-landmark loop, {n} landmarks timed, extrapolated to {L}: {t_loop:8.2f} s '
          f'-> {t_loop / t_batched:.1f}x')
    return t_loop / t_batched


def bench_memory():
    from vision_sparse.models.relocalizers import LandmarkMap
    c = torch.zeros(L, 3, dtype=torch.float64)
    m = LandmarkMap(c, c - 0.01, c + 0.01, torch.zeros(L, G, G, G), torch.zeros(L, C, G, G, G),
                    'aliked-n16')
    kb = m.memory_per_landmark_kb()
    print(f'[3] memory: {kb:.2f} KiB per landmark ({G}^3 cells x (1 + {C}) float32 + box, '
          f'centre, PSNR, count)')
    return kb


def relocalize_all(model, frames):
    from vision_sparse.evaluation.functional.relocalization import relocalization_errors
    outs = [model.relocalize(f['image'], f['K']) for f in frames]
    gts = [f['T_c2w'] for f in frames]
    rows = {'init': relocalization_errors([o['T_init'] for o in outs], gts)}
    n_it = model.conf['num_iterations']
    for k in range(n_it):
        rows[f'iter{k + 1}'] = relocalization_errors([o['iteration_poses'][k] for o in outs], gts)
    for key, e in rows.items():
        print(f'    {key:>6}: median {np.median(e["translation"]) * 100:8.2f} cm '
              f'{np.median(e["rotation"]):8.3f} deg')
    final = rows[f'iter{n_it}']
    localized = sum(o['success'] for o in outs)
    print(f'    localized {localized}/{len(outs)}; recall 5 cm / 5 deg: '
          f'{np.mean((final["translation"] < 0.05) & (final["rotation"] < 5)):.2f}')
    return float(np.median(final['translation']) * 100), float(np.median(final['rotation']))


def bench_config(path, label):
    from mmengine.config import Config
    from vision_sparse.registry import DATASETS, MODELS
    from vision_sparse.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(path)
    model_cfg = cfg.model.to_dict()
    model_cfg['map_path'] = None  # always rebuild, never touch work_dirs
    model_cfg['show_progress'] = False
    model = MODELS.build(model_cfg)
    t0 = time.perf_counter()
    lmap = model.ensure_map()
    print(f'[{label}] map: {len(lmap)} landmarks in {time.perf_counter() - t0:.0f} s '
          f'(median PSNR {float(lmap.psnr.median()):.1f} dB)')
    test_cfg = dict(cfg.test_dataloader.dataset, lazy_init=False)
    frames = list(DATASETS.build(test_cfg).frames())
    return relocalize_all(model, frames)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rays', type=int, default=32, help='rays per landmark')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--train-iters', type=int, default=3)
    parser.add_argument('--loop-subset', type=int, default=100)
    parser.add_argument('--threads', type=int, default=0,
                        help='torch CPU threads for every variant (0: torch default, all '
                             'cores; the batched kernels use them, the per-landmark loop '
                             'of tiny ops cannot)')
    parser.add_argument('--skip-reloc', action='store_true')
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f'torch threads: {torch.get_num_threads()}')
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    os.chdir(root)
    t_start = time.time()
    op_speedup = bench_op(args)
    train_speedup = bench_training(args)
    kb = bench_memory()
    syn_t = syn_r = float('nan')
    if not args.skip_reloc:
        print('[4] synthetic room (16 mapping frames, 8 queries):')
        syn_t, syn_r = bench_config('configs/favor/favor_xfeat-g3_100it_synthetic.py', '4')
        from vision_sparse.testing import shared_data_path
        if shared_data_path('relocalization', '7scenes_stairs', 'stairs') is not None:
            print('[5] 7-Scenes stairs samples (6 mapping frames, 6 queries):')
            try:
                bench_config('configs/favor/favor_xfeat-g3_100it_7scenes-stairs.py', '5')
            except ValueError as exc:  # e.g. no landmark survives: report, do not crash
                print(f'    failed: {exc}')
            print('[6] 7-Scenes stairs samples, interleaved sanity split (frames 0, 2 of every '
                  'sequence map, frame 1 queries; not the benchmark split):')
            try:
                bench_config('configs/favor/favor_xfeat-g3_100it_7scenes-stairs-interleaved.py',
                             '6')
            except ValueError as exc:
                print(f'    failed: {exc}')
        else:
            print('[5] 7-Scenes samples absent: skipped')
    print(f'total {time.time() - t_start:.0f} s')

    def line(name, value, op, goal):
        ok = (not math.isnan(value)) and (value >= goal if op == '>=' else
                                          value <= goal if op == '<=' else value < goal)
        print(f'TARGET {name} measured={value:.4g} goal={op}{goal:g} {"PASS" if ok else "FAIL"}')

    line('voxel_render_compiled_speedup', op_speedup, '>=', 5)
    line('batched_training_speedup', train_speedup, '>=', 20)
    line('memory_per_landmark_kb', kb, '<=', 14)
    line('synthetic_median_translation_cm', syn_t, '<', 2)
    line('synthetic_median_rotation_deg', syn_r, '<', 0.5)


if __name__ == '__main__':
    main()
    sys.exit(0)
