"""A2PM as an mmengine model: bare matcher, MESA and DMESA side by side."""
import copy
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from vision_sparse.registry import MODELS
from vision_sparse.structures.cameras import scale_intrinsics
from vision_sparse.structures.results import finalize_result
from vision_sparse.utils.build import build_from_cfg_or_obj
from vision_sparse.utils.image import check_image

from ..matchers.eval_model import PairEvalModel
from .a2pm import A2PMMatcher
from .utils import match_arrays

__all__ = ['A2PMEvalModel']

METHODS = ('matcher', 'mesa', 'dmesa')

#: keys of an A2PM result copied into its evaluation sample
_A2PM_KEYS = ('kpts0', 'kpts1', 'scores', 'areas0', 'areas1', 'area_kept', 'fallback',
              'success', 'reason', 'timings')


@MODELS.register_module()
class A2PMEvalModel(PairEvalModel):
    """Evaluate a point matcher alone and inside A2PM (MESA and/or DMESA).

    For every pair, the bare matcher runs once on the full images; the areas
    of each image are computed once; then each requested A2PM variant reuses
    both. One data sample per method is returned (the dataset item plus
    ``kpts0``, ``kpts1``, ``scores`` and ``method``), so that
    ``RelativePoseMetric`` reports ``matcher/auc@10``, ``mesa/auc@10``,
    ``dmesa/auc@10`` in one run. Batches and the mmengine steps are handled
    by :class:`~vision_sparse.models.matchers.eval_model.PairEvalModel`.

    Args:
        point_matcher (dict): point matcher config (``BaseMatcher``).
        area_source (dict, optional): area source config (default
            ``SegmentationAreaSource``).
        mesa (dict, optional): :class:`MESA` config (``type`` may be omitted);
            a ``coarse_matcher`` inside it overrides the point matcher.
        dmesa (dict, optional): :class:`DMESA` config, likewise.
        a2pm (dict, optional): :class:`A2PMMatcher` options (crop size,
            fusion).
        methods (Sequence[str]): any of ``'matcher'``, ``'mesa'``, ``'dmesa'``.
        method_prefix (str): prepended to the method names in the results
            (e.g. ``'sift_'`` -> ``sift_mesa``); default none.
        eval_size (tuple, optional): ``(w, h)``: the matches (and ``K0``,
            ``K1``, ``image_size0/1``) of every returned sample are rescaled to
            this image size, so that images loaded at full resolution (A2PM
            crops from them, as the official code) are evaluated at e.g.
            640x480 (the ScanNet protocol). None keeps the dataset's pixels.
        data_preprocessor (dict, optional): mmengine data preprocessor.
    """

    keep_images = False  # samples go to the metric; the images are not needed there

    def __init__(self,
                 point_matcher: Dict,
                 area_source: Optional[Dict] = None,
                 mesa: Optional[Dict] = None,
                 dmesa: Optional[Dict] = None,
                 a2pm: Optional[Dict] = None,
                 methods: Sequence[str] = METHODS,
                 method_prefix: str = '',
                 eval_size: Optional[Tuple[int, int]] = None,
                 data_preprocessor: Optional[dict] = None):
        super().__init__(data_preprocessor=data_preprocessor)
        methods = tuple(methods)
        bad = [m for m in methods if m not in METHODS]
        if bad or not methods:
            raise ValueError(f'methods must be a non-empty subset of {METHODS}, '
                             f'got {methods}')
        if eval_size is not None and (len(eval_size) != 2 or min(eval_size) <= 0):
            raise ValueError(f'eval_size must be (w, h) > 0 or None, got {eval_size}')
        self.methods = methods
        self.prefix = str(method_prefix)
        self.eval_size = None if eval_size is None else tuple(int(v) for v in eval_size)
        self.point_matcher = build_from_cfg_or_obj(copy.deepcopy(point_matcher), MODELS,
                                                   name='point_matcher')
        self.area_source = build_from_cfg_or_obj(
            copy.deepcopy(area_source or dict(type='SegmentationAreaSource')), MODELS,
            name='area_source')
        self.a2pm = {}
        for name, cfg, typ in (('mesa', mesa, 'MESA'), ('dmesa', dmesa, 'DMESA')):
            if name not in methods:
                continue
            cfg = dict(type=typ, **copy.deepcopy(cfg or {}))
            matcher = A2PMMatcher(self.point_matcher, self.area_source,
                                  area_matcher=cfg, **(a2pm or {}))
            self.add_module(f'a2pm_{name}', matcher)
            self.a2pm[name] = matcher

    def _rescaled(self, item: Dict, out: Dict) -> Dict:
        sample = dict(item)
        sample.update(out)
        if self.eval_size is None:
            return sample
        w, h = self.eval_size
        for i in ('0', '1'):
            img_h, img_w = item['image' + i].shape[:2]
            sx, sy = w / img_w, h / img_h
            k = np.asarray(out['kpts' + i], np.float64).reshape(-1, 2)
            # pixel centres: x' = (x + 0.5) * s - 0.5
            k = (k + 0.5) * np.array([sx, sy]) - 0.5
            sample['kpts' + i] = k.astype(np.float32)
            if item.get('K' + i) is not None:
                sample['K' + i] = scale_intrinsics(item['K' + i], sx, sy)
            sample['image_size' + i] = np.array([w, h], np.int64)
        return sample

    def predict_pair(self, item: Dict) -> List[Dict]:
        """All requested methods on one pair item (dict with ``image0``,
        ``image1`` and optional ``K0``, ``K1``, ``name0``, ``name1``).

        Returns:
            list[dict]: per method (in ``methods`` order) the item with
            ``kpts0 (N, 2)``, ``kpts1 (N, 2)``, ``scores (N,)``, ``method``,
            ``success``, ``reason`` and ``timings`` (A2PM samples also carry
            ``areas0``, ``areas1`` ``(M, 4)``, ``area_kept (M,)`` and ``fallback``).
        """
        img0 = check_image(item.get('image0'), 'image0', rgb=True)
        img1 = check_image(item.get('image1'), 'image1', rgb=True)
        with torch.inference_mode():
            bare = self.point_matcher(dict(image0=img0, image1=img1))
        k0, k1, sc = match_arrays(bare)
        full = dict(kpts0=k0, kpts1=k1, scores=sc)
        results = []
        if 'matcher' in self.methods:
            out = finalize_result(dict(kpts0=k0.astype(np.float32), kpts1=k1.astype(np.float32),
                                       scores=sc.astype(np.float32),
                                       method=self.prefix + 'matcher',
                                       reason=bare.get('reason', ''),
                                       timings=dict(bare.get('timings', {}))),
                                  success=len(k0) > 0)
            results.append(self._rescaled(item, out))
        if self.a2pm:
            areas0 = self.area_source(img0, item.get('name0'))
            areas1 = self.area_source(img1, item.get('name1'))
        for name, matcher in self.a2pm.items():
            res = matcher(dict(image0=img0, image1=img1, areas0=areas0,
                               areas1=areas1, full_matches=full))
            out = {k: res[k] for k in _A2PM_KEYS}
            out['method'] = self.prefix + name
            results.append(self._rescaled(item, out))
        return results
