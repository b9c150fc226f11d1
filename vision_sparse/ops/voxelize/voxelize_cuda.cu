// CUDA kernels of the voxelisation ops.
//
// Hard voxelisation is made deterministic by sorting instead of atomics:
//  1. key of every point's cell (outside: kInvalid, sorted last);
//  2. a stable sort of the keys groups the points of a voxel, in input order;
//     group heads, group ids (a cumsum), each group's start, end and first
//     point;
//  3. sorting the groups by their first point numbers the voxels in
//     first-point order;
//  4. one thread per sorted point copies it to voxel rank[group], slot
//     (position - group start), when both are under their caps.
// The sorts and scans are ATen's (thrust / cub); the per-point work is ours.
// The BEV scatter picks the winner of a cell with atomicMax of the row index
// (the last row wins, whatever the schedule), then copies.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <limits>

#include "voxelize.h"

namespace vision_sparse::voxelize {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 16;  // the loops stride over the rest
constexpr int64_t kInvalid = std::numeric_limits<int64_t>::max();

inline int blocks_for(int64_t n) {
  return static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks)));
}

#define VS_GRID_LOOP(i, n)                                                        \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__global__ void dynamic_kernel(const T* __restrict__ P, int64_t N, int64_t C, const Grid g,
                               int32_t* __restrict__ out) {
  VS_GRID_LOOP(i, N) { point_zyx(P + i * C, g, out + 3 * i); }
}

template <typename T>
__global__ void keys_kernel(const T* __restrict__ P, int64_t N, int64_t C, const Grid g,
                            int64_t* __restrict__ keys) {
  VS_GRID_LOOP(i, N) {
    int64_t c[3];
    keys[i] = point_cell(P + i * C, g, c) ? cell_key(c, g) : kInvalid;
  }
}

// head[k] = 1 where a group of equal valid sorted keys starts.
__global__ void heads_kernel(const int64_t* __restrict__ sk, int64_t N,
                             int64_t* __restrict__ head) {
  VS_GRID_LOOP(k, N) {
    head[k] = sk[k] != kInvalid && (k == 0 || sk[k] != sk[k - 1]) ? 1 : 0;
  }
}

// start / end / first point of every group (gid = inclusive cumsum of heads - 1).
__global__ void groups_kernel(const int64_t* __restrict__ sk, const int64_t* __restrict__ perm,
                              const int64_t* __restrict__ gid, int64_t N,
                              int64_t* __restrict__ start, int64_t* __restrict__ end,
                              int64_t* __restrict__ first) {
  VS_GRID_LOOP(k, N) {
    if (sk[k] == kInvalid) continue;
    const int64_t gk = gid[k];
    if (k == 0 || sk[k] != sk[k - 1]) {
      start[gk] = k;
      first[gk] = perm[k];  // the stable sort keeps input order within a group
    }
    if (k == N - 1 || sk[k + 1] != sk[k]) end[gk] = k + 1;
  }
}

__global__ void rank_kernel(const int64_t* __restrict__ order, int64_t G,
                            int64_t* __restrict__ rank) {
  VS_GRID_LOOP(j, G) { rank[order[j]] = j; }
}

template <typename T>
__global__ void write_kernel(const T* __restrict__ P, int64_t N, int64_t C, const Grid g,
                             const int64_t* __restrict__ sk, const int64_t* __restrict__ perm,
                             const int64_t* __restrict__ gid, const int64_t* __restrict__ start,
                             const int64_t* __restrict__ end, const int64_t* __restrict__ rank,
                             int64_t M, int64_t max_points, T* __restrict__ voxels,
                             int32_t* __restrict__ coors, int32_t* __restrict__ num) {
  VS_GRID_LOOP(k, N) {
    if (sk[k] == kInvalid) continue;
    const int64_t gk = gid[k], v = rank[gk], s = k - start[gk];
    if (v >= M || s >= max_points) continue;
    const T* p = P + perm[k] * C;
    T* o = voxels + (v * max_points + s) * C;
    for (int64_t j = 0; j < C; ++j) o[j] = p[j];
    if (s == 0) {
      key_zyx(sk[k], g, coors + 3 * v);
      const int64_t n = end[gk] - start[gk];
      num[v] = static_cast<int32_t>(n < max_points ? n : max_points);
    }
  }
}

