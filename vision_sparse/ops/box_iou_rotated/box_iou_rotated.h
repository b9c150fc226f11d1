// IoU of rotated boxes: declarations and the argument contract shared by the
// CPU (box_iou_rotated_cpu.cpp) and CUDA (box_iou_rotated_cuda.cu) kernels.
// The geometry (box convention, intersection area, IoU of one pair) is in
// csrc/rotated_geometry.h, shared with nms_rotated.
#pragma once
#include "rotated_geometry.h"

namespace vision_sparse {

// Checks boxes1 (N, 5), boxes2 (M, 5) (same float dtype, same device), mode and,
// when aligned, N == M; returns the uninitialised output: (N,) when aligned,
// else (N, M), dtype and device of boxes1.
inline at::Tensor box_iou_rotated_output(const at::Tensor& boxes1, const at::Tensor& boxes2,
                                         bool aligned, int64_t mode) {
  VS_CHECK_FLOAT(boxes1);
  TORCH_CHECK(boxes1.device() == boxes2.device(),
              "boxes1 and boxes2 must be on the same device");
  TORCH_CHECK(boxes1.scalar_type() == boxes2.scalar_type(),
              "boxes1 and boxes2 must have the same dtype");
  TORCH_CHECK(boxes1.dim() == 2 && boxes1.size(1) == 5, "boxes1 must have shape (N, 5)");
  TORCH_CHECK(boxes2.dim() == 2 && boxes2.size(1) == 5, "boxes2 must have shape (M, 5)");
  TORCH_CHECK(mode == rotated::kModeIoU || mode == rotated::kModeIoF,
              "mode must be 0 (iou) or 1 (iof)");
  const int64_t n = boxes1.size(0), m = boxes2.size(0);
  if (aligned) {
    TORCH_CHECK(n == m, "aligned=True needs boxes1 and boxes2 of the same length");
  }
  return aligned ? at::empty({n}, boxes1.options()) : at::empty({n, m}, boxes1.options());
}

// Ops (registered in box_iou_rotated.cpp; kernels in *_cpu.cpp / *_cuda.cu).
at::Tensor box_iou_rotated_cpu(const at::Tensor& boxes1, const at::Tensor& boxes2,
                               bool aligned, int64_t mode, double eps);
#ifdef WITH_CUDA
at::Tensor box_iou_rotated_cuda(const at::Tensor& boxes1, const at::Tensor& boxes2,
                                bool aligned, int64_t mode, double eps);
#endif

}  // namespace vision_sparse
