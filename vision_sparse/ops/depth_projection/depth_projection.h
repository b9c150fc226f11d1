// Projection of LiDAR points into camera images as sparse depth maps: what the
// CPU (depth_projection_cpu.cpp) and CUDA (depth_projection_cuda.cu) kernels
// share -- the per-point projection, the argument checks and the op's host side
// (written once for both devices).
//
// Conventions (reference.py follows them expression by expression, so that
// every path puts a point on the same pixel with the same depth, bit for bit):
//  * lidar2img (V, 3 or 4, 4): rows 0..2 map homogeneous LiDAR points to
//    (u z, v z, z); rows are evaluated as ((m0 x + m1 y) + m2 z) + m3, each
//    product and sum rounded to the compute type (no fused multiply-add: the
//    CUDA code uses the _rn intrinsics, which nvcc never contracts).
//  * depth = z; u = (u z) / z, v = (v z) / z; a point is kept when x, y, z are
//    finite, min_depth < depth <= max_depth, depth is finite, 0 <= u < W and
//    0 <= v < H; its pixel is (floor(v), floor(u)).
//  * Every pixel keeps the smallest depth; among points of equal depth the
//    smallest point index (the index output only: the depth is the same).
#pragma once
#include <stdint.h>

#include "vs_common.h"

namespace vision_sparse {
namespace depth_projection {

// Sizes and options of a call.
struct Params {
  int64_t V, N, C;  // views, points, values per point (row stride of points)
  int64_t H, W;     // image size, pixels
  int64_t mrows;    // rows of a lidar2img matrix (3 or 4); 4 columns
  double min_depth, max_depth;
};

// Round-to-nearest product and sum that no compiler fuses into an FMA.
template <typename T>
VS_FORCE_INLINE T mul_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == 4) {
    return __fmul_rn(a, b);
  } else {
    return __dmul_rn(a, b);
  }
#else
  return a * b;  // host: x86-64 without -mfma has no FMA to contract into
#endif
}
template <typename T>
VS_FORCE_INLINE T add_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == 4) {
    return __fadd_rn(a, b);
  } else {
    return __dadd_rn(a, b);
  }
#else
  return a + b;
#endif
}
template <typename T>
VS_FORCE_INLINE T div_rn(T a, T b) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == 4) {
    return __fdiv_rn(a, b);
  } else {
    return __ddiv_rn(a, b);
  }
#else
  return a / b;
#endif
}

// Row r of the matrix m (row-major, 4 columns) applied to (x, y, z, 1).
template <typename T>
VS_FORCE_INLINE T apply_row(const T* m, int r, T x, T y, T z) {
  const T* row = m + 4 * r;
  return add_rn(add_rn(add_rn(mul_rn(row[0], x), mul_rn(row[1], y)), mul_rn(row[2], z)),
                row[3]);
}

// Projects point p (x, y, z first) with matrix m; returns the pixel offset
// floor(v) * W + floor(u) in its view and sets depth, or returns -1 (skipped).
template <typename T>
VS_FORCE_INLINE int64_t project_point(const T* p, const T* m, const Params& q, T& depth) {
  const T x = p[0], y = p[1], z = p[2];
  // x - x is 0 for a finite x and NaN for NaN / inf (no <cmath> on the device)
  if (!((x - x) == T(0) && (y - y) == T(0) && (z - z) == T(0))) return -1;
  const T d = apply_row(m, 2, x, y, z);
  if (!(d > static_cast<T>(q.min_depth) && d <= static_cast<T>(q.max_depth) && (d - d) == T(0))) {
    return -1;
  }
  const T u = div_rn(apply_row(m, 0, x, y, z), d);
  const T v = div_rn(apply_row(m, 1, x, y, z), d);
  // NaN fails every comparison; u < W implies floor(u) <= W - 1
  if (!(u >= T(0) && u < static_cast<T>(q.W) && v >= T(0) && v < static_cast<T>(q.H))) {
    return -1;
  }
  depth = d;
  return static_cast<int64_t>(v) * q.W + static_cast<int64_t>(u);  // u, v >= 0: trunc = floor
}

// The op's host side, written once for both devices.  Backend supplies
//   static void check_device(const at::Tensor& t);  // VS_CHECK_CPU / VS_CHECK_CUDA
//   using Guard = ...;  // constructed from a device (CUDA: a device guard)
//   static at::Tensor alloc_depth(at::IntArrayRef sizes, const at::TensorOptions&);
//       // the depth output: zero-filled on the CPU, uninitialised on CUDA
//   template <typename T> static void run(const at::Tensor& points,
//       const at::Tensor& mats, const Params&, at::Tensor& depth, at::Tensor* index);
// points (N, C) and mats (V, mrows, 4) are contiguous; depth (V, H, W) comes from
// alloc_depth, index (V, H, W) int64 (null when not asked for) is uninitialised;
// the kernel fills every value.  Schema and contract: depth_projection.cpp.
template <typename Backend>
std::tuple<at::Tensor, at::Tensor> forward_op(const at::Tensor& points,
                                              const at::Tensor& lidar2img, int64_t height,
                                              int64_t width, double min_depth, double max_depth,
                                              bool return_index) {
  Backend::check_device(points);
  const typename Backend::Guard guard(points.device());
  VS_CHECK_FLOAT(points);
  TORCH_CHECK(points.dim() == 2 && points.size(1) >= 3, "points must have shape (N, >=3)");
  TORCH_CHECK(lidar2img.dim() == 3 && (lidar2img.size(1) == 3 || lidar2img.size(1) == 4) &&
                  lidar2img.size(2) == 4,
              "lidar2img must have shape (V, 4, 4) or (V, 3, 4)");
  TORCH_CHECK(lidar2img.scalar_type() == points.scalar_type(),
              "lidar2img must have the dtype of points");
  TORCH_CHECK(lidar2img.device() == points.device(), "lidar2img must be on the device of points");
  TORCH_CHECK(height > 0 && width > 0, "height and width must be > 0");
  TORCH_CHECK(min_depth >= 0.0, "min_depth must be >= 0");
  TORCH_CHECK(max_depth > min_depth, "max_depth must be > min_depth");  // NaN refused too
  const Params q{lidar2img.size(0), points.size(0), points.size(1), height, width,
                 lidar2img.size(1), min_depth, max_depth};
  at::Tensor depth = Backend::alloc_depth({q.V, q.H, q.W}, points.options());
  at::Tensor index = return_index ? at::empty({q.V, q.H, q.W}, points.options().dtype(at::kLong))
                                  : at::empty({0}, points.options().dtype(at::kLong));
  if (q.V == 0) return {depth, index};
  const at::Tensor p = points.contiguous();
  const at::Tensor m = lidar2img.contiguous();
  AT_DISPATCH_FLOATING_TYPES(points.scalar_type(), "depth_projection", [&] {
    Backend::template run<scalar_t>(p, m, q, depth, return_index ? &index : nullptr);
  });
  return {depth, index};
}

template <typename Backend>
void register_ops(torch::Library& m) {
  m.impl("depth_projection", &forward_op<Backend>);
}

}  // namespace depth_projection
}  // namespace vision_sparse
