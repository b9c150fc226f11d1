// CUDA kernels of voxel_render: one warp per ray.
//
// The 32 lanes of a warp march the same ray together (the per-sample scalars
// are computed redundantly by every lane: no divergence, no shuffles) and split
// the C channels between them (lane j handles channels j, j + 32, ...), reading
// the features transposed to (L, G^3, C) so that a warp reads contiguous
// channels of one node.  As in the CPU kernel, the channel work is done once
// per cell crossed: the 8 corner weights sum_i w_i tri_ic are accumulated while
// the samples stay in a cell.  Geometry is float64 (as everywhere), density /
// alpha / transmittance in the accumulation type (float for float32, double for
// float64).
//
// Backward: the same march recomputes the per-sample values; the rest-of-ray
// term comes from the forward outputs (see voxel_render_cpu.cpp), the dot
// products <g, F_c> of a new cell are warp reductions, and the grid gradients
// are atomicAdds (8 per sample for the density, 8 C per cell for the features).
#include <ATen/AccumulateType.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "voxel_render.h"

namespace vision_sparse {

namespace {

using voxel_render::Dims;
using voxel_render::Ray;
using voxel_render::Sample;

constexpr int kWarp = 32;
constexpr int kThreads = 256;  // 8 rays per block

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int d = kWarp / 2; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

template <typename scalar_t>
__global__ void forward_kernel(const scalar_t* __restrict__ dens,
                               const scalar_t* __restrict__ ft,
                               const double* __restrict__ bmin,
                               const double* __restrict__ bmax,
                               const double* __restrict__ ro, const double* __restrict__ rd,
                               const int64_t* __restrict__ ids, int64_t R, int gx, int gy,
                               int gz, int64_t C, double ratio, double shift, double bg,
                               scalar_t* __restrict__ out, scalar_t* __restrict__ t_last) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int lane = threadIdx.x % kWarp;
  const int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  if (r >= R) return;  // the whole warp
  const int64_t l = ids[r];
  const int64_t gn = static_cast<int64_t>(gx) * gy * gz;
  const Ray ray =
      voxel_render::make_ray(ro + 3 * r, rd + 3 * r, bmin + 3 * l, bmax + 3 * l, gx, gy, gz,
                             ratio);
  const scalar_t* D = dens + l * gn;
  const scalar_t* F = ft + l * gn * C;
  scalar_t* o = out + r * C;
  int64_t off[8];
#pragma unroll
  for (int k = 0; k < 8; ++k) off[k] = voxel_render::corner_offset(k, gy, gz);
  for (int64_t c = lane; c < C; c += kWarp) o[c] = scalar_t(0);

  acc_t T = acc_t(1);
  acc_t W[8];
  int64_t cell = -1;
  // o[c] += sum_k W[k] F[cell + off[k], c] for this lane's channels
  auto flush = [&]() {
    if (cell < 0) return;
    for (int64_t c = lane; c < C; c += kWarp) {
      acc_t a = acc_t(0);
#pragma unroll
      for (int k = 0; k < 8; ++k) a += W[k] * static_cast<acc_t>(F[(cell + off[k]) * C + c]);
      o[c] = static_cast<scalar_t>(static_cast<acc_t>(o[c]) + a);
    }
  };
  for (int64_t i = 0; i < ray.n; ++i) {
    const Sample sp = voxel_render::make_sample(ray, i, gx, gy, gz);
    if (sp.base != cell) {
      flush();
      cell = sp.base;
#pragma unroll
      for (int k = 0; k < 8; ++k) W[k] = acc_t(0);
    }
    acc_t sigma = acc_t(0);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      sigma += static_cast<acc_t>(sp.w[k]) * static_cast<acc_t>(D[cell + off[k]]);
    }
    const auto act = voxel_render::activate<acc_t>(sigma + static_cast<acc_t>(shift),
                                                   static_cast<acc_t>(ratio));
    const acc_t w = T * act.alpha;
#pragma unroll
    for (int k = 0; k < 8; ++k) W[k] += w * static_cast<acc_t>(sp.w[k]);
    T *= act.decay;
  }
  flush();
  const acc_t tail = T * static_cast<acc_t>(bg);
  for (int64_t c = lane; c < C; c += kWarp) {
    o[c] = static_cast<scalar_t>(static_cast<acc_t>(o[c]) + tail);
  }
  if (lane == 0) t_last[r] = static_cast<scalar_t>(T);
}

