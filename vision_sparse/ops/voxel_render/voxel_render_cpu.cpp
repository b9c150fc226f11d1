// CPU kernels of voxel_render.
//
// Forward: parallel over rays.  Backward: rays grouped by landmark (counting
// sort) and parallel over landmarks, so that each thread owns the gradient of
// its landmarks: no atomics, no per-thread copies of the grids, and the result
// does not depend on the number of threads.
//
// Both march each ray sample by sample, with the per-sample scalars (position,
// trilinear weights, density, alpha, transmittance) in float64.  The C-channel
// work is done once per grid node the ray touches, not once per sample and
// corner: the march accumulates the node weights W_n = sum_i w_i tri_in (about
// 20 of the 27 nodes of a 3x3x3 grid, against 8 corners x ~30 samples), then
// feat = sum_n W_n F_n + T_N bg (forward) and grad_F_n += W_n g (backward), in
// the grids' dtype.  The backward recomputes the per-sample values instead of
// storing them (nothing per sample is kept between forward and backward) and
// needs, for the rest-of-ray term, only the forward outputs feat and T_last:
//   dL/ds_i = interval * (T_{i+1} e_i - R_i),   e_i = <g, f_i>,
//   R_i = sum_{j>i} w_j e_j + T_N (bg sum(g) + gT) = <g, feat> + gT T_N - sum_{j<=i} w_j e_j,
// and e_i is the trilinear interpolation of h_n = <g, F_n> (one dot product per
// touched node).
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "voxel_render.h"

namespace vision_sparse::voxel_render {

namespace {

// <a, b> over n values, accumulated in T with independent partial sums so
// that the loop vectorises.
template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += a[c + j] * b[c + j];
  }
  for (; c < n; ++c) acc[0] += a[c] * b[c];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// y[0:n] += a * x[0:n]
template <typename T>
inline void axpy(T* y, T a, const T* x, int64_t n) {
  for (int64_t c = 0; c < n; ++c) y[c] += a * x[c];
}

// Per-thread scratch of one ray: the nodes it touches, their accumulated
// weights sum_i w_i tri_i and, in the backward, h_n = <g, F_n>.  stamp[n] == r
// marks node n as touched by ray r (no clearing between rays).
struct RayScratch {
  std::vector<int64_t> stamp, touched;
  std::vector<double> W, h;
  explicit RayScratch(int64_t gn)
      : stamp(static_cast<size_t>(gn), -1), W(static_cast<size_t>(gn)),
        h(static_cast<size_t>(gn)) {
    touched.reserve(static_cast<size_t>(gn));
  }
  // Registers the 8 corners of a new cell; returns the newly touched ones in
  // touched[first..].
  inline size_t enter(int64_t cell, const int64_t* off, int64_t r) {
    const size_t first = touched.size();
    for (int k = 0; k < 8; ++k) {
      const int64_t n = cell + off[k];
      if (stamp[n] != r) {
        stamp[n] = r;
        W[n] = 0.0;
        touched.push_back(n);
      }
    }
    return first;
  }
};

template <typename scalar_t>
void forward_cpu(const KernelArgs<scalar_t>& a, double bg, scalar_t* out, scalar_t* t_last) {
  const Dims& dm = a.dm;
  const int64_t C = dm.C, gn = dm.gn;
  int64_t off[8];
  corner_offsets(off, dm.gy, dm.gz);
  at::parallel_for(0, dm.R, 64, [&](int64_t begin, int64_t end) {
    RayScratch sc(gn);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t l = a.ids[r];
      const scalar_t* F = a.ft + l * gn * C;
      double T = 1.0;
      sc.touched.clear();
      march<double>(
          a.ray(r, l), dm, off, a.dens + l * gn, a.shift, a.ratio, NoField{},
          [&](int64_t, int64_t cell) { sc.enter(cell, off, r); },
          [&](const Sample& sp, int64_t cell, const Activation<double>& act, double) {
            const double w = T * act.alpha;
            for (int k = 0; k < 8; ++k) sc.W[cell + off[k]] += w * sp.w[k];
            T *= act.decay;
          });
      scalar_t* o = out + r * C;
      std::fill(o, o + C, static_cast<scalar_t>(T * bg));
      for (const int64_t n : sc.touched) axpy(o, static_cast<scalar_t>(sc.W[n]), F + n * C, C);
      t_last[r] = static_cast<scalar_t>(T);
    }
  });
}

