// CPU-side helpers of the rotated-box kernels (box_iou_rotated_cpu.cpp,
// nms_rotated_cpu.cpp) over csrc/rotated_geometry.h: boxes prepared once for
// many pair tests, and the vectorised bounding-circle test that picks the pairs
// worth the polygon clipping.
#pragma once
#include <ATen/Parallel.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "rotated_geometry.h"

namespace vision_sparse {
namespace rotated {

// Candidates per block of the vectorised bounding-circle test.
constexpr int kCullBlock = 256;

// n boxes prepared in double (cos / sin / radius / area), plus their bounding
// circles in separate arrays for a vectorisable rejection test.  A degenerate
// box gets a NaN radius, which fails every circle test (its IoU is 0 anyway).
struct PreparedBoxes {
  std::vector<RotBox<double>> box;
  std::vector<double> x, y, r;

  template <typename S>
  PreparedBoxes(const S* boxes, int64_t n)
      : box(static_cast<size_t>(n)), x(n), y(n), r(n) {
    at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t j = begin; j < end; ++j) {
        box[j] = make_rot_box<double>(boxes + 5 * j);
        x[j] = box[j].x;
        y[j] = box[j].y;
        r[j] = box[j].valid ? box[j].r : std::numeric_limits<double>::quiet_NaN();
      }
    });
  }

  // flag[k] = whether the bounding circles of a and of box j0 + k meet and
  // keep(k), for k < cnt (one vectorisable pass).
  template <typename Keep>
  inline void circles_meet(const RotBox<double>& a, int64_t j0, int cnt, uint8_t* flag,
                           Keep&& keep) const {
    const double* px = x.data() + j0;
    const double* py = y.data() + j0;
    const double* pr = r.data() + j0;
    for (int k = 0; k < cnt; ++k) {
      const double dx = px[k] - a.x, dy = py[k] - a.y;
      const double rr = pr[k] + a.r;
      flag[k] = (dx * dx + dy * dy < rr * rr) & keep(k);
    }
  }
};

// The k < cnt with flag[k] set, in order, written to idx (branch-free);
// returns how many.
inline int flagged_indices(const uint8_t* flag, int cnt, int* idx) {
  int nc = 0;
  for (int k = 0; k < cnt; ++k) {
    idx[nc] = k;
    nc += flag[k];
  }
  return nc;
}

}  // namespace rotated
}  // namespace vision_sparse
