// Schemas of the rotated RoIAlign ops; kernels: roi_align_rotated_cpu.cpp,
// roi_align_rotated_cuda.cu (semantics: roi_align_rotated.h).
#include "roi_align_rotated.h"

// roi_align_rotated_forward:
//   features (B, C, H, W) float32 or float64 (any strides);
//   rois (N, 6) = (batch_idx, cx, cy, w, h, theta), dtype and device of features
//     (batch indices are expected integers in [0, B): others pool to 0);
//   pooled_height, pooled_width > 0; spatial_scale > 0; sampling_ratio >= 0
//   (0: adaptive).
//   -> (N, C, pooled_height, pooled_width).
// roi_align_rotated_backward: the gradient of <grad_out, forward(features)> with
//   respect to features (the op is linear in them), given the features' sizes.
//   -> (batch, channels, height, width).
TORCH_LIBRARY_FRAGMENT(vision_sparse, m) {
  m.def(
      "roi_align_rotated_forward(Tensor features, Tensor rois, int pooled_height, "
      "int pooled_width, float spatial_scale, int sampling_ratio, bool aligned, "
      "bool clockwise) -> Tensor");
  m.def(
      "roi_align_rotated_backward(Tensor grad_out, Tensor rois, int batch, int channels, "
      "int height, int width, float spatial_scale, int sampling_ratio, bool aligned, "
      "bool clockwise) -> Tensor");
}
