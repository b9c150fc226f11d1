"""Relocalization metric: median errors per refinement iteration and recall.

Consumes the outputs of :class:`~vision_sparse.models.relocalizers.FaVoRRelocalizer`
(dicts with ``iteration_poses``, ``T_c2w``, ``T_init``, ``gt_T_c2w``,
``success``, ``reason``, ``name``) and reports, like the FaVoR evaluation:

* ``init/median_translation_cm``, ``init/median_rotation_deg`` of the initial
  (retrieved) poses;
* ``iter{k}/median_translation_cm``, ``iter{k}/median_rotation_deg`` and
  ``iter{k}/recall`` for every iteration ``k`` (a failed or skipped iteration
  counts as an infinite error);
* ``median_translation_cm``, ``median_rotation_deg``, ``recall`` of the final
  (last successful) poses and ``localized`` (fraction localized).

Recall thresholds: 5 cm / 5 deg (7-Scenes) or 25 cm / 2 deg (Cambridge).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from vision_sparse.registry import METRICS
from ..functional.relocalization import relocalization_errors, summarize_relocalization

__all__ = ['RelocalizationMetric']


@METRICS.register_module()
class RelocalizationMetric(BaseMetric):
    """Median translation (cm) / rotation (deg) errors and recall.

    Args:
        max_translation (float): recall threshold, metres (0.05 7-Scenes, 0.25 Cambridge).
        max_rotation (float): recall threshold, degrees (5 7-Scenes, 2 Cambridge).
        collect_device (str): mmengine's ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): prefix of the metric names (default ``'reloc'``).
    """

    default_prefix: Optional[str] = 'reloc'

    def __init__(self, max_translation: float = 0.05, max_rotation: float = 5.0,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if max_translation <= 0 or max_rotation <= 0:
            raise ValueError('max_translation and max_rotation must be > 0, got '
                             f'{max_translation}, {max_rotation}')
        self.max_translation, self.max_rotation = float(max_translation), float(max_rotation)

    def process(self, data_batch, data_samples: Sequence[Dict]) -> None:
        for s in data_samples:
            if s.get('gt_T_c2w') is None:
                raise ValueError(f"prediction {s.get('name', '')!r} has no ground truth gt_T_c2w")
            self.results.append(dict(
                name=s.get('name', ''), gt=np.asarray(s['gt_T_c2w'], np.float64),
                init=s.get('T_init'), final=s.get('T_c2w'),
                iters=list(s.get('iteration_poses', [])), reason=s.get('reason', ''),
                success=bool(s.get('success', s.get('T_c2w') is not None))))

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        if not results:
            return dict(num_queries=0)
        gts = [r['gt'] for r in results]
        out: Dict[str, float] = dict(num_queries=float(len(results)))
        rows = []

        def add(key, poses):
            e = relocalization_errors(poses, gts)
            s = summarize_relocalization(e['translation'], e['rotation'], self.max_translation,
                                         self.max_rotation)
            for k, v in s.items():
                out[f'{key}/{k}' if key else k] = v
            rows.append((key or 'final', s))

        if all(r['init'] is not None for r in results):
            add('init', [r['init'] for r in results])
        n_iter = max((len(r['iters']) for r in results), default=0)
        for k in range(n_iter):
            add(f'iter{k + 1}', [r['iters'][k] if k < len(r['iters']) else None for r in results])
        add('', [r['final'] for r in results])
        out['localized'] = float(np.mean([r['success'] for r in results]))
        thr = f'{self.max_translation * 100:g} cm / {self.max_rotation:g} deg'
        lines = [f'relocalization of {len(results)} queries (recall at {thr}):',
                 f'{"stage":>8} | {"median t (cm)":>13} | {"median R (deg)":>14} | recall']
        for key, s in rows:
            lines.append(f'{key:>8} | {s["median_translation_cm"]:13.2f} | '
                         f'{s["median_rotation_deg"]:14.3f} | {s["recall"]:.3f}')
        failed = [r for r in results if not r['success']]
        for r in failed[:10]:
            lines.append(f'  not localized: {r["name"]}: {r["reason"]}')
        logger.info('\n'.join(lines))
        return out