template <typename scalar_t>
__global__ void backward_kernel(const scalar_t* __restrict__ dens,
                                const scalar_t* __restrict__ ft,
                                const double* __restrict__ bmin,
                                const double* __restrict__ bmax,
                                const double* __restrict__ ro, const double* __restrict__ rd,
                                const int64_t* __restrict__ ids, int64_t R, int gx, int gy,
                                int gz, int64_t C, double ratio, double shift,
                                const scalar_t* __restrict__ g_feat,
                                const scalar_t* __restrict__ g_tl,
                                const scalar_t* __restrict__ feat,
                                const scalar_t* __restrict__ t_last,
                                scalar_t* __restrict__ g_dens, scalar_t* __restrict__ g_ft) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int lane = threadIdx.x % kWarp;
  const int64_t r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  if (r >= R) return;  // the whole warp
  const int64_t l = ids[r];
  const int64_t gn = static_cast<int64_t>(gx) * gy * gz;
  const Ray ray =
      voxel_render::make_ray(ro + 3 * r, rd + 3 * r, bmin + 3 * l, bmax + 3 * l, gx, gy, gz,
                             ratio);
  if (ray.n == 0) return;  // a miss: feat = bg does not depend on the grids
  const scalar_t* D = dens + l * gn;
  const scalar_t* F = ft + l * gn * C;
  scalar_t* gD = g_dens + l * gn;
  scalar_t* gF = g_ft + l * gn * C;
  const scalar_t* g = g_feat + r * C;
  int64_t off[8];
#pragma unroll
  for (int k = 0; k < 8; ++k) off[k] = voxel_render::corner_offset(k, gy, gz);

  // <g, feat> + gT T_N = sum_i w_i e_i + T_N (bg sum(g) + gT)
  acc_t part = acc_t(0);
  for (int64_t c = lane; c < C; c += kWarp)
    part += static_cast<acc_t>(g[c]) * static_cast<acc_t>(feat[r * C + c]);
  const acc_t total =
      warp_sum(part) + static_cast<acc_t>(g_tl[r]) * static_cast<acc_t>(t_last[r]);

  acc_t T = acc_t(1), A = acc_t(0);
  acc_t W[8], h[8];
  int64_t cell = -1;
  // gF[cell + off[k], c] += W[k] g[c] for this lane's channels
  auto flush = [&]() {
    if (cell < 0) return;
    for (int64_t c = lane; c < C; c += kWarp) {
      const acc_t gc = static_cast<acc_t>(g[c]);
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        if (W[k] != acc_t(0)) {
          atomicAdd(gF + (cell + off[k]) * C + c, static_cast<scalar_t>(W[k] * gc));
        }
      }
    }
  };
  for (int64_t i = 0; i < ray.n; ++i) {
    const Sample sp = voxel_render::make_sample(ray, i, gx, gy, gz);
    if (sp.base != cell) {
      flush();
      cell = sp.base;
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        W[k] = acc_t(0);
        acc_t hp = acc_t(0);
        for (int64_t c = lane; c < C; c += kWarp)
          hp += static_cast<acc_t>(g[c]) * static_cast<acc_t>(F[(cell + off[k]) * C + c]);
        h[k] = warp_sum(hp);  // h_k = <g, F_k>
      }
    }
    acc_t sigma = acc_t(0), e = acc_t(0);
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      sigma += static_cast<acc_t>(sp.w[k]) * static_cast<acc_t>(D[cell + off[k]]);
      e += static_cast<acc_t>(sp.w[k]) * h[k];
    }
    const auto act = voxel_render::activate<acc_t>(sigma + static_cast<acc_t>(shift),
                                                   static_cast<acc_t>(ratio));
    const acc_t w = T * act.alpha;
    const acc_t t_next = T * act.decay;
    A += w * e;
    // dL/ds_i = interval (T_{i+1} e_i - R_i), R_i = total - sum_{j<=i} w_j e_j
    const acc_t dx = static_cast<acc_t>(ratio) * (t_next * e - (total - A)) * act.ds;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
      if (lane == k) {
        atomicAdd(gD + cell + off[k], static_cast<scalar_t>(static_cast<acc_t>(sp.w[k]) * dx));
      }
      W[k] += w * static_cast<acc_t>(sp.w[k]);
    }
    T = t_next;
  }
  flush();
}

