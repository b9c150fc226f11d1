// CUDA kernel of nms_rotated:
//   1. stable sort by score (torch), boxes gathered in that order;
//   2. mask kernel: block (row tile, col tile) of 64 x 64 boxes; thread r sets
//      bit c of mask[row, col tile] when box col > box row in the sorted order,
//      same label and IoU > threshold (upper triangle only);
//   3. reduction on the device by one warp: the greedy scan over the sorted boxes,
//      OR-ing the mask row of every kept box into the `removed` bitset.
// c10 headers only (ATen/cuda/CUDAContext.h would need the cuBLAS / cuSPARSE headers)
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>

#include "nms_rotated.h"

namespace vision_sparse {

namespace {

constexpr int kBlock = 64;  // bits of a mask word
constexpr int kMaxSharedRemoved = 48 * 1024 / 8;  // words of `removed` kept in shared memory

template <typename scalar_t>
__global__ void nms_rotated_mask_kernel(const scalar_t* __restrict__ boxes,
                                        const int64_t* __restrict__ labels, int64_t n,
                                        int64_t col_blocks, double thr,
                                        unsigned long long* __restrict__ mask) {
  using rotated::RotBox;
  const int64_t row_tile = blockIdx.y, col_tile = blockIdx.x;
  if (row_tile > col_tile) return;  // lower triangle: never read
  const int64_t row_size = min(n - row_tile * kBlock, static_cast<int64_t>(kBlock));
  const int64_t col_size = min(n - col_tile * kBlock, static_cast<int64_t>(kBlock));
  __shared__ RotBox<double> cols[kBlock];
  __shared__ int64_t col_labels[kBlock];
  if (threadIdx.x < col_size) {
    const int64_t j = col_tile * kBlock + threadIdx.x;
    cols[threadIdx.x] = rotated::make_rot_box<double>(boxes + 5 * j);
    col_labels[threadIdx.x] = labels ? labels[j] : 0;
  }
  __syncthreads();
  if (threadIdx.x < row_size) {
    const int64_t i = row_tile * kBlock + threadIdx.x;
    const RotBox<double> a = rotated::make_rot_box<double>(boxes + 5 * i);
    const int64_t li = labels ? labels[i] : 0;
    unsigned long long bits = 0ULL;
    const int start = (row_tile == col_tile) ? static_cast<int>(threadIdx.x) + 1 : 0;
    for (int k = start; k < col_size; ++k) {
      if (col_labels[k] != li) continue;
      if (rotated::rotated_iou_greater(a, cols[k], thr, kNmsIoUEps)) bits |= 1ULL << k;
    }
    mask[i * col_blocks + col_tile] = bits;
  }
}

// One warp: greedy scan.  `removed_global` (col_blocks zeroed words) is used
// when the bitset does not fit in shared memory.
__global__ void nms_rotated_reduce_kernel(const unsigned long long* __restrict__ mask,
                                          int64_t n, int64_t col_blocks, bool use_shared,
                                          unsigned long long* removed_global,
                                          bool* __restrict__ keep) {
  extern __shared__ unsigned long long removed_shared[];
  unsigned long long* removed = use_shared ? removed_shared : removed_global;
  const int lane = threadIdx.x;
  if (use_shared) {
    for (int64_t w = lane; w < col_blocks; w += 32) removed[w] = 0ULL;
  }
  __syncwarp();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t blk = i / kBlock;
    const bool is_removed = (removed[blk] >> (i % kBlock)) & 1ULL;
    __syncwarp();
    if (!is_removed) {
      if (lane == 0) keep[i] = true;
      const unsigned long long* row = mask + i * col_blocks;
      for (int64_t w = blk + lane; w < col_blocks; w += 32) removed[w] |= row[w];
    }
    __syncwarp();
  }
}

}  // namespace

at::Tensor nms_rotated_cuda(const at::Tensor& boxes, const at::Tensor& scores,
                            double iou_threshold, const std::optional<at::Tensor>& labels) {
  VS_CHECK_CUDA(boxes);
  c10::cuda::CUDAGuard guard(boxes.device());
  const NmsSorted s = nms_sort_by_score(boxes, scores, labels);
  const int64_t n = boxes.size(0);
  if (n == 0) return s.order;
  const at::Tensor& b = s.boxes;
  const bool has_labels = s.labels.defined();

  const int64_t col_blocks = (n + kBlock - 1) / kBlock;
  TORCH_CHECK(col_blocks <= 65535, "nms_rotated_cuda: too many boxes (", n, ")");
  at::Tensor mask = at::empty({n * col_blocks}, boxes.options().dtype(at::kLong));
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(col_blocks));
  AT_DISPATCH_FLOATING_TYPES(b.scalar_type(), "nms_rotated_cuda", [&] {
    nms_rotated_mask_kernel<scalar_t><<<grid, kBlock, 0, stream>>>(
        b.data_ptr<scalar_t>(), has_labels ? s.labels.data_ptr<int64_t>() : nullptr, n,
        col_blocks, iou_threshold,
        reinterpret_cast<unsigned long long*>(mask.data_ptr<int64_t>()));
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  at::Tensor keep = at::zeros({n}, boxes.options().dtype(at::kBool));
  const bool use_shared = col_blocks <= kMaxSharedRemoved;
  at::Tensor removed = use_shared ? at::empty({0}, boxes.options().dtype(at::kLong))
                                  : at::zeros({col_blocks}, boxes.options().dtype(at::kLong));
  const size_t shmem = use_shared ? static_cast<size_t>(col_blocks) * 8 : 0;
  nms_rotated_reduce_kernel<<<1, 32, shmem, stream>>>(
      reinterpret_cast<const unsigned long long*>(mask.data_ptr<int64_t>()), n, col_blocks,
      use_shared,
      use_shared ? nullptr : reinterpret_cast<unsigned long long*>(removed.data_ptr<int64_t>()),
      keep.data_ptr<bool>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return s.order.index_select(0, keep.nonzero().squeeze(1));
}

}  // namespace vision_sparse

TORCH_LIBRARY_IMPL(vision_sparse, CUDA, m) {
  m.impl("nms_rotated", &vision_sparse::nms_rotated_cuda);
}
