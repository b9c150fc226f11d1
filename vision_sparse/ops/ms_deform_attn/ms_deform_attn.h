// Multi-scale deformable attention sampling (mmcv's layout): what the CPU
// (ms_deform_attn_cpu.cpp) and CUDA (ms_deform_attn_cuda.cu) kernels share --
// the bilinear corners of one sample, the argument checks and the ops' host
// side (forward_op / backward_op, written once for both devices).
//
// Conventions (reference.py has them in words):
//  * value (bs, K, nh, D); level l occupies keys start_l .. start_l + H_l W_l,
//    row-major (key = start_l + y W_l + x).
//  * A sample at normalised (lx, ly) lies at pixel x = lx W - 0.5,
//    y = ly H - 0.5 (grid_sample, align_corners=False); it is interpolated from
//    its 4 corners floor(x) + {0, 1}, floor(y) + {0, 1}, a corner outside the
//    map contributing 0 (zero padding).  A sample with !(x > -1 && x < W &&
//    y > -1 && y < H) -- NaN / inf included -- contributes 0, zero gradients.
//  * d out / d (lx, ly) = (W d/dx, H d/dy) of the bilinear interpolation
//    (the one-sided derivative of floor's cell, as grid_sample's backward).
#pragma once
#include <math.h>
#include <stdint.h>

#include "vs_common.h"

