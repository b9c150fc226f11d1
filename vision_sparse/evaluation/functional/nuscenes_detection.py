"""nuScenes detection metric (mAP, TP errors, NDS) without the nuScenes database.

The definitions follow the nuScenes devkit's detection evaluation
(``nuscenes.eval.detection``, config ``detection_cvpr_2019``), re-implemented
on numpy arrays of boxes so that it runs on any set of samples:

* per class and per distance threshold ``d`` (0.5, 1, 2, 4 m), predictions of
  all samples are ranked by score (descending; equal scores: the later
  prediction first, as the devkit's sort does) and matched greedily to the
  nearest not yet matched ground truth of the same class and sample, by the
  distance of the box centres in the ground plane (x, y); a match needs a
  distance ``< d``;
* precision and recall are interpolated on 101 recall points (0, 0.01, ..., 1;
  precision 0 beyond the highest recall reached);
* AP: mean of ``max(precision - min_precision, 0)`` over the recall points
  above ``min_recall`` divided by ``1 - min_precision``;
* true-positive errors from the matches at ``dist_th_tp`` (2 m): ATE centre
  distance (m), ASE ``1 - IoU`` of the boxes aligned at the same centre and yaw,
  AOE absolute yaw difference (rad; period pi for ``barrier``), AVE velocity L2
  (m/s), AAE ``1 - attribute accuracy``; each is a running mean over the ranked
  matches (NaN entries skipped; all NaN -> 1), read at the 101 confidence levels
  and averaged from recall ``min_recall`` (exclusive) to the highest recall
  reached; a class that never reaches ``min_recall`` gets error 1;
* undefined TP errors (devkit: traffic_cone orientation / velocity / attribute,
  barrier velocity / attribute) are NaN and left out of the class mean; a mean
  that is NaN scores 0 in NDS;
* ``mAP`` = mean over classes of the mean AP over thresholds;
  ``NDS = (5 mAP + sum_m (1 - min(1, mTP_m))) / 10``.

Where this differs from the devkit's full pipeline:

* ranges (``class_range``, 50/40/30 m) are measured from the origin of the
  boxes' frame (the LiDAR origin for LiDAR-frame boxes); the devkit measures
  them from the ego-vehicle origin (about 1 m behind the LiDAR on nuScenes);
* the devkit rejects submissions with more than 500 boxes per sample; here the
  ``max_boxes_per_sample`` highest-scoring boxes are kept;
* bike-rack filtering (bicycles / motorcycles inside a ``bicycle_rack``
  annotation) needs the database and is not done; ground truth with
  ``num_pts == 0`` is removed when ``num_pts`` is given (devkit: lidar + radar
  points);
* ground truth labelled -1 (not a detection class) is dropped.
"""
import math
import warnings
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .rotated_map import _as_numpy

__all__ = ['NUSCENES_CLASS_RANGE', 'NUSCENES_ATTRIBUTES', 'NUSCENES_DEFAULT_ATTRIBUTE',
           'TP_METRICS', 'default_attributes', 'accumulate_detections', 'detection_ap',
           'detection_tp_error', 'nuscenes_detection_eval']

#: Evaluation radius (m) of each nuScenes detection class (devkit ``class_range``).
NUSCENES_CLASS_RANGE: Dict[str, float] = {
    'car': 50, 'truck': 50, 'bus': 50, 'trailer': 50, 'construction_vehicle': 50,
    'pedestrian': 40, 'motorcycle': 40, 'bicycle': 40, 'traffic_cone': 30, 'barrier': 30}

#: Attribute names in mmdet3d's ``attr_label`` order (index 8, ``'None'``, and -1
#: mean "no attribute").
NUSCENES_ATTRIBUTES: Tuple[str, ...] = (
    'cycle.with_rider', 'cycle.without_rider', 'pedestrian.moving', 'pedestrian.standing',
    'pedestrian.sitting_lying_down', 'vehicle.moving', 'vehicle.parked', 'vehicle.stopped', 'None')

