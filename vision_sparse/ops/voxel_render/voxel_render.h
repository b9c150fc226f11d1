// Volume rendering of many small voxel grids (FaVoR landmarks): what the CPU
// (voxel_render_cpu.cpp) and CUDA (voxel_render_cuda.cu) kernels share -- the
// per-ray geometry, the sample march, the argument checks and the ops' host side
// (forward_op / backward_op, written once for both devices).
//
// Conventions (the Python reference in reference.py follows them line by line):
//  * density (L, Gx, Gy, Gz), features (L, C, Gx, Gy, Gz): node (i, j, k) of
//    landmark l sits at box_min + (i, j, k) / (G - 1) * (box_max - box_min)
//    (align-corners: the outer nodes lie on the box faces), i along world x,
//    j along y, k along z.  The kernels read the features transposed to
//    (L, Gx*Gy*Gz, C) (one copy per call) so that the C channels of one node
//    are contiguous.
//  * Geometry (rays, boxes, sample positions, trilinear weights) is computed in
//    float64 whatever the dtype of the grids, so every implementation places
//    the same samples.
//  * Ray r: unit direction u = d / |d|; slab test against the box of landmark
//    ray_ids[r] gives [t_enter, t_exit] (world units along u); t_near =
//    max(t_enter, 0) (a ray starting inside the box starts at its origin).
//    voxel size v = cbrt(volume / (Gx Gy Gz)) (FaVoR's definition), step =
//    step_ratio * v, N = ceil((t_exit - t_near) / step - 1e-6), or 0 when
//    t_exit <= t_near (miss).  Samples t_i = t_near + i * step, i < N, marched
//    in grid coordinates q_i = q(t_near) + i * dq.
//  * alpha_i = 1 - exp(-softplus(sigma_i + shift) * step_ratio) (the interval
//    is in voxel units, as in FaVoR/DVGO); T_{i+1} = T_i (1 - alpha_i), T_0 = 1;
//    w_i = T_i alpha_i; feat = sum_i w_i f_i + T_N bg; T_last = T_N.
//  * softplus(x) = x for x > 20, log(1 + exp(x)) otherwise (torch's definition,
//    so the reference and the kernels agree to rounding).
#pragma once
#include <math.h>
#include <stdint.h>

#include <tuple>
#include <type_traits>

#include "vs_common.h"

