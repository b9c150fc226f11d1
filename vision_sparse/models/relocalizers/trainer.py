"""Training the voxel grids of all landmarks (FaVoR steps 3-4).

Every observation of a landmark gives ``P x P`` training rays (``P = 7``):
from the observing camera centre through the pixels of the patch around the
keypoint, with the dense-descriptor patch as targets. A landmark's loss is
FaVoR's::

    loss_l = MSE(d, f) + 0.1 * H(T_last) + 0.2 * (1 - cos(d, f))   [+ TV late]

with ``d`` the rendered descriptor clamped to ``[-1, 1]``, ``f`` the target,
``H`` the binary entropy of the final transmittance (pushes each ray to be
either fully absorbed or empty) and TV a total-variation term on the grids
during the last quarter of the iterations.

:class:`BatchedLandmarkTrainer` trains **all landmarks at once**: one tensor
``(L, G, G, G)`` of densities and ``(L, C, G, G, G)`` of features, one render
call over the rays of every landmark, the sum of the per-landmark losses, and
one Adam. Adam is element-wise and each landmark's loss only touches its own
grid, so this is exactly the per-landmark optimisation of the official code
(:class:`PerLandmarkTrainer`, kept for comparison) without its Python loop.

After training, a landmark's PSNR is ``10 log10(4 / loss_l)`` over all its rays
(the official ``mse2psnr(loss / 4)``: descriptors span ``[-1, 1]``); landmarks
below ``psnr_threshold`` are dropped and at most ``max_landmarks`` kept (the
longest tracks first, as the official training order).
"""
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ...registry import TASK_UTILS
from .landmark_map import DEFAULT_DENSITY_SHIFT, render_landmarks
from .tracker import TrackSet

__all__ = ['TrainingRays', 'build_training_rays', 'BatchedLandmarkTrainer', 'PerLandmarkTrainer']


class TrainingRays:
    """Rays of every landmark, grouped by landmark.

    Attributes:
        origins (Tensor): (M, 3) float32 camera centres, world frame.
        dirs (Tensor): (M, 3) float32 unnormalised directions, world frame.
        targets (Tensor): (M, C) target descriptors (storage dtype of the patches).
        landmark (Tensor): (M,) int64 landmark of each ray, sorted.
        offsets (Tensor): (L + 1,) start of each landmark's rays.
    """

    def __init__(self, origins, dirs, targets, landmark, num_landmarks: int):
        self.origins, self.dirs, self.targets, self.landmark = origins, dirs, targets, landmark
        counts = torch.bincount(landmark, minlength=num_landmarks)
        self.counts = counts
        self.offsets = F.pad(torch.cumsum(counts, 0), (1, 0))

    @property
    def num_landmarks(self) -> int:
        return int(self.counts.shape[0])

    def __len__(self) -> int:
        return int(self.landmark.shape[0])

    def subset(self, landmark_ids: Tensor) -> 'TrainingRays':
        """Rays of some landmarks, renumbered ``0..len(landmark_ids)-1`` in that order."""
        ids = torch.as_tensor(landmark_ids, dtype=torch.long)
        parts = [torch.arange(int(self.offsets[i]), int(self.offsets[i + 1])) for i in ids.tolist()]
        sel = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
        new_lm = torch.repeat_interleave(torch.arange(len(ids)), self.counts[ids])
        return TrainingRays(self.origins[sel], self.dirs[sel], self.targets[sel], new_lm, len(ids))


def build_training_rays(tracks: TrackSet) -> TrainingRays:
    """Rays through the patch pixels of every observation.

    Args:
        tracks (TrackSet): observations; ``track_ids`` are landmark indices.

    Returns:
        TrainingRays: ``P^2`` rays per observation; the ray of patch cell
        ``(dy, dx)`` passes through pixel ``uv + (dx, dy)`` and its target is
        ``patches[m, dy + h, dx + h]``.
    """
    h = tracks.patch_half
    p = 2 * h + 1
    M = tracks.uv.shape[0]
    off = torch.arange(-h, h + 1, dtype=torch.float64)
    oy, ox = torch.meshgrid(off, off, indexing='ij')
    pix = tracks.uv.double()[:, None, None, :] + torch.stack([ox, oy], -1)[None]  # (M, P, P, 2)
    K = tracks.intrinsics[tracks.frame_ids]  # (M, 3, 3)
    pose = tracks.poses[tracks.frame_ids]  # (M, 4, 4) c2w
    x = (pix[..., 0] - K[:, None, None, 0, 2]) / K[:, None, None, 0, 0]
    y = (pix[..., 1] - K[:, None, None, 1, 2]) / K[:, None, None, 1, 1]
    d_cam = torch.stack([x, y, torch.ones_like(x)], -1)
    dirs = torch.einsum('mij,mabj->mabi', pose[:, :3, :3], d_cam).reshape(-1, 3)
    origins = pose[:, None, None, :3, 3].expand(M, p, p, 3).reshape(-1, 3)
    targets = tracks.patches.reshape(M * p * p, -1)
    landmark = tracks.track_ids.repeat_interleave(p * p)
    return TrainingRays(origins.float(), dirs.float(), targets, landmark, tracks.num_tracks)


