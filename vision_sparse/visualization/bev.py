"""Bird's-eye-view pictures of LiDAR frames: points, boxes, distance rings."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from vision_sparse.structures.bbox.boxes3d import CameraBoxes3D, LiDARBoxes3D
from vision_sparse.structures.bbox.rotated_boxes import rbox2corners
from ._common import _ipt, _to_numpy
from .colors import BLACK, GRAY, GREEN, WHITE, Color, _color, _per_item_colors
from .images import _draw_tag, _label_text

__all__ = ['draw_bev']


def _bev_array(boxes, name: str) -> np.ndarray:
    if boxes is None:
        return np.zeros((0, 5))
    if isinstance(boxes, CameraBoxes3D):
        raise TypeError(f'{name}: convert CameraBoxes3D to the LiDAR frame '
                        "first (boxes.convert_to('lidar', cam2lidar))")
    if isinstance(boxes, LiDARBoxes3D):
        return boxes.bev.detach().cpu().numpy().astype(np.float64)
    arr = _to_numpy(boxes, name).astype(np.float64)
    if arr.size == 0:
        return np.zeros((0, 5))
    if arr.ndim == 2 and arr.shape[1] == 5:
        return arr
    if arr.ndim == 2 and arr.shape[1] >= 7:  # LiDAR (x, y, z, l, w, h, yaw)
        return arr[:, [0, 1, 3, 4, 6]]
    raise ValueError(f'{name} must be (N, 5) BEV boxes (x, y, l, w, yaw), '
                     f'(N, >=7) LiDAR boxes or LiDARBoxes3D, got {arr.shape}')


def draw_bev(points=None,
             boxes=None,
             gt_boxes=None,
             range_m: Tuple[float, float, float, float] = (-54, -54, 54, 54),
             resolution: float = 0.1,
             labels=None,
             scores=None,
             class_names: Optional[Sequence[str]] = None,
             box_color=None,
             gt_color: Color = GREEN,
             point_color: Color = GRAY,
             background: Color = BLACK,
             thickness: int = 2,
             ring_step_m: Optional[float] = 10.0,
             forward_axis: str = 'x',
             show_text: bool = True,
             font_scale: float = 0.35) -> np.ndarray:
    """Bird's-eye-view picture of a LiDAR frame, seen from above (z up).

    The ``forward_axis`` of the LiDAR frame points **up** in the image:

    * ``'x'`` (KITTI Velodyne, ego frames: x forward, y left): +y points left;
      ``row = (x_max - x) / res``, ``col = (y_max - y) / res``; the image is
      ``(x_max - x_min) / res`` rows by ``(y_max - y_min) / res`` columns.
    * ``'y'`` (nuScenes ``LIDAR_TOP``: x right, y forward): +x points right;
      ``row = (y_max - y) / res``, ``col = (x - x_min) / res``; the image is
      ``(y_max - y_min) / res`` rows by ``(x_max - x_min) / res`` columns.

    Args:
        points: ``(P, >=2)`` LiDAR points (x, y, ...) in metres, or None.
        boxes: predicted/main boxes: ``(N, 5)`` BEV rotated boxes ``(x, y, l,
            w, yaw)`` in metres/radians (yaw counter-clockwise from +x),
            ``(N, >=7)`` LiDAR boxes or :class:`LiDARBoxes3D`; or None.
        gt_boxes: ground-truth boxes in the same formats, drawn thinner in
            ``gt_color`` under ``boxes``; or None.
        range_m (tuple): ``(x_min, y_min, x_max, y_max)`` metres.
        resolution (float): metres per pixel, ``> 0``.
        labels: ``(N,)`` int labels of ``boxes`` (colours + text), optional.
        scores: ``(N,)`` scores of ``boxes`` (text), optional.
        class_names (Sequence[str], optional): names for label text.
        box_color: colour(s) of ``boxes`` (see :func:`draw_rotated_boxes`).
        gt_color (Color): colour of ``gt_boxes``.
        point_color: one colour for all points, or ``(P, 3)`` uint8 RGB, one
            per point (e.g. coloured by height; see
            :func:`~vision_sparse.visualization.fusion.point_colors`).
        background (Color): canvas colour.
        thickness (int): box line thickness.
        ring_step_m (float, optional): distance rings around the origin every
            this many metres (None: none).
        forward_axis (str): ``'x'`` or ``'y'``, see above.
        show_text (bool): write label/score tags next to ``boxes``.
        font_scale (float): tag text size.

    Returns:
        np.ndarray: uint8 image of the size given above; the sensor origin is
        marked by a small triangle pointing forward (up).

    Raises:
        ValueError: for an empty range, ``resolution <= 0`` or bad shapes.
        TypeError: for CameraBoxes3D.
    """
    if resolution <= 0:
        raise ValueError(f'resolution must be > 0, got {resolution}')
    if len(range_m) != 4:
        raise ValueError('range_m must be (x_min, y_min, x_max, y_max), '
                         f'got {range_m}')
    x_min, y_min, x_max, y_max = (float(v) for v in range_m)
    if x_max <= x_min or y_max <= y_min:
        raise ValueError(f'range_m must have x_min < x_max and y_min < y_max, '
                         f'got {range_m}')
    if forward_axis not in ('x', 'y'):
        raise ValueError(f"forward_axis must be 'x' or 'y', "
                         f'got {forward_axis!r}')
    if forward_axis == 'x':
        height = int(round((x_max - x_min) / resolution))
        width = int(round((y_max - y_min) / resolution))
    else:
        height = int(round((y_max - y_min) / resolution))
        width = int(round((x_max - x_min) / resolution))
    canvas = np.empty((height, width, 3), np.uint8)
    canvas[:] = _color(background, 'background')

    def to_px(xy: np.ndarray) -> np.ndarray:
        """Metric (x, y) -> pixel (col, row), float."""
        if forward_axis == 'x':
            return np.stack([(y_max - xy[..., 1]) / resolution,
                             (x_max - xy[..., 0]) / resolution], -1)
        return np.stack([(xy[..., 0] - x_min) / resolution,
                         (y_max - xy[..., 1]) / resolution], -1)

    ego = to_px(np.zeros(2))
    if ring_step_m:
        ring_color = tuple(int(v) for v in np.clip(
            np.asarray(_color(background)) + 50, 0, 255))
        max_r = np.hypot(max(abs(x_min), abs(x_max)),
                         max(abs(y_min), abs(y_max)))
        r = ring_step_m
        while r <= max_r:
            cv2.circle(canvas, _ipt(ego), int(round(r / resolution)),
                       ring_color, 1, cv2.LINE_AA)
            r += ring_step_m

    if points is not None:
        pts = _to_numpy(points, 'points')
        if pts.size:
            if pts.ndim != 2 or pts.shape[1] < 2:
                raise ValueError(f'points must have shape (P, >=2), '
                                 f'got {pts.shape}')
            per_point = (isinstance(point_color, np.ndarray)
                         and point_color.ndim == 2)
            if per_point and point_color.shape != (len(pts), 3):
                raise ValueError(f'point_color must be one colour or ({len(pts)}, 3) '
                                 f'per-point colours, got {point_color.shape}')
            px = np.floor(to_px(pts[:, :2].astype(np.float64))).astype(
                np.int64)
            keep = ((px[:, 0] >= 0) & (px[:, 0] < width) & (px[:, 1] >= 0)
                    & (px[:, 1] < height))
            canvas[px[keep, 1], px[keep, 0]] = (
                point_color[keep].astype(np.uint8) if per_point
                else _color(point_color, 'point_color'))

    def draw_set(bev: np.ndarray, colors: List[Color], lw: int,
                 texts: Optional[List[Optional[str]]]) -> None:
        corners = to_px(rbox2corners(bev))  # (N, 4, 2) pixels
        centers = to_px(bev[:, :2])
        for i in range(len(bev)):
            poly = np.round(corners[i]).astype(np.int32)
            cv2.polylines(canvas, [poly], True, colors[i], lw, cv2.LINE_AA)
            front = (corners[i, 1] + corners[i, 2]) / 2
            cv2.line(canvas, _ipt(centers[i]), _ipt(front), colors[i], lw,
                     cv2.LINE_AA)
            if texts and texts[i]:
                top = corners[i][np.argmin(corners[i, :, 1])]
                _draw_tag(canvas, texts[i], _ipt((top[0], top[1] - 2)),
                          colors[i], font_scale)

    gt = _bev_array(gt_boxes, 'gt_boxes')
    if len(gt):
        draw_set(gt, [_color(gt_color, 'gt_color')] * len(gt),
                 max(1, thickness - 1), None)
    pred = _bev_array(boxes, 'boxes')
    if len(pred):
        labs = None if labels is None else _to_numpy(labels,
                                                     'labels').reshape(-1)
        scs = None if scores is None else _to_numpy(scores,
                                                    'scores').reshape(-1)
        for name, v in (('labels', labs), ('scores', scs)):
            if v is not None and len(v) != len(pred):
                raise ValueError(f'{name} must have {len(pred)} entries, '
                                 f'got {len(v)}')
        colors = _per_item_colors(box_color, len(pred), labs)
        texts = [_label_text(i, labs, scs, class_names)
                 for i in range(len(pred))] if show_text else None
        draw_set(pred, colors, thickness, texts)

    # ego marker: a triangle pointing to +x (up in the image)
    size = max(3.0, 2.0 / resolution)
    tri = np.array([[ego[0], ego[1] - size], [ego[0] - size / 2, ego[1] +
                                              size / 2],
                    [ego[0] + size / 2, ego[1] + size / 2]])
    cv2.fillPoly(canvas, [np.round(tri).astype(np.int32)], WHITE)
    return canvas
