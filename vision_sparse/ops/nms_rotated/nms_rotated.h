// Greedy NMS of rotated boxes: declarations and the argument handling shared by
// the CPU (nms_rotated_cpu.cpp) and CUDA (nms_rotated_cuda.cu) kernels.  The
// geometry (same IoU as box_iou_rotated) is in csrc/rotated_geometry.h.
#pragma once
#include <optional>
#include <tuple>

#include "rotated_geometry.h"

namespace vision_sparse {

// IoU computations of the NMS kernels are done in double (CPU and CUDA) so
// that the keep lists of the CPU kernel, the CUDA kernel and the reference
// (which also works in float64) agree, even near the threshold.
constexpr double kNmsIoUEps = 1e-6;

// The boxes (and labels) in the order of decreasing score (stable: ties by index).
struct NmsSorted {
  at::Tensor order;   // (N,) int64: position in the input of each sorted box
  at::Tensor boxes;   // (N, 5) contiguous, sorted
  at::Tensor labels;  // (N,) int64 contiguous, sorted; undefined without labels
};

// Checks the arguments (shapes, one device) and sorts them by score.
inline NmsSorted nms_sort_by_score(const at::Tensor& boxes, const at::Tensor& scores,
                                   const std::optional<at::Tensor>& labels) {
  VS_CHECK_FLOAT(boxes);
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 5, "boxes must have shape (N, 5)");
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0),
              "scores must have shape (N,)");
  TORCH_CHECK(scores.device() == boxes.device(), "scores must be on the device of boxes");
  const bool has_labels = labels.has_value() && labels->defined();
  if (has_labels) {
    TORCH_CHECK(labels->device() == boxes.device(), "labels must be on the device of boxes");
    TORCH_CHECK(labels->dim() == 1 && labels->size(0) == boxes.size(0),
                "labels must have shape (N,)");
  }
  NmsSorted s;
  s.order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  s.boxes = boxes.index_select(0, s.order).contiguous();
  if (has_labels) s.labels = labels->to(at::kLong).index_select(0, s.order).contiguous();
  return s;
}

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
