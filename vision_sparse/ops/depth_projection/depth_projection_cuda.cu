// CUDA kernels of depth_projection: one thread per (view, point) pair (a
// grid-stride loop; neighbouring threads read neighbouring points of one view).
//  1. the depth image starts at +inf; each kept point does an atomicMin of its
//     depth's bit pattern (positive IEEE floats order like their bits read as
//     signed integers: int32 for float32, int64 for float64);
//  2. with return_index, the points whose depth equals their pixel's minimum
//     (recomputed bit for bit: the projection is deterministic) atomicMin
//     their index into an int64 image that starts at INT64_MAX;
//  3. one pass turns +inf into 0 and the untouched indices into -1.
// Minima do not depend on the order of the atomics: the result is deterministic
// and equal to the CPU kernel's.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>
#include <limits>

#include "depth_projection.h"

namespace vision_sparse::depth_projection {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 16;  // the loops stride over the rest

inline int blocks_for(int64_t n) {
  return static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks)));
}

// The signed integer whose order matches that of positive T values.
template <typename T>
struct Bits;
template <>
struct Bits<float> {
  using type = int;
  __device__ static int of(float x) { return __float_as_int(x); }
};
template <>
struct Bits<double> {
  using type = long long;
  __device__ static long long of(double x) { return __double_as_longlong(x); }
};

#define VS_GRID_STRIDE(i, total)                                                   \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; \
       i < (total); i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__global__ void min_depth_kernel(const T* __restrict__ P, const T* __restrict__ M,
                                 T* __restrict__ D, const Params q) {
  using B = typename Bits<T>::type;
  VS_GRID_STRIDE(i, q.V * q.N) {
    const int64_t v = i / q.N, n = i - v * q.N;
    T d;
    const int64_t k = project_point(P + n * q.C, M + v * q.mrows * 4, q, d);
    if (k >= 0) atomicMin(reinterpret_cast<B*>(D + v * q.H * q.W + k), Bits<T>::of(d));
  }
}

template <typename T>
__global__ void min_index_kernel(const T* __restrict__ P, const T* __restrict__ M,
                                 const T* __restrict__ D, int64_t* __restrict__ I,
                                 const Params q) {
  VS_GRID_STRIDE(i, q.V * q.N) {
    const int64_t v = i / q.N, n = i - v * q.N;
    T d;
    const int64_t k = project_point(P + n * q.C, M + v * q.mrows * 4, q, d);
    const int64_t at = v * q.H * q.W + k;
    if (k >= 0 && D[at] == d) {
      atomicMin(reinterpret_cast<long long*>(I + at), static_cast<long long>(n));
    }
  }
}

template <typename T>
__global__ void finalize_kernel(T* __restrict__ D, int64_t* __restrict__ I, const int64_t total) {
  VS_GRID_STRIDE(i, total) {
    if (D[i] == static_cast<T>(INFINITY)) {
      D[i] = T(0);
      if (I) I[i] = -1;
    }
  }
}

struct CudaKernels {
  static void check_device(const at::Tensor& t) { VS_CHECK_CUDA(t); }
  using Guard = c10::cuda::CUDAGuard;
  static at::Tensor alloc_depth(at::IntArrayRef sizes, const at::TensorOptions& options) {
    return at::empty(sizes, options);  // filled with +inf by run
  }
  template <typename T>
  static void run(const at::Tensor& points, const at::Tensor& mats, const Params& q,
                  at::Tensor& depth, at::Tensor* index) {
    const auto stream = at::cuda::getCurrentCUDAStream();
    const int64_t total = q.V * q.H * q.W, pairs = q.V * q.N;
    depth.fill_(std::numeric_limits<T>::infinity());
    if (index) index->fill_(std::numeric_limits<int64_t>::max());
    if (pairs > 0) {
      min_depth_kernel<T><<<blocks_for(pairs), kThreads, 0, stream>>>(
          points.data_ptr<T>(), mats.data_ptr<T>(), depth.data_ptr<T>(), q);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      if (index) {
        min_index_kernel<T><<<blocks_for(pairs), kThreads, 0, stream>>>(
            points.data_ptr<T>(), mats.data_ptr<T>(), depth.data_ptr<T>(),
            index->data_ptr<int64_t>(), q);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      }
    }
    finalize_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(
        depth.data_ptr<T>(), index ? index->data_ptr<int64_t>() : nullptr, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

}  // namespace
}  // namespace vision_sparse::depth_projection

TORCH_LIBRARY_IMPL(vision_sparse, CUDA, m) {
  vision_sparse::depth_projection::register_ops<vision_sparse::depth_projection::CudaKernels>(m);
}
