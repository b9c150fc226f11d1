"""Pure evaluation functions (numpy in, numbers out)."""
from .area_metrics import (area_matching_precision, area_metrics, area_overlap_ratios,
                           warp_box_depth, warp_box_homography)
from .homography import (estimate_homography, homography_accuracy, homography_auc,
                         homography_corner_error, homography_reprojection_error,
                         warp_points_homography)
from .relocalization import (absolute_pose_error, relocalization_errors,
                             relocalization_recall, summarize_relocalization)
from .nuscenes_detection import (NUSCENES_ATTRIBUTES, NUSCENES_CLASS_RANGE, NUSCENES_DEFAULT_ATTRIBUTE,
                                 TP_METRICS, accumulate_detections, default_attributes, detection_ap,
                                 detection_tp_error, nuscenes_detection_eval)
from .rotated_map import average_precision, eval_rotated_map, polygon_iou, rotated_iou_matrix
from .pose import (check_intrinsics, epipolar_precision, error_auc, estimate_relative_pose, pose_auc, pose_error,
                   relative_pose_error, symmetric_epipolar_distance)

__all__ = [
    'area_matching_precision', 'area_metrics', 'area_overlap_ratios', 'warp_box_depth',
    'warp_box_homography',
    'absolute_pose_error', 'relocalization_errors', 'relocalization_recall',
    'summarize_relocalization',
    'check_intrinsics', 'estimate_relative_pose', 'relative_pose_error', 'pose_error', 'error_auc', 'pose_auc',
    'symmetric_epipolar_distance', 'epipolar_precision', 'estimate_homography',
    'homography_corner_error', 'homography_accuracy', 'homography_auc',
    'homography_reprojection_error', 'warp_points_homography',
    'NUSCENES_ATTRIBUTES', 'NUSCENES_CLASS_RANGE', 'NUSCENES_DEFAULT_ATTRIBUTE', 'TP_METRICS',
    'accumulate_detections', 'default_attributes', 'detection_ap', 'detection_tp_error',
    'nuscenes_detection_eval',
    'eval_rotated_map', 'average_precision', 'rotated_iou_matrix', 'polygon_iou'
]
