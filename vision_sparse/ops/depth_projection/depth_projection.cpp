// Schema of the depth-projection op; kernels: depth_projection_cpu.cpp,
// depth_projection_cuda.cu (semantics: depth_projection.h).
#include "depth_projection.h"

// depth_projection:
//   points (N, C >= 3) float32 or float64, x y z first, LiDAR frame (any strides);
//   lidar2img (V, 4, 4) or (V, 3, 4): dtype and device of points (rows 0..2 used);
//   height, width > 0; 0 <= min_depth < max_depth (max_depth may be inf);
//   return_index: also fill the index output.
//   -> depth (V, height, width), dtype of points, 0 where no point lands: the
//      smallest depth of the points on each pixel;
//      index (V, height, width) int64, -1 where empty: the smallest index among the
//      points of that depth (an empty (0,) tensor when return_index is false).
TORCH_LIBRARY_FRAGMENT(vision_sparse, m) {
  m.def(
      "depth_projection(Tensor points, Tensor lidar2img, int height, int width, "
      "float min_depth, float max_depth, bool return_index) -> (Tensor, Tensor)");
}