#: Attribute assigned to a still prediction of each class by mmdet3d's
#: nuScenes result formatting (used when a model predicts no attributes).
NUSCENES_DEFAULT_ATTRIBUTE: Dict[str, str] = {
    'car': 'vehicle.parked', 'pedestrian': 'pedestrian.moving', 'trailer': 'vehicle.parked',
    'truck': 'vehicle.parked', 'bus': 'vehicle.moving', 'motorcycle': 'cycle.without_rider',
    'construction_vehicle': 'vehicle.parked', 'bicycle': 'cycle.without_rider',
    'barrier': 'None', 'traffic_cone': 'None'}

#: True-positive error names, in the devkit's order.
TP_METRICS: Tuple[str, ...] = ('trans_err', 'scale_err', 'orient_err', 'vel_err', 'attr_err')

#: TP errors the devkit leaves undefined (NaN) per class.
_UNDEFINED_TP = {'traffic_cone': ('attr_err', 'vel_err', 'orient_err'),
                 'barrier': ('attr_err', 'vel_err')}
#: Classes whose orientation is only defined up to pi.
_HALF_PERIOD = ('barrier',)
_NUM_POINTS = 101
_NO_ATTR = -1


def default_attributes(labels: np.ndarray, velocity: np.ndarray,
                       class_names: Sequence[str]) -> np.ndarray:
    """Attribute labels from class and speed, as mmdet3d's nuScenes formatting.

    A box faster than 0.2 m/s is ``vehicle.moving`` (car, construction vehicle,
    bus, truck, trailer) or ``cycle.with_rider`` (bicycle, motorcycle); a slower
    one is ``pedestrian.standing`` (pedestrian) or ``vehicle.stopped`` (bus);
    every other case takes :data:`NUSCENES_DEFAULT_ATTRIBUTE` of its class.
    Classes outside the nuScenes set, and NaN velocities treated as still, get
    no attribute (-1) unless their default says otherwise.

    Args:
        labels (np.ndarray): (M,) class indices into ``class_names``.
        velocity (np.ndarray): (M, 2) m/s (NaN = unknown, counted as still).
        class_names (Sequence[str]): class names.

    Returns:
        np.ndarray: (M,) int64 indices into :data:`NUSCENES_ATTRIBUTES`, -1 for none.
    """
    index = {a: i for i, a in enumerate(NUSCENES_ATTRIBUTES)}
    speed = np.hypot(velocity[:, 0], velocity[:, 1]) if len(labels) else np.zeros(0)
    out = np.full(len(labels), _NO_ATTR, np.int64)
    for i, (lab, v) in enumerate(zip(labels, speed)):
        name = class_names[int(lab)]
        if v > 0.2 and name in ('car', 'construction_vehicle', 'bus', 'truck', 'trailer'):
            attr = 'vehicle.moving'
        elif v > 0.2 and name in ('bicycle', 'motorcycle'):
            attr = 'cycle.with_rider'
        elif not v > 0.2 and name == 'pedestrian':
            attr = 'pedestrian.standing'
        elif not v > 0.2 and name == 'bus':
            attr = 'vehicle.stopped'
        else:
            attr = NUSCENES_DEFAULT_ATTRIBUTE.get(name, 'None')
        out[i] = _NO_ATTR if attr == 'None' else index[attr]
    return out


def _wrap_yaw(yaw: np.ndarray) -> np.ndarray:
    return np.arctan2(np.sin(yaw), np.cos(yaw))


def _yaw_error(yaw_gt: np.ndarray, yaw_pred: np.ndarray, period: float) -> np.ndarray:
    """|smallest signed angle from pred to gt| with the given period, in [0, pi]."""
    diff = np.mod(_wrap_yaw(yaw_gt) - _wrap_yaw(yaw_pred) + period / 2, period) - period / 2
    diff = np.where(diff > np.pi, diff - 2 * np.pi, diff)
    return np.abs(diff)


