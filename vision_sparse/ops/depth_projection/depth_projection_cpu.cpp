// CPU kernel of depth_projection, in two parallel phases:
//  1. points in chunks (at::parallel_for): every point is projected into every
//     view, its pixel (or -1) and depth stored in (V, N) scratch arrays;
//  2. views (at::parallel_for; the index map, when asked for, is filled with -1
//     in parallel over its values first):
//     each thread owns whole views and scans their points in index order,
//     keeping a point when its depth is strictly smaller than the pixel's, so
//     the smallest index wins among equal depths.
// No atomics and no per-thread copies of the images; the result does not depend
// on the number of threads.
//
// A large depth output is mapped straight from the system (anonymous pages are
// zero, as numpy.zeros gets them through calloc), with huge pages advised: the
// op writes only the pixels that points land on instead of filling the whole
// (V, H, W) map (at 6 x 900 x 1600 the fill and its page faults cost ~30x the
// projection itself), and empty regions are read later without being written.
#include <ATen/Parallel.h>
#include <c10/util/accumulate.h>
#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#define VS_DEPTH_MMAP 1
#endif

#include <algorithm>
#include <cstdint>
#include <vector>

#include "depth_projection.h"

namespace vision_sparse::depth_projection {

namespace {

constexpr int64_t kPointGrain = 2048;
constexpr int64_t kFillGrain = int64_t(1) << 16;
// Depth maps of at least this many bytes are mapped straight from the system.
constexpr size_t kMmapBytes = size_t(1) << 21;

template <typename T>
void run_cpu(const at::Tensor& points, const at::Tensor& mats, const Params& q,
             at::Tensor& depth, at::Tensor* index) {
  const T* P = points.data_ptr<T>();
  const T* M = mats.data_ptr<T>();
  T* D = depth.data_ptr<T>();
  int64_t* I = index ? index->data_ptr<int64_t>() : nullptr;
  const int64_t hw = q.H * q.W, total = q.V * hw;
  if (I) {
    at::parallel_for(0, total, kFillGrain,
                     [&](int64_t b, int64_t e) { std::fill(I + b, I + e, int64_t(-1)); });
  }
  if (q.N == 0) return;
  std::vector<int64_t> pix(static_cast<size_t>(q.V * q.N));
  std::vector<T> dep(static_cast<size_t>(q.V * q.N));
  at::parallel_for(0, q.N, kPointGrain, [&](int64_t b, int64_t e) {
    for (int64_t v = 0; v < q.V; ++v) {
      const T* m = M + v * q.mrows * 4;
      int64_t* pv = pix.data() + v * q.N;
      T* dv = dep.data() + v * q.N;
      for (int64_t n = b; n < e; ++n) pv[n] = project_point(P + n * q.C, m, q, dv[n]);
    }
  });
  at::parallel_for(0, q.V, 1, [&](int64_t b, int64_t e) {
    for (int64_t v = b; v < e; ++v) {
      const int64_t* pv = pix.data() + v * q.N;
      const T* dv = dep.data() + v * q.N;
      T* dimg = D + v * hw;
      int64_t* iimg = I ? I + v * hw : nullptr;
      for (int64_t n = 0; n < q.N; ++n) {
        const int64_t k = pv[n];
        if (k < 0) continue;
        const T cur = dimg[k];
        if (cur == T(0) || dv[n] < cur) {  // kept depths are > min_depth >= 0
          dimg[k] = dv[n];
          if (iimg) iimg[k] = n;
        }
      }
    }
  });
}

struct NoGuard {
  explicit NoGuard(const at::Device&) {}
};

struct CpuKernels {
  static void check_device(const at::Tensor& t) { VS_CHECK_CPU(t); }
  using Guard = NoGuard;
  static at::Tensor alloc_depth(at::IntArrayRef sizes, const at::TensorOptions& options) {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(c10::multiply_integers(sizes), 1)) *
                         options.dtype().itemsize();
#ifndef VS_DEPTH_MMAP
    (void)bytes;
    return at::zeros(sizes, options);  // no POSIX mmap (e.g. Windows): zero-filled maps
#else
    if (bytes < kMmapBytes) return at::zeros(sizes, options);
    // fresh anonymous pages are zero; huge pages where the system allows them
    // (a few faults instead of one per 4 kB page the points land on)
    void* data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TORCH_CHECK(data != MAP_FAILED, "depth_projection: out of memory for the depth maps");
#ifdef MADV_HUGEPAGE
    madvise(data, bytes, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
    return at::from_blob(data, sizes, [bytes](void* p) { munmap(p, bytes); }, options);
#endif
  }
  template <typename T>
  static void run(const at::Tensor& points, const at::Tensor& mats, const Params& q,
                  at::Tensor& depth, at::Tensor* index) {
    run_cpu<T>(points, mats, q, depth, index);
  }
};

}  // namespace
}  // namespace vision_sparse::depth_projection

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  vision_sparse::depth_projection::register_ops<vision_sparse::depth_projection::CpuKernels>(m);
}
