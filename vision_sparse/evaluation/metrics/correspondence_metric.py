"""Dense correspondence metric: token accuracy and end-point error.

Consumes the ``'predict'`` outputs of
:class:`~vision_sparse.models.correspondence.MatchingAttentionCorrespondence`
on pairs with ground truth (dicts with ``pred_tokens``, ``pred_xy``,
``soft_xy``, ``gt_tokens``, ``gt_xy``, ``gt_valid``) and reports, pooled over
the target tokens of all pairs that have a true match in the source:

* ``accuracy``: % of tokens whose argmax source token is within ``radius``
  tokens (per axis) of the token holding the true position;
* ``epe_px``: mean end-point error of the argmax match (token centre), pixels;
* ``soft_epe_px``: the same for the soft-argmax position, pixels;
* ``num_pairs``, ``num_tokens``.
"""
from typing import Dict, List, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from vision_sparse.registry import METRICS

__all__ = ['CorrespondenceMetric', 'correspondence_errors']


def _np(value) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, 'detach') else np.asarray(value)


def correspondence_errors(pred_tokens, gt_tokens, pred_xy, gt_xy, valid,
                          soft_xy=None) -> Dict[str, np.ndarray]:
    """Per-token errors of one pair, for the tokens with a true match.

    Args:
        pred_tokens (array): ``(N, 2)`` predicted source token ``(x, y)``,
            token units (integers).
        gt_tokens (array): ``(N, 2)`` true source position, token units
            (continuous; token centres at integers).
        pred_xy, gt_xy (array): the same in pixels, ``(N, 2)``.
        valid (array): ``(N,)`` bool, the true position lies in the source.
        soft_xy (array, optional): ``(N, 2)`` soft-argmax position, pixels.

    Returns:
        dict: ``token_error`` (Chebyshev distance, tokens, from the predicted
        token to the token holding the truth), ``epe`` and ``soft_epe``
        (pixels; empty without ``soft_xy``), each ``(M,)`` over the ``M`` valid
        tokens.

    Raises:
        ValueError: inconsistent shapes.
    """
    pt, gt = _np(pred_tokens).reshape(-1, 2), _np(gt_tokens).reshape(-1, 2)
    pp, gp = _np(pred_xy).reshape(-1, 2), _np(gt_xy).reshape(-1, 2)
    ok = _np(valid).reshape(-1).astype(bool)
    if not len(pt) == len(gt) == len(pp) == len(gp) == len(ok):
        raise ValueError('pred_tokens, gt_tokens, pred_xy, gt_xy (N, 2) and valid (N,) must '
                         f'have one N, got {len(pt)}, {len(gt)}, {len(pp)}, {len(gp)}, {len(ok)}')
    token_error = np.abs(pt[ok] - np.round(gt[ok])).max(axis=-1) if ok.any() else np.zeros(0)
    epe = np.linalg.norm(pp[ok] - gp[ok], axis=-1)
    soft = (np.linalg.norm(_np(soft_xy).reshape(-1, 2)[ok] - gp[ok], axis=-1)
            if soft_xy is not None else np.zeros(0))
    return dict(token_error=token_error, epe=epe, soft_epe=soft)


@METRICS.register_module()
class CorrespondenceMetric(BaseMetric):
    """Accuracy within ``radius`` tokens (%) and mean end-point errors (pixels).

    Args:
        radius (float): tolerance of ``accuracy`` in tokens, per axis (1 = the
            true token or one of its 8 neighbours).
        collect_device (str): mmengine's ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): prefix of the metric names (default ``'corr'``).
    """

    default_prefix = 'corr'

    def __init__(self, radius: float = 1.0, collect_device: str = 'cpu',
                 prefix: str = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if radius < 0:
            raise ValueError(f'radius must be >= 0 tokens, got {radius}')
        self.radius = float(radius)

    def process(self, data_batch, data_samples: Sequence[Dict]) -> None:
        for s in data_samples:
            if s.get('gt_valid') is None:
                raise ValueError('CorrespondenceMetric needs predictions with ground truth '
                                 '(gt_tokens, gt_xy, gt_valid): give the model data_samples '
                                 'with the warp grid')
            self.results.append(correspondence_errors(
                s['pred_tokens'], s['gt_tokens'], s['pred_xy'], s['gt_xy'], s['gt_valid'],
                s.get('soft_xy')))

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        token_error = np.concatenate([r['token_error'] for r in results] or [np.zeros(0)])
        epe = np.concatenate([r['epe'] for r in results] or [np.zeros(0)])
        soft = np.concatenate([r['soft_epe'] for r in results] or [np.zeros(0)])
        n = len(token_error)
        out = dict(accuracy=float(100 * np.mean(token_error <= self.radius)) if n else 0.0,
                   epe_px=float(epe.mean()) if n else float('nan'),
                   soft_epe_px=float(soft.mean()) if len(soft) else float('nan'),
                   num_pairs=float(len(results)), num_tokens=float(n))
        MMLogger.get_current_instance().info(
            f'correspondence of {len(results)} pairs, {n} target tokens with a true match: '
            f'{out["accuracy"]:.1f}% within {self.radius:g} token(s), end-point error '
            f'{out["epe_px"]:.2f} px (soft-argmax {out["soft_epe_px"]:.2f} px)')
        return out
