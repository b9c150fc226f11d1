"""Readers of mmdet3d-style (v1.x ``info_version`` 1.1) detection info pickles.

The pickle is a dict ``{'metainfo': ..., 'data_list': [sample, ...]}``. This
module normalises each sample into plain numpy arrays and vision_sparse box
classes, without mmdet3d:

* nuScenes (LiDAR-frame boxes): ``instances[i]['bbox_3d'] = [x, y, z, l, w, h,
  yaw]`` with ``z`` the **gravity centre** -> :class:`LiDARBoxes3D`; checked by
  counting points in the boxes (see :mod:`vision_sparse.structures.bbox.boxes3d`).
  The per-camera ``cam_instances[cam][j]['bbox_3d'] = [x, y, z, l, h, w, ry]``
  also hold the **gravity centre** (their ``center_2d`` is its projection and
  they equal the LiDAR boxes converted with ``lidar2cam``); they are returned as
  bottom-centre :class:`CameraBoxes3D` (``y + h / 2``).
* KITTI (camera-frame boxes): ``bbox_3d = [x, y, z, l, h, w, ry]`` in the
  rectified camera-0 frame with ``(x, y, z)`` the **bottom centre** ->
  :class:`CameraBoxes3D` (``center_2d`` is the projection of ``y - h / 2``).
  ``lidar2cam`` = ``R0_rect @ Tr_velo_to_cam``; each camera's ``cam2img`` is
  its 4x4 ``P`` matrix. DontCare objects (label -1, no 3-D box: sizes -1) go
  to ``ignore_bboxes_2d``.

Paths (images, LiDAR) are resolved relative to the pickle's folder.
"""
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from vision_sparse.structures.bbox.boxes3d import CameraBoxes3D, LiDARBoxes3D
from vision_sparse.utils.safe_pickle import safe_load_path

__all__ = ['load_points', 'load_det3d_info']

PathLike = Union[str, os.PathLike]

#: nuScenes detection classes in mmdet3d label order (0..9).
NUSCENES_CLASSES = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle',
                    'bicycle', 'motorcycle', 'pedestrian', 'traffic_cone',
                    'barrier')
#: KITTI 3-class setting of mmdet3d (label 2 = Car); -1 = DontCare.
KITTI_CLASSES = ('Pedestrian', 'Cyclist', 'Car')


def load_points(bin_path: PathLike, dim: Optional[int] = None,
                max_abs_coord: Optional[float] = 1e4) -> np.ndarray:
    """Read a float32 point cloud ``.bin`` file.

    Args:
        bin_path (str | PathLike): file of ``P * dim`` little-endian float32.
        dim (int, optional): values per point: 5 for nuScenes (x, y, z,
            intensity, ring), 4 for KITTI (x, y, z, reflectance). None infers it
            from the file size when only one of 4 / 5 divides it (pass it
            explicitly otherwise, e.g. ``info['num_pts_feats']``).
        max_abs_coord (float, optional): largest plausible ``|x|``, ``|y|``,
            ``|z|`` in metres (default 1e4: far beyond any LiDAR's range). A file
            with non-finite or larger coordinates is not a point cloud (e.g. a
            text file read as floats) and raises. None skips this check.

    Returns:
        np.ndarray: ``(P, dim)`` float32, LiDAR frame, metres. An empty file
        gives ``(0, dim)`` (``(0, 4)`` when ``dim`` is None).

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if ``dim < 3``, the size is not a whole number of points
            (``4 * dim`` bytes each; trailing bytes are never dropped), ``dim``
            cannot be inferred, or the coordinates are not finite / plausible.
    """
    path = Path(bin_path)
    if not path.is_file():
        raise FileNotFoundError(f'point file not found: {path}')
    if dim is not None and (not isinstance(dim, (int, np.integer)) or dim < 3):
        raise ValueError(f'dim must be an integer >= 3, got {dim!r}')
    nbytes = path.stat().st_size
    if nbytes % 4:
        raise ValueError(f'{path}: {nbytes} bytes is not a whole number of float32 values '
                         f'({nbytes % 4} trailing bytes): not a float32 point file')
    count = nbytes // 4
    if dim is None:
        fits = [4] if count == 0 else [d for d in (4, 5) if count % d == 0]
        if len(fits) != 1:
            raise ValueError(f'{path}: cannot infer the point dimension from '
                             f'{count} float32 values (fits {fits}); pass dim=4 or '
                             'dim=5')
        dim = fits[0]
    if count % dim:
        raise ValueError(f'{path}: {nbytes} bytes is not a multiple of a point of dim={dim} '
                         f'float32 ({4 * dim} bytes): {count // dim} points and '
                         f'{4 * (count % dim)} bytes left over')
    points = np.fromfile(path, dtype='<f4').reshape(-1, dim).astype(np.float32, copy=False)
    if max_abs_coord is not None and len(points):
        xyz = points[:, :3]
        finite = np.isfinite(xyz).all(axis=1)
        if not finite.all():
            raise ValueError(f'{path}: {int((~finite).sum())} of {len(points)} points have '
                             'NaN or infinite coordinates: not a valid point file')
        far = np.abs(xyz).max(axis=1) > max_abs_coord
        if far.any():
            raise ValueError(
                f'{path}: {int(far.sum())} of {len(points)} points lie more than '
                f'{max_abs_coord:g} m away (largest |coordinate| {np.abs(xyz).max():.3g}): '
                f'not a float32 point file of dim={dim} (a text or other file?); pass '
                'max_abs_coord=None to load it anyway')
    return points


