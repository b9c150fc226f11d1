"""Relative-pose (and homography) metrics of matches, grouped by method.

Every method is evaluated the same way: the metric itself estimates the pose
(or homography) from the matches it receives, so matchers and area matchers
are compared under one protocol (see :mod:`vision_sparse.evaluation.functional.pose`).
"""
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger

from vision_sparse.registry import METRICS
from ..functional.homography import (estimate_homography, homography_accuracy,
                                     homography_auc, homography_corner_error)
from ..functional.pose import (epipolar_precision, estimate_relative_pose, pose_auc,
                               pose_error, relative_pose_error)

__all__ = ['RelativePoseMetric', 'HomographyMetric']


def _fmt_table(header: List[str], rows: List[List[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    fmt = lambda r: '| ' + ' | '.join(str(c).rjust(w) for c, w in zip(r, widths)) + ' |'  # noqa: E731
    return '\n'.join([line, fmt(header), line] + [fmt(r) for r in rows] + [line])


@METRICS.register_module()
class RelativePoseMetric(BaseMetric):
    """Pose AUC, matching precision and (for homography pairs) corner accuracy.

    Each data sample (a dict, e.g. a dataset item with a model's matches
    added) must hold ``kpts0`` (N, 2) and ``kpts1`` (N, 2) pixels and either

    * ``K0``, ``K1`` (3, 3) and ``T_0to1`` (4, 4) for a relative-pose pair, or
    * ``H_0to1`` (3, 3) and ``image_size0`` ``(w, h)`` for a homography pair

    (both are evaluated when both are present), plus an optional ``method``
    (str, default ``'matcher'``) that groups the results.

    ``compute_metrics`` returns, for every method ``m`` present:

    * ``m/auc@5``, ``m/auc@10``, ``m/auc@20``: AUC (percent) of
      ``max(err_R, err_t)`` in degrees; a failed estimate counts as ``inf``;
    * ``m/num_matches``: mean number of matches per pair;
    * ``m/precision``: mean over pairs of the fraction of matches with
      symmetric epipolar distance below ``epipolar_thresh`` (pairs without
      matches are skipped; 0 when no pair has matches);
    * for homography pairs ``m/hacc@3``, ``m/hacc@5``, ``m/hacc@10`` (percent of
      pairs with mean corner error <= threshold px) and ``m/hauc@...``;
    * ``m/num_pairs``.

    Args:
        thresholds (Sequence[float]): pose AUC thresholds, degrees.
        ransac_thresh_px (float): essential-matrix inlier threshold, pixels.
        ransac_conf (float): RANSAC confidence.
        ransac_method (str): ``'magsac'`` or ``'ransac'``.
        epipolar_thresh (float): precision threshold (5e-4 ScanNet, 1e-4
            MegaDepth, as LoFTR).
        homography_thresholds (Sequence[float]): corner-error thresholds, px.
        homography_thresh_px (float): homography RANSAC threshold, pixels.
        evaluate_pose (bool): evaluate relative poses when K / T are present.
        collect_device (str): mmengine's ``'cpu'`` or ``'gpu'``.
        prefix (str, optional): prefix of the metric names.
    """

    # metric names already carry the method ('sift/auc@5'); '' = no extra prefix
    default_prefix: Optional[str] = ''

    def __init__(self, thresholds: Sequence[float] = (5, 10, 20), ransac_thresh_px: float = 0.5,
                 ransac_conf: float = 0.99999, ransac_method: str = 'magsac',
                 epipolar_thresh: float = 5e-4,
                 homography_thresholds: Sequence[float] = (3, 5, 10),
                 homography_thresh_px: float = 3.0, evaluate_pose: bool = True,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if ransac_method not in ('magsac', 'ransac'):
            raise ValueError(f"ransac_method must be 'magsac' or 'ransac', got {ransac_method!r}")
        self.thresholds = tuple(float(t) for t in thresholds)
        self.ransac_thresh_px = float(ransac_thresh_px)
        self.ransac_conf = float(ransac_conf)
        self.ransac_method = ransac_method
        self.epipolar_thresh = float(epipolar_thresh)
        self.homography_thresholds = tuple(float(t) for t in homography_thresholds)
        self.homography_thresh_px = float(homography_thresh_px)
        self.evaluate_pose = bool(evaluate_pose)

    # ------------------------------------------------------------------
    def _has_pose(self, s: Dict[str, Any]) -> bool:
        return self.evaluate_pose and all(s.get(k) is not None for k in ('K0', 'K1', 'T_0to1'))

    def evaluate_sample(self, sample: Dict[str, Any], index: int = 0) -> Dict[str, Any]:
        """Errors of one pair (what :meth:`process` stores).

        Args:
            sample (dict): see the class docstring.
            index (int): position in the batch (error messages only).

        Returns:
            dict: ``method``, ``num_matches`` and, as available, ``err_R``,
            ``err_t``, ``pose_error`` (degrees, inf when failed),
            ``num_inliers``, ``precision``, ``h_error`` (px, inf when failed).
        """
        if hasattr(sample, 'to_dict'):
            sample = sample.to_dict()
        if not isinstance(sample, dict):
            raise ValueError(f'data sample {index} must be a dict, got {type(sample).__name__}')
        for key in ('kpts0', 'kpts1'):
            if sample.get(key) is None:
                raise ValueError(f'data sample {index} has no {key!r}: the model must add '
                                 'its matches (kpts0, kpts1) to each pair')
        k0 = np.asarray(sample['kpts0'], np.float64).reshape(-1, 2)
        k1 = np.asarray(sample['kpts1'], np.float64).reshape(-1, 2)
        res: Dict[str, Any] = dict(method=str(sample.get('method', 'matcher')),
                                   num_matches=int(len(k0)),
                                   name=f"{sample.get('name0', '')} {sample.get('name1', '')}")
        has_h = sample.get('H_0to1') is not None
        if not self._has_pose(sample) and not has_h:
            raise ValueError(f'data sample {index} has neither K0, K1 and T_0to1 (relative pose) '
                             'nor H_0to1 (homography) ground truth')
        if self._has_pose(sample):
            est = estimate_relative_pose(k0, k1, sample['K0'], sample['K1'],
                                         thresh_px=self.ransac_thresh_px, conf=self.ransac_conf,
                                         method=self.ransac_method)
            if est is None:
                err_R = err_t = float('inf')
                res['num_inliers'] = 0
            else:
                err_R, err_t = relative_pose_error(sample['T_0to1'], est['R'], est['t'])
                res['num_inliers'] = int(est['num_inliers'])
            res.update(err_R=err_R, err_t=err_t, pose_error=float(pose_error(err_R, err_t)),
                       precision=epipolar_precision(k0, k1, sample['T_0to1'], sample['K0'],
                                                    sample['K1'], self.epipolar_thresh))
        if has_h:
            size = sample.get('image_size0')
            if size is None:
                raise ValueError(f'data sample {index} has H_0to1 but no image_size0 (w, h)')
            est_h = estimate_homography(k0, k1, thresh_px=self.homography_thresh_px,
                                        method=self.ransac_method)
            res['h_error'] = homography_corner_error(None if est_h is None else est_h['H'],
                                                     sample['H_0to1'], tuple(size))
        return res

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, Any]]) -> None:
        """Evaluate each pair and keep only numbers (images are dropped).

        Args:
            data_batch: the loader batch (unused).
            data_samples (Sequence[dict]): model outputs, one dict per pair.
        """
        # One entry per call (not per sample): a model may return several samples per
        # pair (one per method), and mmengine truncates ``results`` to the dataset size.
        self.results.append([self.evaluate_sample(sample, i)
                             for i, sample in enumerate(data_samples)])

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        """Aggregate per method; also logs a table.

        Args:
            results (list[dict]): outputs of :meth:`evaluate_sample`.

        Returns:
            dict[str, float]: see the class docstring.
        """
        flat: List[Dict[str, Any]] = []
        for r in results:
            flat.extend(r if isinstance(r, list) else [r])
        groups: Dict[str, List[dict]] = OrderedDict()
        for r in flat:
            groups.setdefault(r['method'], []).append(r)
        metrics: Dict[str, float] = OrderedDict()
        header = ['method', 'pairs']
        rows = []
        for method, rs in groups.items():
            row = [method, str(len(rs))]
            metrics[f'{method}/num_pairs'] = float(len(rs))
            metrics[f'{method}/num_matches'] = float(np.mean([r['num_matches'] for r in rs]))
            pose_rs = [r for r in rs if 'pose_error' in r]
            if pose_rs:
                aucs = pose_auc([r['pose_error'] for r in pose_rs], self.thresholds)
                for th, auc in zip(self.thresholds, aucs):
                    metrics[f'{method}/auc@{th:g}'] = 100.0 * auc
                precs = [r['precision'] for r in pose_rs if np.isfinite(r['precision'])]
                metrics[f'{method}/precision'] = float(np.mean(precs)) if precs else 0.0
            h_rs = [r for r in rs if 'h_error' in r]
            if h_rs:
                errs = [r['h_error'] for r in h_rs]
                accs = homography_accuracy(errs, self.homography_thresholds)
                haucs = homography_auc(errs, self.homography_thresholds)
                for th, acc, hauc in zip(self.homography_thresholds, accs, haucs):
                    metrics[f'{method}/hacc@{th:g}'] = 100.0 * acc
                    metrics[f'{method}/hauc@{th:g}'] = 100.0 * hauc
            rows.append((method, row))
        # table: one row per method, one column per metric name
        names = []
        for key in metrics:
            short = key.split('/', 1)[1]
            if short not in names and short != 'num_pairs':
                names.append(short)
        header += names
        table_rows = []
        for method, row in rows:
            vals = []
            for n in names:
                v = metrics.get(f'{method}/{n}')
                vals.append('-' if v is None else f'{v:.3f}' if n == 'precision' else f'{v:.2f}')
            table_rows.append(row + vals)
        MMLogger.get_current_instance().info(
            'Relative pose / homography evaluation (AUC and hacc in %):\n'
            + _fmt_table(header, table_rows))
        return dict(metrics)


@METRICS.register_module()
class HomographyMetric(RelativePoseMetric):
    """Homography accuracy only (HPatches-style pairs with ``H_0to1``).

    Same arguments as :class:`RelativePoseMetric`; poses are not evaluated
    and every sample must carry ``H_0to1`` and ``image_size0``.  Returns
    ``m/hacc@3`` ... (percent), ``m/hauc@...``, ``m/num_matches``,
    ``m/num_pairs`` per method.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs['evaluate_pose'] = False
        super().__init__(**kwargs)

    def evaluate_sample(self, sample: Dict[str, Any], index: int = 0) -> Dict[str, Any]:
        if isinstance(sample, dict) and sample.get('H_0to1') is None:
            raise ValueError(f'data sample {index} has no H_0to1: HomographyMetric needs '
                             'homography ground truth')
        return super().evaluate_sample(sample, index)
