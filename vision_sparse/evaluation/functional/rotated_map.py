"""DOTA-style mean average precision of oriented detections.

Matching follows the DOTA devkit (``dota_evaluation_task1``), per class over the
whole dataset:

* detections of all images are sorted by descending score (a stable sort: ties
  keep image order, then the order inside the image);
* each detection takes the ground truth of its image with the highest IoU (over
  *all* ground truths of that class in that image, matched or not);
* IoU ``>= iou_thr`` and that ground truth ``difficult``: the detection is
  ignored (neither true nor false positive);
* IoU ``>= iou_thr``, not difficult and not yet matched: true positive (the
  ground truth becomes matched); already matched: false positive (a duplicate;
  it is *not* re-assigned to the next best ground truth, as in the devkit);
* IoU below ``iou_thr`` (or no ground truth): false positive.

Recall is ``TP / (number of non-difficult ground truths)``.  Two AP variants:
VOC07's 11-point interpolation (``use_07_metric=True``, the devkit's default) and
the area under the interpolated precision/recall curve (all recall points,
VOC2010+).  Differences from the devkit: the threshold test is ``>=`` (the
devkit uses ``>``; they differ only at exact equality), and invalid polygons
are repaired with :func:`shapely.make_valid` instead of being used as given.
"""
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

__all__ = ['eval_rotated_map', 'average_precision', 'rotated_iou_matrix', 'polygon_iou']

BOX_DIMS = {'rbox': 5, 'poly': 8}


