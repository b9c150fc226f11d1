"""Visualisation helpers (OpenCV drawing on RGB numpy images)."""
from .draw import (draw_areas, draw_bev, draw_boxes3d_on_image, draw_matches,
                   draw_points, draw_polygons, draw_rotated_boxes, label_color,
                   make_grid, palette, put_text_block, save_image, to_rgb)

__all__ = [
    'draw_areas', 'draw_bev', 'draw_boxes3d_on_image', 'draw_matches',
    'draw_points', 'draw_polygons', 'draw_rotated_boxes', 'label_color',
    'make_grid', 'palette', 'put_text_block', 'save_image', 'to_rgb'
]
