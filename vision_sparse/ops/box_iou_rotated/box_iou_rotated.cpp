// Schema of the rotated-box IoU op; kernels: box_iou_rotated_cpu.cpp, box_iou_rotated_cuda.cu.
#include "box_iou_rotated.h"

// boxes1 (N, 5), boxes2 (M, 5) float32/float64, same dtype and device.
// aligned=False -> (N, M); aligned=True (N == M) -> (N,).
// mode: 0 = IoU (inter / union), 1 = IoF (inter / area(boxes1)); the
// denominator is clamped to >= eps.
TORCH_LIBRARY_FRAGMENT(vision_sparse, m) {
  m.def(
      "box_iou_rotated(Tensor boxes1, Tensor boxes2, bool aligned, int mode, "
      "float eps=1e-6) -> Tensor");
}
