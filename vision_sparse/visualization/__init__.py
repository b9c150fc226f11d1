"""Visualisation: OpenCV drawing on RGB numpy images, an mmengine visualizer, .ply export.

One module per job: :mod:`.colors` (palette, label colours), :mod:`.images`
(conversion, text, grids, PNG output), :mod:`.shapes` (points, polygons, rotated
boxes), :mod:`.matches` (two images with match lines), :mod:`.areas` (area
overlays), :mod:`.area_pairs` (numbered / highlighted matched area pairs, a grid
of their crops), :mod:`.boxes3d` (3-D boxes in a camera image), :mod:`.bev`
(bird's-eye view of LiDAR frames), :mod:`.fusion` (multi-camera mosaics, BEV
and ``.ply`` of a LiDAR + camera frame), :mod:`.ply` (point clouds and 3-D boxes as
``.ply`` files) and :mod:`.visualizer` (:class:`SparseVisualizer`, registered in
``VISUALIZERS``).
"""
from .area_pairs import draw_area_pair_grid, draw_area_pairs
from .areas import draw_areas
from .bev import draw_bev
from .boxes3d import draw_boxes3d_on_image
from .colors import label_color, palette
from .a2pm_fusion import draw_fusion_consensus
from .fusion import (NUSCENES_CAMERA_LAYOUT, draw_camera_mosaic, draw_fusion_bev, point_colors,
                     save_fusion_ply, scale_lidar2img)
from .images import make_grid, put_text_block, save_image, to_rgb
from .matches import draw_matches
from .ply import save_boxes3d_ply, save_point_cloud_ply
from .shapes import draw_points, draw_polygons, draw_rotated_boxes
from .visualizer import SparseVisualizer

__all__ = [
    'draw_areas', 'draw_area_pairs', 'draw_area_pair_grid', 'draw_bev', 'draw_fusion_consensus',
    'draw_boxes3d_on_image', 'draw_matches',
    'draw_points', 'draw_polygons', 'draw_rotated_boxes', 'label_color',
    'make_grid', 'palette', 'put_text_block', 'save_image', 'to_rgb',
    'SparseVisualizer', 'save_boxes3d_ply', 'save_point_cloud_ply',
    'NUSCENES_CAMERA_LAYOUT', 'draw_camera_mosaic', 'draw_fusion_bev', 'point_colors',
    'save_fusion_ply', 'scale_lidar2img'
]
