// CUDA kernels of ms_deform_attn.
//
// Forward: one thread per output value (batch, query, head, channel j); the
// threads of a warp share the (batch, query, head) and its samples and read
// neighbouring channels of every corner row.
// Backward: one thread per sample (batch, query, head, level, point); it walks
// the head_dim channels, adds a * w * grad_out to the 4 corner rows of
// grad_value with atomicAdd (the order of the additions, hence the last bits of
// grad_value, may vary from run to run) and writes the sample's own location
// and attention-weight gradients.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>

#include "ms_deform_attn.h"

namespace vision_sparse::ms_deform_attn {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 16;  // the loops stride over the rest

inline int blocks_for(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

#define VS_GRID_STRIDE_LOOP(i, n)                                                     \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

template <typename T>
__global__ void forward_kernel(const T* __restrict__ V, const int64_t* __restrict__ S,
                               const int64_t* __restrict__ I, const T* __restrict__ loc,
                               const T* __restrict__ A, T* __restrict__ out, const Dims d) {
  VS_GRID_STRIDE_LOOP(e, d.bs * d.nq * d.nh * d.D) {
    const int64_t j = e % d.D, i = e / d.D;  // i = (b nq + q) nh + h
    const int64_t h = i % d.nh, b = i / (d.nq * d.nh);
    T acc = T(0);
    for (int64_t l = 0; l < d.L; ++l) {
      const int64_t H = S[2 * l], W = S[2 * l + 1], start = I[l];
      for (int64_t p = 0; p < d.P; ++p) {
        const int64_t s = (i * d.L + l) * d.P + p;
        Corners<T> c;
        if (!corners(loc[2 * s], loc[2 * s + 1], H, W, c)) continue;
        T v = T(0);
        VS_UNROLL
        for (int k = 0; k < 4; ++k) {
          if (c.off[k] >= 0) v += c.w[k] * V[((b * d.K + start + c.off[k]) * d.nh + h) * d.D + j];
        }
        acc += A[s] * v;
      }
    }
    out[e] = acc;
  }
}

template <typename T>
__global__ void backward_kernel(const T* __restrict__ G, const T* __restrict__ V,
                                const int64_t* __restrict__ S, const int64_t* __restrict__ I,
                                const T* __restrict__ loc, const T* __restrict__ A,
                                T* __restrict__ GV, T* __restrict__ GL, T* __restrict__ GA,
                                const Dims d) {
  VS_GRID_STRIDE_LOOP(s, d.bs * d.nq * d.nh * d.L * d.P) {
    const int64_t l = (s / d.P) % d.L, i = s / (d.P * d.L);  // i = (b nq + q) nh + h
    const int64_t h = i % d.nh, b = i / (d.nq * d.nh);
    const int64_t H = S[2 * l], W = S[2 * l + 1], start = I[l];
    Corners<T> c;
    if (!corners(loc[2 * s], loc[2 * s + 1], H, W, c)) continue;  // gradients stay 0
    const int64_t stride = d.nh * d.D, base = ((b * d.K + start) * d.nh + h) * d.D;
    sample_backward(c, A[s], H, W, G + i * d.D, V + base, stride, GV + base, stride, d.D,
                    GA + s, GL + 2 * s, [](T* p, T v) { atomicAdd(p, v); });
  }
}

#undef VS_GRID_STRIDE_LOOP

struct CudaKernels {
  static void check_device(const at::Tensor& t) { VS_CHECK_CUDA(t); }
  using Guard = c10::cuda::CUDAGuard;
  static at::Tensor new_grad_value(const at::Tensor& value) {
    return at::zeros(value.sizes(), value.options());  // the kernel adds into it
  }
  template <typename T>
  static void forward(const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
                      const at::Tensor& loc, const at::Tensor& attn, const Dims& d,
                      at::Tensor& out) {
    const int64_t total = d.bs * d.nq * d.nh * d.D;
    forward_kernel<T><<<blocks_for(total), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        value.data_ptr<T>(), shapes.data_ptr<int64_t>(), starts.data_ptr<int64_t>(),
        loc.data_ptr<T>(), attn.data_ptr<T>(), out.data_ptr<T>(), d);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  template <typename T>
  static void backward(const at::Tensor& grad_out, const at::Tensor& value,
                       const at::Tensor& shapes, const at::Tensor& starts, const at::Tensor& loc,
                       const at::Tensor& attn, const Dims& d, at::Tensor& grad_value,
                       at::Tensor& grad_loc, at::Tensor& grad_attn) {
    const int64_t total = d.bs * d.nq * d.nh * d.L * d.P;
    backward_kernel<T><<<blocks_for(total), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        grad_out.data_ptr<T>(), value.data_ptr<T>(), shapes.data_ptr<int64_t>(),
        starts.data_ptr<int64_t>(), loc.data_ptr<T>(), attn.data_ptr<T>(),
        grad_value.data_ptr<T>(), grad_loc.data_ptr<T>(), grad_attn.data_ptr<T>(), d);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
};

}  // namespace
}  // namespace vision_sparse::ms_deform_attn

TORCH_LIBRARY_IMPL(vision_sparse, CUDA, m) {
  vision_sparse::ms_deform_attn::register_ops<vision_sparse::ms_deform_attn::CudaKernels>(m);
}
