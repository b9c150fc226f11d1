"""Pictures of a multi-camera + LiDAR frame: a camera mosaic, a BEV, a ``.ply`` pair.

Boxes are LiDAR-frame ``(N, >=7)`` arrays ``(x, y, z, l, w, h, yaw, [vx, vy])`` (gravity
centre, the :class:`~vision_sparse.structures.bbox.boxes3d.LiDARBoxes3D` convention) or
:class:`LiDARBoxes3D`. Cameras are given by their ``lidar2img`` ``(4, 4)`` projection for
the image as passed (pixel centres at integer coordinates). Predicted boxes are drawn in
class colours with ``class score`` tags; ground-truth boxes under them, thinner, in one
colour (green by default), without tags.

* :func:`draw_camera_mosaic`: the six nuScenes views in a 2 x 3 grid (FRONT_LEFT, FRONT,
  FRONT_RIGHT / BACK_LEFT, BACK, BACK_RIGHT), boxes projected into every view;
* :func:`draw_fusion_bev`: the point cloud seen from above (coloured by height or
  intensity) with the boxes, their heading marks and the ego marker;
* :func:`save_fusion_ply`: points (coloured as in the BEV) and boxes as two ``.ply`` files.
"""
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

import cv2
import numpy as np
import torch

from vision_sparse.structures.bbox.boxes3d import LiDARBoxes3D
from vision_sparse.structures.cameras import scale_intrinsics
from ._common import _to_numpy
from .bev import draw_bev
from .boxes3d import draw_boxes3d_on_image
from .colors import GREEN, Color, _per_item_colors, _scores_to_colors
from .images import put_text_block, to_rgb
from .ply import save_boxes3d_ply, save_point_cloud_ply

__all__ = ['NUSCENES_CAMERA_LAYOUT', 'scale_lidar2img', 'point_colors', 'as_lidar_boxes',
           'draw_camera_mosaic', 'draw_fusion_bev', 'save_fusion_ply']

#: the nuScenes rig as seen from the car: front row then back row (left to right as a
#: driver looking forward / backward would see them on a dashboard)
NUSCENES_CAMERA_LAYOUT = (('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'),
                          ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))


def scale_lidar2img(lidar2img, sx: float, sy: Optional[float] = None) -> np.ndarray:
    """``lidar2img`` of an image resized by ``(sx, sy)`` (new size = old size x scale).

    The pixel rows are premultiplied by the scaling of
    :func:`~vision_sparse.structures.cameras.scale_intrinsics` (pixel centres at
    integers: ``u' = (u + 0.5) sx - 0.5``), so it equals ``scale_intrinsics(K) @ lidar2cam``.

    Args:
        lidar2img: ``(4, 4)`` or ``(V, 4, 4)`` LiDAR -> pixel projection.
        sx (float): horizontal scale, ``> 0``.
        sy (float, optional): vertical scale; ``sx`` when omitted.

    Returns:
        np.ndarray: float64 array of the input's shape.
    """
    mat = np.asarray(lidar2img, np.float64)
    if mat.shape[-2:] != (4, 4):
        raise ValueError(f'lidar2img must be (4, 4) or (V, 4, 4), got {mat.shape}')
    S = np.eye(4)
    S[:3, :3] = scale_intrinsics(np.eye(3), sx, sy)
    return S @ mat


def as_lidar_boxes(boxes, name: str = 'boxes') -> LiDARBoxes3D:
    """``(N, >=7)`` LiDAR boxes (array / tensor / :class:`LiDARBoxes3D`) as
    :class:`LiDARBoxes3D` of the first 7 columns (float64); None gives 0 boxes."""
    if isinstance(boxes, LiDARBoxes3D):
        return LiDARBoxes3D(boxes.tensor[:, :7].detach().cpu().double())
    if boxes is None:
        return LiDARBoxes3D(np.zeros((0, 7)))
    arr = _to_numpy(boxes, name).astype(np.float64)
    if arr.size == 0:
        return LiDARBoxes3D(np.zeros((0, 7)))
    if arr.ndim != 2 or arr.shape[1] < 7:
        raise ValueError(f'{name} must be (N, >=7) LiDAR boxes (x, y, z, l, w, h, yaw, ...), '
                         f'got {arr.shape}')
    return LiDARBoxes3D(np.ascontiguousarray(arr[:, :7]))


