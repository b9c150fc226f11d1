"""Pipeline transforms of the oriented datasets: safe image loading, annotations with
points, resize / flip that move points with the rotated boxes, packing.

mmdet's ``Resize`` and ``RandomFlip`` already transform :class:`RotatedBoxes` through
their ``rescale_`` / ``flip_`` methods (checked by the tests); the subclasses here add
the points (``results['gt_points']`` ``(N, 2)``, the same frame as the boxes: pixel
``i`` covers ``[i, i + 1)``, a horizontal flip maps ``x -> W - x``).
"""
import logging
import math
from typing import Optional, Sequence, Union

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmdet.datasets.transforms import PackDetInputs, RandomFlip, Resize
from mmengine.logging import print_log

from vision_sparse.registry import TRANSFORMS
from vision_sparse.structures.bbox.rotated_boxes import RotatedBoxes

__all__ = ['SafeLoadImageFromFile', 'LoadOrientedAnnotations', 'ResizeOriented',
           'RandomFlipOriented', 'RandomRotateOriented', 'PackOrientedDetInputs',
           'image_bytes_problem']


def image_bytes_problem(data: bytes) -> str:
    """Why encoded image bytes are unusable ('' when they look complete).

    PNG must end with its ``IEND`` chunk and JPEG with the ``FFD9`` end marker
    (OpenCV decodes a truncated JPEG into a partly grey image without an error).

    Args:
        data (bytes): the file content.

    Returns:
        str: '' or the reason.
    """
    if not data:
        return 'the file is empty'
    if data.startswith(b'\x89PNG\r\n\x1a\n') and b'IEND' not in data[-32:]:
        return 'truncated PNG (no IEND chunk at the end)'
    if data.startswith(b'\xff\xd8') and b'\xff\xd9' not in data[-1024:]:
        return 'truncated JPEG (no end-of-image marker)'
    return ''


@TRANSFORMS.register_module()
class SafeLoadImageFromFile(LoadImageFromFile):
    """``LoadImageFromFile`` that skips an unusable image instead of failing.

    A missing, empty, truncated or undecodable file, or an image whose size differs
    from the ``width`` / ``height`` the dataset read from its header, gives ``None``
    with a logged warning naming the file; mmengine's ``BaseDataset`` then draws
    another sample (training). In ``test_mode`` mmengine raises on ``None``.

    Args:
        **kwargs: ``LoadImageFromFile`` arguments (``color_type='color'``,
            ``imdecode_backend='cv2'``, ``to_float32``, ``backend_args``).
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load ``results['img_path']`` into ``img`` (BGR uint8), ``img_shape``,
        ``ori_shape``; None (logged) for an unusable image."""
        path = results['img_path']
        try:
            data = fileio.get(path, backend_args=self.backend_args)
            problem = image_bytes_problem(data)
            img = None if problem else mmcv.imfrombytes(
                data, flag=self.color_type, backend=self.imdecode_backend)
            if not problem and img is None:
                problem = 'the image cannot be decoded'
        except Exception as err:  # noqa: BLE001 - any reader failure skips the sample
            img, problem = None, f'cannot be read ({type(err).__name__}: {err})'
        if not problem and 'height' in results and 'width' in results and \
                tuple(img.shape[:2]) != (results['height'], results['width']):
            problem = (f'decoded size {img.shape[1]}x{img.shape[0]} differs from the '
                       f'{results["width"]}x{results["height"]} of its header')
        if problem:
            print_log(f'skipped image {path}: {problem}', logger='current',
                      level=logging.WARNING)
            return None
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class LoadOrientedAnnotations(BaseTransform):
    """Turn ``results['instances']`` into arrays.

    Adds ``gt_bboxes`` (:class:`RotatedBoxes` ``(N, 5)`` float32; only when the sample
    has gt boxes, ``results['has_gt_boxes']``, default True), ``gt_bboxes_labels``
    ``(N,)`` int64, ``gt_ignore_flags`` ``(N,)`` bool and ``gt_points`` ``(N, 2)``
    float32.

    Args:
        with_point (bool): load the points (an instance without ``point`` raises).
    """

    def __init__(self, with_point: bool = True) -> None:
        self.with_point = with_point

    def transform(self, results: dict) -> dict:
        """Add the ``gt_*`` arrays (see the class docstring).

        Raises:
            ValueError: for an instance without ``point`` (``with_point``) or
                without ``bbox`` in a sample with gt boxes.
        """
        instances = results.get('instances', [])
        where = results.get('img_path', results.get('img_id', '<sample>'))
        has_boxes = results.setdefault('has_gt_boxes', True)
        if has_boxes:
            if any('bbox' not in inst for inst in instances):
                raise ValueError(f'{where}: an instance has no bbox but has_gt_boxes=True')
            boxes = np.array([inst['bbox'] for inst in instances], np.float32).reshape(-1, 5)
            results['gt_bboxes'] = RotatedBoxes(boxes)
        results['gt_bboxes_labels'] = np.array([inst['bbox_label'] for inst in instances],
                                               np.int64)
        results['gt_ignore_flags'] = np.array([bool(inst.get('ignore_flag', 0))
                                               for inst in instances], bool)
        if self.with_point:
            if any('point' not in inst for inst in instances):
                raise ValueError(f'{where}: an instance has no point (with_point=True)')
            results['gt_points'] = np.array([inst['point'] for inst in instances],
                                            np.float32).reshape(-1, 2)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(with_point={self.with_point})'