def average_precision(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = True) -> float:
    """AP of one precision/recall curve.

    Args:
        recall (np.ndarray): (K,) recall after each ranked detection, non-decreasing.
        precision (np.ndarray): (K,) precision after each ranked detection.
        use_07_metric (bool): VOC07 11-point AP (mean over ``t in 0, 0.1, ..., 1``
            of the highest precision at recall ``>= t``, 0 where none); else the
            area under the curve whose precision at recall r is the highest
            precision at any recall ``>= r`` (all-points interpolation).

    Returns:
        float: AP in [0, 1]; 0 for an empty curve.

    Raises:
        ValueError: recall and precision of different shapes or not finite.
    """
    rec = np.asarray(recall, np.float64).reshape(-1)
    prec = np.asarray(precision, np.float64).reshape(-1)
    if rec.shape != prec.shape:
        raise ValueError(f'recall and precision must have the same shape (K,), got {rec.shape} '
                         f'and {prec.shape}')
    if not (np.isfinite(rec).all() and np.isfinite(prec).all()):
        raise ValueError('recall and precision must be finite')
    if rec.size == 0:
        return 0.0
    if use_07_metric:
        points = []
        for t in np.linspace(0.0, 1.0, 11):
            above = rec >= t - 1e-12
            points.append(prec[above].max() if above.any() else 0.0)
        return float(sum(points) / 11.0)
    mrec = np.concatenate([[0.0], rec, [1.0]])
    mpre = np.concatenate([[0.0], prec, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope
    idx = np.nonzero(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))


def polygon_iou(polys1: np.ndarray, polys2: np.ndarray) -> np.ndarray:
    """IoU of quadrilaterals (DOTA's ``x1 y1 ... x4 y4``) with shapely.

    An invalid polygon (self-intersecting "bow-tie", repeated points) is
    repaired with :func:`shapely.make_valid` (a bow-tie becomes its two
    triangles); a polygon of zero area has IoU 0 with everything.

    Args:
        polys1 (np.ndarray): (N, 8) pixels.
        polys2 (np.ndarray): (M, 8) pixels.

    Returns:
        np.ndarray: (N, M) float64 IoU in [0, 1].

    Raises:
        ValueError: wrong shapes or non-finite coordinates.
    """
    import shapely

    p1 = _check_boxes(polys1, 'polys1', 8)
    p2 = _check_boxes(polys2, 'polys2', 8)
    if len(p1) == 0 or len(p2) == 0:
        return np.zeros((len(p1), len(p2)))
    g1 = shapely.make_valid(shapely.polygons(p1.reshape(-1, 4, 2)))
    g2 = shapely.make_valid(shapely.polygons(p2.reshape(-1, 4, 2)))
    a1 = shapely.area(g1)
    a2 = shapely.area(g2)
    # only pairs whose axis-aligned bounds overlap can intersect (as the DOTA devkit does)
    lo1, hi1 = p1.reshape(-1, 4, 2).min(1), p1.reshape(-1, 4, 2).max(1)
    lo2, hi2 = p2.reshape(-1, 4, 2).min(1), p2.reshape(-1, 4, 2).max(1)
    near = ((np.minimum(hi1[:, None], hi2[None]) - np.maximum(lo1[:, None], lo2[None])) > 0).all(-1)
    inter = np.zeros((len(p1), len(p2)))
    i, j = np.nonzero(near)
    if len(i):
        inter[i, j] = shapely.area(shapely.intersection(g1[i], g2[j]))
    union = a1[:, None] + a2[None, :] - inter
    out = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
    return np.clip(out, 0.0, 1.0)


def rotated_iou_matrix(boxes1: np.ndarray, boxes2: np.ndarray, box_type: str = 'rbox') -> np.ndarray:
    """IoU matrix of rotated boxes or polygons.

    Args:
        boxes1 (np.ndarray): (N, 5) ``(cx, cy, w, h, theta)`` (theta in radians,
            from +x toward +y, see :func:`vision_sparse.ops.box_iou_rotated`)
            for ``'rbox'``; (N, 8) polygons for ``'poly'``.
        boxes2 (np.ndarray): (M, 5) or (M, 8), same type.
        box_type (str): ``'rbox'`` or ``'poly'``.

    Returns:
        np.ndarray: (N, M) float64 IoU.

    Raises:
        ValueError: unknown box_type, wrong shapes, NaN / inf, negative sizes.
    """
    if box_type not in BOX_DIMS:
        raise ValueError(f"box_type must be 'rbox' or 'poly', got {box_type!r}")
    if box_type == 'poly':
        return polygon_iou(boxes1, boxes2)
    from vision_sparse.ops import box_iou_rotated

    b1 = _check_boxes(boxes1, 'boxes1', 5)
    b2 = _check_boxes(boxes2, 'boxes2', 5)
    if len(b1) == 0 or len(b2) == 0:
        return np.zeros((len(b1), len(b2)))
    return box_iou_rotated(torch.from_numpy(b1), torch.from_numpy(b2)).numpy().astype(np.float64)


def _check_boxes(boxes: Any, name: str, dim: int) -> np.ndarray:
    arr = _as_numpy(boxes)
    if arr.size == 0:
        return np.zeros((0, dim))
    if arr.ndim != 2 or arr.shape[1] != dim:
        what = '(cx, cy, w, h, theta)' if dim == 5 else 'x1 y1 ... x4 y4'
        raise ValueError(f'{name} must have shape (K, {dim}) = {what}, got {tuple(arr.shape)}')
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f'{name} must be finite (no NaN or inf)')
    if dim == 5 and (arr[:, 2:4] < 0).any():
        raise ValueError(f'{name} has a negative width or height')
    return arr


def _as_numpy(x: Any) -> np.ndarray:
    if hasattr(x, 'tensor'):  # RotatedBoxes and other mmdet box types
        x = x.tensor
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _labels(labels: Any, n: int, classes: Sequence[str], name: str) -> np.ndarray:
    lab = _as_numpy(labels).reshape(-1) if labels is not None else np.zeros(0, np.int64)
    if lab.shape[0] != n:
        raise ValueError(f'{name} must have one label per box ({n}), got {lab.shape[0]}')
    if n == 0:
        return np.zeros(0, np.int64)
    if lab.dtype.kind in 'USO':  # class names
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted({str(v) for v in lab if str(v) not in index})
        if unknown:
            raise ValueError(f'{name} has class names not in classes: {unknown}')
        return np.array([index[str(v)] for v in lab], np.int64)
    if lab.dtype.kind == 'f' and not np.isfinite(lab).all():
        raise ValueError(f'{name} must be finite')
    if lab.dtype.kind == 'f' and (lab != np.round(lab)).any():
        raise ValueError(f'{name} must be integer class indices')
    lab = lab.astype(np.int64)
    if ((lab < 0) | (lab >= len(classes))).any():
        raise ValueError(f'{name} must be class indices in [0, {len(classes)}), got '
                         f'{lab.min()}..{lab.max()}')
    return lab