def point_colors(points, by: str = 'height', value_range: Optional[Sequence[float]] = None
                 ) -> np.ndarray:
    """One RGB colour per LiDAR point from its height (z) or intensity (column 3).

    Args:
        points: ``(P, >=3)`` points (``>= 4`` columns for ``'intensity'``).
        by (str): ``'height'`` or ``'intensity'``.
        value_range (Sequence[float], optional): ``(lo, hi)`` mapped to 0.1 ... 0.9 of the
            turbo colour map (blue ... red); default: height ``(-2, 2)`` m (nuScenes LIDAR_TOP
            sits ~1.8 m above the road), intensity the 1st-99th percentiles.

    Returns:
        np.ndarray: ``(P, 3)`` uint8 RGB.

    Raises:
        ValueError: for another ``by`` or too few columns.
    """
    pts = _to_numpy(points, 'points')
    if pts.ndim != 2 or pts.shape[1] < 3:
        raise ValueError(f'points must be (P, >=3), got {pts.shape}')
    if by == 'height':
        values = pts[:, 2].astype(np.float64)
        lo, hi = value_range if value_range is not None else (-2.0, 2.0)
    elif by == 'intensity':
        if pts.shape[1] < 4:
            raise ValueError("by='intensity' needs (P, >=4) points (x, y, z, intensity)")
        values = pts[:, 3].astype(np.float64)
        if value_range is not None:
            lo, hi = value_range
        elif len(values):
            lo, hi = np.percentile(values, [1, 99])
        else:
            lo, hi = 0.0, 1.0
    else:
        raise ValueError(f"by must be 'height' or 'intensity', got {by!r}")
    if not len(pts):
        return np.zeros((0, 3), np.uint8)
    t = np.clip((values - lo) / max(float(hi - lo), 1e-9), 0.0, 1.0)
    # the bright middle of the colour map: its dark ends vanish on a black BEV
    return _scores_to_colors(0.1 + 0.8 * t).astype(np.uint8)


def _views(images, lidar2img, cam_names: Optional[Sequence[str]]):
    """(name, RGB image, (4, 4) lidar2img) per view."""
    if isinstance(images, Mapping):
        names = list(cam_names) if cam_names is not None else list(images)
        imgs = [images[n] for n in names]
    else:
        imgs = list(images)
        names = (list(cam_names) if cam_names is not None
                 else [f'view {i}' for i in range(len(imgs))])
        if len(names) != len(imgs):
            raise ValueError(f'cam_names must name the {len(imgs)} images, got {len(names)}')
    if isinstance(lidar2img, Mapping):
        mats = [np.asarray(lidar2img[n], np.float64) for n in names]
    else:
        arr = np.asarray(lidar2img, np.float64)
        if arr.shape != (len(imgs), 4, 4):
            raise ValueError(f'lidar2img must be ({len(imgs)}, 4, 4) (one per image), '
                             f'got {arr.shape}')
        mats = list(arr)
    return [(n, to_rgb(im, f'images[{n!r}]'), m) for n, im, m in zip(names, imgs, mats)]


