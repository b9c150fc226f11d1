// Rotated RoIAlign (mmcv semantics): what the CPU (roi_align_rotated_cpu.cpp)
// and CUDA (roi_align_rotated_cuda.cu) kernels share -- the per-RoI geometry,
// the sample positions, the bilinear corners and weights, the argument checks
// and the ops' host side (forward_op / backward_op, written once for both
// devices).
//
// Conventions (reference.py follows them expression by expression, so that
// float32 samples land on the same positions):
//  * rois (N, 6) = (batch_idx, cx, cy, w, h, theta) in input-image pixels;
//    spatial_scale maps them onto the feature map; aligned subtracts 0.5 from
//    the centre (otherwise w, h are at least 1 feature pixel); clockwise
//    negates theta.
//  * Bin (ph, pw) averages grid_h x grid_w samples at
//      yy = -h/2 + ph * bin_h + (iy + 0.5) * bin_h / grid_h   (same for xx)
//      y = yy cos - xx sin + cy,   x = yy sin + xx cos + cx
//    over max(grid_h * grid_w, 1); grid = sampling_ratio, or
//    ceil(roi side / out side) when sampling_ratio is 0 (0 for a zero side:
//    that RoI pools to 0).
//  * A sample outside [-1, H] x [-1, W] contributes 0; the others are clamped
//    to the map and interpolated bilinearly from their 4 corners.
//  * Geometry is computed in the features' dtype (as mmcv does).
#pragma once
#include <math.h>
#include <stdint.h>

#include "vs_common.h"

