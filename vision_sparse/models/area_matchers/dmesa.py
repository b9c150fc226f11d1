"""DMESA: dense area matching from one coarse matcher call per pair.

For each source area (Area Graph nodes at ``match_level``):

1. the patch matches of the whole pair whose source point lies in the area
   define a Gaussian Mixture over target positions: one component per match,
   mean at the matched target point, isotropic covariance
   ``(cov_scale * patch_size)^2 / confidence`` (``patch_size`` is the coarse
   matcher's localisation scale), equal weights;
2. Expectation-Maximisation refines the mixture on samples drawn around the
   *reverse-direction* matches of the area (``samples_per_match`` per match,
   same covariance rule), for at most ``em_iters`` iterations, stopping when
   the parameters change by less than ``em_tol``;
3. the mixture density is rendered on a grid over the target image; the
   target area is the box of the connected high-density region (density >=
   ``density_ratio`` x its maximum) that holds the most probability mass.

The reverse-direction matches come from a second matcher call with the images
swapped (``reverse_call=True``, "1-2 calls per pair"); with
``reverse_call=False`` the forward matches are reused (identical for
mutual-nearest-neighbour matchers). Then the roles of the images are swapped
(source areas already matched are skipped) and the pairs of both directions
are merged (IoU > ``iou_merge``).

The official code ships a stand-in (patches splatted and blurred) with EM
switched off; this is the paper's GMM-EM (see ``docs/a2pm.md``).
"""
from typing import Dict, List, Optional, Tuple

import numpy as np
from scipy import ndimage

from vision_sparse.registry import MODELS
from vision_sparse.structures.areas import box_iou
from vision_sparse.utils.image import resize_long_side

from .area_graph import AreaGraph
from .base_area_matcher import BaseAreaMatcher, merge_area_pairs
from .gmm import fit_gmm_em, gmm_grid_density, sample_gmm
from .utils import run_point_matcher

__all__ = ['DMESA', 'density_box']


def density_box(density: np.ndarray, ratio: float, stride: float,
                link: float = 0.0) -> Optional[Tuple[np.ndarray, float]]:
    """Box of the high-density region holding the most probability mass.

    Grid cells with ``density >= ratio * max`` are high; high cells closer than
    ``link`` px are joined (a sparse matcher leaves gaps between the bumps of
    one area), and the joined region with the largest mass wins.

    Args:
        density (np.ndarray): ``(h, w)`` density rendered at grid points
            ``(x, y) = (stride * (c + 0.5), stride * (r + 0.5))``.
        ratio (float): threshold relative to the maximum, in ``(0, 1]``.
        stride (float): grid step, px.
        link (float): joining distance, px (0 = plain connectivity).

    Returns:
        tuple | None: ``box (4,)`` xyxy px (covering the high cells of the
        region) and the fraction of the total mass in the region; None if the
        density is zero everywhere.
    """
    peak = float(density.max()) if density.size else 0.0
    if peak <= 0 or not np.isfinite(peak):
        return None
    high = density >= ratio * peak
    r = int(round(link / (2.0 * stride)))
    joined = ndimage.binary_dilation(high, iterations=r) if r > 0 else high
    lab, n = ndimage.label(joined)
    lab = np.where(high, lab, 0)
    mass = ndimage.sum(density, lab, index=np.arange(1, n + 1))
    k = int(np.argmax(mass)) + 1
    ys, xs = np.nonzero(lab == k)
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1],
                   np.float64) * stride
    return box, float(mass[k - 1] / density.sum())


