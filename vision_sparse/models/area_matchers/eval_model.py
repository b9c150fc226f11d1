"""A2PM as an mmengine model: bare matcher, MESA and DMESA side by side."""
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.model import BaseModel

from vision_sparse.registry import MODELS

from .a2pm import A2PMMatcher
from .utils import build_module, check_image, run_point_matcher

__all__ = ['A2PMEvalModel']

METHODS = ('matcher', 'mesa', 'dmesa')


def _pair_list(data) -> List[dict]:
    from vision_sparse.models.matchers import to_pair_list
    return to_pair_list(data)


@MODELS.register_module()
class A2PMEvalModel(BaseModel):
    """Evaluate a point matcher alone and inside A2PM (MESA and/or DMESA).

    For every pair, the bare matcher runs once on the full images; the areas
    of each image are computed once; then each requested A2PM variant reuses
    both. One data sample per method is returned (the dataset item plus
    ``kpts0``, ``kpts1``, ``scores`` and ``method``), so that
    ``RelativePoseMetric`` reports ``matcher/auc@10``, ``mesa/auc@10``,
    ``dmesa/auc@10`` in one run.

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
        self.point_matcher = build_module(copy.deepcopy(point_matcher),
                                          name='point_matcher')
        self.area_source = build_module(
            copy.deepcopy(area_source or dict(type='SegmentationAreaSource')),
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
                S = np.array([[sx, 0, 0.5 * sx - 0.5], [0, sy, 0.5 * sy - 0.5],
                              [0, 0, 1]])
                sample['K' + i] = S @ np.asarray(item['K' + i], np.float64)
            sample['image_size' + i] = np.array([w, h], np.int64)
        return sample

    def predict_pair(self, item: Dict) -> List[Dict]:
        """All requested methods on one pair item (dict with ``image0``,
        ``image1`` and optional ``K0``, ``K1``, ``name0``, ``name1``)."""
        img0 = check_image(item.get('image0'), 'image0')
        img1 = check_image(item.get('image1'), 'image1')
        k0, k1, sc = run_point_matcher(self.point_matcher, img0, img1)
        full = dict(kpts0=k0, kpts1=k1, scores=sc)
        results = []
        if 'matcher' in self.methods:
            out = dict(kpts0=k0.astype(np.float32), kpts1=k1.astype(np.float32),
                       scores=sc.astype(np.float32), method=self.prefix + 'matcher')
            results.append(self._rescaled(item, out))
        if self.a2pm:
            areas0 = self.area_source(img0, item.get('name0'))
            areas1 = self.area_source(img1, item.get('name1'))
        for name, matcher in self.a2pm.items():
            res = matcher(dict(image0=img0, image1=img1, areas0=areas0,
                               areas1=areas1, full_matches=full))
            out = dict(kpts0=res['kpts0'], kpts1=res['kpts1'],
                       scores=res['scores'], method=self.prefix + name,
                       areas0=res['areas0'], areas1=res['areas1'],
                       area_kept=res['area_kept'], timings=res['timings'])
            if 'reason' in res:
                out['reason'] = res['reason']
            results.append(self._rescaled(item, out))
        return results

    def forward(self, inputs: Any, data_samples: Any = None,
                mode: str = 'predict') -> List[Dict]:
        """Run every method on every pair of the batch.

        Args:
            inputs (list[dict] | dict[str, list]): pair items (a list, or the
                ``pseudo_collate`` dict of lists).
            data_samples: unused.
            mode (str): ``'predict'`` only (training-free).

        Returns:
            list[dict]: per pair and method (in ``methods`` order) the item with
            ``kpts0 (N, 2)``, ``kpts1 (N, 2)``, ``scores (N,)`` and ``method``
            (A2PM samples also carry ``areas0``, ``areas1`` ``(M, 4)``,
            ``area_kept (M,)``, ``timings`` and possibly ``reason``). Images
            are dropped from the samples.
        """
        if mode != 'predict':
            raise ValueError("A2PMEvalModel is training-free: mode must be "
                             f"'predict', got {mode!r}")
        out = []
        for item in _pair_list(inputs):
            for sample in self.predict_pair(item):
                sample.pop('image0', None)
                sample.pop('image1', None)
                out.append(sample)
        return out

    def test_step(self, data: Any) -> List[Dict]:
        """``forward(data, mode='predict')`` (numpy items, no preprocessing)."""
        return self.forward(data, mode='predict')

    def val_step(self, data: Any) -> List[Dict]:
        """Same as :meth:`test_step`."""
        return self.forward(data, mode='predict')

    def train_step(self, data: Any, optim_wrapper: Any) -> Dict:
        raise RuntimeError('A2PMEvalModel has nothing to train (use tools/test.py)')
