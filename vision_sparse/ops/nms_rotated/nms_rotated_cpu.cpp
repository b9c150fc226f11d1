// CPU kernel of nms_rotated: stable sort by score, then the greedy loop; the
// candidates of each kept box are tested in parallel (at::parallel_for).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "nms_rotated.h"

namespace vision_sparse {

namespace {

// Candidates per block of the vectorised rejection test.
constexpr int kCullBlock = 256;

template <typename scalar_t>
void nms_sorted_cpu(const scalar_t* boxes, const int64_t* labels, int64_t n,
                    double thr, std::vector<int64_t>& keep) {
  using rotated::RotBox;
  std::vector<RotBox<double>> prep(static_cast<size_t>(n));
  // bounding circles in separate arrays for the vectorised rejection test
  std::vector<double> cx(n), cy(n), cr(n);
  at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      prep[i] = rotated::make_rot_box<double>(boxes + 5 * i);
      cx[i] = prep[i].x;
      cy[i] = prep[i].y;
      cr[i] = prep[i].r;
    }
  });
  std::vector<uint8_t> suppressed(static_cast<size_t>(n), 0);
  const RotBox<double>* bx = prep.data();
  const double* px = cx.data();
  const double* py = cy.data();
  const double* pr = cr.data();
  uint8_t* sup = suppressed.data();
  const double eps = kNmsIoUEps;
  // Pairs with disjoint bounding circles have IoU 0: they are skipped unless
  // 0 > thr (a negative threshold suppresses every same-label box).
  const bool cull = thr >= 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (sup[i]) continue;
    keep.push_back(i);
    const RotBox<double> a = bx[i];
    const int64_t li = labels ? labels[i] : 0;
    at::parallel_for(i + 1, n, 8192, [&](int64_t begin, int64_t end) {
      uint8_t flag[kCullBlock];
      int idx[kCullBlock];
      for (int64_t j0 = begin; j0 < end; j0 += kCullBlock) {
        const int cnt = static_cast<int>(std::min<int64_t>(kCullBlock, end - j0));
        // 1. not suppressed and circles meet (vectorised), 2. indices of the
        // candidates (branch-free), 3. labels and IoU for those only.
        if (cull) {
          for (int k = 0; k < cnt; ++k) {
            const double dx = px[j0 + k] - a.x, dy = py[j0 + k] - a.y;
            const double rr = pr[j0 + k] + a.r;
            flag[k] = (dx * dx + dy * dy < rr * rr) & (sup[j0 + k] == 0);
          }
        } else {
          for (int k = 0; k < cnt; ++k) flag[k] = sup[j0 + k] == 0;
        }
        int nc = 0;
        for (int k = 0; k < cnt; ++k) {
          idx[nc] = k;
          nc += flag[k];
        }
        for (int c = 0; c < nc; ++c) {
          const int64_t j = j0 + idx[c];
          if (labels && labels[j] != li) continue;
          if (rotated::rotated_iou_greater(a, bx[j], thr, eps)) sup[j] = 1;
        }
      }
    });
  }
}

}  // namespace

at::Tensor nms_rotated_cpu(const at::Tensor& boxes, const at::Tensor& scores,
                           double iou_threshold, const std::optional<at::Tensor>& labels) {
  VS_CHECK_CPU(boxes);
  VS_CHECK_CPU(scores);
  VS_CHECK_FLOAT(boxes);
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 5, "boxes must have shape (N, 5)");
  TORCH_CHECK(scores.dim() == 1 && scores.size(0) == boxes.size(0),
              "scores must have shape (N,)");
  const bool has_labels = labels.has_value() && labels->defined();
  if (has_labels) {
    VS_CHECK_CPU((*labels));
    TORCH_CHECK(labels->dim() == 1 && labels->size(0) == boxes.size(0),
                "labels must have shape (N,)");
  }
  const int64_t n = boxes.size(0);
  if (n == 0) return at::empty({0}, boxes.options().dtype(at::kLong));
  const at::Tensor order =
      std::get<1>(scores.sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  const at::Tensor b = boxes.index_select(0, order).contiguous();
  at::Tensor lab;
  if (has_labels) lab = labels->to(at::kLong).index_select(0, order).contiguous();
  std::vector<int64_t> keep;
  AT_DISPATCH_FLOATING_TYPES(b.scalar_type(), "nms_rotated_cpu", [&] {
    nms_sorted_cpu<scalar_t>(b.data_ptr<scalar_t>(),
                             has_labels ? lab.data_ptr<int64_t>() : nullptr, n,
                             iou_threshold, keep);
  });
  const at::Tensor keep_sorted =
      at::tensor(keep, boxes.options().dtype(at::kLong));
  return order.index_select(0, keep_sorted);
}

}  // namespace vision_sparse

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  m.impl("nms_rotated", &vision_sparse::nms_rotated_cpu);
}