unsigned int num_blocks(int64_t rays) {
  const int64_t blocks = (rays * kWarp + kThreads - 1) / kThreads;
  TORCH_CHECK(blocks <= 2147483647LL, "voxel_render: too many rays for one launch");
  return static_cast<unsigned int>(blocks);
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> voxel_render_forward_cuda(
    const at::Tensor& density, const at::Tensor& features, const at::Tensor& box_min,
    const at::Tensor& box_max, const at::Tensor& rays_o, const at::Tensor& rays_d,
    const at::Tensor& ray_ids, double step_ratio, double density_shift, double bg) {
  VS_CHECK_CUDA(density);
  const Dims dm =
      voxel_render::check_args(density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  TORCH_CHECK(step_ratio > 0.0, "step_ratio must be > 0");
  at::cuda::CUDAGuard guard(density.device());
  at::Tensor feat = at::empty({dm.R, dm.C}, density.options());
  at::Tensor t_last = at::empty({dm.R}, density.options());
  if (dm.R == 0) return {feat, t_last};
  const voxel_render::KernelInputs in = voxel_render::kernel_inputs(
      dm, density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(in.dens.scalar_type(), "voxel_render_forward_cuda", [&] {
    forward_kernel<scalar_t><<<num_blocks(dm.R), kThreads, 0, stream>>>(
        in.dens.data_ptr<scalar_t>(), in.ft.data_ptr<scalar_t>(), in.bmin.data_ptr<double>(),
        in.bmax.data_ptr<double>(), in.ro.data_ptr<double>(), in.rd.data_ptr<double>(),
        in.ids.data_ptr<int64_t>(), dm.R, dm.gx, dm.gy, dm.gz, dm.C, step_ratio, density_shift,
        bg, feat.data_ptr<scalar_t>(), t_last.data_ptr<scalar_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {feat, t_last};
}

std::tuple<at::Tensor, at::Tensor> voxel_render_backward_cuda(
    const at::Tensor& grad_feat, const at::Tensor& grad_t_last, const at::Tensor& feat,
    const at::Tensor& t_last, const at::Tensor& density, const at::Tensor& features,
    const at::Tensor& box_min, const at::Tensor& box_max, const at::Tensor& rays_o,
    const at::Tensor& rays_d, const at::Tensor& ray_ids, double step_ratio,
    double density_shift, double bg) {
  VS_CHECK_CUDA(density);
  const Dims dm =
      voxel_render::check_args(density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  voxel_render::check_backward_args(dm, density, grad_feat, grad_t_last, feat, t_last);
  TORCH_CHECK(step_ratio > 0.0, "step_ratio must be > 0");
  (void)bg;  // enters through the saved forward output
  at::cuda::CUDAGuard guard(density.device());
  at::Tensor g_dens = at::zeros_like(density, at::MemoryFormat::Contiguous);
  at::Tensor g_ft = at::zeros({dm.L, dm.gn, dm.C}, density.options());
  if (dm.R > 0 && dm.L > 0) {
    const voxel_render::KernelInputs in = voxel_render::kernel_inputs(
        dm, density, features, box_min, box_max, rays_o, rays_d, ray_ids);
    const at::Tensor gf = grad_feat.contiguous(), gt = grad_t_last.contiguous();
    const at::Tensor fe = feat.contiguous(), tl = t_last.contiguous();
    cudaStream_t stream = at::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES(in.dens.scalar_type(), "voxel_render_backward_cuda", [&] {
      backward_kernel<scalar_t><<<num_blocks(dm.R), kThreads, 0, stream>>>(
          in.dens.data_ptr<scalar_t>(), in.ft.data_ptr<scalar_t>(), in.bmin.data_ptr<double>(),
          in.bmax.data_ptr<double>(), in.ro.data_ptr<double>(), in.rd.data_ptr<double>(),
          in.ids.data_ptr<int64_t>(), dm.R, dm.gx, dm.gy, dm.gz, dm.C, step_ratio,
          density_shift, gf.data_ptr<scalar_t>(), gt.data_ptr<scalar_t>(),
          fe.data_ptr<scalar_t>(), tl.data_ptr<scalar_t>(), g_dens.data_ptr<scalar_t>(),
          g_ft.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  }
  return {g_dens, voxel_render::nodes_first(g_ft, dm)};
}

}  // namespace vision_sparse

TORCH_LIBRARY_IMPL(vision_sparse, CUDA, m) {
  m.impl("voxel_render_forward", &vision_sparse::voxel_render_forward_cuda);
  m.impl("voxel_render_backward", &vision_sparse::voxel_render_backward_cuda);
}