namespace vision_sparse {
namespace voxel_render {

// Tolerance of the sample count, in steps: a path of exactly k steps gives k
// samples although step = 0.1 * v is not exact in binary.
constexpr double kCountTol = 1e-6;
// Largest number of samples of one ray (MAX_SAMPLES_PER_RAY of reference.py):
// every box diagonal must be at most that many steps (check_samples_per_ray).
constexpr double kMaxSamplesPerRay = 4096.0;
// torch.nn.functional.softplus threshold (beta = 1).
constexpr double kSoftplusThreshold = 20.0;

// Grid sizes of a call, after the argument checks shared by the kernels.
struct Dims {
  int64_t L, C, R;  // landmarks, channels, rays
  int gx, gy, gz;   // nodes per axis
  int64_t gn;       // gx * gy * gz
};

// One ray prepared for marching (all float64).  Sample i is at grid
// coordinates q0 + i * dq (grid units: node n of an axis at coordinate n).
struct Ray {
  double q0[3];   // grid coordinates of the first sample (at t_near)
  double dq[3];   // grid coordinates between two samples
  double t_near;  // first sample, world units along the unit direction
  double step;    // distance between samples, world units
  int64_t n;      // number of samples (0: the ray misses the box)
};

// Slab test and sample count of ray (o, d) against the box [lo, hi].
// d need not be unit; a zero or non-finite ray, or a degenerate box, gives n = 0.
template <typename S>
VS_HOST_DEVICE inline Ray make_ray(const S* o, const S* d, const S* lo, const S* hi,
                                   int gx, int gy, int gz, double step_ratio) {
  Ray r;
  const int g[3] = {gx, gy, gz};
  const double dn = sqrt(static_cast<double>(d[0]) * d[0] + static_cast<double>(d[1]) * d[1] +
                         static_cast<double>(d[2]) * d[2]);
  double t_enter = -INFINITY, t_exit = INFINITY;
  bool ok = dn > 0.0 && dn < INFINITY;
  double volume = 1.0, u[3], scale[3];
  for (int k = 0; k < 3; ++k) {
    const double o_ = static_cast<double>(o[k]), lo_ = static_cast<double>(lo[k]);
    const double hi_ = static_cast<double>(hi[k]);
    u[k] = ok ? static_cast<double>(d[k]) / dn : 0.0;
    const double size = hi_ - lo_;
    ok = ok && size > 0.0;
    volume *= size;
    scale[k] = size > 0.0 ? static_cast<double>(g[k] - 1) / size : 0.0;
    if (u[k] == 0.0) {
      // parallel to the slab: inside it or never
      ok = ok && o_ >= lo_ && o_ <= hi_;
    } else {
      const double a = (lo_ - o_) / u[k];
      const double b = (hi_ - o_) / u[k];
      t_enter = fmax(t_enter, fmin(a, b));
      t_exit = fmin(t_exit, fmax(a, b));
    }
  }
  r.t_near = fmax(t_enter, 0.0);
  r.step = step_ratio * pow(volume / (static_cast<double>(gx) * gy * gz), 1.0 / 3.0);
  r.n = 0;
  if (ok && t_exit > r.t_near && r.step > 0.0) {
    const double cnt = ceil((t_exit - r.t_near) / r.step - kCountTol);
    r.n = cnt > 0.0 ? static_cast<int64_t>(cnt) : 0;
  }
  if (r.n == 0) r.t_near = 0.0;
  for (int k = 0; k < 3; ++k) {
    r.q0[k] = (static_cast<double>(o[k]) + u[k] * r.t_near - static_cast<double>(lo[k])) *
              scale[k];
    r.dq[k] = u[k] * r.step * scale[k];
  }
  return r;
}

// Cell and trilinear weights of sample i of a ray.
struct Sample {
  int64_t base;  // flat index (i0 * Gy + j0) * Gz + k0 of the cell's lowest node
  double w[8];   // weights of the 8 corners, corner c = (c >> 2, (c >> 1) & 1, c & 1)
};

VS_HOST_DEVICE inline Sample make_sample(const Ray& r, int64_t i, int gx, int gy, int gz) {
  const int g[3] = {gx, gy, gz};
  int idx[3];
  double f[3];
  for (int k = 0; k < 3; ++k) {
    double q = r.q0[k] + static_cast<double>(i) * r.dq[k];
    // rounding can put the first / last sample just outside the box
    q = fmin(fmax(q, 0.0), static_cast<double>(g[k] - 1));
    int c = static_cast<int>(q);  // floor, q >= 0
    if (c > g[k] - 2) c = g[k] - 2;
    idx[k] = c;
    f[k] = q - static_cast<double>(c);
  }
  Sample s;
  s.base = (static_cast<int64_t>(idx[0]) * gy + idx[1]) * gz + idx[2];
  const double fx[2] = {1.0 - f[0], f[0]};
  const double fy[2] = {1.0 - f[1], f[1]};
  const double fz[2] = {1.0 - f[2], f[2]};
  for (int c = 0; c < 8; ++c) s.w[c] = fx[c >> 2] * fy[(c >> 1) & 1] * fz[c & 1];
  return s;
}

// Offsets of the 8 corners c from the cell's lowest node in a (Gx, Gy, Gz) grid.
VS_HOST_DEVICE inline void corner_offsets(int64_t* off, int gy, int gz) {
  VS_UNROLL
  for (int c = 0; c < 8; ++c) {
    off[c] = ((c >> 2) * static_cast<int64_t>(gy) + ((c >> 1) & 1)) * gz + (c & 1);
  }
}

// softplus(x) (torch's definition: threshold 20, beta 1), its derivative
// sigmoid(x) (1 above the threshold) and alpha = 1 - exp(-interval * softplus(x)),
// with three calls to exp / log (log(1 + e) and 1 - exp(.) rather than log1p and
// expm1: ~30 % faster on the CPU; their absolute errors stay at the rounding
// unit, which is all that alpha, the weights and the transmittance need).
template <typename T>
struct Activation {
  T s;      // softplus(x)
  T ds;     // d softplus / dx
  T alpha;  // 1 - decay
  T decay;  // exp(-interval * s)
};
template <typename T>
VS_HOST_DEVICE inline Activation<T> activate(T x, T interval) {
  Activation<T> a;
  if (x > T(kSoftplusThreshold)) {
    a.s = x;
    a.ds = T(1);
  } else {
    const T e = exp(x);
    a.s = log(T(1) + e);
    a.ds = e / (T(1) + e);
  }
  a.decay = exp(-interval * a.s);
  a.alpha = T(1) - a.decay;
  return a;
}

// Pointers and sizes of one call as the kernels read them (contiguous; features
// node-last).  A plain aggregate: CUDA kernels take it by value.
template <typename scalar_t>
struct KernelArgs {
  const scalar_t* dens;  // (L, G^3) raw densities
  const scalar_t* ft;    // (L, G^3, C) features
  const double* bmin;    // (L, 3)
  const double* bmax;    // (L, 3)
  const double* ro;      // (R, 3)
  const double* rd;      // (R, 3)
  const int64_t* ids;    // (R,)
  Dims dm;
  double ratio;  // step_ratio: sample step in voxels, also the alpha interval
  double shift;  // density shift before softplus