def _aligned_iou(size_gt: np.ndarray, size_pred: np.ndarray) -> np.ndarray:
    inter = np.prod(np.minimum(size_gt, size_pred), axis=1)
    return inter / (np.prod(size_gt, axis=1) + np.prod(size_pred, axis=1) - inter)


def _cumulative_mean(x: np.ndarray) -> np.ndarray:
    """Running mean skipping NaN (0 before the first number); all NaN -> ones."""
    valid = ~np.isnan(x)
    if not valid.any():
        return np.ones(len(x))
    total = np.nancumsum(x)
    count = np.cumsum(valid)
    return np.divide(total, count, out=np.zeros_like(total), where=count != 0)


def _no_match_curves(num_gt: int, num_pred: int) -> Dict[str, Any]:
    curves = dict(recall=np.linspace(0.0, 1.0, _NUM_POINTS), precision=np.zeros(_NUM_POINTS),
                  confidence=np.zeros(_NUM_POINTS))
    curves.update({m: np.ones(_NUM_POINTS) for m in TP_METRICS})
    curves.update(num_gt=num_gt, num_pred=num_pred, num_tp=0)
    return curves


def accumulate_detections(gt_boxes: Sequence[np.ndarray], pred_boxes: Sequence[np.ndarray],
                          pred_scores: Sequence[np.ndarray], dist_th: float,
                          gt_attrs: Optional[Sequence[np.ndarray]] = None,
                          pred_attrs: Optional[Sequence[np.ndarray]] = None,
                          yaw_period: float = 2 * np.pi) -> Dict[str, Any]:
    """Match one class's predictions to ground truth; PR and TP-error curves.

    Args:
        gt_boxes (Sequence[np.ndarray]): per sample, (G_i, 9) float ground truth
            ``(x, y, z, l, w, h, yaw, vx, vy)`` of this class (NaN velocity = unknown).
        pred_boxes (Sequence[np.ndarray]): per sample, (P_i, 9) float predictions.
        pred_scores (Sequence[np.ndarray]): per sample, (P_i,) scores.
        dist_th (float): match threshold (m) on the ground-plane centre distance.
        gt_attrs, pred_attrs (Sequence[np.ndarray], optional): per sample,
            (G_i,) / (P_i,) int attribute labels (-1 = none); ground truth without
            an attribute has an undefined (NaN) attribute error.
        yaw_period (float): orientation period in radians (pi for symmetric classes).

    Returns:
        dict: ``recall``, ``precision``, ``confidence`` and the :data:`TP_METRICS`
        curves, each (101,) float64 over recall 0, 0.01, ..., 1; ``num_gt``,
        ``num_pred``, ``num_tp`` (ints). Without ground truth or without any match:
        zero precision / confidence and error curves of ones.
    """
    num_gt = int(sum(len(g) for g in gt_boxes))
    num_pred = int(sum(len(p) for p in pred_boxes))
    if num_gt == 0:
        return _no_match_curves(0, num_pred)
    scores = np.concatenate([np.asarray(s, np.float64).reshape(-1) for s in pred_scores] or [np.zeros(0)])
    # Rank: descending score, ties broken by descending position.
    rank_order = np.lexsort((np.arange(num_pred), scores))[::-1]
    rank = np.empty(num_pred, np.int64)
    rank[rank_order] = np.arange(num_pred)
    is_tp = np.zeros(num_pred, bool)
    match_err = {m: np.full(num_pred, np.nan) for m in TP_METRICS}
    start = 0
    for i, (gts, preds) in enumerate(zip(gt_boxes, pred_boxes)):
        n = len(preds)
        if n == 0 or len(gts) == 0:
            start += n
            continue
        glob = start + np.argsort(rank[start:start + n], kind='stable')
        local = glob - start
        diff = preds[local, None, :2] - gts[None, :, :2]
        dist = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)
        taken = np.zeros(len(gts), bool)
        matched = np.full(n, -1, np.int64)
        for k in range(n):
            row = np.where(taken, np.inf, dist[k])
            j = int(np.argmin(row))
            if row[j] < dist_th:
                taken[j] = True
                matched[k] = j
        hit = matched >= 0
        if hit.any():
            g = gts[matched[hit]]
            p = preds[local[hit]]
            tgt = glob[hit]
            is_tp[tgt] = True
            match_err['trans_err'][tgt] = dist[np.nonzero(hit)[0], matched[hit]]
            match_err['scale_err'][tgt] = 1.0 - _aligned_iou(g[:, 3:6], p[:, 3:6])
            match_err['orient_err'][tgt] = _yaw_error(g[:, 6], p[:, 6], yaw_period)
            match_err['vel_err'][tgt] = np.sqrt(((p[:, 7:9] - g[:, 7:9]) ** 2).sum(axis=1))
            if gt_attrs is not None:
                ga = np.asarray(gt_attrs[i]).reshape(-1)[matched[hit]]
                pa = (np.full(len(p), _NO_ATTR) if pred_attrs is None
                      else np.asarray(pred_attrs[i]).reshape(-1)[local[hit]])
                match_err['attr_err'][tgt] = np.where(ga == _NO_ATTR, np.nan, (ga != pa).astype(float))
        start += n
    num_tp = int(is_tp.sum())
    if num_tp == 0:
        return _no_match_curves(num_gt, num_pred)

    tp_ranked = is_tp[rank_order]
    conf_ranked = scores[rank_order]
    tp = np.cumsum(tp_ranked).astype(float)
    fp = np.cumsum(~tp_ranked).astype(float)
    recall_points = np.linspace(0.0, 1.0, _NUM_POINTS)
    recall = tp / float(num_gt)
    precision = np.interp(recall_points, recall, tp / (tp + fp), right=0)
    confidence = np.interp(recall_points, recall, conf_ranked, right=0)
    curves = dict(recall=recall_points, precision=precision, confidence=confidence)
    match_conf = conf_ranked[tp_ranked]
    for m in TP_METRICS:
        running = _cumulative_mean(match_err[m][rank_order][tp_ranked])
        # Read the running mean at each confidence level (np.interp needs ascending x).
        curves[m] = np.interp(confidence[::-1], match_conf[::-1], running[::-1])[::-1]
    curves.update(num_gt=num_gt, num_pred=num_pred, num_tp=num_tp)
    return curves