namespace vision_sparse {
namespace ms_deform_attn {

// Sizes of a call.
struct Dims {
  int64_t bs, K, nh, D, nq, L, P;
};

// The 4 corners of one sample: key offsets within the level (-1: outside the
// map) and bilinear weights, in the order (y0 x0, y0 x1, y1 x0, y1 x1); plus
// the fractional parts for the location gradient.
template <typename T>
struct Corners {
  int64_t off[4];
  T w[4];
  T lx, ly;  // x - x0, y - y0
};

// Fills c for the sample at normalised (loc_x, loc_y) on an H x W level;
// returns false when it contributes nothing (outside, or not finite).
template <typename T>
VS_HOST_DEVICE inline bool corners(T loc_x, T loc_y, int64_t H, int64_t W, Corners<T>& c) {
  const T x = loc_x * static_cast<T>(W) - T(0.5);
  const T y = loc_y * static_cast<T>(H) - T(0.5);
  if (!(x > T(-1) && y > T(-1) && x < static_cast<T>(W) && y < static_cast<T>(H))) {
    return false;
  }
  const T fx = floor(x), fy = floor(y);
  const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
  const int64_t x1 = x0 + 1, y1 = y0 + 1;
  c.lx = x - fx;
  c.ly = y - fy;
  const T hx = T(1) - c.lx, hy = T(1) - c.ly;
  const bool vx0 = x0 >= 0, vx1 = x1 < W, vy0 = y0 >= 0, vy1 = y1 < H;
  c.off[0] = (vy0 && vx0) ? y0 * W + x0 : -1;
  c.off[1] = (vy0 && vx1) ? y0 * W + x1 : -1;
  c.off[2] = (vy1 && vx0) ? y1 * W + x0 : -1;
  c.off[3] = (vy1 && vx1) ? y1 * W + x1 : -1;
  c.w[0] = hy * hx;
  c.w[1] = hy * c.lx;
  c.w[2] = c.ly * hx;
  c.w[3] = c.ly * c.lx;
  return true;
}

// d w[k] / d x and d w[k] / d y of the corners (order of Corners::off).
template <typename T>
VS_HOST_DEVICE inline void weight_grads(const Corners<T>& c, T* dx, T* dy) {
  const T hx = T(1) - c.lx, hy = T(1) - c.ly;
  dx[0] = -hy;
  dx[1] = hy;
  dx[2] = -c.ly;
  dx[3] = c.ly;
  dy[0] = -hx;
  dy[1] = -c.lx;
  dy[2] = hx;
  dy[3] = c.lx;
}

// sum_j a[j] b[j] over 8 interleaved partial sums (a fixed order: deterministic;
// unlike one running sum it vectorises and does not wait on each addition).
template <typename T>
VS_HOST_DEVICE inline T dot_product(const T* __restrict__ a, const T* __restrict__ b,
                                    int64_t n) {
  T part[8] = {T(0), T(0), T(0), T(0), T(0), T(0), T(0), T(0)};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    VS_UNROLL
    for (int u = 0; u < 8; ++u) part[u] += a[j + u] * b[j + u];
  }
  for (; j < n; ++j) part[0] += a[j] * b[j];
  return ((part[0] + part[4]) + (part[1] + part[5])) + ((part[2] + part[6]) + (part[3] + part[7]));
}

// The backward of one sample (weight a) whose corner k reads the D values
// v0[off[k] * vs + j] (v0: the value row of the level's first key, vs: the
// stride between keys): adds a w[k] g[j] to g0[off[k] * gs + j] through
// add(pointer, value) (a plain += on the CPU, atomicAdd on CUDA) and writes the
// sample's attention-weight gradient to *ga and its location gradient to
// gl[0..1].  g: the D values of grad_out of the sample's (batch, query, head).
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <typename T, typename Add>
VS_FORCE_INLINE void sample_backward(const Corners<T>& c, T a, int64_t H, int64_t W,
                                     const T* __restrict__ g, const T* __restrict__ v0,
                                     int64_t vs, T* g0, int64_t gs, int64_t D, T* ga, T* gl,
                                     Add&& add) {
  T dx[4], dy[4];
  weight_grads(c, dx, dy);
  T sa = T(0), sx = T(0), sy = T(0);
  VS_UNROLL
  for (int k = 0; k < 4; ++k) {
    if (c.off[k] < 0) continue;
    const T* __restrict__ x = v0 + c.off[k] * vs;
    T* gv = g0 + c.off[k] * gs;
    const T w = a * c.w[k];
    const T dot = dot_product(g, x, D);
    for (int64_t j = 0; j < D; ++j) add(gv + j, w * g[j]);
    sa += c.w[k] * dot;
    sx += dx[k] * dot;
    sy += dy[k] * dot;
  }
  *ga = sa;
  gl[0] = a * sx * static_cast<T>(W);
  gl[1] = a * sy * static_cast<T>(H);
}

// Checks shared by both ops (host code); returns the sizes.  The level sizes
// and starts are read on the host (a (L, 2) tensor: a small copy from a GPU).
inline Dims check_inputs(const at::Tensor& value, const at::Tensor& spatial_shapes,
                         const at::Tensor& level_start_index, const at::Tensor& loc,
                         const at::Tensor& attn) {
  VS_CHECK_FLOAT(value);
  TORCH_CHECK(value.dim() == 4, "value must have shape (bs, num_keys, num_heads, head_dim)");
  TORCH_CHECK(loc.dim() == 6 && loc.size(5) == 2,
              "sampling_locations must have shape (bs, num_queries, num_heads, num_levels, "
              "num_points, 2)");
  const Dims d{value.size(0), value.size(1), value.size(2), value.size(3),
               loc.size(1),   loc.size(3),   loc.size(4)};
  TORCH_CHECK(loc.size(0) == d.bs && loc.size(2) == d.nh,
              "sampling_locations must have the bs and num_heads of value");
  TORCH_CHECK(attn.dim() == 5 && attn.size(0) == d.bs && attn.size(1) == d.nq &&
                  attn.size(2) == d.nh && attn.size(3) == d.L && attn.size(4) == d.P,
              "attention_weights must have shape (bs, num_queries, num_heads, num_levels, "
              "num_points)");
  TORCH_CHECK(loc.scalar_type() == value.scalar_type() &&
                  attn.scalar_type() == value.scalar_type(),
              "sampling_locations and attention_weights must have the dtype of value");
  TORCH_CHECK(loc.device() == value.device() && attn.device() == value.device() &&
                  spatial_shapes.device() == value.device() &&
                  level_start_index.device() == value.device(),
              "every input must be on the device of value");
  TORCH_CHECK(spatial_shapes.scalar_type() == at::kLong &&
                  level_start_index.scalar_type() == at::kLong,
              "spatial_shapes and level_start_index must be int64");
  TORCH_CHECK(spatial_shapes.dim() == 2 && spatial_shapes.size(0) == d.L &&
                  spatial_shapes.size(1) == 2,
              "spatial_shapes must have shape (num_levels, 2)");
  TORCH_CHECK(level_start_index.dim() == 1 && level_start_index.size(0) == d.L,
              "level_start_index must have shape (num_levels,)");
  const at::Tensor shapes = spatial_shapes.to(at::kCPU).contiguous();
  const at::Tensor starts = level_start_index.to(at::kCPU).contiguous();
  const int64_t* S = shapes.data_ptr<int64_t>();
  const int64_t* I = starts.data_ptr<int64_t>();
  int64_t total = 0;
  for (int64_t l = 0; l < d.L; ++l) {
    TORCH_CHECK(S[2 * l] >= 0 && S[2 * l + 1] >= 0, "spatial_shapes must be >= 0");
    TORCH_CHECK(I[l] == total,
                "level_start_index must be the exclusive cumulative sum of H * W");
    total += S[2 * l] * S[2 * l + 1];
  }
  TORCH_CHECK(total == d.K, "sum of H * W over spatial_shapes must equal num_keys of value");
  return d;
}

// The ops' host side, written once for both devices.  Backend supplies
//   static void check_device(const at::Tensor& t);  // VS_CHECK_CPU / VS_CHECK_CUDA
//   using Guard = ...;  // constructed from a device (CUDA: a device guard)
//   template <typename T> static void forward(value, shapes, starts, loc, attn,
//       const Dims&, at::Tensor& out);  // out (bs, nq, nh, D), zeroed
//   static at::Tensor new_grad_value(const at::Tensor& value);  // like value: zeroed, or
//       // uninitialised where the backend's backward writes every element (CPU)
//   template <typename T> static void backward(grad_out, value, shapes, starts,
//       loc, attn, const Dims&, grad_value, grad_loc, grad_attn);
//       // grad_loc, grad_attn zeroed; grad_value from new_grad_value
// Every tensor given to the backend is contiguous; every size is non-zero.
// Schemas and contracts: ms_deform_attn.cpp.
template <typename Backend>
at::Tensor forward_op(const at::Tensor& value, const at::Tensor& spatial_shapes,
                      const at::Tensor& level_start_index, const at::Tensor& loc,
                      const at::Tensor& attn) {
  Backend::check_device(value);
  const typename Backend::Guard guard(value.device());
  const Dims d = check_inputs(value, spatial_shapes, level_start_index, loc, attn);
  at::Tensor out = at::zeros({d.bs, d.nq, d.nh, d.D}, value.options());
  if (d.bs && d.nq && d.nh && d.D && d.L && d.P && d.K) {
    AT_DISPATCH_FLOATING_TYPES(value.scalar_type(), "ms_deform_attn_forward", [&] {
      Backend::template forward<scalar_t>(value.contiguous(), spatial_shapes.contiguous(),
                                          level_start_index.contiguous(), loc.contiguous(),
                                          attn.contiguous(), d, out);
    });
  }
  return out.view({d.bs, d.nq, d.nh * d.D});
}

template <typename Backend>
std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_op(
    const at::Tensor& grad_out, const at::Tensor& value, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& loc, const at::Tensor& attn) {
  Backend::check_device(value);
  const typename Backend::Guard guard(value.device());
  const Dims d = check_inputs(value, spatial_shapes, level_start_index, loc, attn);
  TORCH_CHECK(grad_out.scalar_type() == value.scalar_type() && grad_out.device() == value.device(),
              "grad_out must have the dtype and device of value");
  TORCH_CHECK(grad_out.dim() == 3 && grad_out.size(0) == d.bs && grad_out.size(1) == d.nq &&
                  grad_out.size(2) == d.nh * d.D,
              "grad_out must have shape (bs, num_queries, num_heads * head_dim)");
  const bool work = d.bs && d.nq && d.nh && d.D && d.L && d.P && d.K;
  at::Tensor grad_value =
      work ? Backend::new_grad_value(value) : at::zeros(value.sizes(), value.options());
  at::Tensor grad_loc = at::zeros(loc.sizes(), loc.options());
  at::Tensor grad_attn = at::zeros(attn.sizes(), attn.options());
  if (work) {
    AT_DISPATCH_FLOATING_TYPES(value.scalar_type(), "ms_deform_attn_backward", [&] {
      Backend::template backward<scalar_t>(
          grad_out.contiguous(), value.contiguous(), spatial_shapes.contiguous(),
          level_start_index.contiguous(), loc.contiguous(), attn.contiguous(), d, grad_value,
          grad_loc, grad_attn);
    });
  }
  return {grad_value, grad_loc, grad_attn};
}

// Registers forward_op / backward_op of Backend for the dispatch key of the
// TORCH_LIBRARY_IMPL block that calls it.
template <typename Backend>
void register_ops(torch::Library& m) {
  m.impl("ms_deform_attn_forward", &forward_op<Backend>);
  m.impl("ms_deform_attn_backward", &backward_op<Backend>);
}

}  // namespace ms_deform_attn
}  // namespace vision_sparse