def draw_camera_mosaic(images: Union[Mapping[str, np.ndarray], Sequence[np.ndarray]],
                       lidar2img,
                       boxes=None,
                       labels=None,
                       scores=None,
                       class_names: Optional[Sequence[str]] = None,
                       gt_boxes=None,
                       cam_names: Optional[Sequence[str]] = None,
                       layout: Optional[Sequence[Sequence[str]]] = None,
                       tile_width: int = 640,
                       box_color=None,
                       gt_color: Color = GREEN,
                       thickness: int = 2,
                       pad: int = 4) -> np.ndarray:
    """Boxes projected into every camera view, the views tiled in a grid.

    Each view is resized to ``tile_width`` pixels wide first and its ``lidar2img``
    scaled to match (:func:`scale_lidar2img`), so lines keep their thickness.

    Args:
        images: ``{camera name: (H, W, 3) RGB uint8}`` or a list (then ``cam_names``
            names them). Views may have different sizes.
        lidar2img: ``{name: (4, 4)}`` or ``(V, 4, 4)`` LiDAR -> pixel projection of each
            image as given.
        boxes: predicted boxes ``(N, >=7)`` / :class:`LiDARBoxes3D`, or None.
        labels: ``(N,)`` int labels (class colours and tags), optional.
        scores: ``(N,)`` scores for the tags, optional.
        class_names (Sequence[str], optional): names for the tags.
        gt_boxes: ground-truth boxes in the same forms, drawn first in ``gt_color``.
        cam_names (Sequence[str], optional): view order of a list of images.
        layout (Sequence[Sequence[str]], optional): rows of camera names; default
            :data:`NUSCENES_CAMERA_LAYOUT` when the six nuScenes names are all present,
            else rows of three in the given order. A name missing from ``images`` leaves
            an empty (grey) tile.
        tile_width (int): width of every tile, pixels.
        box_color: colour(s) of ``boxes`` (None: class colours).
        gt_color (Color): colour of ``gt_boxes``.
        thickness (int): line thickness of ``boxes`` (GT: one less).
        pad (int): pixels between tiles.

    Returns:
        np.ndarray: ``(H, W, 3)`` uint8 RGB mosaic, camera names written in each tile.

    Raises:
        ValueError: for shapes that do not match (boxes, labels, matrices, images).
    """
    views = _views(images, lidar2img, cam_names)
    pred = as_lidar_boxes(boxes, 'boxes')
    gt = as_lidar_boxes(gt_boxes, 'gt_boxes')
    labs = None if labels is None else _to_numpy(labels, 'labels').reshape(-1).astype(np.int64)
    scs = None if scores is None else _to_numpy(scores, 'scores').reshape(-1)
    for name, v in (('labels', labs), ('scores', scs)):
        if v is not None and len(v) != len(pred):
            raise ValueError(f'{name} must have {len(pred)} entries (one per box), got {len(v)}')
    colors = np.asarray(_per_item_colors(box_color, len(pred), labs), np.int64).reshape(-1, 3)
    tiles = {}
    for name, img, mat in views:
        h, w = img.shape[:2]
        s = tile_width / w
        th = max(1, int(round(h * s)))
        tile = cv2.resize(img, (tile_width, th), interpolation=cv2.INTER_AREA if s < 1
                          else cv2.INTER_LINEAR)
        P = scale_lidar2img(mat, tile_width / w, th / h)
        if len(gt):
            tile = draw_boxes3d_on_image(tile, gt, P, np.eye(4), color=gt_color,
                                         thickness=max(1, thickness - 1))
        if len(pred):
            tile = draw_boxes3d_on_image(tile, pred, P, np.eye(4), color=colors,
                                         labels=labs, scores=scs, class_names=class_names,
                                         thickness=thickness)
        tiles[name] = put_text_block(tile, name, origin=(5, 5), font_scale=0.5)
    if layout is None:
        names = [n for n, _, _ in views]
        if all(n in tiles for row in NUSCENES_CAMERA_LAYOUT for n in row):
            layout = NUSCENES_CAMERA_LAYOUT
        else:
            layout = [names[i:i + 3] for i in range(0, len(names), 3)]
    th = max(t.shape[0] for t in tiles.values()) if tiles else 1
    ncols = max(len(row) for row in layout) if layout else 1
    canvas = np.full((len(layout) * (th + pad) + pad, ncols * (tile_width + pad) + pad, 3),
                     255, np.uint8)
    for r, row in enumerate(layout):
        for c, name in enumerate(row):
            y, x = pad + r * (th + pad), pad + c * (tile_width + pad)
            if name in tiles:
                t = tiles[name]
                canvas[y:y + t.shape[0], x:x + t.shape[1]] = t
            else:
                canvas[y:y + th, x:x + tile_width] = put_text_block(
                    np.full((th, tile_width, 3), 128, np.uint8), f'{name}: no image',
                    origin=(5, 5), font_scale=0.5)
    return canvas


