// CUDA kernel of box_iou_rotated: one thread per pair, computed in the input
// dtype (float32 / float64).
// c10 headers only (ATen/cuda/CUDAContext.h would need the cuBLAS / cuSPARSE headers)
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "box_iou_rotated.h"

namespace vision_sparse {

namespace {

constexpr int kThreads = 256;  // columns per block
constexpr int kRows = 32;      // rows per tile

// Pairwise: block (x, y) handles kThreads consecutive columns j and, in a
// grid-stride loop over y, tiles of kRows rows i.  Both tiles of boxes are
// prepared once (cos / sin / radius) in shared memory.
template <typename scalar_t>
__global__ void iou_pairwise_kernel(const scalar_t* __restrict__ b1,
                                    const scalar_t* __restrict__ b2,
                                    scalar_t* __restrict__ out, int64_t n, int64_t m,
                                    int mode, scalar_t eps) {
  using rotated::RotBox;
  __shared__ RotBox<scalar_t> cols[kThreads];
  __shared__ RotBox<scalar_t> rows[kRows];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (j < m) cols[threadIdx.x] = rotated::make_rot_box<scalar_t>(b2 + 5 * j);
  for (int64_t r0 = static_cast<int64_t>(blockIdx.y) * kRows; r0 < n;
       r0 += static_cast<int64_t>(gridDim.y) * kRows) {
    __syncthreads();  // the previous row tile is no longer read
    if (threadIdx.x < kRows && r0 + threadIdx.x < n)
      rows[threadIdx.x] = rotated::make_rot_box<scalar_t>(b1 + 5 * (r0 + threadIdx.x));
    __syncthreads();
    if (j < m) {
      const int nr = static_cast<int>(n - r0 < kRows ? n - r0 : kRows);
      for (int k = 0; k < nr; ++k) {
        out[(r0 + k) * m + j] = rotated::rotated_iou(rows[k], cols[threadIdx.x], mode, eps);
      }
    }
  }
}

template <typename scalar_t>
__global__ void iou_aligned_kernel(const scalar_t* __restrict__ b1,
                                   const scalar_t* __restrict__ b2,
                                   scalar_t* __restrict__ out, int64_t n, int mode,
                                   scalar_t eps) {
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const auto a = rotated::make_rot_box<scalar_t>(b1 + 5 * i);
    const auto b = rotated::make_rot_box<scalar_t>(b2 + 5 * i);
    out[i] = rotated::rotated_iou(a, b, mode, eps);
  }
}

}  // namespace

at::Tensor box_iou_rotated_cuda(const at::Tensor& boxes1, const at::Tensor& boxes2,
                                bool aligned, int64_t mode, double eps) {
  VS_CHECK_CUDA(boxes1);
  c10::cuda::CUDAGuard guard(boxes1.device());
  at::Tensor out = box_iou_rotated_output(boxes1, boxes2, aligned, mode);
  if (out.numel() == 0) return out;
  const int64_t n = boxes1.size(0), m = boxes2.size(0);
  const at::Tensor b1 = boxes1.contiguous();
  const at::Tensor b2 = boxes2.contiguous();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(b1.scalar_type(), "box_iou_rotated_cuda", [&] {
    const scalar_t e = static_cast<scalar_t>(eps);
    if (aligned) {
      const int64_t blocks = std::min<int64_t>((n + kThreads - 1) / kThreads, 65536);
      iou_aligned_kernel<scalar_t><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
          b1.data_ptr<scalar_t>(), b2.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n,
          static_cast<int>(mode), e);
    } else {
      const int64_t col_blocks = (m + kThreads - 1) / kThreads;
      TORCH_CHECK(col_blocks <= 2147483647LL, "too many boxes2");
      // row tiles spread over grid.y (<= 65535); blocks loop over the rest
      const int64_t row_blocks = std::min<int64_t>((n + kRows - 1) / kRows, 65535);
      dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(row_blocks));
      iou_pairwise_kernel<scalar_t><<<grid, kThreads, 0, stream>>>(
          b1.data_ptr<scalar_t>(), b2.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), n, m,
          static_cast<int>(mode), e);
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return out;
}

}  // namespace vision_sparse

TORCH_LIBRARY_IMPL(vision_sparse, CUDA, m) {
  m.impl("box_iou_rotated", &vision_sparse::box_iou_rotated_cuda);
}
