"""FusionInferencer: a LiDAR sweep and/or multi-view images in, 3-D boxes out (SparseFusion)."""
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch
from mmengine.config import Config
from torch import nn

from vision_sparse.structures.cameras import decompose_projection
from vision_sparse.structures.results import timed
from .base import BaseInferencer, ConfigLike, ImageLike, load_config, load_image

__all__ = ['FusionInferencer', 'MODALITIES', 'resolve_modality', 'config_img_size',
           'train_fusion_quickly',
           'config_point_cloud_range', 'prepare_points', 'prepare_views']

#: what a model looks at: 'lidar' (points only), 'camera' (images only), 'fusion' (both)
MODALITIES = ('lidar', 'camera', 'fusion')
#: mmdet3d's nuScenes camera order (the order of the info pickles)
NUSCENES_CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
                    'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
PointsLike = Union[str, os.PathLike, np.ndarray, torch.Tensor]


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    try:
        return cfg.get(key, default)
    except AttributeError:
        return default


def _pipelines(cfg: Config) -> List[dict]:
    """The transforms of the config's test pipeline (wherever it is written)."""
    pipe = _get(_get(_get(cfg, 'test_dataloader', {}), 'dataset', {}), 'pipeline')
    if not pipe:
        pipe = _get(cfg, 'test_pipeline')
    return list(pipe or [])


def resolve_modality(cfg: Config, model: Optional[nn.Module] = None,
                     modality: Optional[str] = None) -> str:
    """What the model looks at: ``modality`` if given, else the model's ``modality``
    attribute, ``cfg.model.modality``, mmdet3d's ``input_modality`` (``use_lidar``,
    ``use_camera``), else ``'fusion'``.

    Raises:
        ValueError: a value outside :data:`MODALITIES`.
    """
    value = modality or getattr(model, 'modality', None) or _get(_get(cfg, 'model', {}),
                                                                 'modality')
    if value is None:
        im = _get(cfg, 'input_modality')
        if im:
            lidar, cam = bool(_get(im, 'use_lidar', True)), bool(_get(im, 'use_camera', False))
            value = 'fusion' if lidar and cam else ('camera' if cam else 'lidar')
    value = value or 'fusion'
    if value not in MODALITIES:
        raise ValueError(f'modality must be one of {MODALITIES}, got {value!r}')
    return value


def config_img_size(cfg: Config) -> Optional[Tuple[int, int]]:
    """The model's input view size ``(width, height)``: the test pipeline's
    ``ResizeMultiView(scale=...)``, else the config's ``img_size``; None when neither."""
    for t in _pipelines(cfg):
        if _get(t, 'type') in ('ResizeMultiView', 'Resize') and _get(t, 'scale') is not None:
            w, h = _get(t, 'scale')
            return int(w), int(h)
    size = _get(cfg, 'img_size')
    if size is not None:
        return int(size[0]), int(size[1])
    return None


def config_point_cloud_range(cfg: Config) -> Optional[np.ndarray]:
    """``(6,)`` ``[x0, y0, z0, x1, y1, z1]`` from ``point_cloud_range`` (top level, the
    model's, or a test-pipeline ``PointsRangeFilter``); None when absent."""
    rng = _get(cfg, 'point_cloud_range') or _get(_get(cfg, 'model', {}), 'point_cloud_range')
    if rng is None:
        for t in _pipelines(cfg):
            if _get(t, 'type') == 'PointsRangeFilter':
                rng = _get(t, 'point_cloud_range')
    return None if rng is None else np.asarray(rng, np.float64).reshape(6)


def _load_dim(cfg: Config) -> Optional[int]:
    for t in _pipelines(cfg):
        if _get(t, 'type') == 'LoadPointsFromFile' and _get(t, 'load_dim') is not None:
            return int(_get(t, 'load_dim'))
    return None


def _time_dim(cfg: Config) -> Optional[int]:
    for t in _pipelines(cfg):
        if _get(t, 'type') == 'LoadPointsFromFile' and _get(t, 'time_dim') is not None:
            return int(_get(t, 'time_dim'))
    return None


def _use_dim(cfg: Config) -> Optional[List[int]]:
    for t in _pipelines(cfg):
        if _get(t, 'type') == 'LoadPointsFromFile':
            use = _get(t, 'use_dim')
            if use is None:
                return None
            return list(range(int(use))) if isinstance(use, int) else [int(v) for v in use]
    return None


