"""Shared loading of oriented-object datasets (DOTA, DIOR-R, point-label folders).

Every sample is an mmdet data info dict::

    img_path, img_id, width, height, has_gt_boxes, instances=[
        dict(bbox=[cx, cy, w, h, theta],   # 'le90' radians; absent for point-only labels
             bbox_label=int, ignore_flag=0|1 (difficult), point=[x, y]), ...]

in the frame of the DOTA polygons (pixel ``i`` covers ``[i, i + 1)``).

Bad input never stops the whole dataset and never reaches training as garbage:
a bad *object* (unknown class, degenerate or self-intersecting polygon,
NaN / malformed line, centre or point outside the image) is left out, a bad
*sample* (annotation file unreadable, image missing or unreadable, labels made at
another image size) is left out, each with one logged warning naming the file and
the reasons (also kept in :attr:`OrientedDetDataset.skipped`). With
``strict=True`` the first problem raises a ``ValueError`` naming the file instead.
"""
import logging
import os
import os.path as osp
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmdet.datasets import BaseDetDataset
from mmengine.logging import print_log

from vision_sparse.structures.bbox.rotated_boxes import poly2rbox

from .points import POINT_MODES, load_point_txt, point_rng, sample_points

__all__ = ['OrientedDetDataset', 'polygon_problems', 'image_size']

IMG_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')


class SampleError(ValueError):
    """A sample that cannot be used (the message names the file)."""


