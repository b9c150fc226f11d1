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

namespace vision_sparse::voxel_render {

namespace {

constexpr int kWarp = 32;
constexpr int kThreads = 256;  // 8 rays per block

template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int d = kWarp / 2; d > 0; d /= 2) v += __shfl_xor_sync(0xffffffffu, v, d);
  return v;
}

// The ray of this warp: lane, ray r (r >= R: no ray, the whole warp returns),
// its landmark l and the corner offsets of the grid.
struct WarpRay {
  int lane;
  int64_t r, l;
  int64_t off[8];
};
template <typename scalar_t>
__device__ __forceinline__ WarpRay warp_ray(const KernelArgs<scalar_t>& a) {
  WarpRay w;
  w.lane = threadIdx.x % kWarp;
  w.r = (static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x) / kWarp;
  w.l = w.r < a.dm.R ? a.ids[w.r] : 0;
  corner_offsets(w.off, a.dm.gy, a.dm.gz);
  return w;
}

template <typename scalar_t>
__global__ void forward_kernel(const KernelArgs<scalar_t> a, double bg,
                               scalar_t* __restrict__ out, scalar_t* __restrict__ t_last) {
  using acc_t = at::acc_type<scalar_t, true>;
  const WarpRay w = warp_ray(a);
  if (w.r >= a.dm.R) return;  // the whole warp
  const int64_t C = a.dm.C, gn = a.dm.gn;
  const int lane = w.lane;
  const int64_t* off = w.off;
  const scalar_t* __restrict__ F = a.ft + w.l * gn * C;
  scalar_t* o = out + w.r * C;
  for (int64_t c = lane; c < C; c += kWarp) o[c] = scalar_t(0);

  acc_t T = acc_t(1);
  acc_t W[8];
  // o[c] += sum_k W[k] F[cell + off[k], c] for this lane's channels
  auto flush = [&](int64_t cell) {
    if (cell < 0) return;
    for (int64_t c = lane; c < C; c += kWarp) {
      acc_t s = acc_t(0);
#pragma unroll
      for (int k = 0; k < 8; ++k) s += W[k] * static_cast<acc_t>(F[(cell + off[k]) * C + c]);
      o[c] = static_cast<scalar_t>(static_cast<acc_t>(o[c]) + s);
    }
  };
  const int64_t last = march<acc_t>(
      a.ray(w.r, w.l), a.dm, off, a.dens + w.l * gn, static_cast<acc_t>(a.shift),
      static_cast<acc_t>(a.ratio), NoField{},
      [&](int64_t prev, int64_t) {
        flush(prev);
#pragma unroll
        for (int k = 0; k < 8; ++k) W[k] = acc_t(0);
      },
      [&](const Sample& sp, int64_t, const Activation<acc_t>& act, acc_t) {
        const acc_t wi = T * act.alpha;
#pragma unroll
        for (int k = 0; k < 8; ++k) W[k] += wi * static_cast<acc_t>(sp.w[k]);
        T *= act.decay;
      });
  flush(last);
  const acc_t tail = T * static_cast<acc_t>(bg);
  for (int64_t c = lane; c < C; c += kWarp) {
    o[c] = static_cast<scalar_t>(static_cast<acc_t>(o[c]) + tail);
  }
  if (lane == 0) t_last[w.r] = static_cast<scalar_t>(T);
}