@MODELS.register_module()
class DMESA(BaseAreaMatcher):
    """Dense area matcher (see module docstring).

    Args:
        coarse_matcher (dict | nn.Module): point matcher run on the whole pair.
        graph (dict): :class:`AreaGraph` options.
        match_level (int): level of the source nodes (3).
        match_side (int | None): the images are downscaled to this longer side
            for the coarse call (640, as the official 640x480); matches are
            mapped back to full resolution.
        reverse_call (bool): second matcher call with swapped images for the
            EM samples.
        min_matches (int): source areas with fewer matches are skipped.
        max_components (int): at most this many (highest-score) matches form
            the mixture.
        min_score (float): matches with a lower score are ignored.
        cov_scale (float): component std is ``cov_scale * patch_size``
            (working-resolution px) at confidence 1.
        samples_per_match (int): EM samples per reverse match (official 16).
        em_iters (int): EM iteration cap (official 5).
        em_tol (float): EM stops when parameters change less than this.
        render_stride (int): density grid step, working-resolution px.
        density_ratio (float): high-density threshold relative to the peak.
        link_ratio (float): high-density cells closer than ``link_ratio`` x the
            source box's size (square root of its area) are one region.
        iou_merge (float): repeat threshold for merging the two directions.
        seed (int): seed of the EM sampling.
    """

    default_conf = dict(BaseAreaMatcher.default_conf, match_side=640, reverse_call=True,
                        min_matches=10, max_components=256, min_score=0.1, cov_scale=1.0,
                        samples_per_match=16, em_iters=5, em_tol=1e-3, render_stride=4,
                        density_ratio=0.05, link_ratio=0.25, seed=0)

    def coarse_matches(self, img0: np.ndarray, img1: np.ndarray,
                       reverse: bool = False) -> Tuple[Tuple[np.ndarray, ...], ...]:
        """Patch matches of the pair at working resolution, mapped back to
        full resolution: ``(k0, k1, scores)`` and the scales ``(s0, s1)``;
        with ``reverse`` also the matches of the swapped call, in the same
        image order (each image is resized once for both calls)."""
        small0, s0 = resize_long_side(img0, self.conf['match_side'], upscale=False)
        small1, s1 = resize_long_side(img1, self.conf['match_side'], upscale=False)
        out = []
        for a, b, sa, sb in ((small0, small1, s0, s1), (small1, small0, s1, s0))[:1 + reverse]:
            ka, kb, sc = run_point_matcher(self.coarse_matcher, a, b)
            keep = sc > self.conf['min_score']
            out.append((ka[keep] / sa, kb[keep] / sb, sc[keep]))
        if reverse:
            r1, r0, rsc = out[1]
            return out[0], (r0, r1, rsc), s0, s1
        return out[0], s0, s1

    def _patch_std(self, image_shape: Tuple[int, ...], scale: float) -> float:
        """Component std at confidence 1, in full-resolution px of an image.

        ``patch_size`` is in the coarse matcher's working pixels: its
        ``conf.resize_max`` when it has one (``BaseMatcher``), else the
        ``match_side`` image given to it (``scale`` = working / full).
        """
        m = self.coarse_matcher
        patch = float(getattr(m, 'patch_size', 8) or 8)
        work = getattr(getattr(m, 'conf', None), 'resize_max', None)
        if work:
            scale = float(work) / max(image_shape[:2])
        return self.conf['cov_scale'] * patch / scale

    def target_area(self, fwd, rev, box: np.ndarray, tgt_size: Tuple[int, int],
                    std: float, scale: float,
                    rng: np.random.Generator) -> Optional[Tuple[np.ndarray, float]]:
        """Target box of one source area.

        Args:
            fwd: ``(src (N, 2), tgt (N, 2), scores (N,))`` source->target matches.
            rev: the same from the reverse call (used for the EM samples).
            box: ``(4,)`` source area xyxy px.
            tgt_size: ``(H, W)`` of the target image.
            std: component std at confidence 1, px.
            scale: working/full resolution ratio of the target image.
            rng: sampling generator.

        Returns:
            tuple | None: target ``box (4,)`` and its mass fraction, or None
            when the area has too few matches.
        """
        c = self.conf

        def inside(src):
            return ((src[:, 0] >= box[0]) & (src[:, 0] < box[2])
                    & (src[:, 1] >= box[1]) & (src[:, 1] < box[3]))

        fin, rin = inside(fwd[0]), inside(rev[0])
        if fin.sum() < c['min_matches'] or rin.sum() < c['min_matches']:
            return None
        means, conf = fwd[1][fin], np.clip(fwd[2][fin], 0.05, 1.0)
        if len(means) > c['max_components']:
            top = np.argsort(-conf, kind='stable')[:c['max_components']]
            means, conf = means[top], conf[top]
        var = std * std / conf
        covs = var[:, None, None] * np.eye(2)[None]
        weights = np.full(len(means), 1.0 / len(means))
        r_means = rev[1][rin]
        r_var = std * std / np.clip(rev[2][rin], 0.05, 1.0)
        samples = sample_gmm(c['samples_per_match'], r_means,
                             r_var[:, None, None] * np.eye(2)[None], rng)
        gmm = fit_gmm_em(samples, weights, means, covs, c['em_iters'],
                         c['em_tol'], reg=1e-3 * std * std)
        if len(gmm['weights']) == 0:
            return None
        h, w = tgt_size
        step = c['render_stride'] / scale
        gh, gw = max(int(np.ceil(h / step)), 1), max(int(np.ceil(w / step)), 1)
        # evaluate only where the mixture can reach 5 % of its peak: within
        # 5 std of some component every other cell is below exp(-12.5) of
        # each component's peak (256 components: < 1e-3 of the peak in all)
        sd = np.sqrt(np.maximum(gmm['covs'][:, 0, 0], gmm['covs'][:, 1, 1]))
        lo = np.floor((gmm['means'] - 5 * sd[:, None]).min(0) / step).astype(int)
        hi = np.ceil((gmm['means'] + 5 * sd[:, None]).max(0) / step).astype(int) + 1
        x0, x1 = np.clip([lo[0], hi[0]], 0, gw)
        y0, y1 = np.clip([lo[1], hi[1]], 0, gh)
        dens = np.zeros((gh, gw))
        if x1 > x0 and y1 > y0:
            # each component only within 7 std of its mean (<= 6e-9 of the
            # peak away from the exact mixture, see gmm_grid_density)
            dens[y0:y1, x0:x1] = gmm_grid_density(
                gmm['weights'], gmm['means'], gmm['covs'],
                ((x0 + 0.5) * step, (y0 + 0.5) * step), step, (y1 - y0, x1 - x0))
        link = c['link_ratio'] * np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]),
                                             1.0))
        res = density_box(dens, c['density_ratio'], step, link)
        if res is None:
            return None
        tbox, mass = res
        tbox[[0, 2]] = np.clip(tbox[[0, 2]], 0, w)
        tbox[[1, 3]] = np.clip(tbox[[1, 3]], 0, h)
        if tbox[2] - tbox[0] < 1 or tbox[3] - tbox[1] < 1:
            return None
        return tbox, mass

    def _direction(self, gs: AreaGraph, fwd, rev, tgt_size, std, scale, rng,
                   exclude: Optional[np.ndarray] = None
                   ) -> Tuple[List, List, List]:
        src, dst, scores = [], [], []
        nodes = gs.nodes_at_level(self.conf['match_level'])
        for i in nodes:
            box = gs.boxes[i]
            if exclude is not None and len(exclude) and \
                    box_iou(box[None], exclude).max() > self.conf['iou_merge']:
                continue
            res = self.target_area(fwd, rev, box, tgt_size, std, scale, rng)
            if res is None:
                continue
            src.append(box)
            dst.append(res[0])
            scores.append(res[1])
        return src, dst, scores

    def match(self, img0: np.ndarray, img1: np.ndarray, g0: AreaGraph,
              g1: AreaGraph) -> Dict:
        c = self.conf
        if c['reverse_call']:
            (k0, k1, sc), (r0, r1, rsc), s0, s1 = self.coarse_matches(img0, img1, True)
            calls = 2
        else:
            (k0, k1, sc), s0, s1 = self.coarse_matches(img0, img1)
            r0, r1, rsc, calls = k0, k1, sc, 1
        if len(k0) < c['min_matches']:
            return self._empty(f'only {len(k0)} coarse matches for the pair',
                               calls)
        rng = np.random.default_rng(c['seed'])
        # image 0 areas -> image 1; EM samples from the reverse call
        a0, b1, sa = self._direction(g0, (k0, k1, sc), (r0, r1, rsc),
                                     img1.shape[:2], self._patch_std(img1.shape, s1), s1, rng)
        # image 1 areas -> image 0, skipping areas already matched
        exclude = np.array(b1).reshape(-1, 4)
        c1, d0, sb = self._direction(g1, (r1, r0, rsc), (k1, k0, sc),
                                     img0.shape[:2], self._patch_std(img0.shape, s0), s0, rng,
                                     exclude=exclude)
        boxes0 = np.array(a0 + d0).reshape(-1, 4)
        boxes1 = np.array(b1 + c1).reshape(-1, 4)
        b0, b1m, scores = merge_area_pairs(boxes0, boxes1, np.array(sa + sb),
                                           c['iou_merge'])
        return dict(boxes0=b0, boxes1=b1m, scores=scores,
                    num_matcher_calls=calls,
                    coarse_matches=dict(kpts0=k0, kpts1=k1, scores=sc))