template <typename I>
__global__ void winner_kernel(const I* __restrict__ coors, int64_t M, const Bev v,
                              int32_t* __restrict__ winner) {
  VS_GRID_LOOP(i, M) {
    const int64_t cell = bev_cell(coors + 4 * i, v);
    if (cell >= 0) atomicMax(winner + cell, static_cast<int32_t>(i));
  }
}

template <typename I>
__global__ void won_kernel(const I* __restrict__ coors, int64_t M, const Bev v,
                           const int32_t* __restrict__ winner, bool* __restrict__ won) {
  VS_GRID_LOOP(i, M) {
    const int64_t cell = bev_cell(coors + 4 * i, v);
    won[i] = cell >= 0 && winner[cell] == i;
  }
}

// One thread per (row, feature): out[b, f, y, x] = X[i, f] for winning rows
// (kForward), grad[i, f] = grad_out[b, f, y, x] or 0 (otherwise).
template <bool kForward, typename T, typename I>
__global__ void copy_kernel(const T* __restrict__ src, const I* __restrict__ coors,
                            const bool* __restrict__ won, int64_t M, int64_t F, const Bev v,
                            T* __restrict__ dst) {
  const int64_t plane = v.ny * v.nx;
  VS_GRID_LOOP(t, M * F) {
    const int64_t i = t / F, f = t % F;
    const int64_t cell = won[i] ? bev_cell(coors + 4 * i, v) : -1;
    if (cell < 0) {
      if (!kForward) dst[t] = T(0);
      continue;
    }
    const int64_t o = ((cell / plane) * F + f) * plane + cell % plane;
    if (kForward) {
      dst[o] = src[t];
    } else {
      dst[t] = src[o];
    }
  }
}

struct CudaKernels {
  static void check_device(const at::Tensor& t) { VS_CHECK_CUDA(t); }
  using Guard = c10::cuda::CUDAGuard;

  template <typename T>
  static at::Tensor dynamic(const at::Tensor& points, const Grid& g) {
    const int64_t N = points.size(0), C = points.size(1);
    at::Tensor coors = at::empty({N, 3}, points.options().dtype(at::kInt));
    dynamic_kernel<T><<<blocks_for(N), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        points.data_ptr<T>(), N, C, g, coors.data_ptr<int32_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return coors;
  }