@TRANSFORMS.register_module()
class ResizeOriented(Resize):
    """mmdet ``Resize`` (``keep_ratio=True`` by default) that also scales ``gt_points``.

    Boxes go through ``RotatedBoxes.rescale_`` (exact for equal x / y factors, a
    refitted rectangle otherwise); points are multiplied by ``scale_factor`` and, with
    ``clip_object_border``, clamped to ``[0, W] x [0, H]``.
    """

    def __init__(self, *args, keep_ratio: bool = True, **kwargs) -> None:
        super().__init__(*args, keep_ratio=keep_ratio, **kwargs)

    def transform(self, results: dict) -> dict:
        """Resize image, boxes and points."""
        results = super().transform(results)
        if results.get('gt_points') is not None:
            pts = results['gt_points'] * np.asarray(results['scale_factor'], np.float32)
            if self.clip_object_border:
                h, w = results['img_shape']
                pts[:, 0] = pts[:, 0].clip(0, w)
                pts[:, 1] = pts[:, 1].clip(0, h)
            results['gt_points'] = pts.astype(np.float32)
        return results


@TRANSFORMS.register_module()
class RandomFlipOriented(RandomFlip):
    """mmdet ``RandomFlip`` that also flips ``gt_points`` (``x -> W - x``, ``y -> H - y``).

    Args: as mmdet ``RandomFlip`` (``prob``, ``direction='horizontal' | 'vertical' |
    'diagonal'`` or lists).
    """

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        pts = results.get('gt_points')
        if pts is None:
            return
        h, w = results['img'].shape[:2]
        pts = pts.copy()
        direction = results['flip_direction']
        if direction in ('horizontal', 'diagonal'):
            pts[:, 0] = w - pts[:, 0]
        if direction in ('vertical', 'diagonal'):
            pts[:, 1] = h - pts[:, 1]
        results['gt_points'] = pts


