"""Landmarks from tracks: merging, DLT + robust refinement, boxes (FaVoR step 2).

For every track long enough:

1. **Merge** tracks whose median descriptors have cosine > ``merge_threshold``
   and that never share a frame (the same point re-detected after the tracker
   lost it).
2. **DLT** between the first observation's camera and the camera farthest
   from it (the widest baseline), in normalised image coordinates.
3. **Robust Levenberg-Marquardt** of the 3-D point, vectorised over all
   tracks (Cauchy loss on pixel reprojection errors, optionally plus depth
   residuals when the frames carry depth), then observations with a reprojection error
   above ``max_reprojection_error`` or in front of no camera are dropped and
   the point is refined again on the inliers.
4. **Box**: an axis-aligned cube centred on the point with half side
   ``box_scale * patch_half * d_min / f`` (``d_min`` the distance to the
   nearest observing camera, ``f`` its focal length) -- FaVoR's size rule.

Poses are camera-to-world ``T_c2w`` (the :class:`TrackSet` convention).
"""
from typing import Dict

import numpy as np
import torch
from torch import Tensor

from ...registry import TASK_UTILS
from ...utils.config import merge_conf
from .tracker import TrackSet

__all__ = ['LandmarkTriangulator', 'triangulate_dlt']


def triangulate_dlt(P0: np.ndarray, P1: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Two-view linear triangulation (DLT) in normalised coordinates, batched.

    Args:
        P0, P1 (np.ndarray): (..., 3, 4) world-to-camera ``[R | t]`` of the two views.
        x0, x1 (np.ndarray): (..., 2) normalised image points ``K^-1 (u, v, 1)``.

    Returns:
        np.ndarray: (..., 3) world points; ``inf`` for a point at infinity
        (homogeneous ``|w| < 1e-12``).
    """
    P0, P1, x0, x1 = (np.asarray(a, np.float64) for a in (P0, P1, x0, x1))
    for name, a, tail in (('P0', P0, (3, 4)), ('P1', P1, (3, 4)), ('x0', x0, (2,)),
                          ('x1', x1, (2,))):
        if a.shape[a.ndim - len(tail):] != tail:
            raise ValueError(f'{name} must have shape (..., {", ".join(map(str, tail))}), '
                             f'got {a.shape}')
    A = np.stack([x0[..., 0, None] * P0[..., 2, :] - P0[..., 0, :],
                  x0[..., 1, None] * P0[..., 2, :] - P0[..., 1, :],
                  x1[..., 0, None] * P1[..., 2, :] - P1[..., 0, :],
                  x1[..., 1, None] * P1[..., 2, :] - P1[..., 1, :]], -2)
    _, _, vt = np.linalg.svd(A)
    Xh = vt[..., -1, :]
    at_inf = np.abs(Xh[..., 3:]) < 1e-12
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(at_inf, np.inf, Xh[..., :3] / np.where(at_inf, 1.0, Xh[..., 3:]))


@TASK_UTILS.register_module()
class LandmarkTriangulator:
    """Triangulates tracks into landmark points with boxes (FaVoR step 2).

    Args:
        **conf: overrides of :attr:`default_conf`:

            * ``min_track_length`` (int): tracks (after merging) shorter are dropped.
            * ``merge_threshold`` (float): cosine of median descriptors to merge tracks.
            * ``max_reprojection_error`` (float): inlier threshold, pixels.
            * ``loss_scale`` (float): Cauchy loss scale, pixels.
            * ``min_depth`` (float): a point must be at least this far in front of
              every inlier camera, metres.
            * ``min_triangulation_angle`` (float): degrees; a track whose widest ray
              angle is smaller is initialised from depth if available, else dropped.
            * ``use_depth`` (bool): use measured depths (RGB-D) as an initial
              point for narrow baselines and as residuals (``depth_sigma``).
            * ``depth_sigma`` (float): metres of depth error worth one pixel.
            * ``box_scale`` (float): box half side = ``box_scale * patch_half * d_min / f``.
            * ``max_tracks`` (int): longest tracks considered (merged, triangulated;
              0 = all; official 25000).
            * ``show_progress`` (bool): unused (triangulation is vectorised and fast);
              kept so that configs can switch every stage's bar alike.
    """

    default_conf = dict(
        min_track_length=5, merge_threshold=0.9, max_tracks=25000,
        # robust refinement and inlier test
        max_reprojection_error=2.0, loss_scale=1.0, min_depth=0.05, min_triangulation_angle=1.0,
        use_depth=False, depth_sigma=0.02,
        box_scale=2.0, show_progress=True)

    def __init__(self, **conf):
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        if self.conf['min_track_length'] < 2:
            raise ValueError(f"min_track_length must be >= 2, got {self.conf['min_track_length']}")

    # ------------------------------------------------------------------ merging
    def merge_tracks(self, tracks: TrackSet) -> TrackSet:
        """Merge tracks with similar median descriptors and disjoint frames.

        Args:
            tracks (TrackSet): input tracks.

        Returns:
            TrackSet: tracks relabelled after merging (observations unchanged).
        """
        n = tracks.num_tracks
        if n < 2:
            return tracks
        offsets = tracks.offsets().tolist()
        med = torch.stack([tracks.descriptors[offsets[t]:offsets[t + 1]].median(0).values
                           for t in range(n)])
        med = torch.nn.functional.normalize(med, dim=-1)
        frames = [set(tracks.frame_ids[offsets[t]:offsets[t + 1]].tolist()) for t in range(n)]
        parent = list(range(n))

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        pairs = []
        chunk = 2048
        for s in range(0, n, chunk):
            sim = med[s:s + chunk] @ med.T
            r, c = torch.nonzero(sim > self.conf['merge_threshold'], as_tuple=True)
            keep = c > r + s
            pairs.append(torch.stack([r[keep] + s, c[keep], sim[r[keep], c[keep]]], -1))
        pairs = torch.cat(pairs) if pairs else torch.zeros(0, 3)
        for i, j, _ in pairs[torch.argsort(pairs[:, 2], descending=True)].tolist():
            a, b = root(int(i)), root(int(j))
            if a == b or frames[a] & frames[b]:
                continue
            parent[b] = a
            frames[a] |= frames[b]
        new_ids = torch.tensor([root(t) for t in range(n)])[tracks.track_ids]
        out = TrackSet(new_ids, tracks.frame_ids, tracks.uv, tracks.patches, tracks.descriptors,
                       tracks.depths, tracks.poses, tracks.intrinsics, tracks.image_sizes,
                       tracks.frame_names, tracks.retrieval_descriptors, tracks.feature_type,
                       tracks.patch_half)
        return out.select_observations(torch.ones_like(new_ids, dtype=torch.bool))

    # ------------------------------------------------------------------ refinement
    def refine_points(self, X: np.ndarray, tid: np.ndarray, R: np.ndarray, t: np.ndarray,
                      K: np.ndarray, uv: np.ndarray, z: np.ndarray, active: np.ndarray,
                      iterations: int = 20) -> np.ndarray:
        """Robust Levenberg-Marquardt of many points at once (vectorised over tracks).

        Minimises, per track, ``sum_i rho(|pi(R_i X + t_i) - uv_i|)`` with the
        Cauchy loss ``rho(e) = s^2 log(1 + e^2 / s^2)`` (``s = loss_scale`` px),
        plus ``((z_i^pred - z_i) / depth_sigma)^2`` terms where depth is used.
        Each track has its own damping, accepted only if its cost decreases.

        Args:
            X (np.ndarray): (T, 3) initial world points.
            tid (np.ndarray): (M,) track of each observation.
            R, t (np.ndarray): (M, 3, 3), (M, 3) world-to-camera of each observation.
            K (np.ndarray): (M, 3, 3) intrinsics.
            uv (np.ndarray): (M, 2) observed pixels.
            z (np.ndarray): (M,) measured depths (0 = none).
            active (np.ndarray): (M,) bool, observations that take part.
            iterations (int): LM iterations.

        Returns:
            np.ndarray: (T, 3) refined points.
        """
        T = X.shape[0]
        s2 = float(self.conf['loss_scale']) ** 2
        use_z = bool(self.conf['use_depth'])
        zw = np.where(active & (z > 0), 1.0 / self.conf['depth_sigma'], 0.0) if use_z else None
        a = active.astype(np.float64)
        fx, fy = K[:, 0, 0], K[:, 1, 1]

        def evaluate(Xt, jac):
            Xc = np.einsum('mij,mj->mi', R, Xt[tid]) + t
            zc = np.where(np.abs(Xc[:, 2]) < 1e-9, 1e-9, Xc[:, 2])
            r = np.stack([fx * Xc[:, 0] / zc + K[:, 0, 2] - uv[:, 0],
                          fy * Xc[:, 1] / zc + K[:, 1, 2] - uv[:, 1]], -1)
            e2 = (r ** 2).sum(-1)
            cost_m = a * s2 * np.log1p(e2 / s2)
            if use_z:
                rz = (Xc[:, 2] - z) * zw
                cost_m = cost_m + rz ** 2
            cost = np.bincount(tid, cost_m, minlength=T)
            if not jac:
                return cost
            w = a / (1.0 + e2 / s2)  # IRLS weight of the Cauchy loss
            Jc = np.zeros((len(tid), 2, 3))
            Jc[:, 0, 0] = fx / zc
            Jc[:, 0, 2] = -fx * Xc[:, 0] / zc ** 2
            Jc[:, 1, 1] = fy / zc
            Jc[:, 1, 2] = -fy * Xc[:, 1] / zc ** 2
            J = Jc @ R  # (M, 2, 3)
            H_m = w[:, None, None] * np.einsum('mki,mkj->mij', J, J)
            g_m = w[:, None] * np.einsum('mki,mk->mi', J, r)
            if use_z:
                Jz = R[:, 2, :] * zw[:, None]
                H_m = H_m + np.einsum('mi,mj->mij', Jz, Jz)
                g_m = g_m + Jz * rz[:, None]
            H = np.zeros((T, 3, 3))
            g = np.zeros((T, 3))
            np.add.at(H, tid, H_m)
            np.add.at(g, tid, g_m)
            return cost, H, g

        lam = np.full(T, 1e-3)
        cost, H, g = evaluate(X, True)
        eye = np.eye(3)
        for _ in range(iterations):
            diag = np.einsum('tii->ti', H)
            A = H + (lam[:, None] * np.maximum(diag, 1e-9))[:, :, None] * eye + 1e-12 * eye
            try:
                delta = -np.linalg.solve(A, g[..., None])[..., 0]
            except np.linalg.LinAlgError:
                delta = -(np.linalg.pinv(A) @ g[..., None])[..., 0]
            X_new = X + delta
            cost_new = evaluate(X_new, False)
            better = cost_new < cost
            X = np.where(better[:, None], X_new, X)
            lam = np.where(better, lam * 0.3, lam * 10.0).clip(1e-9, 1e9)
            cost, H, g = evaluate(X, True)
            if np.abs(delta).max(initial=0) < 1e-10:
                break
        return X

    @staticmethod
    def _project(X, R, t, K):
        Xc = np.einsum('mij,mj->mi', R, X) + t
        z = Xc[:, 2]
        zs = np.where(np.abs(z) < 1e-9, 1e-9, z)
        uv = np.stack([K[:, 0, 0] * Xc[:, 0] / zs + K[:, 0, 2],
                       K[:, 1, 1] * Xc[:, 1] / zs + K[:, 1, 2]], -1)
        return uv, z

    # ------------------------------------------------------------------ all tracks
    def __call__(self, tracks: TrackSet) -> Dict:
        """Triangulate every track (vectorised over tracks).

        Args:
            tracks (TrackSet): tracked observations with camera-to-world poses.

        Returns:
            dict:
                * ``tracks`` (TrackSet): inlier observations, ``track_ids`` =
                  landmark index in ``[0, L)``.
                * ``points`` (Tensor): (L, 3) float64 world points, metres.
                * ``box_min`` / ``box_max`` (Tensor): (L, 3) float64 box corners.
                * ``stats`` (dict[str, int]): ``tracks_in``, ``considered`` (the
                  ``max_tracks`` longest), ``after_merge``, ``landmarks`` and the
                  number dropped per reason
                  (``'short'``, ``'small baseline'``, ``'point at infinity'``,
                  ``'behind camera'``, ``'too few inliers'``).
        """
        c = self.conf
        stats = dict(tracks_in=tracks.num_tracks)
        lengths = tracks.lengths()
        if c['max_tracks'] and tracks.num_tracks > c['max_tracks']:
            order = torch.argsort(lengths, descending=True, stable=True)[:c['max_tracks']]
            chosen = torch.zeros_like(lengths, dtype=torch.bool)
            chosen[order] = True
            tracks = tracks.select_observations(chosen[tracks.track_ids])
        stats['considered'] = tracks.num_tracks
        tracks = self.merge_tracks(tracks)  # before the length filter: merged halves count
        stats['after_merge'] = tracks.num_tracks
        lengths = tracks.lengths()
        tracks = tracks.select_observations(lengths[tracks.track_ids] >= c['min_track_length'])
        stats['short'] = stats['after_merge'] - tracks.num_tracks
        for reason in ('small baseline', 'point at infinity', 'behind camera', 'too few inliers'):
            stats[reason] = 0
        T = tracks.num_tracks
        if T == 0:
            stats['landmarks'] = 0
            empty = torch.zeros(0, 3, dtype=torch.float64)
            return dict(tracks=tracks, points=empty, box_min=empty.clone(), box_max=empty.clone(),
                        stats=stats)
        poses = tracks.poses.numpy()
        w2c = np.linalg.inv(poses)
        fids = tracks.frame_ids.numpy()
        tid = tracks.track_ids.numpy()
        R, t, K = w2c[fids, :3, :3], w2c[fids, :3, 3], tracks.intrinsics.numpy()[fids]
        centres = poses[fids, :3, 3]
        uv = tracks.uv.double().numpy()
        z = tracks.depths.double().numpy()
        M = len(tid)
        xn = np.einsum('mij,mj->mi', np.linalg.inv(K), np.c_[uv, np.ones(M)])
        offsets = tracks.offsets().numpy()
        first = offsets[:-1]
        # widest baseline w.r.t. each track's first observation
        dist = np.linalg.norm(centres - centres[first][tid], axis=1)
        far = np.zeros(T, np.int64)
        best = np.full(T, -1.0)
        order = np.lexsort((dist, tid))  # by track, then distance: the last one of a track wins
        far[tid[order]] = order
        best[tid[order]] = dist[order]
        rays = np.einsum('mji,mj->mi', R, xn)
        rays /= np.linalg.norm(rays, axis=1, keepdims=True)
        cosang = np.clip((rays * rays[first][tid]).sum(-1), -1, 1)
        min_cos = np.full(T, 1.0)
        np.minimum.at(min_cos, tid, cosang)
        max_angle = np.degrees(np.arccos(min_cos))
        # DLT between the first and the farthest camera
        P = np.concatenate([R, t[:, :, None]], -1)  # (M, 3, 4) world-to-camera
        X = triangulate_dlt(P[first], P[far], xn[first, :2], xn[far, :2])
        narrow = (max_angle < c['min_triangulation_angle']) | (best <= 0)
        at_inf = ~np.isfinite(X).all(1)
        alive = np.ones(T, bool)
        has_depth = np.zeros(T, bool)
        if c['use_depth']:
            np.logical_or.at(has_depth, tid, z > 0)
        need_depth = narrow | at_inf
        for k in np.nonzero(need_depth)[0]:
            if not has_depth[k]:
                alive[k] = False
                stats['small baseline' if narrow[k] else 'point at infinity'] += 1
                continue
            sl = slice(offsets[k], offsets[k + 1])
            ok = z[sl] > 0
            Xw = np.einsum('mji,mj->mi', R[sl][ok], xn[sl][ok] * z[sl][ok, None] - t[sl][ok])
            X[k] = np.median(Xw, axis=0)
        X = np.where(alive[:, None], X, 0.0)
        active = alive[tid]
        X = self.refine_points(X, tid, R, t, K, uv, z, active)
        for _ in range(2):
            proj, depth = self._project(X[tid], R, t, K)
            err = np.linalg.norm(proj - uv, axis=1)
            front = depth > c['min_depth']
            n_front = np.bincount(tid, front & alive[tid], minlength=T)
            behind = alive & (n_front == 0)
            stats['behind camera'] += int(behind.sum())
            alive &= ~behind
            active = alive[tid] & front & (err <= c['max_reprojection_error'])
            n_inl = np.bincount(tid, active, minlength=T)
            few = alive & (n_inl < c['min_track_length'])
            stats['too few inliers'] += int(few.sum())
            alive &= ~few
            active &= alive[tid]
            X = self.refine_points(X, tid, R, t, K, uv, z, active)
        proj, depth = self._project(X[tid], R, t, K)
        err = np.linalg.norm(proj - uv, axis=1)
        active = alive[tid] & (depth > c['min_depth']) & (err <= c['max_reprojection_error'])
        n_inl = np.bincount(tid, active, minlength=T)
        few = alive & (n_inl < c['min_track_length'])
        stats['too few inliers'] += int(few.sum())
        alive &= ~few
        active &= alive[tid]
        out_tracks = tracks.select_observations(torch.from_numpy(active))
        pts = torch.from_numpy(X[alive]).double().reshape(-1, 3)
        stats['landmarks'] = int(pts.shape[0])
        box_min, box_max = self.landmark_boxes(out_tracks, pts)
        return dict(tracks=out_tracks, points=pts, box_min=box_min, box_max=box_max, stats=stats)

    def landmark_boxes(self, tracks: TrackSet, points: Tensor):
        """FaVoR boxes: half side ``box_scale * patch_half * min_i(d_i / f_i)``.

        Args:
            tracks (TrackSet): observations with ``track_ids`` = landmark index.
            points (Tensor): (L, 3) world points.

        Returns:
            tuple: ``box_min``, ``box_max`` (L, 3) float64.
        """
        L = points.shape[0]
        if L == 0:
            return points.new_zeros(0, 3), points.new_zeros(0, 3)
        centres = tracks.poses[tracks.frame_ids, :3, 3]
        focal = tracks.intrinsics[tracks.frame_ids, 0, 0]
        dist = (centres - points[tracks.track_ids]).norm(dim=-1) / focal
        dmin = torch.full((L,), float('inf'), dtype=torch.float64)
        dmin = dmin.scatter_reduce(0, tracks.track_ids, dist, reduce='amin')
        half = (self.conf['box_scale'] * tracks.patch_half * dmin)[:, None]
        return points - half, points + half
