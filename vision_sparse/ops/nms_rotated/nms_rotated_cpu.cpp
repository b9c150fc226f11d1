// CPU kernel of nms_rotated: stable sort by score, then the greedy loop; the
// candidates of each kept box are tested in parallel (at::parallel_for).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "nms_rotated.h"
#include "rotated_geometry_cpu.h"

namespace vision_sparse {

namespace {

template <typename scalar_t>
void nms_sorted_cpu(const scalar_t* boxes, const int64_t* labels, int64_t n,
                    double thr, std::vector<int64_t>& keep) {
  using rotated::kCullBlock;
  using rotated::RotBox;
  const rotated::PreparedBoxes prep(boxes, n);
  std::vector<uint8_t> suppressed(static_cast<size_t>(n), 0);
  const RotBox<double>* bx = prep.box.data();
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
        const uint8_t* sj = sup + j0;
        if (cull) {
          prep.circles_meet(a, j0, cnt, flag, [sj](int k) { return sj[k] == 0; });
        } else {
          for (int k = 0; k < cnt; ++k) flag[k] = sj[k] == 0;
        }
        const int nc = rotated::flagged_indices(flag, cnt, idx);
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
  const NmsSorted s = nms_sort_by_score(boxes, scores, labels);
  const int64_t n = boxes.size(0);
  if (n == 0) return s.order;
  std::vector<int64_t> keep;
  AT_DISPATCH_FLOATING_TYPES(s.boxes.scalar_type(), "nms_rotated_cpu", [&] {
    nms_sorted_cpu<scalar_t>(s.boxes.data_ptr<scalar_t>(),
                             s.labels.defined() ? s.labels.data_ptr<int64_t>() : nullptr, n,
                             iou_threshold, keep);
  });
  const at::Tensor keep_sorted = at::tensor(keep, boxes.options().dtype(at::kLong));
  return s.order.index_select(0, keep_sorted);
}

}  // namespace vision_sparse

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  m.impl("nms_rotated", &vision_sparse::nms_rotated_cpu);
}
