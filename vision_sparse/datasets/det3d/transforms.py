"""Pipeline transforms of the LiDAR + camera datasets (SparseFusion).

They work on the results dict of :mod:`.dataset` and keep three things consistent:

* ``points`` (N, C) float32 and ``gt_bboxes_3d`` (M, 9) float32 in the LiDAR frame;
* ``img``: a list of V (H, W, 3) uint8 BGR images in the order of ``cam_names``;
* per view ``cam2img``, ``lidar2cam``, ``lidar2img`` (V, 4, 4) float64 for the CURRENT image
  size and LiDAR frame (pixel centres at integer coordinates), ``img_shape`` (H, W) once all
  views share one size, ``ori_shapes`` the loaded sizes.

:class:`PackFusionInputs` turns them into the packed sample of the SparseFusion contract.
"""
import logging
import math
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from vision_sparse.registry import TRANSFORMS
from vision_sparse.structures.cameras import scale_intrinsics

from .dataset import check_calibration

__all__ = ['LoadPointsFromFile', 'LoadMultiViewImages', 'ResizeMultiView', 'PointsRangeFilter',
           'ObjectRangeFilter', 'ObjectNameFilter', 'GlobalRotScaleTransFusion',
           'PackFusionInputs']


def _range6(point_cloud_range) -> np.ndarray:
    r = np.asarray(point_cloud_range, np.float32).reshape(-1)
    if r.shape != (6,) or not (r[:3] < r[3:]).all():
        raise ValueError('point_cloud_range must be [x0, y0, z0, x1, y1, z1] with min < max, '
                         f'got {point_cloud_range}')
    return r


@TRANSFORMS.register_module()
class LoadPointsFromFile(BaseTransform):
    """Read ``lidar_points.lidar_path`` (or take in-memory ``points``) and keep columns.

    Points with a NaN / infinite value are dropped with a logged count; an empty file
    gives ``(0, len(use_dim))``.

    Args:
        load_dim (int, optional): values per point in the file; None: the sample's
            ``num_pts_feats``.
        use_dim (int | Sequence[int]): columns kept (an int ``k`` keeps ``0..k-1``); the
            first three must be x, y, z.
        time_dim (int, optional): output column set to 0, the time lag of keyframe points.
            The nuScenes files hold the ring index (0..31) in column 4; mmdet3d's sweep
            loader (used by the official SparseFusion config) overwrites it with the time
            lag, 0 for the keyframe, so ``time_dim=4`` gives the model what the official
            pipeline gives it for a keyframe-only input.
    """

    def __init__(self, load_dim: Optional[int] = None,
                 use_dim: Union[int, Sequence[int]] = (0, 1, 2, 3, 4),
                 time_dim: Optional[int] = None) -> None:
        self.load_dim = load_dim
        self.use_dim = list(range(use_dim)) if isinstance(use_dim, int) else list(use_dim)
        if len(self.use_dim) < 3 or self.use_dim[:3] != [0, 1, 2]:
            raise ValueError(f'use_dim must start with 0, 1, 2 (x, y, z), got {use_dim}')
        if time_dim is not None and not 3 <= time_dim < len(self.use_dim):
            raise ValueError(f'time_dim must index a kept column after x, y, z, got {time_dim}')
        self.time_dim = time_dim

    def transform(self, results: Dict) -> Dict:
        from vision_sparse.datasets.formats.nuscenes_info import load_points
        info = results.get('lidar_points') or {}
        path = info.get('lidar_path')
        if path:
            dim = self.load_dim or int(info.get('num_pts_feats', 4))
            points = load_points(path, dim=dim, max_abs_coord=None)
        elif results.get('points') is not None:
            points = np.asarray(results['points'], np.float32)
        else:
            raise ValueError(f'sample {results.get("sample_idx")}: no lidar_points.lidar_path '
                             'and no in-memory points')
        if points.ndim != 2 or points.shape[1] <= max(self.use_dim):
            raise ValueError(f'points have shape {points.shape}: use_dim {self.use_dim} needs '
                             f'more than {max(self.use_dim)} columns')
        points = points[:, self.use_dim]
        finite = np.isfinite(points).all(1)
        if not finite.all():
            print_log(f'sample {results.get("sample_idx")}: dropped {int((~finite).sum())} of '
                      f'{len(points)} points with NaN / infinite values',
                      logger='current', level=logging.WARNING)
            points = points[finite]
        points = np.array(points, np.float32)
        if self.time_dim is not None:
            points[:, self.time_dim] = 0
        results['points'] = points
        return results


