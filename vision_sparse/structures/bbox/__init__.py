"""Box structures: 2-D rotated boxes and 3-D LiDAR / camera boxes."""
from .boxes3d import (BOX3D_CORNER_SIGNS, BOX3D_EDGES, BOX3D_FRONT_FACE,
                      BaseBoxes3D, CameraBoxes3D, LiDARBoxes3D)
from .circle_nms import batched_circle_nms, circle_nms
from .rotated_boxes import (ANGLE_PATTERNS, RBOX_NAME, RotatedBoxes,
                            hbox2rbox, points2rbox, poly2rbox, rbox2corners,
                            rbox2hbox, rbox2poly, regularize_boxes)

__all__ = [
    'ANGLE_PATTERNS', 'RBOX_NAME', 'RotatedBoxes', 'hbox2rbox', 'points2rbox',
    'poly2rbox', 'rbox2corners', 'rbox2hbox', 'rbox2poly', 'regularize_boxes',
    'BaseBoxes3D', 'CameraBoxes3D', 'LiDARBoxes3D', 'BOX3D_CORNER_SIGNS',
    'BOX3D_EDGES', 'BOX3D_FRONT_FACE', 'circle_nms', 'batched_circle_nms'
]
