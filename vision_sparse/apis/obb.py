"""OBBInferencer: an aerial image (and, for PointOBB, one point per object) in, oriented boxes out."""
import time
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np
import torch

from vision_sparse.structures.results import timed
from .base import BaseInferencer, ImageLike, load_image

__all__ = ['OBBInferencer', 'parse_points']


def parse_points(points: Any, labels: Any = None, classes: Optional[Sequence[str]] = None,
                 image_shape: Optional[Sequence[int]] = None):
    """Points and their class indices from user input.

    Args:
        points: ``(N, 2)`` numbers ``(x, y)`` in pixels, or strings ``'x,y'`` /
            ``'x,y,class'`` (class a name of ``classes`` or an index).
        labels: ``(N,)`` class indices or names (overrides classes given in the strings);
            default: the classes in the strings, else class 0.
        classes (Sequence[str], optional): the model's class names.
        image_shape (tuple, optional): ``(H, W, ...)``: points must lie inside.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``(N, 2)`` float32 points, ``(N,)`` int64 labels.

    Raises:
        ValueError: a malformed point, NaN / inf, a point outside the image, an
            unknown class name or index, or labels of another length.
    """
    classes = list(classes) if classes is not None else None

    def to_label(value, where: str) -> int:
        if isinstance(value, str) and not value.lstrip('-').isdigit():
            if classes is None or value not in classes:
                raise ValueError(f'{where}: unknown class {value!r}'
                                 + (f'; classes are {classes}' if classes else ''))
            return classes.index(value)
        idx = int(value)
        if idx < 0 or (classes is not None and idx >= len(classes)):
            raise ValueError(f'{where}: class index {idx} out of range'
                             + (f' [0, {len(classes)})' if classes is not None else ''))
        return idx

    xy, from_text = [], []
    for i, p in enumerate(points if points is not None else []):
        if isinstance(p, str):
            parts = [s.strip() for s in p.split(',')]
            if len(parts) not in (2, 3):
                raise ValueError(f'points[{i}] must be "x,y" or "x,y,class", got {p!r}')
            try:
                xy.append((float(parts[0]), float(parts[1])))
            except ValueError as exc:
                raise ValueError(f'points[{i}]: x and y must be numbers, got {p!r}') from exc
            from_text.append(to_label(parts[2], f'points[{i}]') if len(parts) == 3 else None)
        else:
            arr = np.asarray(p, np.float64).reshape(-1)
            if arr.size != 2:
                raise ValueError(f'points[{i}] must be (x, y), got {p!r}')
            xy.append((float(arr[0]), float(arr[1])))
            from_text.append(None)
    pts = np.asarray(xy, np.float32).reshape(-1, 2)
    if not np.isfinite(pts).all():
        raise ValueError('points must be finite (no NaN or inf)')
    if image_shape is not None and len(pts):
        h, w = image_shape[:2]
        bad = (pts[:, 0] < 0) | (pts[:, 0] > w - 1) | (pts[:, 1] < 0) | (pts[:, 1] > h - 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f'points[{i}] = {pts[i].tolist()} lies outside the {w}x{h} image')
    if labels is not None:
        labels = list(np.asarray(labels).reshape(-1))
        if len(labels) != len(pts):
            raise ValueError(f'labels must have one entry per point ({len(pts)}), got {len(labels)}')
        out = [to_label(v if not isinstance(v, np.str_) else str(v), f'labels[{i}]')
               for i, v in enumerate(labels)]
    else:
        out = [0 if v is None else v for v in from_text]
    return pts, np.asarray(out, np.int64).reshape(-1)


