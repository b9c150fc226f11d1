"""MESA: area matching by graph energy minimisation on two Area Graphs.

Training-free variant (the public "MESA-free" code): the area similarity
``A[i, j]`` of node ``i`` (image 0) and node ``j`` (image 1) comes from a coarse
point matcher run on the two square crops: ``A = sigma0 * sigma1`` where
``sigma`` is the fraction of a crop covered by patches around its matches
(values below ``sigma_thresh`` count as 0); the map is min-max normalised.
A node pair with ``A = 0`` prunes the next-level children of both nodes, and
(``level_window``) only nodes of similar levels are compared, so far fewer
than ``N0 * N1`` matcher calls are made.

Then, for every source node at ``match_level``:

1. **graph cut** over all target nodes (PyMaxflow): the source-side t-link of
   node ``j`` has capacity ``A[i, j]``, the sink side ``1 - A[i, j]``; target
   nodes are linked with capacity ``adj_weight * IoU``. Nodes left on the
   source side are candidates.
2. **refinement energy** of each candidate
   ``E = (w_s (1 - A[i, j]) + w_c E_child + w_p E_parent + w_n E_nb) / sum(w)``,
   ``E_child = min(1 - A)`` over pairs of children of ``i`` and ``j`` (1 if
   none), likewise parents and neighbours. The best candidate and those within
   ``energy_range`` of it are blended (box centres and sizes weighted by
   ``1 - E``). Without candidates, nodes with ``1 - A <= candidate_energy``
   are used instead.

Both directions are run (the reverse one on ``A^T``) and merged (IoU > 0.8).
"""
from typing import Dict, List, Tuple

import maxflow
import numpy as np
from tqdm import tqdm

from vision_sparse.registry import MODELS

from .area_graph import AreaGraph
from .base_area_matcher import BaseAreaMatcher, merge_area_pairs
from .utils import crop_resize, match_arrays, run_point_matcher

__all__ = ['MESA', 'crop_coverage']


def crop_coverage(kpts: np.ndarray, size: int, radius: float) -> float:
    """Fraction of a ``size x size`` crop covered by squares of half-side
    ``radius`` around ``kpts`` (``(N, 2)`` px; squares are moved inside the
    crop, as in the official code)."""
    if len(kpts) == 0:
        return 0.0
    r = max(int(round(radius)), 1)
    occ = np.zeros((size, size), bool)
    pts = np.clip(np.round(kpts).astype(np.int64), r, max(size - r, r))
    for x, y in pts:
        occ[max(y - r, 0):y + r, max(x - r, 0):x + r] = True
    return float(occ.mean())