def detection_ap(curves: Mapping[str, np.ndarray], min_recall: float = 0.1,
                 min_precision: float = 0.1) -> float:
    """Average precision of :func:`accumulate_detections` curves (devkit ``calc_ap``).

    Args:
        curves (Mapping): with ``precision`` (101,).
        min_recall (float): recall points up to and including this one are left out.
        min_precision (float): precision below this counts as 0; the result is
            rescaled by ``1 / (1 - min_precision)``.

    Returns:
        float: AP in [0, 1].
    """
    if not 0.0 <= min_precision < 1.0:
        raise ValueError(f'min_precision must be in [0, 1), got {min_precision}')
    if not 0.0 <= min_recall <= 1.0:
        raise ValueError(f'min_recall must be in [0, 1], got {min_recall}')
    prec = np.asarray(curves['precision'], np.float64)[round(100 * min_recall) + 1:] - min_precision
    return float(np.mean(np.maximum(prec, 0.0))) / (1.0 - min_precision)


def detection_tp_error(curves: Mapping[str, np.ndarray], metric: str, min_recall: float = 0.1) -> float:
    """Mean TP error of one curve above ``min_recall`` (devkit ``calc_tp``).

    Args:
        curves (Mapping): output of :func:`accumulate_detections`.
        metric (str): one of :data:`TP_METRICS`.
        min_recall (float): errors at recall points up to and including this one
            are left out.

    Returns:
        float: mean error from the first recall point above ``min_recall`` to the
        highest recall reached (last non-zero confidence); 1.0 when that recall
        is not above ``min_recall``.
    """
    if metric not in TP_METRICS:
        raise ValueError(f'metric must be one of {TP_METRICS}, got {metric!r}')
    first = round(100 * min_recall) + 1
    nonzero = np.nonzero(np.asarray(curves['confidence']))[0]
    last = int(nonzero[-1]) if len(nonzero) else 0
    if last < first:
        return 1.0
    return float(np.mean(np.asarray(curves[metric])[first:last + 1]))