def image_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` of an image file, read from its header only.

    Raises:
        SampleError: if the file is missing or not a readable image.
    """
    from PIL import Image
    try:
        with Image.open(path) as img:
            return int(img.size[0]), int(img.size[1])
    except (OSError, ValueError, SyntaxError) as err:
        raise SampleError(f'{path}: not a readable image ({err})') from None


def _segments_cross(p1, p2, q1, q2) -> bool:
    """Whether the open segments ``p1p2`` and ``q1q2`` cross properly."""
    def side(a, b, c):
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
    d1, d2 = side(q1, q2, p1), side(q1, q2, p2)
    d3, d4 = side(p1, p2, q1), side(p1, p2, q2)
    return d1 * d2 < 0 and d3 * d4 < 0


def polygon_problems(polys: np.ndarray, min_area: float = 0.5) -> List[str]:
    """Why each quadrilateral is unusable ('' when it is fine).

    Args:
        polys (np.ndarray): ``(N, 8)`` polygons ``x1 y1 ... x4 y4``, pixels.
        min_area (float): polygons of a smaller area (px^2) are degenerate.

    Returns:
        list[str]: ``N`` reasons: non-finite coordinates, a self-intersecting
        (bow-tie) polygon, a degenerate polygon (area below ``min_area``), or ''.
    """
    out = []
    for poly in np.asarray(polys, np.float64).reshape(-1, 4, 2):
        if not np.isfinite(poly).all():
            out.append('non-finite coordinate')
            continue
        if (_segments_cross(poly[0], poly[1], poly[2], poly[3])
                or _segments_cross(poly[1], poly[2], poly[3], poly[0])):
            out.append('self-intersecting polygon')
            continue
        x, y = poly[:, 0], poly[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))
        out.append(f'degenerate polygon (area {area:.2g} px^2 < min_area={min_area})'
                   if area < min_area else '')
    return out


class OrientedDetDataset(BaseDetDataset):
    """Base of the oriented-object datasets (mmdet ``BaseDetDataset``).

    Subclasses list their samples (:meth:`list_samples`) and read one annotation
    file (:meth:`read_objects`); this class validates, rescales, samples the
    points and builds the instances (layout in the module docstring).

    Args:
        data_root (str): dataset folder; relative folders below are joined to it.
        img_dir (str): folder of the images.
        ann_dir (str | None): folder of the box annotations.
        point_dir (str | None): folder of point-label files (see
            :mod:`~vision_sparse.datasets.oriented.points`); when set, the points
            are read from there and the samples have no gt boxes
            (``has_gt_boxes=False``); ``ann_dir`` is not read.
        ann_file (str): optional image-set file: one image id (file stem) a line;
            empty: every annotation file.
        point_mode (str): how a point is drawn from a box: ``'center'``,
            ``'ellipse'`` (official PointOBB) or ``'gaussian'``.
        point_scale (float): ellipse semi-axes / Gaussian std as a fraction of the box
            size (0.1 as the official script).
        point_seed (int): seed; points depend only on ``(point_seed, img_id)``.
        label_scale (float, optional): factor applied to all label coordinates.
        ann_image_size (int | tuple, optional): ``(width, height)`` (or one side)
            of the image the labels were made on; labels are rescaled to the real
            image size. Exclusive with ``label_scale``.
        strict (bool): raise a ``ValueError`` naming the file at the first bad
            object or sample instead of skipping it.
        size_tolerance (float): labels reaching beyond ``(1 + size_tolerance)``
            times the image size mean "labels made at another image size": the
            sample is refused.
        min_area (float): polygons smaller than this (px^2) are degenerate.
        ignore_case (bool): match class names case-insensitively.
        **kwargs: :class:`mmdet.datasets.BaseDetDataset` arguments (``metainfo``,
            ``pipeline``, ``test_mode``, ``filter_cfg=dict(filter_empty_gt=True)``,
            ``lazy_init`` ...).
    """

    METAINFO: dict = dict(classes=(), palette=None, angle_agnostic_classes=())
    #: file suffix of the annotation files
    ann_suffix = '.txt'

    def __init__(self,
                 *args,
                 img_dir: str = 'images',
                 ann_dir: Optional[str] = 'labelTxt',
                 point_dir: Optional[str] = None,
                 point_mode: str = 'ellipse',
                 point_scale: float = 0.1,
                 point_seed: int = 0,
                 label_scale: Optional[float] = None,
                 ann_image_size: Union[None, int, Sequence[int]] = None,
                 strict: bool = False,
                 size_tolerance: float = 0.25,
                 min_area: float = 0.5,
                 ignore_case: bool = False,
                 **kwargs) -> None:
        if point_mode not in POINT_MODES:
            raise ValueError(f'point_mode must be one of {POINT_MODES}, got {point_mode!r}')
        if not 0 <= point_scale <= 0.5:
            raise ValueError(f'point_scale must be in [0, 0.5], got {point_scale}')
        if label_scale is not None and ann_image_size is not None:
            raise ValueError('give label_scale or ann_image_size, not both')
        if label_scale is not None and not (np.isfinite(label_scale) and label_scale > 0):
            raise ValueError(f'label_scale must be a positive number, got {label_scale}')
        if ann_image_size is not None:
            size = np.broadcast_to(np.asarray(ann_image_size, np.float64), (2,))
            if not (np.isfinite(size).all() and (size > 0).all()):
                raise ValueError('ann_image_size must be (width, height) > 0, got '
                                 f'{ann_image_size}')
            ann_image_size = (float(size[0]), float(size[1]))
        if not size_tolerance >= 0:
            raise ValueError(f'size_tolerance must be >= 0, got {size_tolerance}')
        if point_dir is None and ann_dir is None:
            raise ValueError('give ann_dir (boxes) or point_dir (points)')
        self.img_dir, self.ann_dir, self.point_dir = img_dir, ann_dir, point_dir
        self.point_mode, self.point_scale, self.point_seed = point_mode, point_scale, point_seed
        self.label_scale, self.ann_image_size = label_scale, ann_image_size
        self.strict, self.size_tolerance, self.min_area = strict, size_tolerance, min_area
        self.ignore_case = ignore_case
        #: ``(file, reason)`` of every skipped sample or object, filled while loading
        self.skipped: List[Tuple[str, str]] = []
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ hooks
    def list_samples(self) -> List[Dict]:
        """The samples to read: dicts with ``img_id``, ``img_path`` (None when not
        found) and ``ann_path``.

        The default lists the annotation folder (``point_dir`` when set, else
        ``ann_dir``), or the ids of ``ann_file``, and finds each image in
        ``img_dir`` under any of the usual suffixes.
        """
        ann_dir = self._path(self.point_dir if self.point_dir is not None else self.ann_dir)
        suffix = '.txt' if self.point_dir is not None else self.ann_suffix
        if self.ann_file:
            ids = self._image_set(self.ann_file)
        else:
            if not osp.isdir(ann_dir):
                raise FileNotFoundError(f'annotation folder {ann_dir} does not exist')
            ids = sorted(osp.splitext(f)[0] for f in os.listdir(ann_dir) if f.endswith(suffix))
        img_dir = self._path(self.img_dir)
        return [dict(img_id=i, img_path=self._find_image(img_dir, i),
                     ann_path=osp.join(ann_dir, i + suffix)) for i in ids]

    def read_objects(self, ann_path: str) -> Dict:
        """Read one box-annotation file.

        Returns:
            dict: ``polys`` ``(N, 8)`` float64, ``labels`` list[str], ``difficult``
            ``(N,)`` bool, ``skipped`` list of messages of malformed entries left
            out, ``size`` ``(width, height)`` recorded in the file or None.
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers
    def _path(self, folder: str) -> str:
        return folder if osp.isabs(folder) else osp.join(self.data_root or '', folder)

    @staticmethod
    def _find_image(img_dir: str, img_id: str) -> Optional[str]:
        for suffix in IMG_SUFFIXES + tuple(s.upper() for s in IMG_SUFFIXES):
            path = osp.join(img_dir, img_id + suffix)
            if osp.isfile(path):
                return path
        return None

    @staticmethod
    def _image_set(path: str) -> List[str]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'image-set file {path} does not exist')
        with open(path, encoding='utf-8') as f:
            return [line.strip() for line in f if line.strip()]

    def _class_index(self) -> Dict[str, int]:
        names = self.metainfo['classes']
        if self.ignore_case:
            return {str(n).lower(): i for i, n in enumerate(names)}
        return {str(n): i for i, n in enumerate(names)}

    def _skip(self, path: str, reason: str) -> None:
        if self.strict:
            raise ValueError(f'{path}: {reason}')
        self.skipped.append((path, reason))

    # ---------------------------------------------------------------- loading
    def load_data_list(self) -> List[dict]:
        """Read every sample; bad samples are skipped (or raise when strict).

        Returns:
            list[dict]: data infos (layout in the module docstring).
        """
        if not self.metainfo.get('classes'):
            raise ValueError(f'{type(self).__name__}: metainfo has no classes')
        self.skipped = []
        self._cat_index = self._class_index()
        data_list = []
        samples = self.list_samples()
        if not samples:
            raise ValueError(f'{type(self).__name__}: no samples: no annotation file in '
                             f'{self._path(self.point_dir or self.ann_dir)}'
                             + (f' listed by {self.ann_file}' if self.ann_file else ''))
        for sample in samples:
            try:
                data_list.append(self.parse_data_info(sample))
            except SampleError as err:
                if self.strict:
                    raise ValueError(str(err)) from None
                self.skipped.append((sample['ann_path'], str(err)))
                print_log(f'{type(self).__name__}: skipped sample {sample["img_id"]}: {err}',
                          logger='current', level=logging.WARNING)
        if not data_list:
            raise ValueError(f'{type(self).__name__}: no usable sample: all {len(samples)} '
                             f'were skipped; first reason: {self.skipped[0][1]}')
        return data_list

    def _serialize_data(self):
        """mmengine's serialization, also for an empty list (everything filtered)."""
        if not self.data_list:
            return np.zeros(0, np.uint8), np.zeros(0, np.int64)
        return super()._serialize_data()

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """Turn one sample (``img_id``, ``img_path``, ``ann_path``) into a data info.

        Raises:
            SampleError: (a ``ValueError``) when the whole sample is unusable.
            ValueError: at the first bad object when ``strict``.
        """
        img_id, img_path, ann_path = (raw_data_info['img_id'], raw_data_info['img_path'],
                                      raw_data_info['ann_path'])
        if img_path is None:
            raise SampleError(f'{ann_path}: no image {img_id}.* ({"/".join(IMG_SUFFIXES)}) '
                              f'in {self._path(self.img_dir or "JPEGImage*")}')
        if not osp.isfile(ann_path):
            raise SampleError(f'{ann_path}: annotation file does not exist')
        width, height = image_size(img_path)
        has_boxes = self.point_dir is None
        try:
            objs = self.read_objects(ann_path) if has_boxes else self._read_points(ann_path)
        except (ValueError, OSError) as err:
            raise SampleError(f'{ann_path}: unreadable annotation file: {err}') from None
        for msg in objs['skipped']:
            self._skip(ann_path, msg)
        coords = objs['polys'] if has_boxes else objs['points']
        coords = self._rescale(coords, ann_path, (width, height), objs.get('size'))
        self._check_size(coords, ann_path, img_path, width, height)
        reasons = self._object_problems(coords, objs['labels'], has_boxes, width, height)
        keep = np.array([not r for r in reasons], bool)
        bad = [r for r in reasons if r]
        for reason in bad:
            self._skip(ann_path, reason)
        if bad or objs['skipped']:
            counts = Counter(bad + ['malformed line'] * len(objs['skipped']))
            print_log(f'{ann_path}: skipped {len(bad) + len(objs["skipped"])} of '
                      f'{len(reasons) + len(objs["skipped"])} objects: ' +
                      '; '.join(f'{n} x {r}' for r, n in counts.items()),
                      logger='current', level=logging.WARNING)
        labels = [self._cat_index[self._key(n)] for n, k in zip(objs['labels'], keep) if k]
        difficult = np.asarray(objs['difficult'], bool)[keep]
        instances = []
        if has_boxes:
            rboxes = poly2rbox(coords[keep].reshape(-1, 8), pattern='le90').reshape(-1, 5)
            points = sample_points(rboxes, self.point_mode, self.point_scale,
                                   point_rng(self.point_seed, img_id))
            for box, pt, lab, dif in zip(rboxes, points, labels, difficult):
                instances.append(dict(bbox=[float(v) for v in box], bbox_label=int(lab),
                                      ignore_flag=int(dif), point=[float(v) for v in pt]))
        else:
            for pt, lab, dif in zip(coords[keep].reshape(-1, 2), labels, difficult):
                instances.append(dict(bbox_label=int(lab), ignore_flag=int(dif),
                                      point=[float(v) for v in pt]))
        return dict(img_path=img_path, img_id=img_id, width=width, height=height,
                    has_gt_boxes=has_boxes, instances=instances)

    def _key(self, name: str) -> str:
        return name.lower() if self.ignore_case else name

    def _read_points(self, path: str) -> Dict:
        out = load_point_txt(path, on_error='raise' if self.strict else 'skip')
        out['size'] = None
        return out

    def _rescale(self, coords: np.ndarray, path: str, size: Tuple[int, int],
                 recorded: Optional[Tuple[int, int]]) -> np.ndarray:
        """Apply ``label_scale`` / ``ann_image_size`` to ``(N, 2K)`` coordinates."""
        coords = np.asarray(coords, np.float64).copy()
        if recorded is not None and tuple(recorded) != tuple(size) and \
                self.label_scale is None and self.ann_image_size is None:
            raise SampleError(f'{path}: the file records an image size of {recorded[0]}x'
                              f'{recorded[1]} px but the image is {size[0]}x{size[1]} px '
                              '(pass ann_image_size or label_scale to rescale the labels)')
        if self.label_scale is not None:
            coords *= self.label_scale
        elif self.ann_image_size is not None:
            coords[:, 0::2] *= size[0] / self.ann_image_size[0]
            coords[:, 1::2] *= size[1] / self.ann_image_size[1]
        return coords

    def _check_size(self, coords: np.ndarray, ann_path: str, img_path: str, width: int,
                    height: int) -> None:
        """Refuse labels that reach far beyond the image (made at another size)."""
        finite = coords[np.isfinite(coords).all(1)] if len(coords) else coords
        if not len(finite):
            return
        xs, ys = finite[:, 0::2], finite[:, 1::2]
        tol = self.size_tolerance
        if (xs.max() > width * (1 + tol) or ys.max() > height * (1 + tol)
                or xs.min() < -width * tol or ys.min() < -height * tol):
            raise SampleError(
                f'{ann_path}: labels span x in [{xs.min():.0f}, {xs.max():.0f}], y in '
                f'[{ys.min():.0f}, {ys.max():.0f}] but the image {img_path} is {width}x'
                f'{height} px: labels made at another image size? Pass '
                'ann_image_size=(width, height) of the labelled image, or label_scale')

    def _object_problems(self, coords: np.ndarray, names: Sequence[str], has_boxes: bool,
                         width: int, height: int) -> List[str]:
        """One reason ('' when fine) per object."""
        n = len(names)
        if has_boxes:
            reasons = polygon_problems(coords.reshape(n, 8), self.min_area)
            centre = coords.reshape(n, 4, 2).mean(1) if n else np.zeros((0, 2))
        else:
            reasons = ['' if np.isfinite(p).all() else 'non-finite point'
                       for p in coords.reshape(n, 2)]
            centre = coords.reshape(n, 2)
        for i, name in enumerate(names):
            if reasons[i]:
                continue
            if self._key(name) not in self._cat_index:
                reasons[i] = f'unknown class {name!r}'
            elif not (0 <= centre[i, 0] <= width and 0 <= centre[i, 1] <= height):
                what = 'box centre' if has_boxes else 'point'
                reasons[i] = (f'{what} ({centre[i, 0]:.1f}, {centre[i, 1]:.1f}) outside the '
                              f'{width}x{height} image')
        return reasons

    def filter_data(self) -> List[dict]:
        """Drop samples without usable objects when ``filter_cfg=dict(
        filter_empty_gt=True)`` (training only); logs how many.

        Returns:
            list[dict]: the kept data infos.
        """
        if self.test_mode or not self.filter_cfg or not self.filter_cfg.get('filter_empty_gt'):
            return self.data_list
        kept = [d for d in self.data_list if any(not i['ignore_flag'] for i in d['instances'])]
        if len(kept) < len(self.data_list):
            print_log(f'{type(self).__name__}: {len(self.data_list) - len(kept)} images without '
                      'objects left out (filter_empty_gt=True)', logger='current',
                      level=logging.INFO)
        return kept