def _mat(value, name: str, shapes: Sequence[tuple]) -> Optional[np.ndarray]:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape not in shapes:
        raise ValueError(f'{name} must have shape in {list(shapes)}, '
                         f'got {arr.shape}')
    return arr


def _to4x4(mat: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:mat.shape[0], :mat.shape[1]] = mat
    return out


def _resolve(root: Path, rel: Optional[str]) -> Optional[str]:
    if not rel:
        return None
    p = Path(rel)
    return str(p if p.is_absolute() else (root / p))


def _class_names(metainfo: Dict, dataset: str,
                 class_names: Optional[Sequence[str]]) -> tuple:
    if class_names is not None:
        return tuple(class_names)
    cats = metainfo.get('categories') or metainfo.get('classes')
    if isinstance(cats, dict):
        return tuple(sorted(cats, key=cats.get))
    if isinstance(cats, (list, tuple)):
        return tuple(cats)
    if dataset == 'kitti':
        return KITTI_CLASSES
    return NUSCENES_CLASSES


def _cameras(sample: Dict, root: Path) -> Dict[str, Dict]:
    cams = {}
    for name, cam in (sample.get('images') or {}).items():
        if not isinstance(cam, dict):
            continue  # e.g. KITTI 'R0_rect' stored next to the cameras
        cam2img = _mat(cam.get('cam2img'), f'{name}.cam2img',
                       [(3, 3), (3, 4), (4, 4)])
        lidar2cam = _mat(cam.get('lidar2cam'), f'{name}.lidar2cam', [(4, 4)])
        lidar2img = None
        if cam2img is not None and lidar2cam is not None:
            lidar2img = _to4x4(cam2img) @ lidar2cam
        elif cam.get('lidar2img') is not None:
            lidar2img = _mat(cam['lidar2img'], f'{name}.lidar2img', [(4, 4)])
        cams[name] = dict(
            img_path=_resolve(root, cam.get('img_path')),
            cam2img=cam2img,
            lidar2cam=lidar2cam,
            lidar2img=lidar2img,
            cam2ego=_mat(cam.get('cam2ego'), f'{name}.cam2ego', [(4, 4)]),
            height=int(cam['height']) if 'height' in cam else None,
            width=int(cam['width']) if 'width' in cam else None,
            timestamp=cam.get('timestamp'),
            sample_data_token=cam.get('sample_data_token'))
    return cams


