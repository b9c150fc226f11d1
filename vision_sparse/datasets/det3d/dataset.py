"""LiDAR + camera 3-D detection datasets (SparseFusion): nuScenes / KITTI info pickles and
synthetic scenes.

Every sample reaches the pipeline as one ``results`` dict::

    sample_idx, token, class_names,
    lidar_points=dict(lidar_path (str | None), num_pts_feats),
    images={cam_name: dict(img_path, cam2img (4, 4), lidar2cam (4, 4), lidar2img (4, 4),
                           height, width)},
    gt_bboxes_3d (M, 9) float32 (x, y, z, l, w, h, yaw, vx, vy) LiDAR frame, gravity centre,
                 NaN velocity where unknown,
    gt_labels_3d (M,) int64 (index into the dataset's classes, -1 = not one of them),
    gt_names list[str], num_lidar_pts (M,), valid_flag (M,)

plus, for in-memory data (synthetic scenes), ``points`` (N, C) float32 and ``img`` (list of
V (H, W, 3) uint8 BGR, in the order of ``images``). The transforms of
:mod:`.transforms` load the files, filter and pack.

Bad boxes: an annotation with a zero / negative size or a non-finite value is **dropped**
(with one logged warning counting them per sample): it cannot be a training target and
breaks the log-size regression. Bad calibration (wrong shape, non-finite or singular
``cam2img`` / ``lidar2cam``) raises a ``ValueError`` naming the camera and the field.
"""
import logging
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from vision_sparse.registry import DATASETS

__all__ = ['NuScenesFusionDataset', 'KittiFusionDataset', 'SyntheticFusionDataset',
           'info_to_results', 'check_calibration']


def check_calibration(name: str, cam2img, lidar2cam) -> None:
    """Refuse a camera whose calibration cannot project points.

    Args:
        name (str): camera name (used in the message).
        cam2img (array-like): (3, 3), (3, 4) or (4, 4) intrinsics.
        lidar2cam (array-like): (4, 4) LiDAR-to-camera transform.

    Raises:
        ValueError: naming ``<name>.cam2img`` / ``<name>.lidar2cam`` when one has a wrong
            shape, a non-finite value or is not invertible.
    """
    for field, mat, shapes in (('cam2img', cam2img, ((3, 3), (3, 4), (4, 4))),
                               ('lidar2cam', lidar2cam, ((4, 4),))):
        arr = np.asarray(mat, np.float64) if mat is not None else None
        if arr is None or arr.shape not in shapes:
            raise ValueError(f'{name}.{field} must have shape in {list(shapes)}, got '
                             f'{None if arr is None else arr.shape}')
        if not np.isfinite(arr).all():
            raise ValueError(f'{name}.{field} has non-finite values')
        if abs(np.linalg.det(arr[:3, :3] if field == 'cam2img' else arr)) < 1e-12:
            raise ValueError(f'{name}.{field} is not invertible (determinant ~0)')


def _to4x4(mat) -> np.ndarray:
    arr = np.asarray(mat, np.float64)
    out = np.eye(4)
    out[:arr.shape[0], :arr.shape[1]] = arr
    return out