def _camera_arrays(results: Dict, names: Sequence[str]) -> None:
    cams = results['images']
    for key in ('cam2img', 'lidar2cam', 'lidar2img'):
        results[key] = np.stack([np.asarray(cams[n][key], np.float64) for n in names])


@TRANSFORMS.register_module()
class LoadMultiViewImages(BaseTransform):
    """Read every camera's image (BGR uint8) and stack its calibration.

    In-memory images (``results['img']``, synthetic scenes) are kept. Sets ``img``,
    ``cam_names``, ``cam2img`` / ``lidar2cam`` / ``lidar2img`` (V, 4, 4), ``ori_shapes``
    and, when all views share one size, ``img_shape``.

    Args:
        cam_names (Sequence[str], optional): cameras to load, in order; default all of
            ``results['images']``.

    Raises:
        FileNotFoundError: naming the camera and the path of a missing / unreadable image.
        ValueError: naming the camera and field of bad calibration.
    """

    def __init__(self, cam_names: Optional[Sequence[str]] = None) -> None:
        self.cam_names = None if cam_names is None else list(cam_names)

    def transform(self, results: Dict) -> Dict:
        import cv2
        cams = results.get('images') or {}
        names = self.cam_names or list(cams)
        missing = [n for n in names if n not in cams]
        if missing:
            raise ValueError(f'cameras {missing} are not in the sample (it has {list(cams)})')
        for n in names:
            check_calibration(n, cams[n].get('cam2img'), cams[n].get('lidar2cam'))
        if results.get('img') is not None:
            order = list(cams)
            imgs = [results['img'][order.index(n)] for n in names]
        else:
            imgs = []
            for n in names:
                path = cams[n].get('img_path')
                img = cv2.imread(str(path), cv2.IMREAD_COLOR) if path else None
                if img is None:
                    raise FileNotFoundError(f'camera {n}: image file missing or unreadable: '
                                            f'{path}')
                imgs.append(img)
        results['img'] = imgs
        results['cam_names'] = list(names)
        results['images'] = {n: cams[n] for n in names}
        _camera_arrays(results, names)
        results['ori_shapes'] = [tuple(im.shape[:2]) for im in imgs]
        if len(set(results['ori_shapes'])) == 1:
            results['img_shape'] = results['ori_shapes'][0]
        return results


@TRANSFORMS.register_module()
class ResizeMultiView(BaseTransform):
    """Resize every view to ONE size and update ``cam2img`` / ``lidar2img`` to match.

    Intrinsics follow :func:`~vision_sparse.structures.cameras.scale_intrinsics` (pixel
    centres at integers; x and y scale separately when the aspect ratio changes).

    Args:
        scale (tuple, optional): output ``(width, height)``.
        scale_factor (float, optional): output = loaded size x factor (rounded); the views
            must then share one size. Exactly one of ``scale`` / ``scale_factor``.
    """

    def __init__(self, scale: Optional[Tuple[int, int]] = None,
                 scale_factor: Optional[float] = None) -> None:
        if (scale is None) == (scale_factor is None):
            raise ValueError('give exactly one of scale=(width, height) and scale_factor')
        if scale is not None and (len(scale) != 2 or min(scale) < 1):
            raise ValueError(f'scale must be (width, height) >= 1, got {scale}')
        if scale_factor is not None and not scale_factor > 0:
            raise ValueError(f'scale_factor must be > 0, got {scale_factor}')
        self.scale, self.scale_factor = scale, scale_factor

    def transform(self, results: Dict) -> Dict:
        import cv2
        imgs = results['img']
        if self.scale is not None:
            W, H = int(self.scale[0]), int(self.scale[1])
        else:
            sizes = {im.shape[:2] for im in imgs}
            if len(sizes) != 1:
                raise ValueError(f'scale_factor needs views of one size, got '
                                 f'{dict(zip(results["cam_names"], [im.shape[:2] for im in imgs]))}'
                                 '; give scale=(width, height) instead')
            h, w = sizes.pop()
            W, H = max(1, round(w * self.scale_factor)), max(1, round(h * self.scale_factor))
        out, cam2img = [], results['cam2img'].copy()
        for v, im in enumerate(imgs):
            h, w = im.shape[:2]
            interp = cv2.INTER_AREA if W * H < w * h else cv2.INTER_LINEAR
            out.append(cv2.resize(im, (W, H), interpolation=interp))
            cam2img[v, :3, :3] = scale_intrinsics(cam2img[v, :3, :3], W / w, H / h)
        results['img'] = out
        results['cam2img'] = cam2img
        results['lidar2img'] = cam2img @ results['lidar2cam']
        results['img_shape'] = (H, W)
        return results


