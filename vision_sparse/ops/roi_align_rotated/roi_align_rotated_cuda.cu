// CUDA kernels of roi_align_rotated: one thread per output value (RoI n,
// channel c, bin ph, pw), on the (B, C, H, W) layout (threads of a warp share
// the RoI and the bin row, and read neighbouring bins of one channel).  Each
// thread works out the RoI geometry itself (roi_align_rotated.h).  The backward
// adds g * weight to the 4 corners of every sample with atomicAdd.
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include <algorithm>

#include "roi_align_rotated.h"

namespace vision_sparse::roi_align_rotated {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = int64_t(1) << 16;  // the loops stride over the rest

inline int blocks_for(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

// Output index i -> (n, c, ph, pw) of an (N, C, out_h, out_w) tensor.
struct OutIndex {
  int64_t n, c, ph, pw;
};
__device__ __forceinline__ OutIndex out_index(int64_t i, const Params& p, int64_t C) {
  OutIndex o;
  o.pw = i % p.out_w;
  i /= p.out_w;
  o.ph = i % p.out_h;
  i /= p.out_h;
  o.c = i % C;
  o.n = i / C;
  return o;
}

// Calls fn(i, o, g) for the output values i of this thread (a grid-stride loop
// over the N C out_h out_w values): o = (n, c, ph, pw), g the geometry of RoI n.
template <typename T, typename Fn>
__device__ __forceinline__ void for_each_output(const T* __restrict__ R, const Params& p,
                                                const Dims& d, Fn&& fn) {
  const int64_t total = d.N * d.C * p.out_h * p.out_w;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const OutIndex o = out_index(i, p, d.C);
    fn(i, o, make_geom(R + 6 * o.n, p, d.B));
  }
}

template <typename T>
__global__ void forward_kernel(const T* __restrict__ X, const T* __restrict__ R,
                               T* __restrict__ out, const Params p, const Dims d) {
  for_each_output(R, p, d, [&](int64_t i, const OutIndex& o, const RoiGeom<T>& g) {
    T acc = T(0);
    if (g.batch >= 0) {
      const T* __restrict__ plane = X + (g.batch * d.C + o.c) * d.H * d.W;
      for_each_corner(g, d.H, d.W, o.ph, o.pw,
                      [&](int64_t off, T w) { acc += w * plane[off]; });
    }
    out[i] = acc * g.inv_count;
  });
}

template <typename T>
__global__ void backward_kernel(const T* __restrict__ G, const T* __restrict__ R,
                                T* __restrict__ grad_in, const Params p, const Dims d) {
  for_each_output(R, p, d, [&](int64_t i, const OutIndex& o, const RoiGeom<T>& g) {
    if (g.batch < 0) return;
    const T gv = G[i] * g.inv_count;
    T* plane = grad_in + (g.batch * d.C + o.c) * d.H * d.W;
    for_each_corner(g, d.H, d.W, o.ph, o.pw,
                    [&](int64_t off, T w) { atomicAdd(plane + off, w * gv); });
  });
}

struct CudaKernels {
  static void check_device(const at::Tensor& t) { VS_CHECK_CUDA(t); }
  using Guard = c10::cuda::CUDAGuard;
  template <typename T>
  static void forward(const at::Tensor& features, const at::Tensor& rois, const Params& p,
                      const Dims& d, at::Tensor& out) {
    const at::Tensor x = features.contiguous();
    const int64_t total = d.N * d.C * p.out_h * p.out_w;
    forward_kernel<T><<<blocks_for(total), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        x.data_ptr<T>(), rois.data_ptr<T>(), out.data_ptr<T>(), p, d);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  template <typename T>
  static at::Tensor backward(const at::Tensor& grad_out, const at::Tensor& rois,
                             const Params& p, const Dims& d) {
    const at::Tensor g = grad_out.contiguous();
    at::Tensor grad_in = at::zeros({d.B, d.C, d.H, d.W}, grad_out.options());
    const int64_t total = d.N * d.C * p.out_h * p.out_w;
    backward_kernel<T><<<blocks_for(total), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        g.data_ptr<T>(), rois.data_ptr<T>(), grad_in.data_ptr<T>(), p, d);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return grad_in;
  }
};

}  // namespace
}  // namespace vision_sparse::roi_align_rotated

TORCH_LIBRARY_IMPL(vision_sparse, CUDA, m) {
  vision_sparse::roi_align_rotated::register_ops<vision_sparse::roi_align_rotated::CudaKernels>(
      m);
}
