"""``.ply`` export of point clouds and 3-D boxes (open3d), for 3-D viewers.

Point clouds (LiDAR sweeps, FaVoR landmark centres, triangulated points) are
written as PLY vertices with optional RGB colours; 3-D boxes as a PLY line set
(8 corners and 12 edges per box, plus the two diagonals of the front face that
mark the heading, as :func:`~vision_sparse.visualization.draw_boxes3d_on_image`
draws them). Files are binary little-endian PLY with float64 coordinates, so
coordinates read back bit for bit; colours are stored as ``uchar`` (0-255).

open3d is imported when a function is called, not with the package.
"""
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from vision_sparse.structures.bbox.boxes3d import BaseBoxes3D
from ._common import _to_numpy
from .boxes3d import box_edges
from .colors import _per_item_colors

PathLike = Union[str, os.PathLike]

__all__ = ['save_point_cloud_ply', 'save_boxes3d_ply']


def _open3d():
    try:
        import open3d
    except ImportError as err:  # e.g. a missing system libusb-1.0
        raise ImportError('.ply export needs open3d (pip install open3d; on '
                          'Debian/Ubuntu it also needs libusb-1.0-0): '
                          f'{err}') from err
    return open3d


def _ply_path(path: PathLike) -> Path:
    path = Path(path)
    if path.suffix.lower() != '.ply':
        raise ValueError(f'path must end with .ply, got {str(path)!r}')
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _unit_colors(colors, n: int, name: str) -> np.ndarray:
    """``(n, 3)`` colours (uint8 0-255 or float 0-1) -> float64 in [0, 1]."""
    raw = _to_numpy(colors, name)
    if raw.shape != (n, 3):
        raise ValueError(f'{name} must have shape ({n}, 3) (one RGB colour '
                         f'per item), got {raw.shape}')
    if raw.dtype.kind not in 'iuf':
        raise ValueError(f'{name} must be numeric, got dtype {raw.dtype}')
    arr = raw.astype(np.float64)
    if raw.dtype.kind == 'f' and arr.max() <= 1.0:
        return np.clip(arr, 0.0, 1.0)
    return np.clip(arr, 0.0, 255.0) / 255.0


def save_point_cloud_ply(path: PathLike, points, colors=None) -> Path:
    """Write points (and colours) as a binary PLY point cloud.

    Args:
        path (str | PathLike): destination, ending in ``.ply``; parent folders
            are created.
        points (array-like): ``(N, 3)`` xyz, or ``(N, >3)`` (e.g. LiDAR
            ``x, y, z, intensity, ...``: only the first three columns are
            written), in any frame and unit (metres in vision_sparse).
            ``N >= 1``; non-finite rows are refused.
        colors (array-like, optional): ``(N, 3)`` RGB, uint8 in ``[0, 255]``
            or float in ``[0, 1]``.

    Returns:
        Path: the written path.

    Raises:
        ValueError: for a bad suffix, shape, an empty or non-finite point set.
        OSError: if open3d cannot write the file.
    """
    path = _ply_path(path)
    pts = _to_numpy(points, 'points')
    if pts.ndim != 2 or pts.shape[1] < 3 or pts.dtype.kind not in 'iuf':
        raise ValueError('points must be a numeric (N, 3) or (N, >3) array, '
                         f'got shape {pts.shape} dtype {pts.dtype}')
    if len(pts) == 0:
        raise ValueError('points must hold at least one point (N >= 1); a '
                         'PLY point cloud cannot be empty')
    xyz = np.ascontiguousarray(pts[:, :3], dtype=np.float64)
    if not np.isfinite(xyz).all():
        raise ValueError('points must be finite (NaN/inf found)')
    o3d = _open3d()
    cloud = o3d.geometry.PointCloud()
    cloud.points = o3d.utility.Vector3dVector(xyz)
    if colors is not None:
        cloud.colors = o3d.utility.Vector3dVector(
            _unit_colors(colors, len(xyz), 'colors'))
    if not o3d.io.write_point_cloud(str(path), cloud, write_ascii=False):
        raise OSError(f'open3d could not write {path}')
    return path


def save_boxes3d_ply(path: PathLike, boxes, colors=None) -> Path:
    """Write 3-D boxes as a binary PLY line set (8 corners, 14 lines per box).

    Box ``i`` has corners ``8 * i .. 8 * i + 7`` in the order of
    :attr:`BaseBoxes3D.corners` and lines ``14 * i .. 14 * i + 13`` as in
    :func:`box_edges`, all coloured ``colors[i]``.

    Args:
        path (str | PathLike): destination, ending in ``.ply``.
        boxes (LiDARBoxes3D | CameraBoxes3D | array-like): boxes (their own
            frame), or ``(N, 8, 3)`` corners already computed. ``N >= 1``.
        colors: None (the label-free palette of
            :func:`~vision_sparse.visualization.palette`), an RGB tuple,
            ``(N, 3)`` colours or ``(N,)`` scores to colour-map.

    Returns:
        Path: the written path.

    Raises:
        ValueError: for a bad suffix or shape, or no boxes.
        OSError: if open3d cannot write the file.
    """
    path = _ply_path(path)
    if isinstance(boxes, BaseBoxes3D):
        corners = boxes.corners.detach().cpu().numpy()
    else:
        corners = _to_numpy(boxes, 'boxes')
        if corners.ndim != 3 or corners.shape[1:] != (8, 3):
            raise ValueError('boxes must be LiDARBoxes3D / CameraBoxes3D or '
                             f'(N, 8, 3) corners, got shape {corners.shape}')
    n = len(corners)
    if n == 0:
        raise ValueError('boxes must hold at least one box (N >= 1); a PLY '
                         'line set cannot be empty')
    corners = np.ascontiguousarray(corners, dtype=np.float64)
    if not np.isfinite(corners).all():
        raise ValueError('boxes must be finite (NaN/inf found)')
    edges = box_edges()
    lines = (edges[None] + 8 * np.arange(n, dtype=np.int32)[:, None, None])
    rgb = np.asarray(_per_item_colors(colors, n, None), np.float64) / 255.0
    o3d = _open3d()
    line_set = o3d.geometry.LineSet()
    line_set.points = o3d.utility.Vector3dVector(corners.reshape(-1, 3))
    line_set.lines = o3d.utility.Vector2iVector(lines.reshape(-1, 2))
    line_set.colors = o3d.utility.Vector3dVector(
        np.repeat(rgb, len(edges), axis=0))
    if not o3d.io.write_line_set(str(path), line_set, write_ascii=False):
        raise OSError(f'open3d could not write {path}')
    return path