def _infer_classes(det_results: Sequence[dict], annotations: Sequence[dict]) -> List[str]:
    names: List[str] = []
    top = -1
    for item in list(det_results) + list(annotations):
        lab = item.get('labels')
        if lab is None:
            continue
        lab = _as_numpy(lab).reshape(-1)
        if lab.size == 0:
            continue
        if lab.dtype.kind in 'USO':
            names.extend(str(v) for v in lab if str(v) not in names)
        elif lab.dtype.kind in 'iuf' and np.isfinite(lab).all():
            top = max(top, int(lab.max()))
    if names and top >= 0:
        raise ValueError('labels mix class names and indices: pass classes')
    if names:
        return sorted(set(names))
    return [str(i) for i in range(top + 1)]


def _parse_image(item: Any, index: int, what: str, dim: int, classes: Sequence[str],
                 with_scores: bool) -> Dict[str, np.ndarray]:
    if not isinstance(item, dict):
        raise ValueError(f'{what}[{index}] must be a dict, got {type(item).__name__}')
    boxes = item.get('boxes', np.zeros((0, dim)))
    if dim == 8 and _as_numpy(boxes).ndim == 2 and _as_numpy(boxes).shape[1] == 5:
        # rotated boxes scored against polygons: their corners
        from vision_sparse.structures.bbox.rotated_boxes import rbox2poly
        boxes = rbox2poly(_check_boxes(boxes, f'{what}[{index}]["boxes"]', 5))
    boxes = _check_boxes(boxes, f'{what}[{index}]["boxes"]', dim)
    n = len(boxes)
    out = dict(boxes=boxes, labels=_labels(item.get('labels'), n, classes, f'{what}[{index}]["labels"]'))
    if with_scores:
        scores = _as_numpy(item.get('scores', np.zeros(0))).astype(np.float64).reshape(-1)
        if scores.shape[0] != n:
            raise ValueError(f'{what}[{index}]["scores"] must have one score per box ({n}), '
                             f'got {scores.shape[0]}')
        if not np.isfinite(scores).all():
            raise ValueError(f'{what}[{index}]["scores"] must be finite (no NaN or inf)')
        out['scores'] = scores
    else:
        diff = item.get('difficult')
        diff = np.zeros(n, bool) if diff is None else _as_numpy(diff).astype(bool).reshape(-1)
        if diff.shape[0] != n:
            raise ValueError(f'{what}[{index}]["difficult"] must have one flag per box ({n}), '
                             f'got {diff.shape[0]}')
        out['difficult'] = diff
    return out


