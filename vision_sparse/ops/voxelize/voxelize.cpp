// Schemas of the voxelisation ops; kernels: voxelize_cpu.cpp, voxelize_cuda.cu
// (semantics: voxelize.h, reference.py).
#include "voxelize.h"

// dynamic_voxelize:
//   points (N, C >= 3) float32 or float64 (x, y, z first);
//   voxel_size (3,) > 0, range_min (3,), grid (3,) = (nx, ny, nz) >= 1.
//   -> coors (N, 3) int32 (z, y, x) of every point, -1 rows for points outside
//      the grid (NaN / inf coordinates included).
// hard_voxelize: the same inputs, max_points >= 1, max_voxels >= 0.
//   -> voxels (M, max_points, C) (unused slots 0), coors (M, 3) int32 (z, y, x),
//      num_points (M,) int32; voxels in the order of their first point, points
//      in input order, M <= max_voxels.
// bev_scatter_forward:
//   features (M, F) float32 or float64; coors (M, 4) int32 / int64
//   (batch, z, y, x), device of features; batch_size, nx, ny >= 1.
//   -> out (batch_size, F, ny, nx), won (M,) bool: whether row i is the one
//      written to its cell (the last row of a cell wins; rows outside the grid
//      are skipped and never win).
// bev_scatter_backward: the gradient of <grad_out, out> w.r.t. features, given
//   the coors and won of the forward.  -> (M, F).
TORCH_LIBRARY_FRAGMENT(vision_sparse, m) {
  m.def(
      "dynamic_voxelize(Tensor points, float[] voxel_size, float[] range_min, int[] grid) "
      "-> Tensor");
  m.def(
      "hard_voxelize(Tensor points, float[] voxel_size, float[] range_min, int[] grid, "
      "int max_points, int max_voxels) -> (Tensor, Tensor, Tensor)");
  m.def(
      "bev_scatter_forward(Tensor features, Tensor coors, int batch_size, int nx, int ny) "
      "-> (Tensor, Tensor)");
  m.def("bev_scatter_backward(Tensor grad_out, Tensor coors, Tensor won) -> Tensor");
}
