"""Shared parts of MESA and DMESA: inputs, Area Graphs, merging of area pairs."""
from abc import abstractmethod
from typing import Dict, List, Tuple

import numpy as np
from torch import nn

from vision_sparse.registry import MODELS
from vision_sparse.structures.areas import AreaSet, box_iou
from vision_sparse.structures.results import finalize_result, timed
from vision_sparse.utils.build import build_from_cfg_or_obj
from vision_sparse.utils.config import merge_conf
from vision_sparse.utils.image import check_image

from .area_graph import AreaGraph

__all__ = ['BaseAreaMatcher', 'merge_area_pairs']


def merge_area_pairs(boxes0: np.ndarray, boxes1: np.ndarray,
                     scores: np.ndarray, iou_thresh: float = 0.8
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge repeated area matches (MESA: fusing both matching directions).

    Pairs are taken in order; a pair whose box in image 0 *or* in image 1 has
    IoU > ``iou_thresh`` with an already kept pair is fused into it (union of
    the boxes on both sides, maximum score); otherwise it is kept.

    Args:
        boxes0, boxes1: ``(M, 4)`` xyxy px in image 0 / image 1.
        scores: ``(M,)``.
        iou_thresh (float): repeat threshold.

    Returns:
        tuple: merged ``boxes0 (M', 4)``, ``boxes1 (M', 4)``, ``scores (M',)``.
    """
    out0: List[np.ndarray] = []
    out1: List[np.ndarray] = []
    outs: List[float] = []
    for b0, b1, s in zip(np.asarray(boxes0, float), np.asarray(boxes1, float),
                         np.asarray(scores, float)):
        if out0:
            iou0 = box_iou(b0[None], np.stack(out0))[0]
            iou1 = box_iou(b1[None], np.stack(out1))[0]
            hit = np.nonzero((iou0 > iou_thresh) | (iou1 > iou_thresh))[0]
            if len(hit):
                k = int(hit[np.argmax(np.maximum(iou0, iou1)[hit])])
                out0[k] = np.concatenate([np.minimum(out0[k][:2], b0[:2]),
                                          np.maximum(out0[k][2:], b0[2:])])
                out1[k] = np.concatenate([np.minimum(out1[k][:2], b1[:2]),
                                          np.maximum(out1[k][2:], b1[2:])])
                outs[k] = max(outs[k], float(s))
                continue
        out0.append(b0)
        out1.append(b1)
        outs.append(float(s))
    if not out0:
        return np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0)
    return np.stack(out0), np.stack(out1), np.asarray(outs)


class BaseAreaMatcher(nn.Module):
    """An area matcher: two images and their areas -> matched area pairs.

    Subclasses extend ``default_conf`` (``dict(BaseAreaMatcher.default_conf,
    ...)``) and implement :meth:`match`. Common options: ``graph`` (dict of
    :class:`AreaGraph` options, merged over its defaults), ``match_level``
    (level of the source nodes that get matched) and ``iou_merge`` (repeat
    threshold when merging the pairs of both directions).

    Args:
        coarse_matcher (dict | nn.Module | None): the point matcher whose
            patch matches drive area matching (a ``BaseMatcher`` or config).
            May be set later with :meth:`set_coarse_matcher` (A2PM passes its
            point matcher).
        **conf: overrides of ``default_conf``.
    """

    default_conf: Dict = dict(graph=None, match_level=3, iou_merge=0.8)

    def __init__(self, coarse_matcher=None, **conf):
        super().__init__()
        self.conf = merge_conf(self.default_conf, conf, type(self).__name__)
        self.conf['graph'] = merge_conf(AreaGraph.default_conf, self.conf.get('graph'),
                                        'AreaGraph')
        n_levels = len(self.conf['graph']['level_steps'])
        if not 1 <= int(self.conf['match_level']) <= n_levels:
            raise ValueError(f'match_level must be in [1, {n_levels}], '
                             f"got {self.conf['match_level']}")
        self.coarse_matcher = None
        if coarse_matcher is not None:
            self.set_coarse_matcher(coarse_matcher)

    def set_coarse_matcher(self, matcher) -> None:
        """Use ``matcher`` (config or built ``BaseMatcher``) for patch matches."""
        m = build_from_cfg_or_obj(matcher, MODELS, name='coarse_matcher', allow_none=True)
        if isinstance(m, nn.Module):
            self.coarse_matcher = m
        else:  # plain callables are kept outside the module tree
            object.__setattr__(self, 'coarse_matcher', m)

    def _graphs(self, data: Dict) -> Tuple[np.ndarray, np.ndarray, AreaGraph,
                                           AreaGraph]:
        img0 = check_image(data.get('image0'), 'image0', rgb=True)
        img1 = check_image(data.get('image1'), 'image1', rgb=True)
        graphs = []
        for k, img in (('0', img0), ('1', img1)):
            g = data.get('graph' + k)
            if g is None:
                areas = data.get('areas' + k)
                if not isinstance(areas, AreaSet):
                    raise ValueError(f'areas{k} must be an AreaSet (or give '
                                     f'graph{k}), got {type(areas).__name__}')
                if areas.image_size != img.shape[:2]:
                    raise ValueError(
                        f'areas{k} are for an image of size {areas.image_size}, '
                        f'image{k} is {img.shape[:2]}')
                g = AreaGraph.build(areas, **self.conf['graph'])
            graphs.append(g)
        return img0, img1, graphs[0], graphs[1]

    def forward(self, data: Dict) -> Dict:
        """Match the areas of two images.

        Args:
            data (dict):
                - ``image0``, ``image1``: ``(H, W, 3)`` uint8 RGB (or grey).
                - ``areas0``, ``areas1`` (:class:`AreaSet`): areas in the pixels
                  of each image; or ``graph0``, ``graph1`` (:class:`AreaGraph`).

        Returns:
            dict:
                - ``boxes0`` ``(M, 4)`` / ``boxes1`` ``(M, 4)``: matched area
                  boxes xyxy px in image 0 / image 1 (row i matches row i).
                - ``scores`` ``(M,)`` in ``[0, 1]``: area-match confidence.
                - ``graph0``, ``graph1``: the Area Graphs used.
                - ``num_matcher_calls`` (int): coarse matcher calls made.
                - ``success`` (bool): ``M > 0``; ``reason`` (str): ``''`` on
                  success, else why no area matched; ``timings`` (dict): seconds
                  of ``graphs`` and ``area_matching``.
        """
        if self.coarse_matcher is None:
            raise ValueError(f'{type(self).__name__} has no coarse_matcher: pass '
                             'coarse_matcher=... or call set_coarse_matcher()')
        timings: Dict[str, float] = {}
        with timed(timings, 'graphs'):
            img0, img1, g0, g1 = self._graphs(data)
        with timed(timings, 'area_matching'):
            out = self.match(img0, img1, g0, g1)
        out.update(graph0=g0, graph1=g1, timings=timings)
        if len(out['boxes0']) == 0 and not out.get('reason'):
            out['reason'] = 'no area matched'
        return finalize_result(out, success=len(out['boxes0']) > 0)

    @abstractmethod
    def match(self, img0: np.ndarray, img1: np.ndarray, g0: AreaGraph,
              g1: AreaGraph) -> Dict:
        """Return ``boxes0``, ``boxes1``, ``scores``, ``num_matcher_calls``."""

    @staticmethod
    def _empty(reason: str, calls: int = 0, **extra) -> Dict:
        out = dict(boxes0=np.zeros((0, 4)), boxes1=np.zeros((0, 4)),
                   scores=np.zeros(0), num_matcher_calls=calls, reason=reason)
        out.update(extra)
        return out