def info_to_results(info: Dict, classes: Sequence[str],
                    cam_names: Optional[Sequence[str]] = None) -> Dict:
    """The pipeline input of one ``load_det3d_info`` entry (see the module docstring).

    Args:
        info (dict): one entry of
            :func:`~vision_sparse.datasets.formats.nuscenes_info.load_det3d_info` or
            :func:`~vision_sparse.datasets.synthetic.multimodal.make_fusion_scene`.
        classes (Sequence[str]): the dataset's classes; labels are re-indexed by name.
        cam_names (Sequence[str], optional): cameras to keep, in this order; default every
            camera with an image (a file or in-memory).

    Returns:
        dict: the results dict.

    Raises:
        ValueError: for a camera in ``cam_names`` the sample lacks, or bad calibration.
    """
    boxes = info['gt_bboxes_3d']
    if boxes.frame != 'lidar':
        ref = cam_names[0] if cam_names else next(
            n for n, c in info['cameras'].items() if c.get('img_path'))
        l2c = info['cameras'][ref].get('lidar2cam')
        if l2c is None:
            raise ValueError(f'{ref}.lidar2cam is needed to bring camera-frame boxes to LiDAR')
        boxes = boxes.convert_to('lidar', np.linalg.inv(np.asarray(l2c, np.float64)))
    box = boxes.tensor.detach().cpu().numpy().astype(np.float64)[:, :7]
    vel = info.get('velocity')
    vel = np.full((len(box), 2), np.nan) if vel is None else np.asarray(vel, np.float64)
    bboxes = np.concatenate([box, vel.reshape(-1, 2)], 1)
    names = list(info.get('gt_names') or [])
    src = list(info.get('class_names') or ())
    if len(names) != len(bboxes):
        names = [src[k] if 0 <= k < len(src) else 'ignore' for k in info['gt_labels_3d']]
    labels = np.asarray([classes.index(n) if n in classes else -1 for n in names], np.int64)
    num_pts = np.asarray(info.get('num_lidar_pts', np.full(len(bboxes), -1)), np.int64)
    valid = np.asarray(info.get('valid_flag', np.ones(len(bboxes), bool)), bool)

    bad = ~(np.isfinite(bboxes[:, :7]).all(1) & (bboxes[:, 3:6] > 0).all(1))
    if bad.any():
        print_log(f'sample {info.get("sample_idx")}: dropped {int(bad.sum())} of '
                  f'{len(bboxes)} boxes with a non-finite value or a size <= 0',
                  logger='current', level=logging.WARNING)
        good = ~bad
        bboxes, labels, num_pts, valid = bboxes[good], labels[good], num_pts[good], valid[good]
        names = [n for n, g in zip(names, good) if g]

    cams = info.get('cameras') or {}
    in_memory = info.get('images')
    if cam_names is None:
        cam_names = [n for n, c in cams.items()
                     if c.get('img_path') or (in_memory and n in in_memory)]
    images = {}
    for name in cam_names:
        if name not in cams:
            raise ValueError(f'camera {name!r} is not in the sample (it has {list(cams)})')
        cam = cams[name]
        check_calibration(name, cam.get('cam2img'), cam.get('lidar2cam'))
        K = _to4x4(cam['cam2img'])
        l2c = np.asarray(cam['lidar2cam'], np.float64)
        images[name] = dict(img_path=cam.get('img_path'), cam2img=K, lidar2cam=l2c,
                            lidar2img=K @ l2c, height=cam.get('height'),
                            width=cam.get('width'))
    results = dict(
        sample_idx=info.get('sample_idx'), token=info.get('token'), class_names=tuple(classes),
        lidar_points=dict(lidar_path=info.get('lidar_path'),
                          num_pts_feats=int(info.get('num_pts_feats', 4))),
        images=images, gt_bboxes_3d=bboxes.astype(np.float32), gt_labels_3d=labels,
        gt_names=names, num_lidar_pts=num_pts, valid_flag=valid)
    if info.get('points') is not None:
        results['points'] = np.asarray(info['points'], np.float32)
    if in_memory:
        results['img'] = [in_memory[n] for n in cam_names]
    return results


class _FusionBase(BaseDataset):
    """Common filtering of the fusion datasets (``use_valid_flag``, empty samples)."""

    METAINFO = dict(classes=())

    def _finish(self, results: Dict) -> Dict:
        if self.use_valid_flag:
            keep = results['valid_flag']
            for key in ('gt_bboxes_3d', 'gt_labels_3d', 'num_lidar_pts', 'valid_flag'):
                results[key] = results[key][keep]
            results['gt_names'] = [n for n, k in zip(results['gt_names'], keep) if k]
        results['box_type_3d'] = 'LiDAR'
        return results

    @property
    def classes(self) -> tuple:
        return tuple(self.metainfo['classes'])


@DATASETS.register_module()
class NuScenesFusionDataset(_FusionBase):
    """An mmdet3d-style info pickle (nuScenes by default) for LiDAR + camera detection.

    Args:
        ann_file (str): the ``.pkl`` (relative to ``data_root``), read by
            :func:`~vision_sparse.datasets.formats.nuscenes_info.load_det3d_info`; image
            and point paths are relative to the pickle's folder.
        metainfo (dict, optional): ``classes``: the class names in label order (default
            :data:`NUSCENES_CLASSES`); objects of other classes get label -1 (drop them
            with ``ObjectNameFilter``).
        cam_names (Sequence[str], optional): cameras to use, in order; default every
            camera that has an image file.
        use_valid_flag (bool): drop boxes whose ``valid_flag`` is False (nuScenes: no
            LiDAR / radar point inside).
        filter_empty_gt (bool): in training, leave out samples without a box of the
            classes.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments (``data_root``,
            ``pipeline``, ``test_mode``, ``indices``, ...).
    """

    def __init__(self, ann_file: str, metainfo: Optional[Dict] = None,
                 cam_names: Optional[Sequence[str]] = None, use_valid_flag: bool = False,
                 filter_empty_gt: bool = False, **kwargs) -> None:
        from vision_sparse.datasets.formats.nuscenes_info import NUSCENES_CLASSES
        metainfo = dict(metainfo or {})
        metainfo.setdefault('classes', self._default_classes(NUSCENES_CLASSES))
        self.cam_names = None if cam_names is None else list(cam_names)
        self.use_valid_flag = bool(use_valid_flag)
        self.filter_empty_gt = bool(filter_empty_gt)
        super().__init__(ann_file=ann_file, metainfo=metainfo, **kwargs)

    def _default_classes(self, nuscenes_classes) -> tuple:
        return tuple(nuscenes_classes)

    def load_data_list(self) -> List[Dict]:
        from vision_sparse.datasets.formats.nuscenes_info import load_det3d_info
        classes = list(self.metainfo['classes'])
        out = []
        for info in load_det3d_info(self.ann_file):
            results = self._finish(info_to_results(info, classes, self.cam_names))
            if (self.filter_empty_gt and not self.test_mode
                    and not (results['gt_labels_3d'] >= 0).any()):
                continue
            out.append(results)
        return out