def eval_rotated_map(det_results: Sequence[Dict[str, Any]], annotations: Sequence[Dict[str, Any]],
                     iou_thr: float = 0.5, use_07_metric: bool = True, box_type: str = 'rbox',
                     classes: Optional[Sequence[str]] = None) -> Dict[str, Any]:
    """DOTA-style per-class AP and mAP (matching rules: see the module docstring).

    Args:
        det_results (Sequence[dict]): one dict per image: ``boxes`` (K, 5)
            ``(cx, cy, w, h, theta)`` (radians, the convention of
            :func:`vision_sparse.ops.box_iou_rotated`) or (K, 8) polygons,
            ``scores`` (K,), ``labels`` (K,) class indices or names.  numpy
            arrays, tensors or ``RotatedBoxes`` are accepted.
        annotations (Sequence[dict]): one dict per image (same order): ``boxes``,
            ``labels`` and optional ``difficult`` (K,) bool.
        iou_thr (float): IoU threshold in (0, 1].
        use_07_metric (bool): VOC07 11-point AP if True, else area under the
            interpolated curve.
        box_type (str): ``'rbox'`` (rotated IoU) or ``'poly'`` (polygon IoU, shapely;
            (K, 5) rotated boxes are then also accepted, in detections or
            annotations, and scored as their corner polygons, e.g. an
            oriented detector against DOTA's quadrilateral ground truth).
        classes (Sequence[str], optional): class names; label ``i`` is
            ``classes[i]``.  Default: the sorted names found in the labels, or
            ``'0'..'C-1'`` for integer labels.

    Returns:
        dict: ``mAP`` (float, mean AP over classes with at least one
        non-difficult ground truth; 0.0 when there is none), ``classes``
        (list[str]) and ``per_class`` (list of dicts, one per class, in class
        order): ``class``, ``ap`` (float; NaN for a class without non-difficult
        ground truth), ``recall`` and ``precision`` ((K,) arrays after each of
        the K non-ignored ranked detections), ``num_gts`` (non-difficult),
        ``num_difficult``, ``num_dets`` (all detections of the class).

    Raises:
        ValueError: different numbers of images, bad box shapes, NaN / inf,
            labels out of range or unknown, bad ``iou_thr`` / ``box_type``.
    """
    if box_type not in BOX_DIMS:
        raise ValueError(f"box_type must be 'rbox' or 'poly', got {box_type!r}")
    if not (np.isfinite(iou_thr) and 0.0 < float(iou_thr) <= 1.0):
        raise ValueError(f'iou_thr must be in (0, 1], got {iou_thr}')
    if len(det_results) != len(annotations):
        raise ValueError(f'det_results and annotations must have one entry per image, got '
                         f'{len(det_results)} and {len(annotations)}')
    dim = BOX_DIMS[box_type]
    classes = list(classes) if classes is not None else _infer_classes(det_results, annotations)
    dets = [_parse_image(d, i, 'det_results', dim, classes, True) for i, d in enumerate(det_results)]
    gts = [_parse_image(a, i, 'annotations', dim, classes, False) for i, a in enumerate(annotations)]

    per_class = []
    for c, name in enumerate(classes):
        per_class.append(_eval_class(c, name, dets, gts, float(iou_thr), use_07_metric, box_type))
    valid = [r['ap'] for r in per_class if r['num_gts'] > 0]
    return dict(mAP=float(np.mean(valid)) if valid else 0.0, classes=classes, per_class=per_class)


def _eval_class(c: int, name: str, dets: List[dict], gts: List[dict], iou_thr: float,
                use_07_metric: bool, box_type: str) -> Dict[str, Any]:
    img_ids, scores, best_iou, best_gt = [], [], [], []
    num_gts = num_difficult = 0
    gt_difficult = []
    for i, (d, g) in enumerate(zip(dets, gts)):
        dm = d['labels'] == c
        gm = g['labels'] == c
        diff = g['difficult'][gm]
        gt_difficult.append(diff)
        num_gts += int((~diff).sum())
        num_difficult += int(diff.sum())
        k = int(dm.sum())
        if k == 0:
            continue
        ious = rotated_iou_matrix(d['boxes'][dm], g['boxes'][gm], box_type)
        img_ids.append(np.full(k, i))
        scores.append(d['scores'][dm])
        if ious.shape[1]:
            best_gt.append(ious.argmax(1))
            best_iou.append(ious.max(1))
        else:
            best_gt.append(np.full(k, -1))
            best_iou.append(np.full(k, -np.inf))
    num_dets = int(sum(len(s) for s in scores))
    tp = np.zeros(num_dets)
    fp = np.zeros(num_dets)
    if num_dets:
        img_ids_a = np.concatenate(img_ids)
        order = np.argsort(-np.concatenate(scores), kind='stable')
        best_iou_a = np.concatenate(best_iou)
        best_gt_a = np.concatenate(best_gt)
        matched = [np.zeros(len(dg), bool) for dg in gt_difficult]
        for rank, k in enumerate(order):
            img, j = img_ids_a[k], best_gt_a[k]
            if best_iou_a[k] >= iou_thr:
                if gt_difficult[img][j]:
                    continue  # ignored
                if not matched[img][j]:
                    tp[rank] = 1.0
                    matched[img][j] = True
                else:
                    fp[rank] = 1.0
            else:
                fp[rank] = 1.0
    keep = (tp + fp) > 0
    tp_c = np.cumsum(tp[keep])
    fp_c = np.cumsum(fp[keep])
    recall = tp_c / num_gts if num_gts else np.zeros_like(tp_c)
    precision = tp_c / np.maximum(tp_c + fp_c, np.finfo(np.float64).eps)
    ap = average_precision(recall, precision, use_07_metric) if num_gts else float('nan')
    return {'class': name, 'ap': ap, 'recall': recall, 'precision': precision, 'num_gts': num_gts,
            'num_difficult': num_difficult, 'num_dets': num_dets}
