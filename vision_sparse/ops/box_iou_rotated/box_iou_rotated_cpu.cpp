// CPU kernel of box_iou_rotated: parallel over rows (pairwise) or pairs (aligned).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "box_iou_rotated.h"

namespace vision_sparse {

namespace {

// Geometry is computed in double for float32 inputs too: on the CPU it costs
// about the same as float and keeps the result within float32 rounding of the
// exact value.
using compute_t = double;

// Columns per block of the vectorised bounding-circle test.
constexpr int kCullBlock = 256;

template <typename scalar_t>
void iou_pairwise_cpu(const at::Tensor& b1, const at::Tensor& b2, at::Tensor& out,
                      int mode, compute_t eps) {
  using rotated::RotBox;
  const int64_t n = b1.size(0), m = b2.size(0);
  const scalar_t* p1 = b1.data_ptr<scalar_t>();
  const scalar_t* p2 = b2.data_ptr<scalar_t>();
  scalar_t* po = out.data_ptr<scalar_t>();
  // boxes2 prepared once (cos / sin / radius / area), plus their bounding
  // circles in separate arrays for a vectorisable rejection test.
  std::vector<RotBox<compute_t>> prep2(static_cast<size_t>(m));
  std::vector<compute_t> cx(m), cy(m), cr(m);
  at::parallel_for(0, m, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      prep2[j] = rotated::make_rot_box<compute_t>(p2 + 5 * j);
      cx[j] = prep2[j].x;
      cy[j] = prep2[j].y;
      // degenerate boxes: a NaN radius fails every circle test
      cr[j] = prep2[j].valid ? prep2[j].r : std::numeric_limits<compute_t>::quiet_NaN();
    }
  });
  const RotBox<compute_t>* q = prep2.data();
  const compute_t* qx = cx.data();
  const compute_t* qy = cy.data();
  const compute_t* qr = cr.data();
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
        for (int k = 0; k < cnt; ++k) {
          const compute_t dx = qx[j0 + k] - a.x, dy = qy[j0 + k] - a.y;
          const compute_t rr = qr[j0 + k] + a.r;
          flag[k] = dx * dx + dy * dy < rr * rr;
        }
        int nc = 0;
        for (int k = 0; k < cnt; ++k) {
          idx[nc] = k;
          nc += flag[k];
        }
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
  VS_CHECK_CPU(boxes2);
  VS_CHECK_FLOAT(boxes1);
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
  at::Tensor out = aligned ? at::empty({n}, boxes1.options())
                           : at::empty({n, m}, boxes1.options());
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
