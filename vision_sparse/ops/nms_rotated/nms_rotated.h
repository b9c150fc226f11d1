// Greedy NMS of rotated boxes: declarations.  The geometry is shared with
// box_iou_rotated (same header, same IoU).
#pragma once
#include <optional>

#include "../box_iou_rotated/box_iou_rotated.h"

namespace vision_sparse {

// IoU computations of the NMS kernels are done in double (CPU and CUDA) so
// that the keep lists of the CPU kernel, the CUDA kernel and the reference
// (which also works in float64) agree, even near the threshold.
constexpr double kNmsIoUEps = 1e-6;

// boxes (N, 5) float32/float64, scores (N,) floating, labels None or (N,) int64
// (class-aware: boxes of different labels never suppress each other).
// Returns int64 indices of the kept boxes, by decreasing score (ties: by index).
at::Tensor nms_rotated_cpu(const at::Tensor& boxes, const at::Tensor& scores,
                           double iou_threshold, const std::optional<at::Tensor>& labels);
#ifdef WITH_CUDA
at::Tensor nms_rotated_cuda(const at::Tensor& boxes, const at::Tensor& scores,
                            double iou_threshold, const std::optional<at::Tensor>& labels);
#endif

}  // namespace vision_sparse