def _check_sample(sample: Mapping[str, Any], index: int, kind: str, num_classes: int,
                  with_scores: bool) -> Dict[str, np.ndarray]:
    """Validate one sample's boxes / labels / scores / attributes; return float64 arrays."""
    where = f'{kind}[{index}]'
    if not isinstance(sample, Mapping):
        raise ValueError(f'{where} must be a dict with bboxes_3d and labels_3d, got {type(sample).__name__}')
    if 'bboxes_3d' not in sample:
        raise ValueError(f'{where} has no bboxes_3d')
    boxes = _as_numpy(sample['bboxes_3d']).astype(np.float64)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 9)
    if boxes.ndim != 2 or boxes.shape[1] not in (7, 9):
        raise ValueError(f'{where}.bboxes_3d must be (M, 9) (x, y, z, l, w, h, yaw, vx, vy) or (M, 7), '
                         f'got shape {tuple(boxes.shape)}')
    if boxes.shape[1] == 7:
        boxes = np.concatenate([boxes, np.full((len(boxes), 2), np.nan)], axis=1)
    if not np.isfinite(boxes[:, :7]).all():
        raise ValueError(f'{where}.bboxes_3d has NaN/inf in (x, y, z, l, w, h, yaw)')
    if (boxes[:, 3:6] <= 0).any():
        raise ValueError(f'{where}.bboxes_3d sizes (l, w, h) must be > 0')
    m = len(boxes)
    labels = _as_numpy(sample.get('labels_3d', np.zeros(0, np.int64))).reshape(-1)
    if labels.shape[0] != m:
        raise ValueError(f'{where}.labels_3d must be ({m},) like bboxes_3d, got {labels.shape[0]} labels')
    labels = labels.astype(np.int64)
    low = 0 if with_scores else -1
    if m and (labels.min() < low or labels.max() >= num_classes):
        raise ValueError(f'{where}.labels_3d must be in [{low}, {num_classes - 1}], '
                         f'got [{labels.min()}, {labels.max()}]')
    out = dict(boxes=boxes, labels=labels)
    if with_scores:
        if 'scores_3d' not in sample:
            raise ValueError(f'{where} has no scores_3d')
        scores = _as_numpy(sample['scores_3d']).astype(np.float64).reshape(-1)
        if scores.shape[0] != m:
            raise ValueError(f'{where}.scores_3d must be ({m},) like bboxes_3d, got {scores.shape[0]} scores')
        if not np.isfinite(scores).all():
            raise ValueError(f'{where}.scores_3d has NaN/inf')
        out['scores'] = scores
    for key, name in (('attr_labels', 'attrs'), ('num_pts', 'num_pts')):
        if sample.get(key) is not None:
            arr = _as_numpy(sample[key]).reshape(-1).astype(np.int64)
            if arr.shape[0] != m:
                raise ValueError(f'{where}.{key} must be ({m},) like bboxes_3d, got {arr.shape[0]}')
            out[name] = arr
    if 'attrs' in out:
        attrs = out['attrs']
        if m and (attrs.min() < -1 or attrs.max() >= len(NUSCENES_ATTRIBUTES)):
            raise ValueError(f'{where}.attr_labels must be in [-1, {len(NUSCENES_ATTRIBUTES) - 1}]')
        out['attrs'] = np.where(attrs == NUSCENES_ATTRIBUTES.index('None'), _NO_ATTR, attrs)
    return out


def _class_ranges(class_names: Sequence[str], class_range: Any) -> np.ndarray:
    if class_range is None:
        return np.full(len(class_names), np.inf)
    if isinstance(class_range, Mapping):
        missing = [c for c in class_names if c not in class_range]
        if missing:
            raise ValueError(f'class_range has no radius for classes {missing}')
        return np.array([float(class_range[c]) for c in class_names])
    return np.full(len(class_names), float(class_range))


