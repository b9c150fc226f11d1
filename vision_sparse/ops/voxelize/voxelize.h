// Point-cloud voxelisation and the BEV scatter: what the CPU (voxelize_cpu.cpp)
// and CUDA (voxelize_cuda.cu) kernels share -- the cell of a point, the cell
// keys, the argument checks and the ops' host side (written once for both
// devices).
//
// Conventions (reference.py follows them expression by expression, so that
// both paths put every point in the same cell):
//  * cell c = floor((p - range_min) / voxel_size) per axis, in the points'
//    dtype T (range_min and voxel_size rounded to T first); a point is inside
//    when 0 <= c < grid on all three axes (a NaN / inf coordinate never is).
//  * key of a cell = (z * ny + y) * nx + x (int64); coordinates are returned
//    as (z, y, x) int32.
//  * hard: voxels numbered by their first point, points in input order, at
//    most max_points per voxel and max_voxels voxels.
//  * BEV scatter: coors (M, 4) = (b, z, y, x), z ignored; a row with a
//    coordinate outside [0, B) x [0, ny) x [0, nx) is skipped; the last row
//    (largest index) of a shared cell wins.
#pragma once
#include <math.h>
#include <cmath>
#include <stdint.h>

#include <vector>

#include "vs_common.h"

namespace vision_sparse {
namespace voxelize {

// A voxel grid: voxel sides, lower corner and cells per axis (x, y, z).
struct Grid {
  double size[3];
  double lo[3];
  int64_t n[3];
};

// Cell (x, y, z) of point p (its first three values); false when outside.
// With q = (p - lo) / size: 0 <= floor(q) < n  <=>  0 <= q < n (n an integer),
// and floor(q) = trunc(q) for q >= 0, so no floor is needed.
template <typename T>
VS_HOST_DEVICE inline bool point_cell(const T* p, const Grid& g, int64_t* c) {
  for (int j = 0; j < 3; ++j) {
    const T q = (p[j] - static_cast<T>(g.lo[j])) / static_cast<T>(g.size[j]);
    if (!(q >= T(0) && q < static_cast<T>(g.n[j]))) return false;  // NaN: false
    c[j] = static_cast<int64_t>(q);
  }
  return true;
}

// Writes (z, y, x) of point p's cell to out, or -1s when p is outside.
template <typename T>
VS_HOST_DEVICE inline void point_zyx(const T* p, const Grid& g, int32_t* out) {
  int64_t c[3];
  const bool inside = point_cell(p, g, c);
  for (int j = 0; j < 3; ++j) out[j] = inside ? static_cast<int32_t>(c[2 - j]) : -1;
}

VS_HOST_DEVICE inline int64_t cell_key(const int64_t* c, const Grid& g) {
  return (c[2] * g.n[1] + c[1]) * g.n[0] + c[0];
}

// (z, y, x) of a key.
VS_HOST_DEVICE inline void key_zyx(int64_t key, const Grid& g, int32_t* zyx) {
  zyx[2] = static_cast<int32_t>(key % g.n[0]);
  key /= g.n[0];
  zyx[1] = static_cast<int32_t>(key % g.n[1]);
  zyx[0] = static_cast<int32_t>(key / g.n[1]);
}

// The BEV grid of a scatter.
struct Bev {
  int64_t B, ny, nx;
};

// Flat cell (b * ny + y) * nx + x of row (b, z, y, x); -1 when outside.
template <typename I>
VS_HOST_DEVICE inline int64_t bev_cell(const I* c, const Bev& v) {
  const int64_t b = c[0], y = c[2], x = c[3];
  if (b < 0 || b >= v.B || y < 0 || y >= v.ny || x < 0 || x >= v.nx) return -1;
  return (b * v.ny + y) * v.nx + x;
}

// Host-side checks of a grid (the Python layer refuses these inputs first).
inline Grid make_grid(at::ArrayRef<double> voxel_size, at::ArrayRef<double> range_min,
                      at::ArrayRef<int64_t> grid) {
  TORCH_CHECK(voxel_size.size() == 3 && range_min.size() == 3 && grid.size() == 3,
              "voxel_size, range_min and grid must have 3 values (x, y, z)");
  Grid g;
  for (int j = 0; j < 3; ++j) {
    TORCH_CHECK(voxel_size[j] > 0.0 && std::isfinite(voxel_size[j]), "voxel_size must be > 0");
    TORCH_CHECK(std::isfinite(range_min[j]), "range_min must be finite");
    TORCH_CHECK(grid[j] >= 1 && grid[j] <= INT32_MAX, "grid must be in [1, 2**31)");
    g.size[j] = voxel_size[j];
    g.lo[j] = range_min[j];
    g.n[j] = grid[j];
  }
  TORCH_CHECK(static_cast<double>(g.n[0]) * static_cast<double>(g.n[1]) *
                      static_cast<double>(g.n[2]) <= 4.6e18,
              "the grid has more than 2**62 cells");
  return g;
}

inline void check_points(const at::Tensor& points) {
  VS_CHECK_FLOAT(points);
  TORCH_CHECK(points.dim() == 2 && points.size(1) >= 3,
              "points must have shape (N, C) with C >= 3");
}

inline Bev check_bev(const at::Tensor& features, const at::Tensor& coors, int64_t batch,
                     int64_t nx, int64_t ny) {
  VS_CHECK_FLOAT(features);
  TORCH_CHECK(features.dim() == 2, "features must have shape (M, F)");
  TORCH_CHECK(coors.dim() == 2 && coors.size(1) == 4 && coors.size(0) == features.size(0),
              "coors must have shape (M, 4) = (batch, z, y, x) with the M of features");
  TORCH_CHECK(coors.scalar_type() == at::kInt || coors.scalar_type() == at::kLong,
              "coors must be int32 or int64");
  TORCH_CHECK(coors.device() == features.device(), "coors must be on the device of features");
  TORCH_CHECK(features.size(0) < INT32_MAX, "more than 2**31 - 1 rows");
  TORCH_CHECK(batch >= 1 && nx >= 1 && ny >= 1, "batch_size, nx and ny must be >= 1");
  return Bev{batch, ny, nx};
}

// The ops' host side, written once for both devices.  Backend supplies
//   static void check_device(const at::Tensor& t);
//   using Guard = ...;
//   template <typename T> static at::Tensor dynamic(const at::Tensor& points, const Grid&);
//   template <typename T> static std::vector<at::Tensor> hard(const at::Tensor& points,
//       const Grid&, int64_t max_points, int64_t max_voxels);
//   template <typename T, typename I> static std::vector<at::Tensor> bev_forward(
//       const at::Tensor& features, const at::Tensor& coors, const Bev&);  // out, won
//   template <typename T, typename I> static at::Tensor bev_backward(
//       const at::Tensor& grad_out, const at::Tensor& coors, const at::Tensor& won,
//       const Bev&);
// points / features / grad_out / coors are contiguous; N, M >= 1.
// Schemas and contracts: voxelize.cpp.
template <typename Backend>
at::Tensor dynamic_op(const at::Tensor& points, at::ArrayRef<double> voxel_size,
                      at::ArrayRef<double> range_min, at::ArrayRef<int64_t> grid) {
  Backend::check_device(points);
  const typename Backend::Guard guard(points.device());
  check_points(points);
  const Grid g = make_grid(voxel_size, range_min, grid);
  if (points.size(0) == 0) {
    return at::empty({0, 3}, points.options().dtype(at::kInt));
  }
  const at::Tensor p = points.contiguous();
  at::Tensor coors;
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "dynamic_voxelize", [&] {
    coors = Backend::template dynamic<scalar_t>(p, g);
  });
  return coors;
}

template <typename Backend>
std::tuple<at::Tensor, at::Tensor, at::Tensor> hard_op(const at::Tensor& points,
                                                       at::ArrayRef<double> voxel_size,
                                                       at::ArrayRef<double> range_min,
                                                       at::ArrayRef<int64_t> grid,
                                                       int64_t max_points, int64_t max_voxels) {
  Backend::check_device(points);
  const typename Backend::Guard guard(points.device());
  check_points(points);
  const Grid g = make_grid(voxel_size, range_min, grid);
  TORCH_CHECK(max_points >= 1, "max_points must be >= 1");
  TORCH_CHECK(max_voxels >= 0, "max_voxels must be >= 0");
  TORCH_CHECK(points.size(0) < INT32_MAX, "more than 2**31 - 1 points");
  if (points.size(0) == 0 || max_voxels == 0) {
    return {at::zeros({0, max_points, points.size(1)}, points.options()),
            at::zeros({0, 3}, points.options().dtype(at::kInt)),
            at::zeros({0}, points.options().dtype(at::kInt))};
  }
  const at::Tensor p = points.contiguous();
  std::vector<at::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "hard_voxelize", [&] {
    out = Backend::template hard<scalar_t>(p, g, max_points, max_voxels);
  });
  return {out[0], out[1], out[2]};
}

