"""Training the voxel grids of all landmarks in one batch (FaVoR steps 3-4).

:class:`BatchedLandmarkTrainer` trains **all landmarks at once**: one tensor
``(L, G, G, G)`` of densities and ``(L, C, G, G, G)`` of features, one render
call over the rays (:mod:`.training_rays`) of every landmark, the sum of the
per-landmark losses (:mod:`.landmark_losses`), and one Adam. Adam is
element-wise and each landmark's loss only touches its own grid, so this is
exactly the per-landmark optimisation of the official code without its Python
loop (``benchmarks/bench_voxel_render.py`` runs that loop with this trainer's
:meth:`~BatchedLandmarkTrainer.train_step` and compares).

After training, a landmark's PSNR is computed over all its rays; landmarks
below ``psnr_threshold`` are dropped and at most ``max_landmarks`` kept (the
longest tracks first, as the official training order).
"""
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
from torch import Tensor

from ...ops.voxel_render import DEFAULT_DENSITY_SHIFT
from ...registry import TASK_UTILS
from ...utils.config import merge_conf
from .landmark_losses import (fused_landmark_loss, landmark_loss_terms, loss_to_psnr,
                              total_variation)
from .landmark_map import render_landmarks
from .tracker import TrackSet
from .training_rays import TrainingRays, build_training_rays

__all__ = ['BatchedLandmarkTrainer']