@TRANSFORMS.register_module()
class PointsRangeFilter(BaseTransform):
    """Keep the points strictly inside ``point_cloud_range`` (mmdet3d's rule).

    Args:
        point_cloud_range (Sequence[float]): ``[x0, y0, z0, x1, y1, z1]`` metres.
    """

    def __init__(self, point_cloud_range: Sequence[float]) -> None:
        self.pcr = _range6(point_cloud_range)

    def transform(self, results: Dict) -> Dict:
        p = results['points']
        keep = ((p[:, :3] > self.pcr[:3]) & (p[:, :3] < self.pcr[3:])).all(1)
        results['points'] = p[keep]
        results['point_cloud_range'] = self.pcr.copy()
        return results


def _select_boxes(results: Dict, keep: np.ndarray) -> None:
    for key in ('gt_bboxes_3d', 'gt_labels_3d', 'num_lidar_pts', 'valid_flag'):
        if key in results:
            results[key] = results[key][keep]
    if 'gt_names' in results:
        results['gt_names'] = [n for n, k in zip(results['gt_names'], keep) if k]


@TRANSFORMS.register_module()
class ObjectRangeFilter(BaseTransform):
    """Keep the boxes whose centre lies strictly inside the BEV range; wrap yaw to
    ``[-pi, pi)``.

    Args:
        point_cloud_range (Sequence[float]): ``[x0, y0, z0, x1, y1, z1]`` (z is not used).
    """

    def __init__(self, point_cloud_range: Sequence[float]) -> None:
        self.pcr = _range6(point_cloud_range)

    def transform(self, results: Dict) -> Dict:
        b = results['gt_bboxes_3d']
        keep = ((b[:, :2] > self.pcr[:2]) & (b[:, :2] < self.pcr[3:5])).all(1)
        _select_boxes(results, keep)
        b = results['gt_bboxes_3d']
        b[:, 6] = (b[:, 6] + np.pi) % (2 * np.pi) - np.pi
        results.setdefault('point_cloud_range', self.pcr.copy())
        return results


@TRANSFORMS.register_module()
class ObjectNameFilter(BaseTransform):
    """Drop boxes of label -1 (not a dataset class) and, if ``classes`` is given, those
    whose name is not in it.

    Args:
        classes (Sequence[str], optional): names to keep.
    """

    def __init__(self, classes: Optional[Sequence[str]] = None) -> None:
        self.classes = None if classes is None else set(classes)

    def transform(self, results: Dict) -> Dict:
        keep = results['gt_labels_3d'] >= 0
        if self.classes is not None:
            keep &= np.asarray([n in self.classes for n in results['gt_names']], bool)
        _select_boxes(results, keep)
        return results