namespace vision_sparse {
namespace roi_align_rotated {

// Largest grid side of one bin: a bound, far above any real RoI (it would take
// a RoI of a million feature pixels), that keeps the float -> int conversion
// defined for absurd sizes.
constexpr double kMaxGrid = 1 << 20;

// The options of a call.
struct Params {
  int64_t out_h, out_w;
  double spatial_scale;
  int64_t sampling_ratio;  // 0: adaptive
  bool aligned, clockwise;
};

// Sizes of a call.
struct Dims {
  int64_t B, C, H, W, N;
};

// One RoI prepared for sampling, in the compute type T.
template <typename T>
struct RoiGeom {
  int64_t batch;    // -1: no samples (out of range batch index, zero grid)
  T cx, cy;         // centre on the feature map
  T cos_t, sin_t;   // of the counter-clockwise angle
  T start_h, start_w;  // -h / 2, -w / 2
  T bin_h, bin_w;   // bin sizes, feature pixels
  int64_t grid_h, grid_w;
  T inv_count;      // 1 / max(grid_h * grid_w, 1)
};

template <typename T>
VS_HOST_DEVICE inline RoiGeom<T> make_geom(const T* roi, const Params& p, int64_t B) {
  RoiGeom<T> g;
  const T scale = static_cast<T>(p.spatial_scale);
  const T offset = p.aligned ? T(0.5) : T(0);
  g.cx = roi[1] * scale - offset;
  g.cy = roi[2] * scale - offset;
  T rw = roi[3] * scale;
  T rh = roi[4] * scale;
  const T theta = p.clockwise ? -roi[5] : roi[5];
  if (!p.aligned) {
    rw = rw > T(1) ? rw : T(1);
    rh = rh > T(1) ? rh : T(1);
  }
  g.cos_t = cos(theta);
  g.sin_t = sin(theta);
  g.start_h = -rh / T(2);
  g.start_w = -rw / T(2);
  g.bin_h = rh / static_cast<T>(p.out_h);
  g.bin_w = rw / static_cast<T>(p.out_w);
  if (p.sampling_ratio > 0) {
    g.grid_h = g.grid_w = p.sampling_ratio;
  } else {
    const double gh = ceil(static_cast<double>(rh / static_cast<T>(p.out_h)));
    const double gw = ceil(static_cast<double>(rw / static_cast<T>(p.out_w)));
    g.grid_h = static_cast<int64_t>(gh > 0.0 ? (gh < kMaxGrid ? gh : kMaxGrid) : 0.0);
    g.grid_w = static_cast<int64_t>(gw > 0.0 ? (gw < kMaxGrid ? gw : kMaxGrid) : 0.0);
  }
  const int64_t count = g.grid_h * g.grid_w;
  g.inv_count = T(1) / static_cast<T>(count > 1 ? count : 1);
  const T b = roi[0];
  // NaN-safe: an index outside [0, B) gives no samples (the Python wrapper has
  // already refused it); a fractional one is truncated, as in the reference
  g.batch = (b >= T(0) && b < static_cast<T>(B) && count > 0) ? static_cast<int64_t>(b) : -1;
  return g;
}

// Position (y, x) on the feature map of sample (iy, ix) of bin (ph, pw).
template <typename T>
VS_HOST_DEVICE inline void sample_point(const RoiGeom<T>& g, int64_t ph, int64_t pw, int64_t iy,
                                        int64_t ix, T& y, T& x) {
  const T yy = g.start_h + static_cast<T>(ph) * g.bin_h +
               (static_cast<T>(iy) + T(0.5)) * g.bin_h / static_cast<T>(g.grid_h);
  const T xx = g.start_w + static_cast<T>(pw) * g.bin_w +
               (static_cast<T>(ix) + T(0.5)) * g.bin_w / static_cast<T>(g.grid_w);
  x = yy * g.sin_t + xx * g.cos_t + g.cx;
  y = yy * g.cos_t - xx * g.sin_t + g.cy;
}

// Bilinear corners of (y, x) on an H x W map: pixel offsets y * W + x of the 4
// corners (y0 x0, y0 x1, y1 x0, y1 x1) and their weights.  Returns false (no
// contribution) for a sample outside [-1, H] x [-1, W], NaN included.
template <typename T>
VS_HOST_DEVICE inline bool bilinear(T y, T x, int64_t H, int64_t W, int64_t* off, T* w) {
  if (!(y >= T(-1) && y <= static_cast<T>(H) && x >= T(-1) && x <= static_cast<T>(W))) {
    return false;
  }
  if (y <= T(0)) y = T(0);
  if (x <= T(0)) x = T(0);
  int64_t y0 = static_cast<int64_t>(y), x0 = static_cast<int64_t>(x), y1, x1;
  if (y0 >= H - 1) {
    y0 = y1 = H - 1;
    y = static_cast<T>(y0);
  } else {
    y1 = y0 + 1;
  }
  if (x0 >= W - 1) {
    x0 = x1 = W - 1;
    x = static_cast<T>(x0);
  } else {
    x1 = x0 + 1;
  }
  const T ly = y - static_cast<T>(y0), lx = x - static_cast<T>(x0);
  const T hy = T(1) - ly, hx = T(1) - lx;
  off[0] = y0 * W + x0;
  off[1] = y0 * W + x1;
  off[2] = y1 * W + x0;
  off[3] = y1 * W + x1;
  w[0] = hy * hx;
  w[1] = hy * lx;
  w[2] = ly * hx;
  w[3] = ly * lx;
  return true;
}

// Calls fn(pixel offset y * W + x, bilinear weight) for the 4 corners of every
// sample of bin (ph, pw) inside [-1, H] x [-1, W] (every kernel's sample loop).
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <typename T, typename Fn>
VS_FORCE_INLINE void for_each_corner(const RoiGeom<T>& g, int64_t H, int64_t W, int64_t ph,
                                     int64_t pw, Fn&& fn) {
  int64_t off[4];
  T w[4];
  for (int64_t iy = 0; iy < g.grid_h; ++iy) {
    for (int64_t ix = 0; ix < g.grid_w; ++ix) {
      T y, x;
      sample_point(g, ph, pw, iy, ix, y, x);
      if (!bilinear(y, x, H, W, off, w)) continue;
      VS_UNROLL
      for (int k = 0; k < 4; ++k) fn(off[k], w[k]);
    }
  }
}

// Options and dtypes shared by both ops (host code).
inline void check_params(const Params& p) {
  TORCH_CHECK(p.out_h > 0 && p.out_w > 0, "pooled_height / pooled_width must be > 0");
  TORCH_CHECK(p.spatial_scale > 0.0, "spatial_scale must be > 0");
  TORCH_CHECK(p.sampling_ratio >= 0, "sampling_ratio must be >= 0");
}

inline void check_rois(const at::Tensor& rois, const at::Tensor& like) {
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 6,
              "rois must have shape (N, 6) = (batch_idx, cx, cy, w, h, theta)");
  TORCH_CHECK(rois.scalar_type() == like.scalar_type(), "rois must have the dtype of features");
  TORCH_CHECK(rois.device() == like.device(), "rois must be on the device of features");
}

// The ops' host side, written once for both devices.  Backend supplies
//   static void check_device(const at::Tensor& t);  // VS_CHECK_CPU / VS_CHECK_CUDA
//   using Guard = ...;  // constructed from a device (CUDA: a device guard)
//   template <typename T> static void forward(const at::Tensor& features,
//       const at::Tensor& rois, const Params&, const Dims&, at::Tensor& out);
//   template <typename T> static at::Tensor backward(const at::Tensor& grad_out,
//       const at::Tensor& rois, const Params&, const Dims&);  // -> (B, C, H, W)
// features (B, C, H, W) / grad_out (N, C, out_h, out_w) have any strides, rois
// are contiguous, out is allocated (uninitialised); every size is non-zero.
// Schemas and contracts: roi_align_rotated.cpp.
template <typename Backend>
at::Tensor forward_op(const at::Tensor& features, const at::Tensor& rois, int64_t out_h,
                      int64_t out_w, double spatial_scale, int64_t sampling_ratio, bool aligned,
                      bool clockwise) {
  Backend::check_device(features);
  const typename Backend::Guard guard(features.device());
  VS_CHECK_FLOAT(features);
  TORCH_CHECK(features.dim() == 4, "features must have shape (B, C, H, W)");
  check_rois(rois, features);
  const Params p{out_h, out_w, spatial_scale, sampling_ratio, aligned, clockwise};
  check_params(p);
  const Dims d{features.size(0), features.size(1), features.size(2), features.size(3),
               rois.size(0)};
  if (d.B == 0 || d.N == 0 || d.C == 0 || d.H == 0 || d.W == 0) {
    return at::zeros({d.N, d.C, out_h, out_w}, features.options());
  }
  at::Tensor out = at::empty({d.N, d.C, out_h, out_w}, features.options());
  const at::Tensor r = rois.contiguous();
  AT_DISPATCH_FLOATING_TYPES(features.scalar_type(), "roi_align_rotated_forward", [&] {
    Backend::template forward<scalar_t>(features, r, p, d, out);
  });
  return out;
}

template <typename Backend>
at::Tensor backward_op(const at::Tensor& grad_out, const at::Tensor& rois, int64_t batch,
                       int64_t channels, int64_t height, int64_t width, double spatial_scale,
                       int64_t sampling_ratio, bool aligned, bool clockwise) {
  Backend::check_device(grad_out);
  const typename Backend::Guard guard(grad_out.device());
  VS_CHECK_FLOAT(grad_out);
  TORCH_CHECK(grad_out.dim() == 4, "grad_out must have shape (N, C, out_h, out_w)");
  check_rois(rois, grad_out);
  TORCH_CHECK(batch >= 0 && channels >= 0 && height >= 0 && width >= 0,
              "the features' sizes must be >= 0");
  const Params p{grad_out.size(2), grad_out.size(3), spatial_scale, sampling_ratio, aligned,
                 clockwise};
  check_params(p);
  const Dims d{batch, channels, height, width, rois.size(0)};
  TORCH_CHECK(grad_out.size(0) == d.N && grad_out.size(1) == d.C,
              "grad_out must have shape (N, C, out_h, out_w) with the N of rois and the C "
              "of the features");
  if (d.B == 0 || d.N == 0 || d.C == 0 || d.H == 0 || d.W == 0) {
    return at::zeros({d.B, d.C, d.H, d.W}, grad_out.options());
  }
  const at::Tensor r = rois.contiguous();
  at::Tensor grad_in;
  AT_DISPATCH_FLOATING_TYPES(grad_out.scalar_type(), "roi_align_rotated_backward", [&] {
    grad_in = Backend::template backward<scalar_t>(grad_out, r, p, d);
  });
  return grad_in;
}

// Registers forward_op / backward_op of Backend for the dispatch key of the
// TORCH_LIBRARY_IMPL block that calls it.
template <typename Backend>
void register_ops(torch::Library& m) {
  m.impl("roi_align_rotated_forward", &forward_op<Backend>);
  m.impl("roi_align_rotated_backward", &backward_op<Backend>);
}

}  // namespace roi_align_rotated
}  // namespace vision_sparse