class OBBInferencer(BaseInferencer):
    """Oriented boxes in an image from a PointOBB or an oriented-detector config.

    * PointOBB configs (``configs/pointobb/pointobb_*``, model
      :class:`~vision_sparse.models.detectors.PointOBB`): one box per given point
      (the pseudo box the method would write for that labelled point).
    * Oriented-detector configs (e.g. rotated FCOS): every object it detects;
      points are ignored.

    Args:
        config (str | PathLike | dict | Config): the config.
        checkpoint (str, optional): trained weights (see :class:`BaseInferencer`).
        device (str, optional): see :class:`BaseInferencer`.
        cfg_options (dict, optional): config overrides (dotted keys).
        classes (Sequence[str], optional): class names; default the config's
            ``test_dataloader.dataset.metainfo.classes``, else the default classes
            of that dataset type.

    Call ``inferencer(image, points=None, labels=None, score_thr=0.0)``:

    Args:
        image (str | PathLike | np.ndarray): an image file or ``(H, W, 3)`` RGB uint8.
        points: ``(N, 2)`` or strings ``'x,y[,class]'`` (see :func:`parse_points`).
        labels: class per point (names or indices).
        score_thr (float): drop boxes scoring below.

    Returns:
        dict: the result contract (``success``, ``reason``, ``timings``: ``load``,
        ``predict``, ``total``) and ``boxes`` ``(K, 5)`` float32 ``(cx, cy, w, h,
        theta)`` (pixels of the input image, theta radians, le90), ``polygons``
        ``(K, 8)``, ``scores`` ``(K,)``, ``labels`` ``(K,)`` int64, ``class_names``
        (list of K str), ``num_boxes``. ``success`` is False (with a reason) when
        a PointOBB model gets no points, or nothing scores above ``score_thr``.
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device=None,
                 cfg_options: Optional[Dict] = None,
                 classes: Optional[Sequence[str]] = None) -> None:
        super().__init__(config, checkpoint, device, cfg_options)
        if classes is None:
            ds = (self.cfg.get('test_dataloader') or {}).get('dataset') or {}
            classes = ((ds.get('metainfo') or {}).get('classes')
                       or self._dataset_classes(ds.get('type'))
                       or getattr(self.model, 'classes', None))
        self.classes = [str(c) for c in classes] if classes is not None else None
        self.needs_points = hasattr(self.model, 'predict_pseudo_boxes') or \
            type(self.model).__name__ == 'PointOBB'

    def _dataset_classes(self, type_name) -> Optional[Sequence[str]]:
        """The default ``METAINFO['classes']`` of the dataset class the config names."""
        if not isinstance(type_name, str):
            return None
        from mmengine.registry import DefaultScope
        from vision_sparse.registry import DATASETS
        with DefaultScope.overwrite_default_scope(self.cfg.get('default_scope', 'vision_sparse')):
            cls = DATASETS.get(type_name)
        return (getattr(cls, 'METAINFO', None) or {}).get('classes') if cls else None

    def _sample(self, image: np.ndarray, points: np.ndarray, labels: np.ndarray):
        from mmengine.structures import InstanceData
        from mmdet.structures import DetDataSample
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        bgr = np.ascontiguousarray(image[..., ::-1])
        inputs = torch.from_numpy(bgr).permute(2, 0, 1).contiguous()
        h, w = image.shape[:2]
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1.0, 1.0), img_id='input',
                                             img_path=''))
        inst = InstanceData()
        inst.points = torch.from_numpy(points).float()
        inst.labels = torch.from_numpy(labels)
        sample.gt_instances = inst
        return dict(inputs=[inputs], data_samples=[sample])

    def __call__(self, image: ImageLike, points: Any = None, labels: Any = None,
                 score_thr: float = 0.0) -> Dict[str, Any]:
        """Oriented boxes of ``image``; arguments and result in the class docstring."""
        from vision_sparse.structures.bbox import rbox2poly
        t_start = time.perf_counter()
        timings: Dict[str, float] = {}
        with timed(timings, 'load'):
            img = load_image(image, 'image')
            pts, lbl = parse_points(points, labels, self.classes, img.shape)
        empty = dict(boxes=np.zeros((0, 5), np.float32), polygons=np.zeros((0, 8), np.float32),
                     scores=np.zeros(0, np.float32), labels=np.zeros(0, np.int64),
                     class_names=[], num_boxes=0)
        if self.needs_points and len(pts) == 0:
            result = dict(empty, success=False,
                          reason='this PointOBB model needs one point per object (points=...)')
            timings['total'] = time.perf_counter() - t_start
            return self.finish(result, timings)
        with timed(timings, 'predict'), torch.no_grad():
            out = self.model.test_step(self._sample(img, pts, lbl))[0]
        pred = out.pred_instances
        boxes = pred.bboxes
        boxes = boxes.tensor if hasattr(boxes, 'tensor') else torch.as_tensor(boxes)
        boxes = boxes.detach().cpu().float().numpy().reshape(-1, 5)
        scores = pred.scores.detach().cpu().float().numpy().reshape(-1)
        labels_out = pred.labels.detach().cpu().numpy().astype(np.int64).reshape(-1)
        keep = scores >= float(score_thr)
        boxes, scores, labels_out = boxes[keep], scores[keep], labels_out[keep]
        names = [self.classes[i] if self.classes and 0 <= i < len(self.classes) else str(i)
                 for i in labels_out]
        result = dict(boxes=boxes.astype(np.float32),
                      polygons=np.asarray(rbox2poly(boxes), np.float32).reshape(-1, 8),
                      scores=scores.astype(np.float32), labels=labels_out, class_names=names,
                      num_boxes=int(len(boxes)), success=bool(len(boxes)),
                      reason='' if len(boxes) else f'no box scored >= {score_thr}')
        timings['total'] = time.perf_counter() - t_start
        return self.finish(result, timings)

    def draw(self, result: Dict[str, Any], image: ImageLike,
             points: Optional[np.ndarray] = None) -> np.ndarray:
        """The image with the boxes (coloured per class, labelled with class and score)
        and the given points.

        Returns:
            np.ndarray: ``(H, W, 3)`` uint8 RGB.
        """
        import cv2
        from vision_sparse.visualization import draw_rotated_boxes
        img = load_image(image, 'image')
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        out = draw_rotated_boxes(img, result['boxes'], labels=result['labels'],
                                 scores=result['scores'], class_names=self.classes)
        if points is not None:
            for x, y in np.asarray(points, np.float64).reshape(-1, 2):
                cv2.circle(out, (int(round(x)), int(round(y))), 4, (255, 255, 255), -1, cv2.LINE_AA)
                cv2.circle(out, (int(round(x)), int(round(y))), 4, (0, 0, 0), 1, cv2.LINE_AA)
        return out