@MODELS.register_module()
class MESA(BaseAreaMatcher):
    """Training-free MESA area matcher (see module docstring).

    Args:
        coarse_matcher (dict | nn.Module): point matcher for crop pairs.
        graph (dict): :class:`AreaGraph` options.
        match_level (int): level of the source nodes that get matched (3).
        crop_size (int): side of the square crops given to the coarse matcher,
            px (official 480; 256 here for CPU speed).
        coverage_radius (float): half side of the square counted around each
            match, as a fraction of ``crop_size`` (official 64 / 480).
        min_score (float): coarse matches with a lower score are ignored.
        sigma_thresh (float): coverage below this counts as 0 (0.1).
        adj_weight (float): weight of the IoU pairwise term (0.01).
        energy_weights (tuple): ``(w_self, w_child, w_parent, w_neighbour)``,
            official ``(10, 1, 1, 1)``.
        energy_range (float): candidates within this energy of the best are
            blended (0.1).
        candidate_energy (float): fallback candidates need ``1 - A`` below
            this (0.7).
        iou_merge (float): repeat threshold when merging directions (0.8).
        level_window (int | None): only node pairs whose levels differ by at
            most this are scored (others count as 0); None scores all pairs
            as the official code does. 1 cuts the matcher calls about in half.
        cache_features (bool): with a coarse matcher that has per-image
            features (``supports_extract``: SIFT, XFeat, ALIKED/DISK +
            LightGlue), extract each crop once and match the cached features
            per pair - the same activity map as one matcher call per pair
            (the official protocol, ``False``) at a fraction of the cost.
            Joint matchers (LoFTR) always use one call per pair.
        progress (bool): tqdm bar over source nodes while scoring.
    """

    default_conf = dict(BaseAreaMatcher.default_conf, crop_size=256,
                        coverage_radius=64.0 / 480.0, min_score=0.1, sigma_thresh=0.1,
                        adj_weight=0.01, energy_weights=(10.0, 1.0, 1.0, 1.0), energy_range=0.1,
                        candidate_energy=0.7, level_window=1, cache_features=True,
                        progress=False)

    # ------------------------------------------------------------ activity
    def _crop(self, img: np.ndarray, box) -> np.ndarray:
        s = int(self.conf['crop_size'])
        return crop_resize(img, box, (s, s))[0]

    def _activity(self, k0: np.ndarray, k1: np.ndarray, sc: np.ndarray) -> float:
        """``sigma0 * sigma1`` from the coarse matches of one crop pair."""
        s = int(self.conf['crop_size'])
        keep = sc > self.conf['min_score']
        r = self.conf['coverage_radius'] * s
        s0 = crop_coverage(k0[keep], s, r)
        s1 = crop_coverage(k1[keep], s, r)
        th = self.conf['sigma_thresh']
        s0, s1 = (0.0 if s0 < th else s0), (0.0 if s1 < th else s1)
        return s0 * s1

    def pair_activity(self, img0: np.ndarray, img1: np.ndarray, box0, box1
                      ) -> float:
        """``sigma0 * sigma1`` of one crop pair (one coarse matcher call)."""
        k0, k1, sc = run_point_matcher(self.coarse_matcher, self._crop(img0, box0),
                                       self._crop(img1, box1))
        return self._activity(k0, k1, sc)

    def _scorer(self, img0: np.ndarray, img1: np.ndarray, g0: AreaGraph, g1: AreaGraph):
        """``score(i, j)`` of node pairs; with ``cache_features`` and a matcher
        that has per-image features, each crop's features are computed once."""
        m = self.coarse_matcher
        if not (self.conf['cache_features'] and getattr(m, 'supports_extract', False)):
            return lambda i, j: self.pair_activity(img0, img1, g0.expanded[i], g1.expanded[j])
        cache: Dict[Tuple[int, int], Dict] = {}

        def feats(side: int, idx: int) -> Dict:
            if (side, idx) not in cache:
                img, g = (img0, g0) if side == 0 else (img1, g1)
                cache[side, idx] = m.extract(self._crop(img, g.expanded[idx]))
            return cache[side, idx]

        def score(i: int, j: int) -> float:
            return self._activity(*match_arrays(m.match_features(feats(0, i), feats(1, j))))
        return score

    def activity_map(self, img0: np.ndarray, img1: np.ndarray, g0: AreaGraph,
                     g1: AreaGraph) -> Tuple[np.ndarray, int]:
        """``(N0, N1)`` min-max normalised area similarity and the number of
        scored crop pairs. Source nodes are visited from the root down;
        a zero pair prunes next-level children on both sides."""
        score = self._scorer(img0, img1, g0, g1)
        n0, n1 = len(g0), len(g1)
        act = np.zeros((n0, n1))
        done = np.zeros((n0, n1), bool)
        scored = np.zeros((n0, n1), bool)
        calls = 0
        order0 = np.argsort(g0.levels, kind='stable')
        order1 = np.argsort(g1.levels, kind='stable')
        win = self.conf['level_window']
        if win is not None:  # pairs of very different sizes are not scored
            done |= np.abs(g0.levels[:, None] - g1.levels[None, :]) > int(win)
        for i in tqdm(order0, desc='MESA area similarity',
                      disable=not self.conf['progress'], leave=False):
            skip = np.zeros(n1, bool)
            for j in order1:
                if done[i, j] or skip[j]:
                    continue
                act[i, j] = score(i, j)
                calls += 1
                done[i, j] = scored[i, j] = True
                if act[i, j] == 0:
                    skip[g1.next_level_children(j)] = True
            done[i] = True
            zero = np.nonzero(scored[i] & (act[i] == 0))[0]
            kids = g0.next_level_children(i)
            if len(kids) and len(zero):
                done[np.ix_(kids, zero)] = True  # stays 0
        lo, hi = act.min(), act.max()
        act = (act - lo) / (hi - lo) if hi > lo else np.zeros_like(act)
        return act, calls

    # -------------------------------------------------------------- energy
    def _graph_cut(self, a_row: np.ndarray, iou: np.ndarray) -> np.ndarray:
        n = len(a_row)
        g = maxflow.Graph[float](n, n * n)
        nodes = g.add_nodes(n)
        w = self.conf['adj_weight'] * iou
        ii, jj = np.nonzero(np.triu(w, 1) > 0)
        for a, b in zip(ii.tolist(), jj.tolist()):
            g.add_edge(nodes[a], nodes[b], float(w[a, b]), float(w[a, b]))
        for j in range(n):
            g.add_tedge(nodes[j], float(a_row[j]), float(1.0 - a_row[j]))
        g.maxflow()
        sink_side = np.array([g.get_segment(nodes[j]) for j in range(n)], bool)
        return np.nonzero(~sink_side)[0]

    @staticmethod
    def _min_pair_energy(act: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
        if len(a) == 0 or len(b) == 0:
            return 1.0
        return float(1.0 - act[np.ix_(a, b)].max())

    def _refine_energy(self, act: np.ndarray, gs: AreaGraph, gd: AreaGraph,
                       i: int, cands: np.ndarray) -> np.ndarray:
        ws, wc, wp, wn = self.conf['energy_weights']
        par_i = gs.parents(i)
        par_i = par_i[par_i != gs.root]
        out = []
        for j in cands:
            par_j = gd.parents(j)
            par_j = par_j[par_j != gd.root]
            e = (ws * (1.0 - act[i, j])
                 + wc * self._min_pair_energy(act, gs.children(i), gd.children(j))
                 + wp * self._min_pair_energy(act, par_i, par_j)
                 + wn * self._min_pair_energy(act, gs.neighbours(i),
                                              gd.neighbours(j)))
            out.append(min(e / (ws + wc + wp + wn), 1.0))
        return np.asarray(out)

    def _match_direction(self, act: np.ndarray, gs: AreaGraph, gd: AreaGraph
                         ) -> Tuple[List, List, List]:
        src_boxes, dst_boxes, scores = [], [], []
        iou = gd.iou()
        valid = np.ones(len(gd), bool)
        valid[gd.root] = False  # the whole image is not an area match
        for i in gs.nodes_at_level(self.conf['match_level']):
            a_row = np.where(valid, act[i], 0.0)
            cands = self._graph_cut(a_row, iou)
            cands = cands[valid[cands]]
            if len(cands) == 0:
                cands = np.nonzero(valid & (1.0 - act[i]
                                            <= self.conf['candidate_energy']))[0]
            if len(cands) == 0:
                continue
            energy = self._refine_energy(act, gs, gd, i, cands)
            best = energy.min()
            if best >= 1.0:
                continue
            sel = energy <= best + self.conf['energy_range']
            wts = 1.0 - energy[sel]
            boxes = gd.boxes[cands[sel]]
            wts = wts / wts.sum()
            c = ((boxes[:, :2] + boxes[:, 2:]) / 2 * wts[:, None]).sum(0)
            half = ((boxes[:, 2:] - boxes[:, :2]) / 2 * wts[:, None]).sum(0)
            src_boxes.append(gs.boxes[i])
            dst_boxes.append(np.concatenate([c - half, c + half]))
            scores.append(1.0 - best)
        return src_boxes, dst_boxes, scores

    # --------------------------------------------------------------- match
    def match(self, img0: np.ndarray, img1: np.ndarray, g0: AreaGraph,
              g1: AreaGraph) -> Dict:
        if len(g0.nodes_at_level(self.conf['match_level'])) == 0 and \
                len(g1.nodes_at_level(self.conf['match_level'])) == 0:
            return self._empty(f"no areas at match_level "
                               f"{self.conf['match_level']} in either image")
        act, calls = self.activity_map(img0, img1, g0, g1)
        if act.max() <= 0:
            return self._empty('the coarse matcher found no area similarity',
                               calls, activity=act)
        s0, d1, sc = self._match_direction(act, g0, g1)
        s1, d0, rsc = self._match_direction(act.T, g1, g0)
        b0 = np.array(s0 + d0).reshape(-1, 4)
        b1 = np.array(d1 + s1).reshape(-1, 4)
        b0, b1, scores = merge_area_pairs(b0, b1, np.array(sc + rsc),
                                          self.conf['iou_merge'])
        return dict(boxes0=b0, boxes1=b1, scores=scores,
                    num_matcher_calls=calls, activity=act)