def _binary_entropy(t_last: Tensor) -> Tensor:
    """``H(T)`` of the final transmittance, clamped to ``[1e-6, 1 - 1e-6]``."""
    p = t_last.clamp(1e-6, 1 - 1e-6)
    return -(p * torch.log(p) + (1 - p) * torch.log1p(-p))


class _FusedRayLoss(torch.autograd.Function):
    """``sum_r weight_r * (MSE_r + ew H(T_r) + cw (1 - cos_r))`` of clamped
    descriptors, with a hand-written backward.

    The same numbers and gradients as :meth:`BatchedLandmarkTrainer.losses`
    (checked by the tests against the autograd of that function), in about a
    third of the passes over the ``(R, C)`` tensors: the gradient of the
    clamped descriptor ``d`` is ``a_r d + b_r t`` (one fused expression), and
    the target norms are computed once per training run.
    """

    @staticmethod
    def forward(ctx, feat, t_last, target, weight, tt, ent_w: float, cos_w: float):
        C = feat.shape[-1]
        d = feat.clamp(-1.0, 1.0)
        diff = d - target
        mse = torch.linalg.vecdot(diff, diff) / C
        dt = torch.linalg.vecdot(d, target)
        dd = torch.linalg.vecdot(d, d)
        nn2 = dd * tt
        n = nn2.clamp_min(1e-12).sqrt()
        per_ray = mse + ent_w * _binary_entropy(t_last)
        if cos_w:
            per_ray = per_ray + cos_w * (1 - dt / n)
        ctx.save_for_backward(feat, d, t_last, target, weight, dt, dd, n, nn2)
        ctx.ent_w, ctx.cos_w = ent_w, cos_w
        return (weight * per_ray).sum()

    @staticmethod
    def backward(ctx, g):
        feat, d, t_last, target, weight, dt, dd, n, nn2 = ctx.saved_tensors
        C = feat.shape[-1]
        gw = g * weight
        a = torch.full_like(dt, 2.0 / C)
        b = torch.full_like(dt, -2.0 / C)
        if ctx.cos_w:
            live = nn2 >= 1e-12  # where clamp_min passes the norm's gradient
            a = a + torch.where(live, ctx.cos_w * dt / (dd.clamp_min(1e-30) * n),
                                torch.zeros_like(dt))
            b = b - ctx.cos_w / n
        grad_d = torch.addcmul((gw * b)[:, None] * target, (gw * a)[:, None], d)
        grad_feat = grad_d.masked_fill_(feat.abs() > 1.0, 0.0)
        grad_t = None
        if ctx.needs_input_grad[1]:
            inside = (t_last >= 1e-6) & (t_last <= 1 - 1e-6)
            p = t_last.clamp(1e-6, 1 - 1e-6)
            grad_t = torch.where(inside, gw * ctx.ent_w * (torch.log1p(-p) - torch.log(p)),
                                 torch.zeros_like(p))
        return grad_feat, grad_t, None, None, None, None, None


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
            * ``lr_decay_iters`` (int): the rate decays by 0.1 every so many steps.
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
        grid_size=3,
        iterations=2000,
        rays_per_landmark=1024,
        lr=0.1,
        lr_decay_iters=10000,
        init_density=4.0,
        betas=(0.9, 0.99),
        entropy_weight=0.1,
        cosine_weight=0.2,
        cosine_from_iter=2,
        tv_from_fraction=0.75,
        tv_density_weight=1e-3,
        tv_feature_weight=1e-3,
        psnr_threshold=20.0,
        max_landmarks=1500,
        candidate_factor=1.5,
        step_ratio=0.1,
        density_shift=DEFAULT_DENSITY_SHIFT,
        bg=1.0,
        max_rays_per_chunk=262144,
        seed=0,
        show_progress=True,
    )

    def __init__(self, **conf):
        unknown = set(conf) - set(self.default_conf)
        if unknown:
            raise ValueError(f'unknown {type(self).__name__} options {sorted(unknown)}; '
                             f'valid: {sorted(self.default_conf)}')
        self.conf = {**self.default_conf, **conf}
        if self.conf['grid_size'] < 2:
            raise ValueError(f"grid_size must be >= 2, got {self.conf['grid_size']}")
        if self.conf['iterations'] < 0:
            raise ValueError(f"iterations must be >= 0, got {self.conf['iterations']}")

    # ------------------------------------------------------------------ pieces
    def init_grids(self, num_landmarks: int, channels: int):
        """Densities ``init_density`` (official: 0) and zero features, float32."""
        g = self.conf['grid_size']
        return (torch.full((num_landmarks, g, g, g), float(self.conf['init_density'])),
                torch.zeros(num_landmarks, channels, g, g, g))

    def sample(self, rays: TrainingRays, gen: torch.Generator, landmarks: Optional[Tensor] = None):
        """Ray indices for one step: ``rays_per_landmark`` uniform draws per landmark.

        Args:
            rays (TrainingRays): all rays.
            gen (torch.Generator): randomness.
            landmarks (Tensor, optional): sample only these landmarks.

        Returns:
            Tensor: (R,) indices into ``rays`` (all rays when ``rays_per_landmark == 0``).
        """
        n = self.conf['rays_per_landmark']
        lm = torch.arange(rays.num_landmarks) if landmarks is None else landmarks
        if n <= 0:
            if landmarks is None:
                return torch.arange(len(rays))
            return torch.cat([torch.arange(int(rays.offsets[i]), int(rays.offsets[i + 1]))
                              for i in lm.tolist()])
        u = torch.rand(len(lm), n, generator=gen)
        idx = rays.offsets[lm, None] + (u * rays.counts[lm, None]).long().clamp_max(
            rays.counts[lm, None] - 1)
        return idx.reshape(-1)

    def losses(self, desc: Tensor, t_last: Tensor, target: Tensor, landmark: Tensor,
               num_landmarks: int, use_cosine: bool, rays_each: int = 0) -> Dict[str, Tensor]:
        """Per-landmark loss terms, each a mean over that landmark's rays.

        Args:
            desc (Tensor): (R, C) clamped rendered descriptors.
            t_last (Tensor): (R,) final transmittance.
            target (Tensor): (R, C) targets.
            landmark (Tensor): (R,) landmark of each ray (``[0, num_landmarks)``).
            num_landmarks (int): L.
            use_cosine (bool): include the cosine term.
            rays_each (int): > 0 when the rays are ``rays_each`` consecutive rays per
                landmark in landmark order (a faster reshape instead of a scatter).

        Returns:
            dict: ``mse``, ``entropy``, ``cosine``, ``total`` -- each (L,).
        """
        if rays_each > 0:
            def per_lm(v):
                return v.reshape(num_landmarks, rays_each).mean(1)
        else:
            cnt = torch.bincount(landmark, minlength=num_landmarks).clamp_min(1).to(desc)

            def per_lm(v):
                return torch.zeros(num_landmarks, dtype=desc.dtype).index_add(0, landmark, v) / cnt

        target = target.to(desc)
        mse = per_lm((desc - target).square().mean(-1))
        ent = per_lm(_binary_entropy(t_last))
        dot = (desc * target).sum(-1)
        norms = (desc.square().sum(-1) * target.square().sum(-1)).clamp_min(1e-12).sqrt()
        cos = per_lm(1 - dot / norms)
        total = mse + self.conf['entropy_weight'] * ent
        if use_cosine:
            total = total + self.conf['cosine_weight'] * cos
        return dict(mse=mse, entropy=ent, cosine=cos, total=total)

    @staticmethod
    def total_variation(grid: Tensor) -> Tensor:
        """(L,) mean squared difference of neighbouring cells, summed over the 3 axes.

        Args:
            grid (Tensor): (L, ..., G, G, G).
        """
        dims = grid.dim()
        out = 0
        for ax in (dims - 3, dims - 2, dims - 1):
            d = torch.diff(grid, dim=ax)
            out = out + (d ** 2).reshape(grid.shape[0], -1).mean(-1)
        return out

    def _render(self, density, features, box_min, box_max, rays: TrainingRays, idx, lm_ids,
                clamp: bool = True):
        c = self.conf
        return render_landmarks(density, features, box_min, box_max, rays.origins[idx],
                                rays.dirs[idx], lm_ids, c['step_ratio'], c['density_shift'],
                                c['bg'], clamp=clamp)

    def _adam(self, params):
        """Adam with the configured betas; the fused kernel where torch has
        it for these tensors (both trainers use the same)."""
        betas = tuple(self.conf['betas'])
        try:
            return torch.optim.Adam(params, lr=self.conf['lr'], betas=betas, fused=True)
        except (RuntimeError, ValueError):  # e.g. a dtype / device without a fused kernel
            return torch.optim.Adam(params, lr=self.conf['lr'], betas=betas)

    def fused_loss(self, feat: Tensor, t_last: Tensor, target: Tensor, landmark: Tensor,
                   num_landmarks: int, use_cosine: bool, tt: Tensor,
                   rays_each: int = 0) -> Tensor:
        """Sum over landmarks of :meth:`losses` ``['total']``, from the *unclamped*
        rendered descriptors ``feat`` (R, C), with a fused backward.

        ``tt`` (R,) are the squared norms of ``target``.
        """
        if rays_each > 0:
            weight = torch.full_like(t_last, 1.0 / rays_each)
        else:
            cnt = torch.bincount(landmark, minlength=num_landmarks).clamp_min(1).to(feat)
            weight = 1.0 / cnt[landmark]
        c = self.conf
        return _FusedRayLoss.apply(feat, t_last, target.to(feat), weight, tt.to(feat),
                                   float(c['entropy_weight']),
                                   float(c['cosine_weight']) if use_cosine else 0.0)

    def _step(self, opt, density: Tensor, features: Tensor, box_min: Tensor, box_max: Tensor,
              rays: TrainingRays, tt_all: Tensor, gen: torch.Generator, it: int) -> float:
        """One optimisation step of the grids of ``rays.num_landmarks`` landmarks
        (both trainers run exactly this); returns the summed loss.

        ``tt_all`` (M,) are the squared norms of all ``rays.targets``.
        """
        c = self.conf
        for group in opt.param_groups:
            group['lr'] = self._lr(it)
        idx = self.sample(rays, gen)
        lm = rays.landmark[idx]
        feat, t_last = self._render(density, features, box_min, box_max, rays, idx, lm,
                                    clamp=False)
        loss = self.fused_loss(feat, t_last, rays.targets[idx], lm, rays.num_landmarks,
                               it >= c['cosine_from_iter'], tt_all[idx],
                               rays_each=max(c['rays_per_landmark'], 0))
        if it >= int(c['tv_from_fraction'] * c['iterations']):
            loss = loss + (c['tv_density_weight'] * self.total_variation(density)
                           + c['tv_feature_weight'] * self.total_variation(features)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    def _lr(self, it: int) -> float:
        return self.conf['lr'] * 0.1 ** (it / max(self.conf['lr_decay_iters'], 1))

    # ------------------------------------------------------------------ training
    def optimize(self, rays: TrainingRays, box_min: Tensor, box_max: Tensor,
                 density: Optional[Tensor] = None, features: Optional[Tensor] = None) -> Dict:
        """Optimise the grids of all landmarks together (gradients on even under no_grad).

        Args:
            rays (TrainingRays): rays of L landmarks.
            box_min, box_max (Tensor): (L, 3) boxes.
            density, features (Tensor, optional): initial grids (default :meth:`init_grids`).

        Returns:
            dict: ``density`` (L, G, G, G), ``features`` (L, C, G, G, G) and
            ``history`` (list of float: mean per-landmark loss per step).
        """
        with torch.enable_grad():
            return self._optimize(rays, box_min, box_max, density, features)

    def _optimize(self, rays: TrainingRays, box_min: Tensor, box_max: Tensor,
                  density: Optional[Tensor] = None, features: Optional[Tensor] = None) -> Dict:
        """One Adam over the stacked grids of all landmarks (see :meth:`optimize`)."""
        from tqdm import tqdm
        c = self.conf
        L = rays.num_landmarks
        C = rays.targets.shape[-1]
        if density is None or features is None:
            density, features = self.init_grids(L, C)
        density = density.detach().clone().requires_grad_(True)
        features = features.detach().clone().requires_grad_(True)
        box_min, box_max = box_min.float(), box_max.float()
        opt = self._adam([density, features])
        gen = torch.Generator().manual_seed(int(c['seed']))
        tt_all = rays.targets.float().square().sum(-1)  # target norms, once
        history = []
        bar = tqdm(range(c['iterations']), desc=f'training {L} landmarks',
                   disable=not c['show_progress'] or L == 0)
        for it in bar:
            if L == 0:
                break
            history.append(self._step(opt, density, features, box_min, box_max, rays, tt_all,
                                      gen, it) / L)
            if it % 10 == 0:
                bar.set_postfix(loss=f'{history[-1]:.4f}')
        return dict(density=density.detach(), features=features.detach(), history=history)

    @torch.no_grad()
    def evaluate(self, rays: TrainingRays, box_min: Tensor, box_max: Tensor, density: Tensor,
                 features: Tensor) -> Dict[str, Tensor]:
        """Loss terms and PSNR of every landmark over all its rays.

        Returns:
            dict: (L,) tensors ``mse``, ``entropy``, ``cosine``, ``total`` and
            ``psnr = 10 log10(4 / total)`` (dB).
        """
        L = rays.num_landmarks
        acc = {k: torch.zeros(L) for k in ('mse', 'entropy', 'cosine', 'total')}
        n = len(rays)
        step = self.conf['max_rays_per_chunk']
        counts = rays.counts.clamp_min(1).float()
        for s in range(0, n, step):
            idx = torch.arange(s, min(n, s + step))
            lm = rays.landmark[idx]
            desc, t_last = self._render(density, features, box_min.float(), box_max.float(),
                                        rays, idx, lm)
            terms = self.losses(desc, t_last, rays.targets[idx], lm, L, True)
            part = torch.bincount(lm, minlength=L).float() / counts
            for k in acc:
                acc[k] += terms[k] * part
        acc['psnr'] = 10 * torch.log10(4.0 / acc['total'].clamp_min(1e-12))
        return acc

    def __call__(self, tracks: TrackSet, points: Tensor, box_min: Tensor, box_max: Tensor) -> Dict:
        """Train, filter by PSNR and cap the number of landmarks.

        Args:
            tracks (TrackSet): inlier observations, ``track_ids`` = landmark index.
            points (Tensor): (L, 3) landmark points.
            box_min, box_max (Tensor): (L, 3) boxes.

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
        res = self.optimize(rays, bmin, bmax)
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


@TASK_UTILS.register_module()
class PerLandmarkTrainer(BatchedLandmarkTrainer):
    """The official way: one grid, one Adam and one loop of steps per landmark.

    Same maths and the same step (:meth:`BatchedLandmarkTrainer._step`) as
    :class:`BatchedLandmarkTrainer`, one landmark at a time; with
    ``rays_per_landmark=0`` (every ray at every step) both give the same grids up
    to float rounding.
    Kept only to measure what batching buys (``benchmarks/``).
    """

    def _optimize(self, rays: TrainingRays, box_min: Tensor, box_max: Tensor,
                  density: Optional[Tensor] = None, features: Optional[Tensor] = None) -> Dict:
        from tqdm import tqdm
        c = self.conf
        L = rays.num_landmarks
        C = rays.targets.shape[-1]
        if density is None or features is None:
            density, features = self.init_grids(L, C)
        out_d, out_f = density.detach().clone(), features.detach().clone()
        gen = torch.Generator().manual_seed(int(c['seed']))
        history = np.zeros(c['iterations'])
        for l in tqdm(range(L), desc='training landmarks one by one',
                      disable=not c['show_progress']):
            sub = rays.subset(torch.tensor([l]))
            tt = sub.targets.float().square().sum(-1)
            d = out_d[l:l + 1].clone().requires_grad_(True)
            f = out_f[l:l + 1].clone().requires_grad_(True)
            bmin, bmax = box_min[l:l + 1].float(), box_max[l:l + 1].float()
            opt = self._adam([d, f])
            for it in range(c['iterations']):
                history[it] += self._step(opt, d, f, bmin, bmax, sub, tt, gen, it) / L
            out_d[l], out_f[l] = d.detach()[0], f.detach()[0]
        return dict(density=out_d, features=out_f, history=history.tolist())