  template <typename T>
  static std::vector<at::Tensor> hard(const at::Tensor& points, const Grid& g,
                                      int64_t max_points, int64_t max_voxels) {
    const int64_t N = points.size(0), C = points.size(1);
    const auto stream = at::cuda::getCurrentCUDAStream();
    const auto lopt = points.options().dtype(at::kLong);
    at::Tensor keys = at::empty({N}, lopt);
    keys_kernel<T><<<blocks_for(N), kThreads, 0, stream>>>(points.data_ptr<T>(), N, C, g,
                                                           keys.data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    auto sorted = at::sort(keys, /*stable=*/true, /*dim=*/0, /*descending=*/false);
    const at::Tensor sk = std::get<0>(sorted), perm = std::get<1>(sorted);
    at::Tensor head = at::empty({N}, lopt);
    heads_kernel<<<blocks_for(N), kThreads, 0, stream>>>(sk.data_ptr<int64_t>(), N,
                                                         head.data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const at::Tensor gid = at::cumsum(head, 0) - 1;
    const int64_t G = gid[N - 1].item<int64_t>() + 1;  // heads are valid keys only
    const auto iopt = points.options().dtype(at::kInt);
    if (G == 0) {
      return {at::zeros({0, max_points, C}, points.options()), at::zeros({0, 3}, iopt),
              at::zeros({0}, iopt)};
    }
    at::Tensor start = at::empty({G}, lopt), end = at::empty({G}, lopt),
               first = at::empty({G}, lopt);
    groups_kernel<<<blocks_for(N), kThreads, 0, stream>>>(
        sk.data_ptr<int64_t>(), perm.data_ptr<int64_t>(), gid.data_ptr<int64_t>(), N,
        start.data_ptr<int64_t>(), end.data_ptr<int64_t>(), first.data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const at::Tensor order = std::get<1>(at::sort(first));  // first points are distinct
    at::Tensor rank = at::empty({G}, lopt);
    rank_kernel<<<blocks_for(G), kThreads, 0, stream>>>(order.data_ptr<int64_t>(), G,
                                                        rank.data_ptr<int64_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int64_t M = std::min(G, max_voxels);
    at::Tensor voxels = at::zeros({M, max_points, C}, points.options());
    at::Tensor coors = at::empty({M, 3}, iopt);
    at::Tensor num = at::empty({M}, iopt);
    write_kernel<T><<<blocks_for(N), kThreads, 0, stream>>>(
        points.data_ptr<T>(), N, C, g, sk.data_ptr<int64_t>(), perm.data_ptr<int64_t>(),
        gid.data_ptr<int64_t>(), start.data_ptr<int64_t>(), end.data_ptr<int64_t>(),
        rank.data_ptr<int64_t>(), M, max_points, voxels.data_ptr<T>(),
        coors.data_ptr<int32_t>(), num.data_ptr<int32_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return {voxels, coors, num};
  }

  template <typename T, typename I>
  static std::vector<at::Tensor> bev_forward(const at::Tensor& features, const at::Tensor& coors,
                                             const Bev& v) {
    const int64_t M = features.size(0), F = features.size(1);
    const auto stream = at::cuda::getCurrentCUDAStream();
    at::Tensor winner = at::full({v.B * v.ny * v.nx}, -1, features.options().dtype(at::kInt));
    winner_kernel<I><<<blocks_for(M), kThreads, 0, stream>>>(coors.data_ptr<I>(), M, v,
                                                             winner.data_ptr<int32_t>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    at::Tensor won = at::empty({M}, features.options().dtype(at::kBool));
    won_kernel<I><<<blocks_for(M), kThreads, 0, stream>>>(
        coors.data_ptr<I>(), M, v, winner.data_ptr<int32_t>(), won.data_ptr<bool>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    at::Tensor out = at::zeros({v.B, F, v.ny, v.nx}, features.options());
    copy_kernel<true, T, I><<<blocks_for(M * F), kThreads, 0, stream>>>(
        features.data_ptr<T>(), coors.data_ptr<I>(), won.data_ptr<bool>(), M, F, v,
        out.data_ptr<T>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return {out, won};
  }

  template <typename T, typename I>
  static at::Tensor bev_backward(const at::Tensor& grad_out, const at::Tensor& coors,
                                 const at::Tensor& won, const Bev& v) {
    const int64_t M = coors.size(0), F = grad_out.size(1);
    at::Tensor grad = at::empty({M, F}, grad_out.options());
    copy_kernel<false, T, I><<<blocks_for(M * F), kThreads, 0,
                               at::cuda::getCurrentCUDAStream()>>>(
        grad_out.data_ptr<T>(), coors.data_ptr<I>(), won.data_ptr<bool>(), M, F, v,
        grad.data_ptr<T>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return grad;
  }
};

#undef VS_GRID_LOOP

}  // namespace
}  // namespace vision_sparse::voxelize

TORCH_LIBRARY_IMPL(vision_sparse, CUDA, m) {
  vision_sparse::voxelize::register_ops<vision_sparse::voxelize::CudaKernels>(m);
}
