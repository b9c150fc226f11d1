"""Data structures: rotated 2-D boxes, 3-D boxes and camera geometry."""
from .bbox import (ANGLE_PATTERNS, RBOX_NAME, BaseBoxes3D, CameraBoxes3D,
                   LiDARBoxes3D, RotatedBoxes, hbox2rbox, points2rbox,
                   poly2rbox, rbox2corners, rbox2hbox, rbox2poly,
                   regularize_boxes)
from .cameras import (camera_to_world, check_intrinsics, essential_from_pose,
                      invert_pose, is_rigid_transform, make_intrinsics,
                      project_points, quaternion_to_rotation, relative_pose,
                      scale_intrinsics,
                      rotation_angle_error_deg, rotation_to_quaternion, skew,
                      transform_points, translation_angle_error_deg,
                      translation_error, unproject, world_to_camera)

__all__ = [
    'ANGLE_PATTERNS', 'RBOX_NAME', 'RotatedBoxes', 'hbox2rbox', 'points2rbox',
    'poly2rbox', 'rbox2corners', 'rbox2hbox', 'rbox2poly', 'regularize_boxes',
    'BaseBoxes3D', 'CameraBoxes3D', 'LiDARBoxes3D', 'camera_to_world', 'check_intrinsics',
    'essential_from_pose', 'invert_pose', 'is_rigid_transform',
    'make_intrinsics', 'project_points', 'quaternion_to_rotation',
    'relative_pose', 'scale_intrinsics', 'rotation_angle_error_deg', 'rotation_to_quaternion',
    'skew', 'transform_points', 'translation_angle_error_deg',
    'translation_error', 'unproject', 'world_to_camera'
]

from .areas import AreaSet  # noqa: E402

from .results import (RESULT_KEYS, check_result, finalize_result,  # noqa: E402
                      new_result, timed)

__all__ += ['AreaSet', 'RESULT_KEYS', 'check_result', 'finalize_result', 'new_result', 'timed']