def prepare_points(points: Optional[PointsLike], point_cloud_range: Optional[np.ndarray] = None,
                   use_dim: Optional[Sequence[int]] = None, load_dim: Optional[int] = None,
                   time_dim: Optional[int] = None) -> Optional[np.ndarray]:
    """Validate a point cloud and keep the points inside ``point_cloud_range``.

    Args:
        points: ``(N, C)`` array / tensor with ``C >= 4`` (x, y, z, intensity, ...) in
            metres, LiDAR frame, or a float32 ``.bin`` file (``load_dim`` values a point,
            default inferred). None: no points.
        point_cloud_range (np.ndarray, optional): ``(6,)``: rows outside are dropped (as
            the test pipeline's ``PointsRangeFilter``; a point on the upper bound is out).
        use_dim (Sequence[int], optional): columns the model reads.
        load_dim (int, optional): values per point of a ``.bin`` file.
        time_dim (int, optional): output column set to 0 (the keyframe time lag, as the
            test pipeline's ``LoadPointsFromFile(time_dim=...)``).

    Returns:
        np.ndarray | None: ``(M, len(use_dim) or C)`` float32, M may be 0.

    Raises:
        ValueError: ``points`` not ``(N, >=4)`` numbers, NaN / inf coordinates (names how
            many rows), a column of ``use_dim`` it lacks, an unreadable file.
    """
    if points is None:
        return None
    if isinstance(points, (str, os.PathLike)):
        from vision_sparse.datasets.formats.nuscenes_info import load_points
        try:
            points = load_points(points, load_dim)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f'points: {exc}' + ('' if load_dim else ' (load_dim=...)')) from exc
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    try:
        pts = np.asarray(points, np.float32)
    except (TypeError, ValueError) as exc:
        raise ValueError('points must be an (N, >=4) array of numbers (x, y, z, intensity, '
                         '...)') from exc
    if pts.size == 0:
        pts = pts.reshape(0, pts.shape[-1] if pts.ndim == 2 else 4)
    if pts.ndim != 2 or pts.shape[1] < 4:
        raise ValueError(f'points must have shape (N, >=4) (x, y, z, intensity, ...), '
                         f'got {pts.shape}')
    bad = ~np.isfinite(pts).all(axis=1)
    if bad.any():
        raise ValueError(f'points: {int(bad.sum())} of {len(pts)} rows hold NaN or inf; '
                         'drop them first (e.g. points[np.isfinite(points).all(1)])')
    if use_dim is not None and not len(pts):
        pts = np.zeros((0, len(use_dim)), np.float32)  # empty: the caller's defined result
    elif use_dim is not None:
        if max(use_dim) >= pts.shape[1]:
            raise ValueError(f'points must have at least {max(use_dim) + 1} columns for this '
                             f'model (use_dim={list(use_dim)}), got {pts.shape[1]}')
        pts = pts[:, list(use_dim)]
    if time_dim is not None:
        if not 3 <= time_dim < pts.shape[1]:
            raise ValueError(f'time_dim must index a column after x, y, z of the {pts.shape[1]} '
                             f'kept, got {time_dim}')
        pts = pts.copy()
        pts[:, time_dim] = 0
    if point_cloud_range is not None and len(pts):
        r = point_cloud_range
        inside = ((pts[:, 0] >= r[0]) & (pts[:, 0] < r[3]) & (pts[:, 1] >= r[1])
                  & (pts[:, 1] < r[4]) & (pts[:, 2] >= r[2]) & (pts[:, 2] < r[5]))
        pts = pts[inside]
    return np.ascontiguousarray(pts)


def _per_view(value: Any, names: Sequence[str], field: str) -> List[Optional[np.ndarray]]:
    """A ``{cam: matrix}`` dict or a ``(V, ...)`` array as one entry (or None) per view."""
    if value is None:
        return [None] * len(names)
    if isinstance(value, Mapping):
        return [None if value.get(n) is None else value[n] for n in names]
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{field} must be a (V, 4, 4) array or a dict camera -> matrix') from exc
    if arr.ndim != 3 or len(arr) != len(names):
        raise ValueError(f'{field} must hold one matrix per image (V={len(names)}, cameras '
                         f'{list(names)}), got shape {arr.shape}')
    return list(arr)


def _matrix(value: Any, field: str, shapes: Sequence[Tuple[int, int]]) -> np.ndarray:
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{field} must be a numeric matrix of shape {list(shapes)}') from exc
    if arr.shape not in [tuple(s) for s in shapes]:
        raise ValueError(f'{field} must have shape in {list(shapes)}, got {arr.shape}')
    if not np.isfinite(arr).all():
        raise ValueError(f'{field} must be finite (NaN / inf found)')
    out = np.eye(4)
    out[:arr.shape[0], :arr.shape[1]] = arr
    return out