@TRANSFORMS.register_module()
class RandomRotateOriented(BaseTransform):
    """Rotate image, boxes and points about the image centre by a random angle.

    Positive angles turn clockwise on screen (the direction in which ``theta``
    grows). The image keeps its size (corners cut, the uncovered border filled with
    ``border_value``); objects whose centre (boxes) or point (point-only samples)
    leaves the image are dropped with their labels, flags and points. Adds
    ``rotate_angle`` (degrees, 0 when not rotated) to the results.

    Args:
        prob (float): probability of rotating.
        angle_range (float | Sequence[float]): ``r`` (uniform in ``[-r, r]`` degrees)
            or ``(low, high)``.
        rect_classes (Sequence[int], optional): labels of objects whose box
            orientation is ambiguous (e.g. storage tanks): an image holding one is
            only turned by a multiple of 90 degrees (as mmrotate's ``RandomRotate``).
        border_value (int): fill of the uncovered pixels.
    """

    def __init__(self, prob: float = 0.5, angle_range: Union[float, Sequence[float]] = 180,
                 rect_classes: Optional[Sequence[int]] = None, border_value: int = 0) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        low, high = ((-float(angle_range), float(angle_range))
                     if np.isscalar(angle_range) else tuple(float(a) for a in angle_range))
        if not low <= high:
            raise ValueError(f'angle_range must be r >= 0 or (low, high), got {angle_range}')
        self.prob, self.angle_range = prob, (low, high)
        self.rect_classes = tuple(rect_classes or ())
        self.border_value = border_value

    def _angle(self, results: dict) -> float:
        labels = results.get('gt_bboxes_labels', np.zeros(0, np.int64))
        if self.rect_classes and np.isin(labels, self.rect_classes).any():
            return float(np.random.choice([-90.0, 90.0, 180.0]))
        return float(np.random.uniform(*self.angle_range))

    def transform(self, results: dict) -> dict:
        """Rotate ``img``, ``gt_bboxes`` and ``gt_points`` (see the class docstring)."""
        if np.random.rand() >= self.prob:
            results['rotate_angle'] = 0.0
            return results
        angle = self._angle(results)
        img = results['img']
        h, w = img.shape[:2]
        centre = (w / 2, h / 2)  # the image centre; OpenCV's pixel centres are at +0.5
        mat = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), -angle, 1.0)
        results['img'] = cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR,
                                        borderValue=self.border_value)
        keep = None
        if results.get('gt_bboxes') is not None:
            results['gt_bboxes'].rotate_(centre, angle)
            keep = results['gt_bboxes'].is_inside((h, w)).numpy()
        if results.get('gt_points') is not None:
            a = math.radians(angle)
            d = results['gt_points'].astype(np.float64) - centre
            pts = np.stack([centre[0] + math.cos(a) * d[:, 0] - math.sin(a) * d[:, 1],
                            centre[1] + math.sin(a) * d[:, 0] + math.cos(a) * d[:, 1]], -1)
            results['gt_points'] = pts.astype(np.float32)
            if keep is None:
                keep = ((pts[:, 0] >= 0) & (pts[:, 0] <= w) & (pts[:, 1] >= 0)
                        & (pts[:, 1] <= h))
        if keep is not None and not keep.all():
            for key in ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags', 'gt_points'):
                if results.get(key) is not None:
                    results[key] = results[key][keep]
        results['rotate_angle'] = angle
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(prob={self.prob}, angle_range={self.angle_range}, '
                f'rect_classes={self.rect_classes}, border_value={self.border_value})')


@TRANSFORMS.register_module()
class PackOrientedDetInputs(PackDetInputs):
    """mmdet ``PackDetInputs`` that also packs the points.

    ``inputs``: uint8 ``(3, H, W)`` (BGR as loaded). ``data_samples``: a
    ``DetDataSample`` whose ``gt_instances`` has ``bboxes`` (``RotatedBoxes``, only
    when ``has_gt_boxes``), ``labels`` ``(N,)`` int64, ``points`` ``(N, 2)`` float32;
    ``ignored_instances`` holds the same fields of the difficult objects; metainfo
    has ``img_id``, ``img_path``, ``ori_shape``, ``img_shape``, ``scale_factor``,
    ``flip``, ``flip_direction``, ``has_gt_boxes``.
    """

    mapping_table = {**PackDetInputs.mapping_table, 'gt_points': 'points'}

    def __init__(self, meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                  'scale_factor', 'flip', 'flip_direction',
                                  'has_gt_boxes')) -> None:
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        """Pack (see the class docstring); a sample never resized or flipped gets
        ``scale_factor=(1.0, 1.0)``, ``flip=False``, ``flip_direction=None``."""
        results.setdefault('scale_factor', (1.0, 1.0))
        results.setdefault('flip', False)
        results.setdefault('flip_direction', None)
        results.setdefault('has_gt_boxes', 'gt_bboxes' in results)
        return super().transform(results)
