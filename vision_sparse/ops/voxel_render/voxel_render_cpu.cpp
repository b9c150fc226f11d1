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

namespace vision_sparse {

namespace {

using voxel_render::Dims;
using voxel_render::Ray;
using voxel_render::Sample;

struct Params {
  double ratio;  // step_ratio: sample step in voxels, also the alpha interval
  double shift;  // density shift before softplus
  double bg;     // background value
};

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
void forward_impl(const Dims& dm, const scalar_t* dens, const scalar_t* ft,
                  const double* bmin, const double* bmax, const double* ro, const double* rd,
                  const int64_t* ids, const Params& p, scalar_t* out, scalar_t* t_last) {
  const int64_t C = dm.C, gn = dm.gn;
  int64_t off[8];
  for (int k = 0; k < 8; ++k) off[k] = voxel_render::corner_offset(k, dm.gy, dm.gz);
  at::parallel_for(0, dm.R, 64, [&](int64_t begin, int64_t end) {
    RayScratch sc(gn);
    for (int64_t r = begin; r < end; ++r) {
      const int64_t l = ids[r];
      const Ray ray = voxel_render::make_ray(ro + 3 * r, rd + 3 * r, bmin + 3 * l,
                                             bmax + 3 * l, dm.gx, dm.gy, dm.gz, p.ratio);
      const scalar_t* D = dens + l * gn;
      const scalar_t* F = ft + l * gn * C;
      double T = 1.0;
      int64_t cell = -1;
      sc.touched.clear();
      for (int64_t i = 0; i < ray.n; ++i) {
        const Sample sp = voxel_render::make_sample(ray, i, dm.gx, dm.gy, dm.gz);
        if (sp.base != cell) {
          cell = sp.base;
          sc.enter(cell, off, r);
        }
        double sigma = 0.0;
        for (int k = 0; k < 8; ++k) sigma += sp.w[k] * static_cast<double>(D[cell + off[k]]);
        const auto act = voxel_render::activate<double>(sigma + p.shift, p.ratio);
        const double w = T * act.alpha;
        for (int k = 0; k < 8; ++k) sc.W[cell + off[k]] += w * sp.w[k];
        T *= act.decay;
      }
      scalar_t* o = out + r * C;
      std::fill(o, o + C, static_cast<scalar_t>(T * p.bg));
      for (const int64_t n : sc.touched) axpy(o, static_cast<scalar_t>(sc.W[n]), F + n * C, C);
      t_last[r] = static_cast<scalar_t>(T);
    }
  });
}

template <typename scalar_t>
void backward_impl(const Dims& dm, const scalar_t* dens, const scalar_t* ft,
                   const double* bmin, const double* bmax, const double* ro, const double* rd,
                   const int64_t* ids, const Params& p, const scalar_t* g_feat,
                   const scalar_t* g_tl, const scalar_t* feat, const scalar_t* t_last,
                   scalar_t* g_dens, scalar_t* g_ft) {
  const int64_t C = dm.C, gn = dm.gn, L = dm.L, R = dm.R;
  int64_t off[8];
  for (int k = 0; k < 8; ++k) off[k] = voxel_render::corner_offset(k, dm.gy, dm.gz);
  // Rays of landmark l: order[start[l] .. start[l + 1]).
  std::vector<int64_t> start(static_cast<size_t>(L + 1), 0), order(static_cast<size_t>(R));
  for (int64_t r = 0; r < R; ++r) ++start[ids[r] + 1];
  for (int64_t l = 0; l < L; ++l) start[l + 1] += start[l];
  {
    std::vector<int64_t> fill(start.begin(), start.end() - 1);
    for (int64_t r = 0; r < R; ++r) order[fill[ids[r]]++] = r;
  }
  at::parallel_for(0, L, 1, [&](int64_t begin, int64_t end) {
    std::vector<double> gd(static_cast<size_t>(gn));
    RayScratch sc(gn);
    for (int64_t l = begin; l < end; ++l) {
      if (start[l] == start[l + 1]) continue;
      const scalar_t* D = dens + l * gn;
      const scalar_t* F = ft + l * gn * C;
      // this thread owns landmark l: its gradient rows are written in place
      scalar_t* gF = g_ft + l * gn * C;  // (G^3, C) layout, transposed by the caller
      std::fill(gd.begin(), gd.end(), 0.0);
      bool any = false;
      for (int64_t q = start[l]; q < start[l + 1]; ++q) {
        const int64_t r = order[q];
        const Ray ray = voxel_render::make_ray(ro + 3 * r, rd + 3 * r, bmin + 3 * l,
                                               bmax + 3 * l, dm.gx, dm.gy, dm.gz, p.ratio);
        if (ray.n == 0) continue;  // a miss: feat = bg does not depend on the grids
        any = true;
        const scalar_t* g = g_feat + r * C;
        // <g, feat> + gT T_N = sum_i w_i e_i + T_N (bg sum(g) + gT)
        const double total = static_cast<double>(dot(g, feat + r * C, C)) +
                             static_cast<double>(g_tl[r]) * static_cast<double>(t_last[r]);
        double T = 1.0, A = 0.0;
        int64_t cell = -1;
        sc.touched.clear();
        for (int64_t i = 0; i < ray.n; ++i) {
          const Sample sp = voxel_render::make_sample(ray, i, dm.gx, dm.gy, dm.gz);
          if (sp.base != cell) {
            cell = sp.base;
            const size_t first = sc.enter(cell, off, r);
            for (size_t j = first; j < sc.touched.size(); ++j) {
              const int64_t n = sc.touched[j];
              sc.h[n] = static_cast<double>(dot(g, F + n * C, C));
            }
          }
          double sigma = 0.0, e = 0.0;
          for (int k = 0; k < 8; ++k) {
            sigma += sp.w[k] * static_cast<double>(D[cell + off[k]]);
            e += sp.w[k] * sc.h[cell + off[k]];
          }
          const auto act = voxel_render::activate<double>(sigma + p.shift, p.ratio);
          const double w = T * act.alpha;
          const double t_next = T * act.decay;
          A += w * e;
          // dL/ds_i = interval (T_{i+1} e_i - R_i), R_i = total - sum_{j<=i} w_j e_j
          const double dx = p.ratio * (t_next * e - (total - A)) * act.ds;
          for (int k = 0; k < 8; ++k) {
            gd[cell + off[k]] += sp.w[k] * dx;
            sc.W[cell + off[k]] += w * sp.w[k];
          }
          T = t_next;
        }
        for (const int64_t n : sc.touched) axpy(gF + n * C, static_cast<scalar_t>(sc.W[n]), g, C);
      }
      if (!any) continue;
      scalar_t* gD = g_dens + l * gn;
      for (int64_t n = 0; n < gn; ++n) gD[n] = static_cast<scalar_t>(gd[n]);
    }
  });
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> voxel_render_forward_cpu(
    const at::Tensor& density, const at::Tensor& features, const at::Tensor& box_min,
    const at::Tensor& box_max, const at::Tensor& rays_o, const at::Tensor& rays_d,
    const at::Tensor& ray_ids, double step_ratio, double density_shift, double bg) {
  VS_CHECK_CPU(density);
  const Dims dm =
      voxel_render::check_args(density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  TORCH_CHECK(step_ratio > 0.0, "step_ratio must be > 0");
  at::Tensor feat = at::empty({dm.R, dm.C}, density.options());
  at::Tensor t_last = at::empty({dm.R}, density.options());
  if (dm.R == 0) return {feat, t_last};
  const voxel_render::KernelInputs in = voxel_render::kernel_inputs(
      dm, density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  const Params p{step_ratio, density_shift, bg};
  AT_DISPATCH_FLOATING_TYPES(in.dens.scalar_type(), "voxel_render_forward_cpu", [&] {
    forward_impl<scalar_t>(dm, in.dens.data_ptr<scalar_t>(), in.ft.data_ptr<scalar_t>(),
                           in.bmin.data_ptr<double>(), in.bmax.data_ptr<double>(),
                           in.ro.data_ptr<double>(), in.rd.data_ptr<double>(),
                           in.ids.data_ptr<int64_t>(), p, feat.data_ptr<scalar_t>(),
                           t_last.data_ptr<scalar_t>());
  });
  return {feat, t_last};
}

std::tuple<at::Tensor, at::Tensor> voxel_render_backward_cpu(
    const at::Tensor& grad_feat, const at::Tensor& grad_t_last, const at::Tensor& feat,
    const at::Tensor& t_last, const at::Tensor& density, const at::Tensor& features,
    const at::Tensor& box_min, const at::Tensor& box_max, const at::Tensor& rays_o,
    const at::Tensor& rays_d, const at::Tensor& ray_ids, double step_ratio,
    double density_shift, double bg) {
  VS_CHECK_CPU(density);
  const Dims dm =
      voxel_render::check_args(density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  voxel_render::check_backward_args(dm, density, grad_feat, grad_t_last, feat, t_last);
  TORCH_CHECK(step_ratio > 0.0, "step_ratio must be > 0");
  at::Tensor g_dens = at::zeros_like(density, at::MemoryFormat::Contiguous);
  at::Tensor g_ft = at::zeros({dm.L, dm.gn, dm.C}, density.options());
  if (dm.R > 0 && dm.L > 0) {
    const voxel_render::KernelInputs in = voxel_render::kernel_inputs(
        dm, density, features, box_min, box_max, rays_o, rays_d, ray_ids);
    const at::Tensor gf = grad_feat.contiguous(), gt = grad_t_last.contiguous();
    const at::Tensor fe = feat.contiguous(), tl = t_last.contiguous();
    const Params p{step_ratio, density_shift, bg};
    AT_DISPATCH_FLOATING_TYPES(in.dens.scalar_type(), "voxel_render_backward_cpu", [&] {
      backward_impl<scalar_t>(dm, in.dens.data_ptr<scalar_t>(), in.ft.data_ptr<scalar_t>(),
                              in.bmin.data_ptr<double>(), in.bmax.data_ptr<double>(),
                              in.ro.data_ptr<double>(), in.rd.data_ptr<double>(),
                              in.ids.data_ptr<int64_t>(), p, gf.data_ptr<scalar_t>(),
                              gt.data_ptr<scalar_t>(), fe.data_ptr<scalar_t>(),
                              tl.data_ptr<scalar_t>(), g_dens.data_ptr<scalar_t>(),
                              g_ft.data_ptr<scalar_t>());
    });
  }
  return {g_dens, voxel_render::nodes_first(g_ft, dm)};
}

}  // namespace vision_sparse

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  m.impl("voxel_render_forward", &vision_sparse::voxel_render_forward_cpu);
  m.impl("voxel_render_backward", &vision_sparse::voxel_render_backward_cpu);
}