@TRANSFORMS.register_module()
class GlobalRotScaleTransFusion(BaseTransform):
    """Random rotation about z, scaling and translation of the whole scene, with the camera
    calibration updated so that the images stay consistent.

    With ``A = [s R | t]`` applied to LiDAR points, boxes rotate (yaw + angle), scale
    (centre, size and velocity) and move; ``lidar2cam <- lidar2cam @ A^-1`` and
    ``lidar2img <- cam2img @ lidar2cam``, so an augmented point projects to the same pixel.
    ``A`` is stored as ``lidar_aug_matrix`` (4, 4).

    Args:
        rot_range (Sequence[float]): angle range, radians.
        scale_ratio_range (Sequence[float]): scale range.
        translation_std (Sequence[float]): std of the (x, y, z) shift, metres.
    """

    def __init__(self, rot_range=(-0.785, 0.785), scale_ratio_range=(0.9, 1.1),
                 translation_std=(0.5, 0.5, 0.5)) -> None:
        self.rot_range, self.scale_ratio_range = list(rot_range), list(scale_ratio_range)
        self.translation_std = np.asarray(translation_std, np.float64)

    def transform(self, results: Dict) -> Dict:
        angle = float(np.random.uniform(*self.rot_range))
        scale = float(np.random.uniform(*self.scale_ratio_range))
        shift = np.random.normal(0, 1, 3) * self.translation_std
        c, s = math.cos(angle), math.sin(angle)
        A = np.eye(4)
        A[:3, :3] = scale * np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
        A[:3, 3] = shift
        p = results['points']
        p[:, :3] = (p[:, :3].astype(np.float64) @ A[:3, :3].T + A[:3, 3]).astype(np.float32)
        b = results['gt_bboxes_3d'].astype(np.float64)
        b[:, :3] = b[:, :3] @ A[:3, :3].T + A[:3, 3]
        b[:, 3:6] *= scale
        b[:, 6] += angle
        b[:, 7:9] = b[:, 7:9] @ A[:2, :2].T  # rotated and scaled
        results['gt_bboxes_3d'] = b.astype(np.float32)
        if 'lidar2cam' in results:
            results['lidar2cam'] = results['lidar2cam'] @ np.linalg.inv(A)
            results['lidar2img'] = results['cam2img'] @ results['lidar2cam']
        results['lidar_aug_matrix'] = A @ results.get('lidar_aug_matrix', np.eye(4))
        return results


@TRANSFORMS.register_module()
class PackFusionInputs(BaseTransform):
    """Pack into ``dict(inputs=dict(points, imgs), data_samples=DetDataSample)``.

    ``inputs['points']`` (N, C) float32 tensor, ``inputs['imgs']`` (V, 3, H, W) uint8 BGR
    (each key only when that modality was loaded); ``gt_instances_3d`` with ``bboxes_3d``
    (M, 9) float32 and ``labels_3d`` (M,) int64; metainfo ``sample_idx``, ``cam_names``,
    ``lidar2img`` / ``cam2img`` / ``lidar2cam`` (V, 4, 4) float32, ``img_shape``,
    ``ori_shapes``, ``point_cloud_range`` (6,) float32 (or None), ``box_type_3d``, plus
    ``meta_keys`` found in the results.

    Args:
        point_cloud_range (Sequence[float], optional): used when no filter set one.
        meta_keys (Sequence[str]): extra results keys copied to the metainfo.
    """

    def __init__(self, point_cloud_range: Optional[Sequence[float]] = None,
                 meta_keys: Sequence[str] = ('token', 'lidar_aug_matrix', 'class_names')) -> None:
        self.pcr = None if point_cloud_range is None else _range6(point_cloud_range)
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: Dict) -> Dict:
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        inputs = {}
        if results.get('points') is not None:
            inputs['points'] = torch.from_numpy(
                np.ascontiguousarray(results['points'], np.float32))
        meta = dict(sample_idx=results.get('sample_idx'), box_type_3d='LiDAR')
        if results.get('img') is not None and 'cam_names' in results:
            shapes = [im.shape[:2] for im in results['img']]
            if len(set(shapes)) != 1:
                raise ValueError('views of different sizes cannot be stacked: '
                                 f'{dict(zip(results["cam_names"], shapes))}; add '
                                 'ResizeMultiView to the pipeline')
            imgs = np.stack(results['img']).transpose(0, 3, 1, 2)
            inputs['imgs'] = torch.from_numpy(np.ascontiguousarray(imgs))
            meta.update(cam_names=list(results['cam_names']), img_shape=tuple(shapes[0]),
                        ori_shapes=[tuple(s) for s in results.get('ori_shapes', shapes)])
            for key in ('lidar2img', 'cam2img', 'lidar2cam'):
                meta[key] = np.asarray(results[key], np.float32)
        pcr = results.get('point_cloud_range', self.pcr)
        meta['point_cloud_range'] = None if pcr is None else np.asarray(pcr, np.float32)
        for key in self.meta_keys:
            if key in results:
                meta[key] = results[key]
        sample = DetDataSample(metainfo=meta)
        gt = InstanceData()
        boxes = np.asarray(results.get('gt_bboxes_3d', np.zeros((0, 9))), np.float32)
        gt.bboxes_3d = torch.from_numpy(boxes.reshape(-1, 9).copy())
        gt.labels_3d = torch.from_numpy(
            np.asarray(results.get('gt_labels_3d', np.zeros(0)), np.int64).reshape(-1).copy())
        sample.gt_instances_3d = gt
        return dict(inputs=inputs, data_samples=sample)