def _cam_instances(sample: Dict) -> Dict[str, Dict]:
    """nuScenes per-camera instances -> bottom-centre CameraBoxes3D."""
    out = {}
    for name, insts in (sample.get('cam_instances') or {}).items():
        boxes = np.asarray([i['bbox_3d'] for i in insts],
                           np.float64).reshape(-1, 7)
        boxes[:, 1] += boxes[:, 4] / 2  # gravity centre -> bottom centre
        out[name] = dict(
            bboxes_3d=CameraBoxes3D(boxes),
            labels_3d=np.asarray([i['bbox_label_3d'] for i in insts],
                                 np.int64),
            bboxes_2d=np.asarray([i['bbox'] for i in insts],
                                 np.float64).reshape(-1, 4),
            centers_2d=np.asarray([i['center_2d'] for i in insts],
                                  np.float64).reshape(-1, 2),
            depths=np.asarray([i['depth'] for i in insts], np.float64),
            velocity=np.asarray([i.get('velocity', [np.nan, np.nan])
                                 for i in insts], np.float64).reshape(-1, 2))
    return out


def _has_box(inst: Dict) -> bool:
    box = inst.get('bbox_3d')
    if box is None or len(box) < 7:
        return False
    return bool(np.all(np.asarray(box[3:6], np.float64) > 0))