template <typename Backend>
std::tuple<at::Tensor, at::Tensor> bev_forward_op(const at::Tensor& features,
                                                  const at::Tensor& coors, int64_t batch,
                                                  int64_t nx, int64_t ny) {
  Backend::check_device(features);
  const typename Backend::Guard guard(features.device());
  const Bev v = check_bev(features, coors, batch, nx, ny);
  const int64_t M = features.size(0), F = features.size(1);
  if (M == 0 || F == 0) {
    return {at::zeros({batch, F, ny, nx}, features.options()),
            at::zeros({M}, features.options().dtype(at::kBool))};
  }
  const at::Tensor f = features.contiguous(), c = coors.contiguous();
  std::vector<at::Tensor> out;
  AT_DISPATCH_FLOATING_TYPES(f.scalar_type(), "bev_scatter_forward", [&] {
    using T = scalar_t;
    AT_DISPATCH_INDEX_TYPES(c.scalar_type(), "bev_scatter_forward", [&] {
      out = Backend::template bev_forward<T, index_t>(f, c, v);
    });
  });
  return {out[0], out[1]};
}

template <typename Backend>
at::Tensor bev_backward_op(const at::Tensor& grad_out, const at::Tensor& coors,
                           const at::Tensor& won) {
  Backend::check_device(grad_out);
  const typename Backend::Guard guard(grad_out.device());
  VS_CHECK_FLOAT(grad_out);
  TORCH_CHECK(grad_out.dim() == 4, "grad_out must have shape (B, F, ny, nx)");
  TORCH_CHECK(coors.dim() == 2, "coors must have shape (M, 4) = (batch, z, y, x)");
  const int64_t M = coors.size(0);
  TORCH_CHECK(won.dim() == 1 && won.size(0) == M && won.scalar_type() == at::kBool &&
                  won.device() == grad_out.device(),
              "won must be the (M,) bool tensor of bev_scatter_forward");
  const at::Tensor like = at::empty({M, grad_out.size(1)}, grad_out.options());
  const Bev v = check_bev(like, coors, grad_out.size(0), grad_out.size(3), grad_out.size(2));
  if (M == 0 || grad_out.size(1) == 0) return at::zeros_like(like);
  const at::Tensor go = grad_out.contiguous(), c = coors.contiguous();
  at::Tensor grad;
  AT_DISPATCH_FLOATING_TYPES(go.scalar_type(), "bev_scatter_backward", [&] {
    using T = scalar_t;
    AT_DISPATCH_INDEX_TYPES(c.scalar_type(), "bev_scatter_backward", [&] {
      grad = Backend::template bev_backward<T, index_t>(go, c, won.contiguous(), v);
    });
  });
  return grad;
}

// Registers the ops of Backend for the dispatch key of the TORCH_LIBRARY_IMPL
// block that calls it.
template <typename Backend>
void register_ops(torch::Library& m) {
  m.impl("dynamic_voxelize", &dynamic_op<Backend>);
  m.impl("hard_voxelize", &hard_op<Backend>);
  m.impl("bev_scatter_forward", &bev_forward_op<Backend>);
  m.impl("bev_scatter_backward", &bev_backward_op<Backend>);
}

}  // namespace voxelize
}  // namespace vision_sparse