def _invertible(mat: np.ndarray, field: str, block: slice = slice(0, 4)) -> None:
    sub = mat[block, block]
    if np.linalg.matrix_rank(sub) < sub.shape[0] or abs(np.linalg.cond(sub)) > 1e12:
        raise ValueError(f'{field} is not invertible (singular matrix): check the calibration')


def prepare_views(images: Mapping[str, ImageLike], names: Sequence[str],
                  lidar2img: Any = None, cam2img: Any = None, lidar2cam: Any = None,
                  img_size: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    """Load, check and resize the views; calibration follows the resize.

    Args:
        images: ``{camera: image file or (H, W, 3) RGB uint8}`` holding every name of ``names``.
        names: the cameras to use, in the model's order.
        lidar2img: ``(V, 4, 4)`` or ``{camera: (4, 4)}`` LiDAR -> pixel projection of the
            images as given (pixel centres at integers). Used when given; otherwise
            ``cam2img @ lidar2cam``.
        cam2img: ``(V, 3, 3)`` / ``(V, 4, 4)`` or ``{camera: (3, 3) / (3, 4) / (4, 4)}``.
        lidar2cam: ``(V, 4, 4)`` or ``{camera: (4, 4)}`` LiDAR -> camera.
        img_size: ``(width, height)`` of the model input; each view is resized to it and its
            matrices scaled (:func:`~vision_sparse.structures.cameras.scale_intrinsics`
            convention), so views of different sizes are accepted. None: no resize, and the
            views must share one size.

    Returns:
        dict: ``imgs`` list of V ``(H, W, 3)`` RGB uint8 (resized), ``lidar2img``,
        ``cam2img``, ``lidar2cam`` ``(V, 4, 4)`` float64 for the resized images
        (``cam2img`` / ``lidar2cam`` split from ``lidar2img`` by
        :func:`~vision_sparse.structures.cameras.decompose_projection` when not given),
        ``ori_shapes`` list of (H, W) as loaded, ``img_shape`` (H, W) of the resized views.

    Raises:
        ValueError: an unreadable image, a matrix of the wrong shape, non-finite or not
            invertible (``lidar2img``, ``lidar2cam``, the 3x3 of ``cam2img``), a view
            without calibration, or (``img_size`` None) views of different sizes.
    """
    from vision_sparse.visualization.fusion import scale_lidar2img
    l2i = _per_view(lidar2img, names, 'lidar2img')
    c2i = _per_view(cam2img, names, 'cam2img')
    l2c = _per_view(lidar2cam, names, 'lidar2cam')
    out = dict(imgs=[], lidar2img=[], cam2img=[], lidar2cam=[], ori_shapes=[])
    for v, name in enumerate(names):
        img = load_image(images[name], f'images[{name!r}]')
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=2)
        h, w = img.shape[:2]
        K = None if c2i[v] is None else _matrix(c2i[v], f'cam2img[{name!r}]',
                                                 [(3, 3), (3, 4), (4, 4)])
        E = None if l2c[v] is None else _matrix(l2c[v], f'lidar2cam[{name!r}]', [(4, 4)])
        if K is not None:
            _invertible(K, f'cam2img[{name!r}]', slice(0, 3))
        if E is not None:
            _invertible(E, f'lidar2cam[{name!r}]')
        if l2i[v] is not None:
            P = _matrix(l2i[v], f'lidar2img[{name!r}]', [(4, 4)])
        elif K is not None and E is not None:
            P = K @ E
        else:
            raise ValueError(f'camera {name!r} has no calibration: give lidar2img, or cam2img '
                             'and lidar2cam')
        _invertible(P, f'lidar2img[{name!r}]')
        if K is None or E is None:  # the camera branch needs K and the extrinsics
            K3, E3 = decompose_projection(P)
            if K is None:
                K = np.eye(4)
                K[:3, :3] = K3
            E = E3 if E is None else E
        if img_size is not None and (w, h) != tuple(img_size):
            W, H = img_size
            img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA if W < w
                             else cv2.INTER_LINEAR)
            S = scale_lidar2img(np.eye(4), W / w, H / h)
            P = S @ P
            K = None if K is None else S @ K
        out['imgs'].append(np.ascontiguousarray(img))
        out['lidar2img'].append(P)
        out['cam2img'].append(K)
        out['lidar2cam'].append(E)
        out['ori_shapes'].append((h, w))
    shapes = {im.shape[:2] for im in out['imgs']}
    if len(shapes) > 1:
        raise ValueError('images must all have one size when the model has no input size '
                         f'(img_size): got {dict(zip(names, [im.shape[:2] for im in out["imgs"]]))}'
                         '; pass img_size=(width, height)')
    for key in ('lidar2img', 'cam2img', 'lidar2cam'):
        out[key] = np.stack(out[key]) if out[key] else np.zeros((0, 4, 4))
    out['img_shape'] = next(iter(shapes)) if shapes else None
    return out