template <typename scalar_t>
void backward_cpu(const KernelArgs<scalar_t>& a, const BackwardIO<scalar_t>& io) {
  const Dims& dm = a.dm;
  const int64_t C = dm.C, gn = dm.gn, L = dm.L, R = dm.R;
  int64_t off[8];
  corner_offsets(off, dm.gy, dm.gz);
  // Rays of landmark l: order[start[l] .. start[l + 1]).
  std::vector<int64_t> start(static_cast<size_t>(L + 1), 0), order(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) ++start[a.ids[r] + 1];
  for (int64_t l = 0; l < L; ++l) start[l + 1] += start[l];
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t r = 0; r < R; ++r) order[fill[a.ids[r]]++] = r;
  }
  at::parallel_for(0, L, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> gd(static_cast<size_t>(gn));
    RayScratch sc(gn);
    for (int64_t l = begin; l < end; ++l) {
      if (start[l] == start[l + 1]) continue;
      const scalar_t* F = a.ft + l * gn * C;
      // this thread owns landmark l: its gradient rows are written in place
      scalar_t* gF = io.g_ft + l * gn * C;  // (G^3, C) layout, transposed by the caller
      std::fill(gd.begin(), gd.end(), 0.0);
      bool any = false;
      for (int64_t q = start[l]; q < start[l + 1]; ++q) {
        const int64_t r = order[q];
        const Ray ray = a.ray(r, l);
        if (ray.n == 0) continue;  // a miss: feat = bg does not depend on the grids
        any = true;
        const scalar_t* g = io.g_feat + r * C;
        // <g, feat> + gT T_N = sum_i w_i e_i + T_N (bg sum(g) + gT)
        const double total = static_cast<double>(dot(g, io.feat + r * C, C)) +
                             static_cast<double>(io.g_tl[r]) * static_cast<double>(io.t_last[r]);
        double T = 1.0, A = 0.0;
        sc.touched.clear();
        march<double>(
            ray, dm, off, a.dens + l * gn, a.shift, a.ratio,
            [&](int, int64_t node) { return sc.h[node]; },  // e_i = sum_k tri_k h_k
            [&](int64_t, int64_t cell) {
              const size_t first = sc.enter(cell, off, r);
              for (size_t j = first; j < sc.touched.size(); ++j) {
                const int64_t n = sc.touched[j];
                sc.h[n] = static_cast<double>(dot(g, F + n * C, C));
              }
            },
            [&](const Sample& sp, int64_t cell, const Activation<double>& act, double e) {
              const double w = T * act.alpha;
              const double t_next = T * act.decay;
              A += w * e;
              // dL/ds_i = interval (T_{i+1} e_i - R_i), R_i = total - sum_{j<=i} w_j e_j
              const double dx = a.ratio * (t_next * e - (total - A)) * act.ds;
              for (int k = 0; k < 8; ++k) {
                gd[cell + off[k]] += sp.w[k] * dx;
                sc.W[cell + off[k]] += w * sp.w[k];
              }
              T = t_next;
            });
        for (const int64_t n : sc.touched) axpy(gF + n * C, static_cast<scalar_t>(sc.W[n]), g, C);
      }
      if (!any) continue;
      scalar_t* gD = io.g_dens + l * gn;
      for (int64_t n = 0; n < gn; ++n) gD[n] = static_cast<scalar_t>(gd[n]);
    }
  });
}

struct NoGuard {
  explicit NoGuard(const at::Device&) {}
};

struct CpuKernels {
  static void check_device(const at::Tensor& density) { VS_CHECK_CPU(density); }
  using Guard = NoGuard;
  template <typename scalar_t>
  static void forward(const KernelArgs<scalar_t>& a, double bg, scalar_t* feat,
                      scalar_t* t_last) {
    forward_cpu(a, bg, feat, t_last);
  }
  template <typename scalar_t>
  static void backward(const KernelArgs<scalar_t>& a, const BackwardIO<scalar_t>& io) {
    backward_cpu(a, io);
  }
};

}  // namespace
}  // namespace vision_sparse::voxel_render

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  vision_sparse::voxel_render::register_ops<vision_sparse::voxel_render::CpuKernels>(m);
}