template <typename scalar_t>
__global__ void backward_kernel(const KernelArgs<scalar_t> a, const BackwardIO<scalar_t> io) {
  using acc_t = at::acc_type<scalar_t, true>;
  const WarpRay w = warp_ray(a);
  if (w.r >= a.dm.R) return;  // the whole warp
  const Ray ray = a.ray(w.r, w.l);
  if (ray.n == 0) return;  // a miss: feat = bg does not depend on the grids
  const int64_t C = a.dm.C, gn = a.dm.gn, r = w.r;
  const int lane = w.lane;
  const int64_t* off = w.off;
  const scalar_t* __restrict__ F = a.ft + w.l * gn * C;
  scalar_t* gD = io.g_dens + w.l * gn;
  scalar_t* gF = io.g_ft + w.l * gn * C;
  const scalar_t* __restrict__ g = io.g_feat + r * C;

  // <g, feat> + gT T_N = sum_i w_i e_i + T_N (bg sum(g) + gT)
  acc_t part = acc_t(0);
  for (int64_t c = lane; c < C; c += kWarp)
    part += static_cast<acc_t>(g[c]) * static_cast<acc_t>(io.feat[r * C + c]);
  const acc_t total =
      warp_sum(part) + static_cast<acc_t>(io.g_tl[r]) * static_cast<acc_t>(io.t_last[r]);

  acc_t T = acc_t(1), A = acc_t(0);
  acc_t W[8];
  acc_t h[8] = {};  // h_k = <g, F_k> of the current cell (set when the ray enters it)
  // gF[cell + off[k], c] += W[k] g[c] for this lane's channels
  auto flush = [&](int64_t cell) {
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
  const int64_t last = march<acc_t>(
      ray, a.dm, off, a.dens + w.l * gn, static_cast<acc_t>(a.shift),
      static_cast<acc_t>(a.ratio),
      [&](int k, int64_t) { return h[k]; },  // e_i = sum_k tri_k h_k
      [&](int64_t prev, int64_t cell) {
        flush(prev);
#pragma unroll
        for (int k = 0; k < 8; ++k) {
          W[k] = acc_t(0);
          acc_t hp = acc_t(0);
          for (int64_t c = lane; c < C; c += kWarp)
            hp += static_cast<acc_t>(g[c]) * static_cast<acc_t>(F[(cell + off[k]) * C + c]);
          h[k] = warp_sum(hp);  // h_k = <g, F_k>
        }
      },
      [&](const Sample& sp, int64_t cell, const Activation<acc_t>& act, acc_t e) {
        const acc_t wi = T * act.alpha;
        const acc_t t_next = T * act.decay;
        A += wi * e;
        // dL/ds_i = interval (T_{i+1} e_i - R_i), R_i = total - sum_{j<=i} w_j e_j
        const acc_t dx = static_cast<acc_t>(a.ratio) * (t_next * e - (total - A)) * act.ds;
#pragma unroll
        for (int k = 0; k < 8; ++k) {
          if (lane == k) {
            atomicAdd(gD + cell + off[k], static_cast<scalar_t>(static_cast<acc_t>(sp.w[k]) * dx));
          }
          W[k] += wi * static_cast<acc_t>(sp.w[k]);
        }
        T = t_next;
      });
  flush(last);
}

unsigned int num_blocks(int64_t rays) {
  const int64_t blocks = (rays * kWarp + kThreads - 1) / kThreads;
  TORCH_CHECK(blocks <= 2147483647LL, "voxel_render: too many rays for one launch");
  return static_cast<unsigned int>(blocks);
}

struct CudaKernels {
  static void check_device(const at::Tensor& density) { VS_CHECK_CUDA(density); }
  using Guard = at::cuda::CUDAGuard;
  template <typename scalar_t>
  static void forward(const KernelArgs<scalar_t>& a, double bg, scalar_t* feat,
                      scalar_t* t_last) {
    forward_kernel<scalar_t><<<num_blocks(a.dm.R), kThreads, 0,
                               at::cuda::getCurrentCUDAStream()>>>(a, bg, feat, t_last);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  template <typename scalar_t>
  static void backward(const KernelArgs<scalar_t>& a, const BackwardIO<scalar_t>& io) {
    backward_kernel<scalar_t><<<num_blocks(a.dm.R), kThreads, 0,
                                at::cuda::getCurrentCUDAStream()>>>(a, io);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

}  // namespace
}  // namespace vision_sparse::voxel_render

TORCH_LIBRARY_IMPL(vision_sparse, CUDA, m) {
  vision_sparse::voxel_render::register_ops<vision_sparse::voxel_render::CudaKernels>(m);
}