def draw_fusion_bev(points=None,
                    boxes=None,
                    labels=None,
                    scores=None,
                    class_names: Optional[Sequence[str]] = None,
                    gt_boxes=None,
                    point_cloud_range: Sequence[float] = (-54, -54, -5, 54, 54, 3),
                    resolution: float = 0.1,
                    color_by: Optional[str] = 'height',
                    forward_axis: str = 'y',
                    gt_color: Color = GREEN,
                    thickness: int = 2,
                    box_color=None) -> np.ndarray:
    """Bird's-eye view of a LiDAR frame: points, boxes with heading marks, ego marker.

    A wrapper of :func:`~vision_sparse.visualization.draw_bev` with points coloured by
    :func:`point_colors` and the nuScenes ``LIDAR_TOP`` orientation (``forward_axis='y'``:
    +y forward points up, +x right). Boxes whose centre lies outside the drawn area are
    left out (their tags would pile up at the border).

    Args:
        points: ``(P, >=3)`` LiDAR points (metres) or None.
        boxes, labels, scores, class_names, gt_boxes: as :func:`draw_camera_mosaic`.
        point_cloud_range (Sequence[float]): ``(x0, y0, z0, x1, y1, z1)`` or
            ``(x0, y0, x1, y1)`` metres: the area drawn.
        resolution (float): metres per pixel.
        color_by (str, optional): ``'height'``, ``'intensity'`` or None (grey points).
        forward_axis (str): ``'y'`` (nuScenes) or ``'x'`` (KITTI), see ``draw_bev``.
        gt_color (Color): colour of ``gt_boxes``.
        thickness (int): box line thickness.
        box_color: colour of ``boxes``: one ``(r, g, b)`` or ``(N, 3)`` one per box
            (None: class colours), as :func:`draw_camera_mosaic`.

    Returns:
        np.ndarray: uint8 RGB image.
    """
    rng = [float(v) for v in point_cloud_range]
    if len(rng) == 6:
        rng = [rng[0], rng[1], rng[3], rng[4]]
    if len(rng) != 4:
        raise ValueError(f'point_cloud_range must have 6 or 4 numbers, got {point_cloud_range}')
    kwargs = {}
    if points is not None and color_by is not None:
        pts = _to_numpy(points, 'points')
        if pts.size:
            kwargs['point_color'] = point_colors(pts, color_by)
    pred = as_lidar_boxes(boxes, 'boxes')
    gt = as_lidar_boxes(gt_boxes, 'gt_boxes')
    labels = None if labels is None else _to_numpy(labels, 'labels').reshape(-1)
    scores = None if scores is None else _to_numpy(scores, 'scores').reshape(-1)
    for name, v in (('labels', labels), ('scores', scores)):
        if v is not None and len(v) != len(pred):
            raise ValueError(f'{name} must have {len(pred)} entries (one per box), got {len(v)}')

    def inside(b: LiDARBoxes3D) -> np.ndarray:  # centres in the drawn area (tags too)
        xy = b.tensor[:, :2].numpy()
        return ((xy[:, 0] >= rng[0]) & (xy[:, 0] < rng[2]) & (xy[:, 1] >= rng[1])
                & (xy[:, 1] < rng[3]))

    keep = inside(pred)
    if box_color is not None:
        arr = np.asarray(box_color)
        if arr.ndim == 2:
            if len(arr) != len(keep):
                raise ValueError(f'box_color must have {len(keep)} rows (one per box), got '
                                 f'{len(arr)}')
            box_color = arr[keep]
    pred = pred[torch.from_numpy(keep)]
    labels = None if labels is None else labels[keep]
    scores = None if scores is None else scores[keep]
    gt = gt[torch.from_numpy(inside(gt))]
    return draw_bev(points, pred if len(pred) else None, gt if len(gt) else None,
                    range_m=tuple(rng), resolution=resolution, labels=labels, scores=scores,
                    class_names=class_names, gt_color=gt_color, thickness=thickness,
                    forward_axis=forward_axis, box_color=box_color, **kwargs)


def save_fusion_ply(out_dir, points=None, boxes=None, gt_boxes=None, labels=None,
                    color_by: Optional[str] = 'height', prefix: str = 'scene',
                    gt_color: Color = GREEN) -> Dict[str, Path]:
    """Points and boxes as ``.ply`` files that open3d and mesh viewers open.

    Writes ``<prefix>_points.ply`` (points coloured by ``color_by``; skipped when there
    are none) and ``<prefix>_boxes.ply`` (one line set: predicted boxes in class colours,
    then ground-truth boxes in ``gt_color``; skipped when there are none).

    Returns:
        dict: ``{'points': Path, 'boxes': Path}`` for the files written.
    """
    out = Path(out_dir)
    written = {}
    if points is not None:
        pts = _to_numpy(points, 'points')
        if len(pts):
            colors = point_colors(pts, color_by) if color_by else None
            written['points'] = save_point_cloud_ply(out / f'{prefix}_points.ply', pts[:, :3],
                                                     colors)
    pred = as_lidar_boxes(boxes, 'boxes')
    gt = as_lidar_boxes(gt_boxes, 'gt_boxes')
    labs = None if labels is None else _to_numpy(labels, 'labels').reshape(-1).astype(np.int64)
    colors = (_per_item_colors(None, len(pred), labs)
              + _per_item_colors(gt_color, len(gt), None))
    if len(pred) + len(gt):
        both = LiDARBoxes3D.cat([pred, gt]) if len(gt) and len(pred) else (pred if len(pred)
                                                                          else gt)
        written['boxes'] = save_boxes3d_ply(out / f'{prefix}_boxes.ply', both,
                                            np.asarray(colors, np.uint8))
    return written
