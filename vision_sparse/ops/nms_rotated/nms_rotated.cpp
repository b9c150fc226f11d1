// Schema of the rotated-box NMS op; kernels: nms_rotated_cpu.cpp, nms_rotated_cuda.cu.
#include "nms_rotated.h"

// Greedy NMS: a box is suppressed by a kept box of higher score (ties: lower
// index) when their IoU > iou_threshold (and, with labels, same label).
TORCH_LIBRARY_FRAGMENT(vision_sparse, m) {
  m.def(
      "nms_rotated(Tensor boxes, Tensor scores, float iou_threshold, "
      "Tensor? labels=None) -> Tensor");
}