class FusionInferencer(BaseInferencer):
    """3-D boxes from a LiDAR sweep and/or multi-view images with a SparseFusion config.

    The modality (``'lidar'``, ``'camera'`` or ``'fusion'``) is the model's
    (:func:`resolve_modality`); inputs it does not need are ignored, a missing needed
    input gives ``success`` False with the reason. The test pipeline is reproduced
    here: points are validated and cut to the config's ``point_cloud_range``
    (columns ``use_dim`` of its ``LoadPointsFromFile``, column ``time_dim`` zeroed); views
    are resized to the model input size (:func:`config_img_size`) with ``lidar2img``
    scaled to match; both are packed as the dataset's ``PackFusionInputs`` does (``inputs = dict(points
    (N, C) float32, imgs (V, 3, H, W) uint8 BGR)`` + a ``DetDataSample`` with
    ``cam_names``, ``lidar2img`` / ``cam2img`` / ``lidar2cam`` (V, 4, 4), ``img_shape``,
    ``ori_shapes``, ``point_cloud_range``, ``box_type_3d='LiDAR'``) and run through
    ``model.test_step``.

    Args:
        config (str | PathLike | dict | Config, optional): a SparseFusion config; may be
            None when ``model`` is given.
        checkpoint (str, optional): trained weights (see :class:`BaseInferencer`).
        device (str, optional): where the model runs (default: where it is).
        cfg_options (dict, optional): config overrides (dotted keys).
        model (nn.Module, optional): an already built model (an mmengine ``BaseModel``
            whose ``test_step`` returns data samples with ``pred_instances_3d``); the config
            then only supplies the data settings.
        classes (Sequence[str], optional): class names; default the config's
            ``class_names`` / ``metainfo.classes`` / its test dataset's.
        modality (str, optional): override of the model's modality.
        img_size (tuple, optional): ``(width, height)`` input view size; default
            :func:`config_img_size`.
        cam_names (Sequence[str], optional): cameras the model takes, in order; default the
            config's ``cam_names``, else the order the images come in.

    Call ``inferencer(sample=None, points=None, images=None, lidar2img=None,
    cam2img=None, lidar2cam=None, score_thr=0.0)``:

    Args:
        sample (dict, optional): one sample of
            :func:`~vision_sparse.datasets.formats.nuscenes_info.load_det3d_info`; its
            LiDAR file and camera images / calibration are loaded (``points`` /
            ``images`` given explicitly take precedence).
        points: ``(N, >=4)`` float array (x, y, z, intensity, ...) metres, or a ``.bin``.
        images (dict): ``{camera name: image file or (H, W, 3) RGB uint8}``.
        lidar2img, cam2img, lidar2cam: calibration per camera, ``{camera: matrix}`` or
            ``(V, ...)`` in the order of ``images`` (see :func:`prepare_views`).
        score_thr (float): drop boxes scoring below.
        load_dim (int, optional): values per point of a ``.bin`` ``points`` file; default
            the config's ``LoadPointsFromFile(load_dim=...)``, else inferred (4 or 5).

    Returns:
        dict: the result contract (``success``, ``reason``, ``timings``: ``load``,
        ``predict``, ``total``) and ``bboxes_3d`` ``(K, 9)`` float32 LiDAR boxes
        ``(x, y, z, l, w, h, yaw, vx, vy)`` (gravity centre; NaN velocity when the model
        gives none), ``scores`` ``(K,)`` float32, ``labels`` ``(K,)`` int64,
        ``class_names`` (list of K str), ``num_boxes``, ``modality``, ``cam_names`` (the
        views used), ``num_points`` (points inside the range given to the model).

    Failures (``success`` False, empty arrays, a one-sentence ``reason``): no points for
    a LiDAR / fusion model or none left inside ``point_cloud_range`` (including an empty
    cloud); no images for a camera / fusion model; a camera the model needs missing from
    ``images``; no box scoring above ``score_thr``.

    Raises:
        ValueError: malformed input, naming the field: points not ``(N, >=4)`` or with
            NaN / inf rows, an unreadable image, a calibration matrix of the wrong
            shape, non-finite or not invertible, a camera without calibration, views of
            different sizes when the model has no input size.
    """

    def __init__(self, config: Optional[ConfigLike] = None, checkpoint: Optional[str] = None,
                 device=None, cfg_options: Optional[Dict] = None,
                 model: Optional[nn.Module] = None, classes: Optional[Sequence[str]] = None,
                 modality: Optional[str] = None, img_size: Optional[Tuple[int, int]] = None,
                 cam_names: Optional[Sequence[str]] = None) -> None:
        if model is None:
            if config is None:
                raise ValueError('give a config (file or dict) or a built model')
            super().__init__(config, checkpoint, device, cfg_options)
        else:
            if not isinstance(model, nn.Module) or not hasattr(model, 'test_step'):
                raise ValueError('model must be a built mmengine BaseModel (with test_step), '
                                 f'got {type(model).__name__}')
            self.cfg = (load_config(config, cfg_options) if config is not None
                        else Config(dict(model=dict())))
            self.model = model
            self.checkpoint_meta = {}
            if checkpoint is not None:
                self.checkpoint_meta = self.load_checkpoint(checkpoint)
            if device is not None:
                self.to(device)
            self.model.eval()
        self.modality = resolve_modality(self.cfg, self.model, modality)
        self.img_size = tuple(img_size) if img_size is not None else config_img_size(self.cfg)
        self.point_cloud_range = config_point_cloud_range(self.cfg)
        self.use_dim = _use_dim(self.cfg)
        self.load_dim = _load_dim(self.cfg)
        self.time_dim = _time_dim(self.cfg)
        cams = cam_names if cam_names is not None else _get(self.cfg, 'cam_names')
        self.cam_names = list(cams) if cams else None
        self.classes = tuple(classes) if classes is not None else self._config_classes()

    def _config_classes(self) -> Tuple[str, ...]:
        for value in (_get(self.cfg, 'class_names'), _get(_get(self.cfg, 'metainfo', {}),
                                                              'classes'),
                      _get(_get(_get(_get(self.cfg, 'test_dataloader', {}), 'dataset', {}),
                                'metainfo', {}), 'classes')):
            if value:
                return tuple(value)
        return ()

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are (CPU for a parameter-less model)."""
        p = next(iter(self.model.parameters()), None)
        return p.device if p is not None else torch.device('cpu')

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def sample_inputs(sample: Mapping) -> Dict[str, Any]:
        """Points, images and calibration of one :func:`load_det3d_info` sample.

        Returns:
            dict: ``points`` (``(N, C)`` float32 or None without a LiDAR file), ``images``
            ``{camera: path}``, ``lidar2img``, ``cam2img``, ``lidar2cam`` ``{camera: matrix}``
            (cameras with an image path only).
        """
        from vision_sparse.datasets.formats.nuscenes_info import load_points
        path = sample.get('lidar_path')
        points = None
        if path:
            points = load_points(path, sample.get('num_pts_feats') or None)
        cams = {n: c for n, c in (sample.get('cameras') or {}).items() if c.get('img_path')}
        return dict(points=points, images={n: c['img_path'] for n, c in cams.items()},
                    lidar2img={n: c.get('lidar2img') for n, c in cams.items()},
                    cam2img={n: c.get('cam2img') for n, c in cams.items()},
                    lidar2cam={n: c.get('lidar2cam') for n, c in cams.items()})

    def _empty(self, **extra) -> Dict[str, Any]:
        return dict(bboxes_3d=np.zeros((0, 9), np.float32), scores=np.zeros(0, np.float32),
                    labels=np.zeros(0, np.int64), class_names=[], num_boxes=0,
                    modality=self.modality, cam_names=[], num_points=0, **extra)

    def _fail(self, reason: str, timings: Dict[str, float], t_start: float,
              **extra) -> Dict[str, Any]:
        timings['total'] = time.perf_counter() - t_start
        return self.finish(dict(self._empty(**extra), success=False, reason=reason), timings)

    def _pack(self, points: Optional[np.ndarray], views: Optional[Dict[str, Any]],
              names: List[str], sample_idx: Any) -> Dict[str, Any]:
        from mmengine.dataset import pseudo_collate
        from mmengine.structures import InstanceData
        from mmdet.structures import DetDataSample
        inputs = {}
        meta = dict(sample_idx=sample_idx, box_type_3d='LiDAR',
                    point_cloud_range=(None if self.point_cloud_range is None
                                       else self.point_cloud_range.astype(np.float32)))
        if points is not None:
            inputs['points'] = torch.from_numpy(points)
        if views is not None:
            bgr = np.stack([im[..., ::-1] for im in views['imgs']])  # (V, H, W, 3)
            inputs['imgs'] = torch.from_numpy(np.ascontiguousarray(bgr.transpose(0, 3, 1, 2)))
            meta.update(cam_names=list(names), img_shape=tuple(views['img_shape']),
                        ori_shapes=list(views['ori_shapes']),
                        **{k: views[k].astype(np.float32)
                           for k in ('lidar2img', 'cam2img', 'lidar2cam')})
        data_sample = DetDataSample(metainfo=meta)
        data_sample.gt_instances_3d = InstanceData(
            bboxes_3d=torch.zeros((0, 9)), labels_3d=torch.zeros(0, dtype=torch.long))
        return pseudo_collate([dict(inputs=inputs, data_samples=data_sample)])

    # ------------------------------------------------------------------ call
    def __call__(self, sample: Optional[Mapping] = None, points: Optional[PointsLike] = None,
                 images: Optional[Mapping[str, ImageLike]] = None, lidar2img: Any = None,
                 cam2img: Any = None, lidar2cam: Any = None, score_thr: float = 0.0,
                 load_dim: Optional[int] = None) -> Dict[str, Any]:
        """3-D boxes for one frame; arguments and result as in the class docstring."""
        t_start = time.perf_counter()
        timings: Dict[str, float] = {}
        needs_points = self.modality in ('lidar', 'fusion')
        needs_images = self.modality in ('camera', 'fusion')
        with timed(timings, 'load'):
            if sample is not None:
                if not isinstance(sample, Mapping):
                    raise ValueError('sample must be a dict of load_det3d_info, got '
                                     f'{type(sample).__name__}')
                given = self.sample_inputs(sample) if (
                    (needs_points and points is None) or (needs_images and images is None)
                ) else {}
                if points is None and needs_points:
                    points = given.get('points')
                if images is None and needs_images:
                    images = given.get('images')
                    lidar2img = lidar2img if lidar2img is not None else given.get('lidar2img')
                    cam2img = cam2img if cam2img is not None else given.get('cam2img')
                    lidar2cam = lidar2cam if lidar2cam is not None else given.get('lidar2cam')
            pts = prepare_points(points, self.point_cloud_range, self.use_dim,
                                 load_dim or self.load_dim, self.time_dim) if needs_points else None
            if needs_points and pts is None:
                return self._fail(f'this {self.modality} model needs a point cloud (points=...)',
                                  timings, t_start)
            if needs_points and len(pts) == 0:
                rng = ('' if self.point_cloud_range is None
                       else f' inside point_cloud_range {self.point_cloud_range.tolist()}')
                return self._fail(f'the point cloud holds no point{rng}', timings, t_start)
            views, names = None, []
            if needs_images:
                if images is not None and not isinstance(images, Mapping):
                    raise ValueError('images must be a dict {camera name: image file or (H, W, 3) '
                                     f'RGB array}}, got {type(images).__name__}')
                if not images:
                    return self._fail(f'this {self.modality} model needs camera images '
                                      '(images={camera: image})', timings, t_start)
                names = list(self.cam_names) if self.cam_names else list(images)
                missing = [n for n in names if images.get(n) is None]
                if missing:
                    return self._fail(f'camera {missing[0]} is missing from images (the model '
                                      f'takes {names})', timings, t_start)
                views = prepare_views(images, names, lidar2img, cam2img, lidar2cam,
                                      self.img_size)
            data = self._pack(pts, views, names,
                              sample.get('sample_idx', 0) if sample is not None else 0)
        with timed(timings, 'predict'), torch.no_grad():
            out = self.model.test_step(data)[0]
        result = self._result(out.pred_instances_3d, float(score_thr))
        result.update(cam_names=names, num_points=0 if pts is None else int(len(pts)))
        timings['total'] = time.perf_counter() - t_start
        return self.finish(result, timings)

    def _result(self, pred, score_thr: float) -> Dict[str, Any]:
        boxes = pred.bboxes_3d
        boxes = boxes.tensor if hasattr(boxes, 'tensor') else torch.as_tensor(boxes)
        boxes = boxes.detach().cpu().float().numpy()
        boxes = boxes.reshape(-1, boxes.shape[-1] if boxes.ndim == 2 else 9)
        if boxes.shape[1] < 9:  # no velocity: unknown
            boxes = np.concatenate([boxes, np.full((len(boxes), 9 - boxes.shape[1]), np.nan,
                                                   np.float32)], 1)
        boxes = boxes[:, :9]
        scores = pred.scores_3d.detach().cpu().float().numpy().reshape(-1)
        labels = pred.labels_3d.detach().cpu().numpy().astype(np.int64).reshape(-1)
        keep = scores >= score_thr
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
        names = [self.classes[i] if 0 <= i < len(self.classes) else str(i) for i in labels]
        return dict(self._empty(), bboxes_3d=np.ascontiguousarray(boxes, np.float32),
                    scores=scores.astype(np.float32), labels=labels, class_names=names,
                    num_boxes=int(len(boxes)), success=bool(len(boxes)),
                    reason='' if len(boxes) else f'no box scored >= {score_thr}')

    # ------------------------------------------------------------------ pictures
    def draw(self, result: Dict[str, Any], sample: Optional[Mapping] = None,
             points: Optional[PointsLike] = None,
             images: Optional[Mapping[str, ImageLike]] = None, lidar2img: Any = None,
             gt_boxes=None, tile_width: int = 640, bev_resolution: float = 0.1
             ) -> Dict[str, np.ndarray]:
        """Pictures of a result: the camera mosaic and the BEV.

        Args:
            result (dict): a result of this inferencer.
            sample (dict, optional): a :func:`load_det3d_info` sample: its points, images,
                calibration and (unless ``gt_boxes`` is given) ground-truth boxes.
            points, images, lidar2img: explicit inputs (as for the call; ``lidar2img`` of
                the images as given).
            gt_boxes: ``(M, >=7)`` ground-truth boxes drawn under the predictions.
            tile_width (int): width of each camera tile.
            bev_resolution (float): metres per BEV pixel.

        Returns:
            dict: ``cameras`` (mosaic RGB, absent without images) and ``bev`` (RGB).
        """
        from vision_sparse.visualization.fusion import draw_camera_mosaic, draw_fusion_bev
        if sample is not None:
            given = self.sample_inputs(sample)
            points = points if points is not None else given['points']
            if images is None:
                images, lidar2img = given['images'], given['lidar2img']
            if gt_boxes is None:
                gt_boxes = sample.get('gt_bboxes_3d')
        pred = dict(boxes=result['bboxes_3d'], labels=result['labels'], scores=result['scores'],
                    class_names=self.classes or None, gt_boxes=gt_boxes)
        out = {}
        if images:
            imgs = {n: load_image(im, f'images[{n!r}]') for n, im in images.items()}
            out['cameras'] = draw_camera_mosaic(imgs, lidar2img, tile_width=tile_width, **pred)
        pts = prepare_points(points) if points is not None else None
        rng = (self.point_cloud_range if self.point_cloud_range is not None
               else (-54, -54, -5, 54, 54, 3))
        out['bev'] = draw_fusion_bev(pts, point_cloud_range=rng, resolution=bev_resolution,
                                     **pred)
        return out


def train_fusion_quickly(config: ConfigLike, iters: int = 150, time_limit: Optional[float] = None,
                         num_scenes: Optional[int] = 12, batch_size: int = 2, lr: float = 2e-3,
                         warmup: int = 10, seed: int = 0, data_root: Optional[str] = None,
                         cfg_options: Optional[Dict] = None, progress=None, should_stop=None,
                         inferencer: Optional['FusionInferencer'] = None
                         ) -> Tuple['FusionInferencer', Dict[str, Any]]:
    """Train a (tiny) SparseFusion config briefly in this process; a ready inferencer out.

    For demos and tests on a CPU: the config's training set (e.g. the synthetic scenes of
    ``configs/sparsefusion/sparsefusion_tiny-*_synthetic-fusion.py``, made in memory)
    with its training pipeline, AdamW at ``lr`` (linear warm-up over ``warmup``
    iterations, then cosine decay to ``lr / 100`` at ``iters``; the config's gradient
    clipping), stopped after ``iters`` iterations, when ``time_limit`` seconds have
    passed or when ``should_stop()`` says so. The full schedule is ``tools/train.py``.

    Args:
        config (str | PathLike | dict | Config): a SparseFusion config with a
            ``train_dataloader``.
        iters (int): training iterations (batches), at most.
        time_limit (float, optional): stop after the iteration that passes this many
            seconds (scene synthesis included).
        num_scenes (int, optional): override of the training set's ``num_scenes`` (a
            synthetic set); None keeps the config's.
        batch_size (int): samples per iteration.
        lr (float): peak learning rate.
        warmup (int): iterations of linear warm-up from ``lr / 10``.
        seed (int): torch seed of the model initialisation and the sample order.
        data_root (str, optional): override of the training set's ``data_root`` (the
            configs' is relative to the repository root). When the set's ``calib_file``
            is not found there, the synthetic scenes use the built-in camera rig.
        cfg_options (dict, optional): config overrides (dotted keys).
        progress (callable, optional): ``progress(done, total, loss)`` after each
            iteration (``done`` iterations of ``total`` planned; ``loss`` a float).
        should_stop (callable, optional): returns True to stop after the current iteration.
        inferencer (FusionInferencer, optional): continue training its model (built from
            the same config) instead of a freshly initialised one (a new optimiser and
            schedule; ``seed`` then only orders the samples).

    Returns:
        tuple: (:class:`FusionInferencer` on the trained model in eval mode, info dict:
        ``iters`` done, ``planned``, ``seconds``, ``stopped_by`` (``'iters'``, ``'time'``
        or ``'request'``), ``losses`` (per iteration), ``num_scenes``, ``camera_rig``
        (``'calib_file'`` or ``'built-in'``), ``modality``).

    Raises:
        ValueError: a bad number (``iters``, ``batch_size``, ``lr`` ...) or a config without
            ``train_dataloader.dataset``.
    """
    import math
    import os.path as osp
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from vision_sparse.registry import DATASETS
    from vision_sparse.utils import register_all_modules
    for name, value in (('iters', iters), ('batch_size', batch_size)):
        if int(value) < 1:
            raise ValueError(f'{name} must be >= 1, got {value}')
    if num_scenes is not None and int(num_scenes) < 1:
        raise ValueError(f'num_scenes must be >= 1 or None, got {num_scenes}')
    if not lr > 0:
        raise ValueError(f'lr must be > 0, got {lr}')
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f'time_limit must be > 0 seconds or None, got {time_limit}')
    t_start = time.perf_counter()
    cfg = load_config(config, cfg_options)
    ds_cfg = _get(_get(cfg, 'train_dataloader', {}), 'dataset')
    if not ds_cfg:
        raise ValueError('config has no train_dataloader.dataset to train on')
    ds_cfg = ds_cfg.to_dict() if hasattr(ds_cfg, 'to_dict') else dict(ds_cfg)
    if num_scenes is not None:
        ds_cfg['num_scenes'] = int(num_scenes)
    if data_root is not None:
        ds_cfg['data_root'] = os.fspath(data_root)
    rig = 'built-in'
    if ds_cfg.get('calib_file'):
        path = str(ds_cfg['calib_file'])
        if ds_cfg.get('data_root') and not osp.isabs(path):
            path = osp.join(str(ds_cfg['data_root']), path)
        if osp.isfile(path):
            rig = 'calib_file'
        else:
            ds_cfg['calib_file'] = None
    register_all_modules(init_default_scope=False)
    if inferencer is None:
        torch.manual_seed(int(seed))
        inferencer = FusionInferencer(cfg)
    elif not isinstance(inferencer, FusionInferencer):
        raise ValueError('inferencer must be a FusionInferencer, got '
                         f'{type(inferencer).__name__}')
    model = inferencer.model
    scope = cfg.get('default_scope', 'vision_sparse')
    with DefaultScope.overwrite_default_scope(scope):
        dataset = DATASETS.build(ds_cfg)
        wrapper_cfg = dict(_get(cfg, 'optim_wrapper') or {})
        wrapper_cfg = wrapper_cfg.to_dict() if hasattr(wrapper_cfg, 'to_dict') else wrapper_cfg
        wrapper_cfg['optimizer'] = dict(type='AdamW', lr=float(lr), weight_decay=0.05)
        optim = build_optim_wrapper(model, wrapper_cfg)
    gen = torch.Generator().manual_seed(int(seed))
    order: List[int] = []
    losses: List[float] = []
    stopped_by = 'iters'
    model.train()
    try:
        for it in range(int(iters)):
            if it < warmup:
                factor = 0.1 + 0.9 * it / max(1, warmup)
            else:
                frac = (it - warmup) / max(1, int(iters) - warmup)
                factor = 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac))
            for group in optim.optimizer.param_groups:
                group['lr'] = float(lr) * factor
            while len(order) < batch_size:
                order += torch.randperm(len(dataset), generator=gen).tolist()
            idx, order = order[:batch_size], order[batch_size:]
            batch = pseudo_collate([dataset[i] for i in idx])
            with DefaultScope.overwrite_default_scope(scope):
                out = model.train_step(batch, optim)
            loss = float(sum(float(v.detach()) if torch.is_tensor(v) else float(v)
                             for k, v in out.items() if k == 'loss' or (
                                 'loss' not in out and 'loss' in k)))
            losses.append(loss)
            if progress is not None:
                progress(it + 1, int(iters), loss)
            if it + 1 < int(iters):
                if should_stop is not None and should_stop():
                    stopped_by = 'request'
                    break
                if time_limit is not None and time.perf_counter() - t_start >= time_limit:
                    stopped_by = 'time'
                    break
    finally:
        model.eval()
    info = dict(iters=len(losses), planned=int(iters), seconds=time.perf_counter() - t_start,
                stopped_by=stopped_by, losses=losses, num_scenes=len(dataset), camera_rig=rig,
                modality=inferencer.modality)
    return inferencer, info