  // Ray r prepared against the box of its landmark l = ids[r].
  VS_HOST_DEVICE Ray ray(int64_t r, int64_t l) const {
    return make_ray(ro + 3 * r, rd + 3 * r, bmin + 3 * l, bmax + 3 * l, dm.gx, dm.gy, dm.gz,
                    ratio);
  }
};

// The backward's extra pointers: incoming gradients, saved forward outputs and
// the gradients written (g_ft in the node-last (L, G^3, C) layout).
template <typename scalar_t>
struct BackwardIO {
  const scalar_t* g_feat;  // (R, C)
  const scalar_t* g_tl;    // (R,)
  const scalar_t* feat;    // (R, C)
  const scalar_t* t_last;  // (R,)
  scalar_t* g_dens;        // (L, G^3)
  scalar_t* g_ft;          // (L, G^3, C)
};

// No second field for march().
struct NoField {};

// Marches a ray through the densities D (G^3 values of its landmark), sample by
// sample, in the accumulation type A: when sample i enters a new cell,
// on_cell(previous cell or -1, new cell) is called first; then
// on_sample(sample, cell, activation of its interpolated density, x), where x is
// the trilinear interpolation of a second field, field(k, node) at the corners
// k (0 when field is NoField).  Returns the last cell (-1 when the ray has no
// sample).  Every kernel's march, so that they place and weigh the samples the
// same way.
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <typename A, typename scalar_t, typename Field, typename OnCell, typename OnSample>
VS_FORCE_INLINE int64_t march(const Ray& ray, const Dims& dm, const int64_t* off,
                              const scalar_t* __restrict__ D, A shift, A interval,
                              Field&& field, OnCell&& on_cell, OnSample&& on_sample) {
  constexpr bool kField = !std::is_same_v<std::decay_t<Field>, NoField>;
  int64_t cell = -1;
  for (int64_t i = 0; i < ray.n; ++i) {
    const Sample sp = make_sample(ray, i, dm.gx, dm.gy, dm.gz);
    if (sp.base != cell) {
      on_cell(cell, sp.base);
      cell = sp.base;
    }
    A sigma = A(0), x = A(0);
    VS_UNROLL
    for (int k = 0; k < 8; ++k) {
      sigma += static_cast<A>(sp.w[k]) * static_cast<A>(D[cell + off[k]]);
      if constexpr (kField) x += static_cast<A>(sp.w[k]) * field(k, cell + off[k]);
    }
    on_sample(sp, cell, activate<A>(sigma + shift, interval), x);
  }
  return cell;
}

// Shapes, dtypes and devices of the forward arguments (host code).
inline Dims check_args(const at::Tensor& density, const at::Tensor& features,
                       const at::Tensor& box_min, const at::Tensor& box_max,
                       const at::Tensor& rays_o, const at::Tensor& rays_d,
                       const at::Tensor& ray_ids) {
  VS_CHECK_FLOAT(density);
  TORCH_CHECK(features.scalar_type() == density.scalar_type(),
              "features must have the dtype of density");
  TORCH_CHECK(density.dim() == 4, "density must have shape (L, Gx, Gy, Gz)");
  TORCH_CHECK(features.dim() == 5, "features must have shape (L, C, Gx, Gy, Gz)");
  Dims d;
  d.L = density.size(0);
  d.gx = static_cast<int>(density.size(1));
  d.gy = static_cast<int>(density.size(2));
  d.gz = static_cast<int>(density.size(3));
  TORCH_CHECK(d.gx >= 2 && d.gy >= 2 && d.gz >= 2, "every grid size must be >= 2");
  d.gn = static_cast<int64_t>(d.gx) * d.gy * d.gz;
  d.C = features.size(1);
  TORCH_CHECK(features.size(0) == d.L && features.size(2) == d.gx && features.size(3) == d.gy &&
                  features.size(4) == d.gz,
              "features must have shape (L, C, Gx, Gy, Gz) with the L, G of density");
  for (const at::Tensor* t : {&box_min, &box_max}) {
    TORCH_CHECK(t->scalar_type() == at::kDouble, "box_min / box_max must be float64");
    TORCH_CHECK(t->dim() == 2 && t->size(0) == d.L && t->size(1) == 3,
                "box_min / box_max must have shape (L, 3)");
  }
  d.R = rays_o.size(0);
  for (const at::Tensor* t : {&rays_o, &rays_d}) {
    TORCH_CHECK(t->scalar_type() == at::kDouble, "rays_o / rays_d must be float64");
    TORCH_CHECK(t->dim() == 2 && t->size(0) == d.R && t->size(1) == 3,
                "rays_o / rays_d must have shape (R, 3)");
  }
  TORCH_CHECK(ray_ids.scalar_type() == at::kLong, "ray_ids must be int64");
  TORCH_CHECK(ray_ids.dim() == 1 && ray_ids.size(0) == d.R, "ray_ids must have shape (R,)");
  for (const at::Tensor* t : {&features, &box_min, &box_max, &rays_o, &rays_d, &ray_ids}) {
    TORCH_CHECK(t->device() == density.device(), "all tensors must be on one device");
  }
  if (d.R > 0) {
    TORCH_CHECK(d.L > 0, "ray_ids index landmarks but there are none (L = 0)");
    const auto mm = at::aminmax(ray_ids);
    TORCH_CHECK(std::get<0>(mm).item<int64_t>() >= 0 && std::get<1>(mm).item<int64_t>() < d.L,
                "ray_ids must lie in [0, L)");
  }
  return d;
}

// (L, C, Gx, Gy, Gz) -> (L, G^3, C) contiguous: the channels of a node side by side,
// the layout both kernels read the features in.
inline at::Tensor nodes_last(const at::Tensor& features, const Dims& d) {
  return features.reshape({d.L, d.C, d.gn}).transpose(1, 2).contiguous();
}

// The op's inputs in the layouts the CPU and CUDA kernels read.
struct KernelInputs {
  at::Tensor dens, ft, bmin, bmax, ro, rd, ids;