@TASK_UTILS.register_module()
class BatchedLandmarkTrainer:
    """Trains the voxel grids of all landmarks in one batch (FaVoR steps 3-4).

    Args:
        **conf: overrides of :attr:`default_conf`:

            * ``grid_size`` (int): G (3 in FaVoR).
            * ``iterations`` (int): optimisation steps (official: 2000).
            * ``rays_per_landmark`` (int): random rays per landmark and step
              (official: 1024); ``0`` uses every ray of every landmark each step.
            * ``lr`` (float): Adam learning rate of both grids (official 0.1).
            * ``init_density`` (float): initial raw density of every cell (official
              0). 4 makes a ray through the box centre start at ``T_last ~ 0.3``, so
              the entropy term pushes landmarks to opaque (see docs/favor.md).
            * ``lr_decay_iters`` (int): the rate decays by 0.1 every so many steps
              (:meth:`learning_rate`).
            * ``betas`` (tuple): Adam betas.
            * ``entropy_weight`` / ``cosine_weight`` (float): 0.1 / 0.2.
            * ``cosine_from_iter`` (int): the cosine term starts at this step (2).
            * ``tv_from_fraction`` (float): TV is on for steps >= this fraction.
            * ``tv_density_weight`` / ``tv_feature_weight`` (float): TV weights.
            * ``psnr_threshold`` (float): landmarks below are dropped (dB).
            * ``max_landmarks`` (int): cap (1500 indoor, 10000 outdoor); 0 = none.
            * ``candidate_factor`` (float): at most ``factor * max_landmarks``
              longest tracks are trained.
            * ``step_ratio`` / ``density_shift`` / ``bg``: rendering constants.
            * ``max_rays_per_chunk`` (int): evaluation chunk size.
            * ``seed`` (int): ray sampling seed.
            * ``show_progress`` (bool): tqdm bar over steps.
    """

    default_conf = dict(
        grid_size=3, init_density=4.0,
        # optimisation
        iterations=2000, rays_per_landmark=1024, seed=0,
        lr=0.1, lr_decay_iters=10000, betas=(0.9, 0.99),
        # loss
        entropy_weight=0.1, cosine_weight=0.2, cosine_from_iter=2,
        tv_from_fraction=0.75, tv_density_weight=1e-3, tv_feature_weight=1e-3,
        # which landmarks are trained and kept
        psnr_threshold=20.0, max_landmarks=1500, candidate_factor=1.5,
        # rendering
        step_ratio=0.1, density_shift=DEFAULT_DENSITY_SHIFT, bg=1.0, max_rays_per_chunk=262144,
        show_progress=True)

    def __init__(self, **conf):
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        if self.conf['grid_size'] < 2:
            raise ValueError(f"grid_size must be >= 2, got {self.conf['grid_size']}")
        if self.conf['iterations'] < 0:
            raise ValueError(f"iterations must be >= 0, got {self.conf['iterations']}")

    # ------------------------------------------------------------------ pieces
    def init_grids(self, num_landmarks: int, channels: int):
        """Densities ``init_density`` (official: 0) and zero features, float32.

        Returns:
            tuple: ``density`` (L, G, G, G) and ``features`` (L, C, G, G, G).
        """
        g = self.conf['grid_size']
        return (torch.full((num_landmarks, g, g, g), float(self.conf['init_density'])),
                torch.zeros(num_landmarks, channels, g, g, g))

    def learning_rate(self, it: int) -> float:
        """Adam's rate at step ``it``: ``lr * 0.1 ** (it / lr_decay_iters)``."""
        return self.conf['lr'] * 0.1 ** (it / max(self.conf['lr_decay_iters'], 1))

    def make_optimizer(self, params: List[Tensor]) -> torch.optim.Optimizer:
        """Adam with the configured rate and betas; the fused kernel where torch
        has it for these tensors."""
        betas = tuple(self.conf['betas'])
        try:
            return torch.optim.Adam(params, lr=self.conf['lr'], betas=betas, fused=True)
        except (RuntimeError, ValueError):  # e.g. a dtype / device without a fused kernel
            return torch.optim.Adam(params, lr=self.conf['lr'], betas=betas)

    def _render(self, density, features, box_min, box_max, rays: TrainingRays, idx, lm_ids,
                clamp: bool = True):
        c = self.conf
        return render_landmarks(density, features, box_min, box_max, rays.origins[idx],
                                rays.dirs[idx], lm_ids, c['step_ratio'], c['density_shift'],
                                c['bg'], clamp=clamp)

    def train_step(self, opt: torch.optim.Optimizer, density: Tensor, features: Tensor,
                   box_min: Tensor, box_max: Tensor, rays: TrainingRays, target_sq_norms: Tensor,
                   gen: torch.Generator, it: int) -> float:
        """One optimisation step of the grids of ``rays.num_landmarks`` landmarks.

        Args:
            opt (Optimizer): from :meth:`make_optimizer` over ``[density, features]``.
            density, features (Tensor): (L, G, G, G), (L, C, G, G, G) leaf grids.
            box_min, box_max (Tensor): (L, 3) float32 boxes.
            rays (TrainingRays): rays of the L landmarks.
            target_sq_norms (Tensor): (M,) squared norms of all ``rays.targets``.
            gen (torch.Generator): ray sampling.
            it (int): step index (learning rate, cosine and TV switches).

        Returns:
            float: the summed (over landmarks) loss of this step.
        """
        c = self.conf
        for group in opt.param_groups:
            group['lr'] = self.learning_rate(it)
        idx = rays.sample(c['rays_per_landmark'], gen)
        lm = rays.landmark[idx]
        feat, t_last = self._render(density, features, box_min, box_max, rays, idx, lm,
                                    clamp=False)
        loss = fused_landmark_loss(
            feat, t_last, rays.targets[idx], lm, rays.num_landmarks, c['entropy_weight'],
            c['cosine_weight'] if it >= c['cosine_from_iter'] else 0.0, target_sq_norms[idx],
            rays_each=max(c['rays_per_landmark'], 0))
        if it >= int(c['tv_from_fraction'] * c['iterations']):
            loss = loss + (c['tv_density_weight'] * total_variation(density)
                           + c['tv_feature_weight'] * total_variation(features)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    # ------------------------------------------------------------------ training
    def optimize(self, rays: TrainingRays, box_min: Tensor, box_max: Tensor,
                 density: Optional[Tensor] = None, features: Optional[Tensor] = None,
                 progress: Optional[Callable[[int, int], None]] = None) -> Dict:
        """Optimise the grids of all landmarks together (gradients on even under no_grad).

        Args:
            rays (TrainingRays): rays of L landmarks.
            box_min, box_max (Tensor): (L, 3) boxes.
            density, features (Tensor, optional): initial grids (default :meth:`init_grids`).
            progress (callable, optional): called as ``progress(done, total)`` after
                every step; an exception it raises (e.g. a user's cancel) stops the
                training and propagates.

        Returns:
            dict: ``density`` (L, G, G, G), ``features`` (L, C, G, G, G) and
            ``history`` (list of float: mean per-landmark loss per step).
        """
        if density is None or features is None:
            density, features = self.init_grids(rays.num_landmarks, rays.targets.shape[-1])
        with torch.enable_grad():
            return self._optimize(rays, box_min.float(), box_max.float(), density, features,
                                  progress=progress)

    def _optimize(self, rays: TrainingRays, box_min: Tensor, box_max: Tensor, density: Tensor,
                  features: Tensor, progress: Optional[Callable[[int, int], None]] = None
                  ) -> Dict:
        """One Adam over the stacked grids of all landmarks (see :meth:`optimize`)."""
        from tqdm import tqdm
        c = self.conf
        L = rays.num_landmarks
        density = density.detach().clone().requires_grad_(True)
        features = features.detach().clone().requires_grad_(True)
        opt = self.make_optimizer([density, features])
        gen = torch.Generator().manual_seed(int(c['seed']))
        tt_all = rays.targets.float().square().sum(-1)  # target norms, once
        history = []
        bar = tqdm(range(c['iterations']), desc=f'training {L} landmarks',
                   disable=not c['show_progress'] or L == 0)
        for it in bar:
            if L == 0:
                break
            history.append(self.train_step(opt, density, features, box_min, box_max, rays,
                                           tt_all, gen, it) / L)
            if it % 10 == 0:
                bar.set_postfix(loss=f'{history[-1]:.4f}')
            if progress is not None:
                progress(it + 1, c['iterations'])
        return dict(density=density.detach(), features=features.detach(), history=history)

    @torch.no_grad()
    def evaluate(self, rays: TrainingRays, box_min: Tensor, box_max: Tensor, density: Tensor,
                 features: Tensor) -> Dict[str, Tensor]:
        """Loss terms and PSNR of every landmark over all its rays.

        Returns:
            dict: (L,) tensors ``mse``, ``entropy``, ``cosine``, ``total`` (with
            the cosine term) and ``psnr`` (dB, :func:`~.landmark_losses.loss_to_psnr`).
        """
        c = self.conf
        L = rays.num_landmarks
        acc = {k: torch.zeros(L) for k in ('mse', 'entropy', 'cosine', 'total')}
        n = len(rays)
        step = c['max_rays_per_chunk']
        counts = rays.counts.clamp_min(1).float()
        for s in range(0, n, step):
            idx = torch.arange(s, min(n, s + step))
            lm = rays.landmark[idx]
            desc, t_last = self._render(density, features, box_min.float(), box_max.float(),
                                        rays, idx, lm)
            terms = landmark_loss_terms(desc, t_last, rays.targets[idx], lm, L,
                                        c['entropy_weight'], c['cosine_weight'])
            part = torch.bincount(lm, minlength=L).float() / counts
            for k in acc:
                acc[k] += terms[k] * part
        acc['psnr'] = loss_to_psnr(acc['total'])
        return acc

    def __call__(self, tracks: TrackSet, points: Tensor, box_min: Tensor, box_max: Tensor,
                 progress: Optional[Callable[[int, int], None]] = None) -> Dict:
        """Train, filter by PSNR and cap the number of landmarks.

        Args:
            tracks (TrackSet): inlier observations, ``track_ids`` = landmark index.
            points (Tensor): (L, 3) landmark points.
            box_min, box_max (Tensor): (L, 3) boxes.
            progress (callable, optional): ``progress(step, total)`` after every
                training step (see :meth:`optimize`).

        Returns:
            dict: kept landmarks' ``centers``, ``box_min``, ``box_max`` (K, 3),
            ``density``, ``features``, ``psnr`` (K,), ``num_obs`` (K,), ``index``
            (K,) positions in the input, ``psnr_all`` (L,) and ``history``.
        """
        c = self.conf
        L = points.shape[0]
        num_obs = tracks.lengths() if L else torch.zeros(0, dtype=torch.long)
        order = torch.argsort(num_obs, descending=True, stable=True)
        if c['max_landmarks'] and c['candidate_factor'] > 0:
            order = order[:int(np.ceil(c['candidate_factor'] * c['max_landmarks']))]
        rays = build_training_rays(tracks).subset(order)
        bmin, bmax = box_min[order], box_max[order]
        res = self.optimize(rays, bmin, bmax, progress=progress)
        ev = self.evaluate(rays, bmin, bmax, res['density'], res['features'])
        keep = torch.nonzero(ev['psnr'] >= c['psnr_threshold'])[:, 0]  # already longest-first
        if c['max_landmarks']:
            keep = keep[:c['max_landmarks']]
        psnr_all = torch.full((L,), float('nan'))
        psnr_all[order] = ev['psnr']
        return dict(centers=points[order][keep], box_min=bmin[keep].double(),
                    box_max=bmax[keep].double(), density=res['density'][keep],
                    features=res['features'][keep], psnr=ev['psnr'][keep],
                    num_obs=num_obs[order][keep], index=order[keep], psnr_all=psnr_all,
                    history=res['history'])
