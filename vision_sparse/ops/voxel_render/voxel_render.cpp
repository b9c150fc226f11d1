// Schemas of the voxel rendering ops; kernels: voxel_render_cpu.cpp, voxel_render_cuda.cu.
#include "voxel_render.h"

// voxel_render_forward:
//   density (L, Gx, Gy, Gz) and features (L, C, Gx, Gy, Gz): float32 or float64,
//     the same dtype; every G >= 2.
//   box_min, box_max (L, 3), rays_o, rays_d (R, 3): float64 (geometry is always
//     computed in float64; the Python wrapper converts).
//   ray_ids (R,) int64 in [0, L).
//   -> feat (R, C) = sum_i w_i f_i + T_last * bg (not clamped), T_last (R,);
//      a ray that misses its box gives feat = bg, T_last = 1.
// voxel_render_backward: the gradients of <grad_feat, feat> + <grad_t_last, T_last>
//   with respect to density and features, given the forward outputs feat and
//   t_last (the per-sample values are recomputed, nothing else is stored).
//   -> grad_density (L, Gx, Gy, Gz), grad_features (L, C, Gx, Gy, Gz).
TORCH_LIBRARY_FRAGMENT(vision_sparse, m) {
  m.def(
      "voxel_render_forward(Tensor density, Tensor features, Tensor box_min, "
      "Tensor box_max, Tensor rays_o, Tensor rays_d, Tensor ray_ids, float step_ratio, "
      "float density_shift, float bg) -> (Tensor, Tensor)");
  m.def(
      "voxel_render_backward(Tensor grad_feat, Tensor grad_t_last, Tensor feat, "
      "Tensor t_last, Tensor density, Tensor features, Tensor box_min, Tensor box_max, "
      "Tensor rays_o, Tensor rays_d, Tensor ray_ids, float step_ratio, "
      "float density_shift, float bg) -> (Tensor, Tensor)");
}
