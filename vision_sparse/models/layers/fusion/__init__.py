"""SparseFusion's cross-modal layers: geometric transfer (LiDAR depth into the image
features), semantic transfer (image features into BEV), the camera -> LiDAR box
transformation, the view transformer and the fusion layer of the two query sets."""
from .camera_to_lidar import (ViewTransformer, bev_preds_to_boxes, boxes_to_bev_preds,
                              camera_info_vector, camera_repr_to_lidar, check_camera_matrices,
                              lidar_to_camera_repr)
from .fusion_layer import QueryFusionLayer, initial_query_scores
from .geometric_transfer import SparseDepthEncoder, check_lidar2img, sparse_depth_maps
from .semantic_transfer import (DeformableCrossAttention, SemanticTransfer, flatten_levels,
                                project_to_normalized)

__all__ = [
    'ViewTransformer', 'bev_preds_to_boxes', 'boxes_to_bev_preds', 'camera_info_vector',
    'camera_repr_to_lidar', 'check_camera_matrices', 'lidar_to_camera_repr',
    'SparseDepthEncoder', 'check_lidar2img', 'sparse_depth_maps', 'DeformableCrossAttention',
    'SemanticTransfer', 'flatten_levels', 'project_to_normalized', 'QueryFusionLayer',
    'initial_query_scores'
]