def load_det3d_info(pkl_path: PathLike,
                    class_names: Optional[Sequence[str]] = None,
                    box_frame: Optional[str] = None,
                    trusted: Optional[bool] = None) -> List[Dict]:
    """Load and normalise an mmdet3d-style detection info pickle.

    The pickle is read by :func:`vision_sparse.utils.safe_pickle.safe_load`:
    only containers, numbers, strings and numpy arrays are unpickled, so a
    crafted file cannot run code (see docs/security.md).

    Args:
        pkl_path (str | PathLike): the ``.pkl`` file.
        class_names (Sequence[str], optional): names of labels ``0..K-1``;
            default from ``metainfo['categories']`` or the dataset
            (:data:`NUSCENES_CLASSES`, :data:`KITTI_CLASSES`).
        box_frame (str, optional): ``'lidar'`` or ``'camera'``: frame of
            ``instances[i]['bbox_3d']``. None -> ``'camera'`` for KITTI
            (``metainfo['DATASET'] == 'KITTI'``), else ``'lidar'``.
        trusted (bool, optional): True unpickles with :func:`pickle.load`
            (any object, runs any code the file carries: only for files you
            trust). None reads ``VISION_SPARSE_TRUST_PICKLES``.

    Returns:
        list[dict]: one dict per sample with keys

        - ``sample_idx``, ``token`` (or None), ``timestamp`` (or None),
          ``dataset`` (lower-case name or ''), ``box_frame``;
        - ``lidar_path`` (absolute str or None), ``num_pts_feats`` (int),
          ``lidar2ego``, ``ego2global`` ``(4, 4)`` float64 or None;
        - ``cameras``: ``{name: dict(img_path, cam2img (3x3 / 4x4 as stored),
          lidar2cam (4x4 or None), lidar2img (4x4 = cam2img @ lidar2cam, or the
          stored one), cam2ego, height, width, timestamp,
          sample_data_token)}``;
        - ``gt_bboxes_3d``: :class:`LiDARBoxes3D` or :class:`CameraBoxes3D`
          ``(N, 7)`` float64, every instance with a real 3-D box;
          ``gt_labels_3d`` ``(N,)`` int64, -1 for objects outside
          ``class_names`` (mmdet3d's ignore label: filter ``labels >= 0`` for
          training); ``gt_names`` list[str] (``'ignore'`` for -1);
          ``class_names`` tuple;
        - ``velocity`` ``(N, 2)`` float64 (LiDAR-frame vx, vy in m/s; NaN where
          unknown) or None; ``num_lidar_pts`` ``(N,)`` int64 (-1 if absent);
          ``valid_flag`` ``(N,)`` bool (``bbox_3d_isvalid``, True if absent);
        - ``gt_bboxes_2d`` ``(N, 4)`` xyxy or None, ``ignore_bboxes_2d``
          ``(M, 4)`` (KITTI DontCare), ``cam_instances`` (nuScenes: per
          camera ``bboxes_3d`` bottom-centre :class:`CameraBoxes3D`,
          ``labels_3d``, ``bboxes_2d``, ``centers_2d``, ``depths``,
          ``velocity``);
        - ``extra``: remaining calibration (KITTI ``Tr_velo_to_cam``,
          ``Tr_imu_to_velo``, ``R0_rect``) as arrays.

    Raises:
        FileNotFoundError: if the pickle is missing.
        ValueError: if the pickle does not have the expected structure, needs
            objects other than containers / numbers / strings / numpy arrays
            (untrusted), or is truncated.
    """
    path = Path(pkl_path)
    data = safe_load_path(path, trusted)
    if not isinstance(data, dict) or 'data_list' not in data:
        raise ValueError(f"{path}: expected a dict with 'data_list', got "
                         f'{type(data).__name__}')
    metainfo = data.get('metainfo') or {}
    dataset = str(metainfo.get('dataset') or metainfo.get('DATASET')
                  or '').lower()
    if box_frame is None:
        box_frame = 'camera' if dataset == 'kitti' else 'lidar'
    if box_frame not in ('lidar', 'camera'):
        raise ValueError("box_frame must be 'lidar' or 'camera', "
                         f'got {box_frame!r}')
    names = _class_names(metainfo, dataset, class_names)
    root = path.resolve().parent
    box_cls = LiDARBoxes3D if box_frame == 'lidar' else CameraBoxes3D

    samples = []
    for sample in data['data_list']:
        if not isinstance(sample, dict):
            raise ValueError(f'{path}: data_list items must be dicts')
        lidar = sample.get('lidar_points') or {}
        insts = sample.get('instances') or []
        labels = np.asarray([i.get('bbox_label_3d', i.get('bbox_label', -1))
                             for i in insts], np.int64)
        # keep every instance with a real 3-D box (label -1 included: an
        # object outside class_names, e.g. nuScenes 'pushable_pullable');
        # KITTI DontCare rows carry sizes -1 and go to ignore_bboxes_2d.
        keep = np.asarray([_has_box(i) for i in insts], bool)
        kept = [i for i, k in zip(insts, keep) if k]
        ignored = [i for i, k in zip(insts, keep) if not k]
        boxes = np.asarray([i['bbox_3d'] for i in kept],
                           np.float64).reshape(-1, 7)
        has_vel = any('velocity' in i for i in kept)
        velocity = (np.asarray([i.get('velocity', [np.nan, np.nan])
                                for i in kept], np.float64).reshape(-1, 2)
                    if has_vel else None)
        has_2d = bool(kept) and all('bbox' in i for i in kept)
        extra = {}
        for key in ('Tr_velo_to_cam', 'Tr_imu_to_velo'):
            if key in lidar:
                extra[key] = np.asarray(lidar[key], np.float64)
        images = sample.get('images') or {}
        if 'R0_rect' in images:
            extra['R0_rect'] = np.asarray(images['R0_rect'], np.float64)
        gt_labels = labels[keep]
        if len(gt_labels) and gt_labels.max() >= len(names):
            raise ValueError(f'{path}: label {gt_labels.max()} has no class '
                             f'name in {names}')
        samples.append(
            dict(
                sample_idx=sample.get('sample_idx', sample.get('sample_id')),
                token=sample.get('token'),
                timestamp=sample.get('timestamp'),
                dataset=dataset,
                box_frame=box_frame,
                lidar_path=_resolve(root, lidar.get('lidar_path')),
                num_pts_feats=int(lidar.get('num_pts_feats', 4)),
                lidar2ego=_mat(lidar.get('lidar2ego'), 'lidar2ego', [(4, 4)]),
                ego2global=_mat(
                    sample.get('ego2global'), 'ego2global', [(4, 4)]),
                cameras=_cameras(sample, root),
                gt_bboxes_3d=box_cls(boxes),
                gt_labels_3d=gt_labels,
                gt_names=[names[k] if k >= 0 else 'ignore' for k in gt_labels],
                class_names=names,
                velocity=velocity,
                num_lidar_pts=np.asarray(
                    [i.get('num_lidar_pts', -1) for i in kept], np.int64),
                valid_flag=np.asarray(
                    [bool(i.get('bbox_3d_isvalid', True)) for i in kept],
                    bool),
                gt_bboxes_2d=(np.asarray([i['bbox'] for i in kept],
                                         np.float64).reshape(-1, 4)
                              if has_2d else None),
                ignore_bboxes_2d=np.asarray(
                    [i['bbox'] for i in ignored if 'bbox' in i],
                    np.float64).reshape(-1, 4),
                cam_instances=_cam_instances(sample),
                extra=extra))
    return samples