  template <typename scalar_t>
  KernelArgs<scalar_t> args(const Dims& d, double ratio, double shift) const {
    return {dens.data_ptr<scalar_t>(), ft.data_ptr<scalar_t>(), bmin.data_ptr<double>(),
            bmax.data_ptr<double>(),   ro.data_ptr<double>(),   rd.data_ptr<double>(),
            ids.data_ptr<int64_t>(),   d,                       ratio,
            shift};
  }
};
inline KernelInputs kernel_inputs(const Dims& d, const at::Tensor& density,
                                  const at::Tensor& features, const at::Tensor& box_min,
                                  const at::Tensor& box_max, const at::Tensor& rays_o,
                                  const at::Tensor& rays_d, const at::Tensor& ray_ids) {
  return {density.contiguous(), nodes_last(features, d), box_min.contiguous(),
          box_max.contiguous(), rays_o.contiguous(), rays_d.contiguous(),
          ray_ids.contiguous()};
}

// The inverse: a (L, G^3, C) gradient back to the (L, C, Gx, Gy, Gz) layout.
inline at::Tensor nodes_first(const at::Tensor& nodes, const Dims& d) {
  return nodes.transpose(1, 2).contiguous().view({d.L, d.C, d.gx, d.gy, d.gz});
}

// The backward's extra arguments: gradients and saved outputs of the forward.
inline void check_backward_args(const Dims& d, const at::Tensor& density,
                                const at::Tensor& grad_feat, const at::Tensor& grad_t_last,
                                const at::Tensor& feat, const at::Tensor& t_last) {
  for (const at::Tensor* t : {&grad_feat, &feat}) {
    TORCH_CHECK(t->scalar_type() == density.scalar_type() && t->dim() == 2 &&
                    t->size(0) == d.R && t->size(1) == d.C,
                "grad_feat / feat must have shape (R, C) and the dtype of density");
    TORCH_CHECK(t->device() == density.device(), "all tensors must be on one device");
  }
  for (const at::Tensor* t : {&grad_t_last, &t_last}) {
    TORCH_CHECK(t->scalar_type() == density.scalar_type() && t->dim() == 1 &&
                    t->size(0) == d.R,
                "grad_t_last / t_last must have shape (R,) and the dtype of density");
    TORCH_CHECK(t->device() == density.device(), "all tensors must be on one device");
  }
}

// Refuses a step that lets a ray take more than kMaxSamplesPerRay samples in some
// box (its diagonal over the step, as the Python check), before any allocation
// or launch: a tiny step_ratio would otherwise run for hours.  L values, on the
// boxes' device (one synchronisation on CUDA).
inline void check_samples_per_ray(const Dims& d, const at::Tensor& box_min,
                                  const at::Tensor& box_max, double step_ratio) {
  if (d.L == 0) return;
  const at::Tensor size = box_max - box_min;
  const double g = static_cast<double>(d.gx) * d.gy * d.gz;
  const at::Tensor step = (size.prod(1) / g).pow(1.0 / 3.0) * step_ratio;
  const at::Tensor worst = size.norm(2, {1}) / step;  // NaN fails the test below
  TORCH_CHECK(worst.le(kMaxSamplesPerRay).all().item<bool>(),
              "step_ratio is too small for the boxes: a ray along a box diagonal would take "
              "more than MAX_SAMPLES_PER_RAY = ", static_cast<int64_t>(kMaxSamplesPerRay),
              " samples (at most ", worst.nan_to_num(INFINITY).max().item<double>(), ")");
}

// The ops' host side, written once for both devices.  Backend supplies
//   static void check_device(const at::Tensor& density);  // VS_CHECK_CPU / VS_CHECK_CUDA
//   using Guard = ...;  // constructed from density.device() (CUDA: a device guard)
//   template <typename scalar_t>
//   static void forward(const KernelArgs<scalar_t>&, double bg, scalar_t* feat,
//                       scalar_t* t_last);
//   template <typename scalar_t>
//   static void backward(const KernelArgs<scalar_t>&, const BackwardIO<scalar_t>&);
// The schemas and argument contracts are in voxel_render.cpp.
template <typename Backend>
std::tuple<at::Tensor, at::Tensor> forward_op(
    const at::Tensor& density, const at::Tensor& features, const at::Tensor& box_min,
    const at::Tensor& box_max, const at::Tensor& rays_o, const at::Tensor& rays_d,
    const at::Tensor& ray_ids, double step_ratio, double density_shift, double bg) {
  Backend::check_device(density);
  const typename Backend::Guard guard(density.device());
  const Dims dm = check_args(density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  TORCH_CHECK(step_ratio > 0.0, "step_ratio must be > 0");
  check_samples_per_ray(dm, box_min, box_max, step_ratio);
  at::Tensor feat = at::empty({dm.R, dm.C}, density.options());
  at::Tensor t_last = at::empty({dm.R}, density.options());
  if (dm.R == 0) return {feat, t_last};
  const KernelInputs in =
      kernel_inputs(dm, density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  AT_DISPATCH_FLOATING_TYPES(in.dens.scalar_type(), "voxel_render_forward", [&] {
    Backend::template forward<scalar_t>(in.args<scalar_t>(dm, step_ratio, density_shift), bg,
                                        feat.data_ptr<scalar_t>(),
                                        t_last.data_ptr<scalar_t>());
  });
  return {feat, t_last};
}

template <typename Backend>
std::tuple<at::Tensor, at::Tensor> backward_op(
    const at::Tensor& grad_feat, const at::Tensor& grad_t_last, const at::Tensor& feat,
    const at::Tensor& t_last, const at::Tensor& density, const at::Tensor& features,
    const at::Tensor& box_min, const at::Tensor& box_max, const at::Tensor& rays_o,
    const at::Tensor& rays_d, const at::Tensor& ray_ids, double step_ratio,
    double density_shift, double bg) {
  (void)bg;  // enters through the saved forward output feat
  Backend::check_device(density);
  const typename Backend::Guard guard(density.device());
  const Dims dm = check_args(density, features, box_min, box_max, rays_o, rays_d, ray_ids);
  check_backward_args(dm, density, grad_feat, grad_t_last, feat, t_last);
  TORCH_CHECK(step_ratio > 0.0, "step_ratio must be > 0");
  check_samples_per_ray(dm, box_min, box_max, step_ratio);
  at::Tensor g_dens = at::zeros_like(density, at::MemoryFormat::Contiguous);
  at::Tensor g_ft = at::zeros({dm.L, dm.gn, dm.C}, density.options());
  if (dm.R > 0 && dm.L > 0) {
    const KernelInputs in =
        kernel_inputs(dm, density, features, box_min, box_max, rays_o, rays_d, ray_ids);
    const at::Tensor gf = grad_feat.contiguous(), gt = grad_t_last.contiguous();
    const at::Tensor fe = feat.contiguous(), tl = t_last.contiguous();
    AT_DISPATCH_FLOATING_TYPES(in.dens.scalar_type(), "voxel_render_backward", [&] {
      const BackwardIO<scalar_t> io{gf.data_ptr<scalar_t>(),     gt.data_ptr<scalar_t>(),
                                    fe.data_ptr<scalar_t>(),     tl.data_ptr<scalar_t>(),
                                    g_dens.data_ptr<scalar_t>(), g_ft.data_ptr<scalar_t>()};
      Backend::template backward<scalar_t>(in.args<scalar_t>(dm, step_ratio, density_shift),
                                           io);
    });
  }
  return {g_dens, nodes_first(g_ft, dm)};
}

// Registers forward_op / backward_op of Backend for the dispatch key of the
// TORCH_LIBRARY_IMPL block that calls it.
template <typename Backend>
void register_ops(torch::Library& m) {
  m.impl("voxel_render_forward", &forward_op<Backend>);
  m.impl("voxel_render_backward", &backward_op<Backend>);
}

}  // namespace voxel_render
}  // namespace vision_sparse