@DATASETS.register_module()
class KittiFusionDataset(NuScenesFusionDataset):
    """A KITTI info pickle (mmdet3d layout): one camera (``CAM2``), 4-column points, boxes
    stored in the rectified camera frame and converted to LiDAR with the inverse of
    ``CAM2.lidar2cam``. Same arguments as :class:`NuScenesFusionDataset`; the classes
    default to mmdet3d's ``('Pedestrian', 'Cyclist', 'Car')``.
    """

    def __init__(self, ann_file: str, cam_names: Optional[Sequence[str]] = ('CAM2',),
                 **kwargs) -> None:
        super().__init__(ann_file, cam_names=cam_names, **kwargs)

    def _default_classes(self, nuscenes_classes) -> tuple:
        from vision_sparse.datasets.formats.nuscenes_info import KITTI_CLASSES
        return tuple(KITTI_CLASSES)


@DATASETS.register_module()
class SyntheticFusionDataset(_FusionBase):
    """Synthetic LiDAR + 6-camera scenes (:func:`make_fusion_scene`), made on first access
    and cached in memory; scene ``i`` is the same for the same ``seed``.

    Args:
        num_scenes (int): dataset length (>= 1).
        seed (int): scene ``i`` is ``make_fusion_scene(seed, i)``.
        image_scale (float): rendered size as a fraction of 1600x900.
        metainfo (dict, optional): ``classes`` (default :data:`FUSION_CLASSES`).
        calib_file (str, optional): an info pickle whose first sample gives the camera
            rig (relative to ``data_root``); None: the built-in nuScenes-like rig.
        texture_root (str, optional): sample-data folder of the wall photos.
        scene_cfg (dict, optional): more :func:`make_fusion_scene` arguments
            (``num_objects``, ``object_radius``, ``dropout``, ...).
        use_valid_flag (bool): drop boxes without a LiDAR point.
        cache (bool): keep generated scenes in memory.
        **kwargs: :class:`mmengine.dataset.BaseDataset` arguments.
    """

    def __init__(self, num_scenes: int = 48, seed: int = 0, image_scale: float = 0.125,
                 metainfo: Optional[Dict] = None, calib_file: Optional[str] = None,
                 texture_root: Optional[str] = None, scene_cfg: Optional[Dict] = None,
                 use_valid_flag: bool = False, cache: bool = True, **kwargs) -> None:
        from vision_sparse.datasets.synthetic.multimodal import FUSION_CLASSES
        if int(num_scenes) < 1:
            raise ValueError(f'num_scenes must be >= 1, got {num_scenes}')
        metainfo = dict(metainfo or {})
        metainfo.setdefault('classes', tuple(FUSION_CLASSES))
        self.num_scenes, self.seed = int(num_scenes), int(seed)
        self.image_scale = float(image_scale)
        self.calib_file, self.texture_root = calib_file, texture_root
        self.scene_cfg = dict(scene_cfg or {})
        self.use_valid_flag, self.cache = bool(use_valid_flag), bool(cache)
        self._cache: Dict[int, Dict] = {}
        self._rig = None
        kwargs.setdefault('serialize_data', False)
        super().__init__(ann_file='', metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[Dict]:
        return [dict(scene=i) for i in range(self.num_scenes)]

    def _camera_rig(self):
        if self._rig is None and self.calib_file:
            from vision_sparse.datasets.synthetic.multimodal import load_camera_rig
            path = self.calib_file
            if self.data_root and not str(path).startswith('/'):
                path = f'{self.data_root}/{path}'
            self._rig = load_camera_rig(path)
        return self._rig

    def scene(self, idx: int) -> Dict:
        """The raw :func:`make_fusion_scene` output of scene ``idx`` (cached)."""
        from vision_sparse.datasets.synthetic.multimodal import make_fusion_scene
        if idx in self._cache:
            return self._cache[idx]
        scene = make_fusion_scene(self.seed, idx, classes=self.classes,
                                  image_scale=self.image_scale, camera_rig=self._camera_rig(),
                                  texture_root=self.texture_root, **self.scene_cfg)
        if self.cache:
            self._cache[idx] = scene
        return scene

    def get_data_info(self, idx: int) -> Dict:
        i = int(super().get_data_info(idx)['scene'])
        results = info_to_results(self.scene(i), list(self.classes))
        results['img'] = [im.copy() for im in results.get('img', [])]
        results['points'] = results['points'].copy()
        return self._finish(results)