def nuscenes_detection_eval(gts: Sequence[Mapping[str, Any]], preds: Sequence[Mapping[str, Any]],
                            class_names: Sequence[str],
                            class_range: Any = NUSCENES_CLASS_RANGE,
                            dist_ths: Sequence[float] = (0.5, 1.0, 2.0, 4.0),
                            dist_th_tp: float = 2.0, min_recall: float = 0.1,
                            min_precision: float = 0.1, max_boxes_per_sample: Optional[int] = 500,
                            mean_ap_weight: float = 5.0, fill_attributes: bool = True,
                            return_curves: bool = False) -> Dict[str, Any]:
    """nuScenes detection metrics of a set of samples (see the module docstring).

    Args:
        gts (Sequence[Mapping]): one per sample: ``bboxes_3d`` (M, 9)
            ``(x, y, z, l, w, h, yaw, vx, vy)`` (m, rad, m/s; NaN velocity =
            unknown) or (M, 7) (no velocity), ``labels_3d`` (M,) in
            ``[-1, K-1]`` (-1 dropped), optional ``attr_labels`` (M,) indices into
            :data:`NUSCENES_ATTRIBUTES` (-1 / 8 = none) and ``num_pts`` (M,)
            (boxes with 0 points are dropped).
        preds (Sequence[Mapping]): one per sample, same order: ``bboxes_3d``,
            ``scores_3d`` (M,), ``labels_3d`` (M,) in ``[0, K-1]``, optional
            ``attr_labels``.
        class_names (Sequence[str]): the K class names (nuScenes names get the
            devkit's per-class rules).
        class_range (Mapping | float | None): evaluation radius (m) from the
            frame origin, per class name, one for all, or None (no filtering).
        dist_ths (Sequence[float]): match thresholds (m) of AP.
        dist_th_tp (float): threshold (one of ``dist_ths``) of the TP errors.
        min_recall (float): see :func:`detection_ap`.
        min_precision (float): see :func:`detection_ap`.
        max_boxes_per_sample (int, optional): keep this many highest-scoring
            predictions per sample (devkit limit 500); None keeps all.
        mean_ap_weight (float): weight of mAP in NDS.
        fill_attributes (bool): predictions without ``attr_labels`` get
            :func:`default_attributes` (mmdet3d's submission rule); otherwise they
            have no attribute (every defined attribute error is 1).
        return_curves (bool): also return the curves per class and threshold.

    Returns:
        dict: ``mAP``, ``NDS``, ``tp_errors`` (``trans_err`` ... -> class mean,
        NaN if undefined for all classes), ``tp_scores`` (``max(0, 1 - err)``,
        0 for NaN), ``per_class`` (class -> ``AP`` (mean over thresholds),
        ``AP@<d>`` per threshold, the 5 TP errors, ``num_gts``, ``num_preds``
        after filtering), ``dist_ths``; with ``return_curves`` also ``curves``
        ((class, d) -> :func:`accumulate_detections` output).

    Raises:
        ValueError: misshapen or non-finite boxes / scores / labels, or bad options.
    """
    class_names = [str(c) for c in class_names]
    if not class_names:
        raise ValueError('class_names must not be empty')
    if len(gts) != len(preds):
        raise ValueError(f'gts and preds must have one entry per sample, got {len(gts)} and {len(preds)}')
    dist_ths = [float(d) for d in dist_ths]
    if not dist_ths or any(not d > 0 for d in dist_ths):
        raise ValueError(f'dist_ths must be positive distances, got {dist_ths}')
    if float(dist_th_tp) not in dist_ths:
        raise ValueError(f'dist_th_tp ({dist_th_tp}) must be one of dist_ths {dist_ths}')
    if max_boxes_per_sample is not None and int(max_boxes_per_sample) < 1:
        raise ValueError(f'max_boxes_per_sample must be >= 1 or None, got {max_boxes_per_sample}')
    k = len(class_names)
    radius = _class_ranges(class_names, class_range)

    gt_list: List[Dict[str, np.ndarray]] = []
    pred_list: List[Dict[str, np.ndarray]] = []
    for i, (g, p) in enumerate(zip(gts, preds)):
        g = _check_sample(g, i, 'gts', k, with_scores=False)
        p = _check_sample(p, i, 'preds', k, with_scores=True)
        if 'attrs' not in p and fill_attributes:
            p['attrs'] = default_attributes(p['labels'], p['boxes'][:, 7:9], class_names)
        if max_boxes_per_sample is not None and len(p['labels']) > max_boxes_per_sample:
            keep = np.sort(np.argsort(-p['scores'], kind='stable')[:int(max_boxes_per_sample)])
            p = {key: v[keep] for key, v in p.items()}
        keep_g = g['labels'] >= 0
        if 'num_pts' in g:
            keep_g &= g['num_pts'] != 0
        g = {key: v[keep_g] for key, v in g.items()}
        for d in (g, p):
            inside = np.hypot(d['boxes'][:, 0], d['boxes'][:, 1]) < radius[d['labels']]
            d.update({key: v[inside] for key, v in d.items()})
        gt_list.append(g)
        pred_list.append(p)
    has_gt_attrs = bool(gt_list) and all('attrs' in g for g in gt_list)

    per_class: Dict[str, Dict[str, float]] = {}
    curves_out = {}
    for c, name in enumerate(class_names):
        gsel = [g['labels'] == c for g in gt_list]
        psel = [p['labels'] == c for p in pred_list]
        cls_gt = [g['boxes'][s] for g, s in zip(gt_list, gsel)]
        cls_pred = [p['boxes'][s] for p, s in zip(pred_list, psel)]
        cls_scores = [p['scores'][s] for p, s in zip(pred_list, psel)]
        gt_attrs = [g['attrs'][s] for g, s in zip(gt_list, gsel)] if has_gt_attrs else None
        pred_attrs = ([p['attrs'][s] for p, s in zip(pred_list, psel)]
                      if all('attrs' in p for p in pred_list) else None)
        period = np.pi if name in _HALF_PERIOD else 2 * np.pi
        row: Dict[str, float] = {}
        for d in dist_ths:
            cur = accumulate_detections(cls_gt, cls_pred, cls_scores, d, gt_attrs, pred_attrs, period)
            row[f'AP@{d:g}'] = detection_ap(cur, min_recall, min_precision)
            if d == float(dist_th_tp):
                for m in TP_METRICS:
                    row[m] = (math.nan if m in _UNDEFINED_TP.get(name, ())
                              else detection_tp_error(cur, m, min_recall))
            if return_curves:
                curves_out[(name, d)] = cur
        row['AP'] = float(np.mean([row[f'AP@{d:g}'] for d in dist_ths]))
        row['num_gts'] = int(sum(len(b) for b in cls_gt))
        row['num_preds'] = int(sum(len(b) for b in cls_pred))
        per_class[name] = row

    m_ap = float(np.mean([per_class[n]['AP'] for n in class_names]))
    tp_errors, tp_scores = {}, {}
    for m in TP_METRICS:
        vals = np.array([per_class[n][m] for n in class_names], np.float64)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)
            tp_errors[m] = float(np.nanmean(vals)) if not np.isnan(vals).all() else math.nan
        # NaN (undefined for every class) scores 0, like the devkit's max(0, nan).
        tp_scores[m] = 0.0 if math.isnan(tp_errors[m]) else max(0.0, 1.0 - tp_errors[m])
    nds = (mean_ap_weight * m_ap + sum(tp_scores.values())) / (mean_ap_weight + len(TP_METRICS))
    out: Dict[str, Any] = dict(mAP=m_ap, NDS=float(nds), tp_errors=tp_errors, tp_scores=tp_scores,
                               per_class=per_class, dist_ths=dist_ths)
    if return_curves:
        out['curves'] = curves_out
    return out
