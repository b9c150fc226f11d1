// CPU kernel of box_iou_rotated: parallel over rows (pairwise) or pairs (aligned).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>

#include "box_iou_rotated.h"
#include "rotated_geometry_cpu.h"

namespace vision_sparse {

namespace {

// Geometry is computed in double for float32 inputs too: on the CPU it costs
// about the same as float and keeps the result within float32 rounding of the
// exact value.
using compute_t = double;

template <typename scalar_t>
void iou_pairwise_cpu(const at::Tensor& b1, const at::Tensor& b2, at::Tensor& out,
                      int mode, compute_t eps) {
  using rotated::kCullBlock;
  using rotated::RotBox;
  const int64_t n = b1.size(0), m = b2.size(0);
  const scalar_t* p1 = b1.data_ptr<scalar_t>();
  scalar_t* po = out.data_ptr<scalar_t>();
  // boxes2 prepared once, with their bounding circles
  const rotated::PreparedBoxes prep2(b2.data_ptr<scalar_t>(), m);
  const RotBox<compute_t>* q = prep2.box.data();
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(m, 1));
  at::parallel_for(0, n, grain, [&](int64_t begin, int64_t end) {
    uint8_t flag[kCullBlock];
    int idx[kCullBlock];
    for (int64_t i = begin; i < end; ++i) {
      const RotBox<compute_t> a = rotated::make_rot_box<compute_t>(p1 + 5 * i);
      scalar_t* row = po + i * m;
      std::fill(row, row + m, scalar_t(0));
      if (!a.valid) continue;
      for (int64_t j0 = 0; j0 < m; j0 += kCullBlock) {
        const int cnt = static_cast<int>(std::min<int64_t>(kCullBlock, m - j0));
        // 1. circle test (vectorised), 2. indices of the candidates (branch-free),
        // 3. the geometry for those only.
        prep2.circles_meet(a, j0, cnt, flag, [](int) { return true; });
        const int nc = rotated::flagged_indices(flag, cnt, idx);
        for (int c = 0; c < nc; ++c) {
          const int64_t j = j0 + idx[c];
          row[j] = static_cast<scalar_t>(rotated::rotated_iou(a, q[j], mode, eps));
        }
      }
    }
  });
}

template <typename scalar_t>
void iou_aligned_cpu(const at::Tensor& b1, const at::Tensor& b2, at::Tensor& out,
                     int mode, compute_t eps) {
  const int64_t n = b1.size(0);
  const scalar_t* p1 = b1.data_ptr<scalar_t>();
  const scalar_t* p2 = b2.data_ptr<scalar_t>();
  scalar_t* po = out.data_ptr<scalar_t>();
  at::parallel_for(0, n, 2048, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto a = rotated::make_rot_box<compute_t>(p1 + 5 * i);
      const auto b = rotated::make_rot_box<compute_t>(p2 + 5 * i);
      po[i] = static_cast<scalar_t>(rotated::rotated_iou(a, b, mode, eps));
    }
  });
}

}  // namespace

at::Tensor box_iou_rotated_cpu(const at::Tensor& boxes1, const at::Tensor& boxes2,
                               bool aligned, int64_t mode, double eps) {
  VS_CHECK_CPU(boxes1);
  at::Tensor out = box_iou_rotated_output(boxes1, boxes2, aligned, mode);
  if (out.numel() == 0) return out;
  const at::Tensor b1 = boxes1.contiguous();
  const at::Tensor b2 = boxes2.contiguous();
  AT_DISPATCH_FLOATING_TYPES(b1.scalar_type(), "box_iou_rotated_cpu", [&] {
    if (aligned) {
      iou_aligned_cpu<scalar_t>(b1, b2, out, static_cast<int>(mode), eps);
    } else {
      iou_pairwise_cpu<scalar_t>(b1, b2, out, static_cast<int>(mode), eps);
    }
  });
  return out;
}

}  // namespace vision_sparse

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  m.impl("box_iou_rotated", &vision_sparse::box_iou_rotated_cpu);
}
