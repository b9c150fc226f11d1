// CPU kernels of roi_align_rotated.
//
// Both read / write the maps channels-last ((B, H, W, C), one transposed copy per
// call, none when the features already are channels-last) so that the C values
// of one pixel are contiguous and the channel loops vectorise.  The geometry of
// a RoI is worked out once, not once per channel: its "taps" list, bin by bin,
// the pixel and weight (bilinear weight / sample count) of every corner of every
// valid sample; then a bin is sum_taps w * X[pixel, :].
//
// Forward: parallel over RoIs (each writes its own output rows).
// Backward: the taps of a batch of RoIs are built in parallel over RoIs, then
// scattered (grad[pixel, :] += w * g[roi, bin, :]) in parallel over channel
// blocks: each thread owns its channels of the whole gradient, so there are no
// atomics, no per-thread copies of the map, and the result does not depend on
// the number of threads.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "roi_align_rotated.h"

namespace vision_sparse::roi_align_rotated {

namespace {

// One corner of one sample: pixel b * H * W + y * W + x of the channels-last map
// and its weight (bilinear weight / number of samples of the bin).
template <typename T>
struct Tap {
  int64_t pix;
  T w;
};

// Upper bound of the taps of one bin of a RoI (4 per sample), and of the RoI.
template <typename T>
inline int64_t max_bin_taps(const RoiGeom<T>& g) {
  return g.batch < 0 ? 0 : g.grid_h * g.grid_w * 4;
}
template <typename T>
inline int64_t max_taps(const RoiGeom<T>& g, const Params& p) {
  return p.out_h * p.out_w * max_bin_taps(g);
}

// Writes the taps of bin (ph, pw) of a RoI to taps[0 ..); returns their number
// (at most max_bin_taps).
template <typename T>
inline int64_t bin_taps(const RoiGeom<T>& g, const Dims& d, int64_t ph, int64_t pw,
                        Tap<T>* taps) {
  if (g.batch < 0) return 0;
  const int64_t base = g.batch * d.H * d.W;
  int64_t n = 0, off[4];
  T w[4];
  for (int64_t iy = 0; iy < g.grid_h; ++iy) {
    for (int64_t ix = 0; ix < g.grid_w; ++ix) {
      T y, x;
      sample_point(g, ph, pw, iy, ix, y, x);
      if (!bilinear(y, x, d.H, d.W, off, w)) continue;
      for (int c = 0; c < 4; ++c) taps[n++] = {base + off[c], w[c] * g.inv_count};
    }
  }
  return n;
}

// Writes the taps of all the bins of a RoI from taps[0] on; bin k (row-major over
// out_h x out_w) gets taps[bins[k] .. bins[k + 1]) (bins: out_h * out_w + 1).
template <typename T>
void roi_taps(const RoiGeom<T>& g, const Params& p, const Dims& d, Tap<T>* taps,
              int64_t* bins) {
  int64_t n = 0, k = 0;
  for (int64_t ph = 0; ph < p.out_h; ++ph) {
    for (int64_t pw = 0; pw < p.out_w; ++pw, ++k) {
      bins[k] = n;
      n += bin_taps(g, d, ph, pw, taps + n);
    }
  }
  bins[k] = n;
}

// dst[0:n] = sum_t taps[t].w * X[taps[t].pix * C + 0:n], the sums kept in
// registers over blocks of kBlock channels.
template <typename T>
inline void gather_sum(const Tap<T>* taps, int64_t nt, const T* __restrict__ X, int64_t C,
                       T* __restrict__ dst) {
  constexpr int64_t kBlock = 16;
  int64_t c0 = 0;
  for (; c0 + kBlock <= C; c0 += kBlock) {
    T acc[kBlock] = {};
    for (int64_t t = 0; t < nt; ++t) {
      const T* x = X + taps[t].pix * C + c0;
      const T w = taps[t].w;
      for (int64_t j = 0; j < kBlock; ++j) acc[j] += w * x[j];
    }
    for (int64_t j = 0; j < kBlock; ++j) dst[c0 + j] = acc[j];
  }
  if (c0 < C) {
    std::fill(dst + c0, dst + C, T(0));
    for (int64_t t = 0; t < nt; ++t) {
      const T* x = X + taps[t].pix * C;
      const T w = taps[t].w;
      for (int64_t c = c0; c < C; ++c) dst[c] += w * x[c];
    }
  }
}

// (B, C, H, W) -> contiguous (B, H, W, C) (free when already channels-last).
inline at::Tensor channels_last(const at::Tensor& t) {
  return t.permute({0, 2, 3, 1}).contiguous();
}

template <typename T>
void forward_cpu(const at::Tensor& features, const at::Tensor& rois, const Params& p,
                 const Dims& d, at::Tensor& out) {
  const at::Tensor xl = channels_last(features);
  const T* X = xl.data_ptr<T>();
  const T* R = rois.data_ptr<T>();
  T* O = out.data_ptr<T>();
  const int64_t nbins = p.out_h * p.out_w, C = d.C;
  at::parallel_for(0, d.N, 1, [&](int64_t begin, int64_t end) {
    std::vector<Tap<T>> taps;
    std::vector<T> acc(static_cast<size_t>(C));
    for (int64_t n = begin; n < end; ++n) {
      const RoiGeom<T> g = make_geom(R + 6 * n, p, d.B);
      taps.resize(static_cast<size_t>(std::max<int64_t>(max_bin_taps(g), 1)));
      T* o = O + n * C * nbins;  // (C, nbins) block of RoI n
      for (int64_t k = 0; k < nbins; ++k) {
        const int64_t nt = bin_taps(g, d, k / p.out_w, k % p.out_w, taps.data());
        gather_sum(taps.data(), nt, X, C, acc.data());
        for (int64_t c = 0; c < C; ++c) o[c * nbins + k] = acc[c];
      }
    }
  });
}

// Taps of at most this many per batch of RoIs in the backward (~16 MB of float
// taps), unless a single RoI needs more.
constexpr int64_t kTapBudget = int64_t(1) << 20;

template <typename T>
at::Tensor backward_cpu(const at::Tensor& grad_out, const at::Tensor& rois, const Params& p,
                        const Dims& d) {
  const int64_t nbins = p.out_h * p.out_w, C = d.C;
  // (N, out_h, out_w, C): the gradient of one bin has contiguous channels
  const at::Tensor gl = channels_last(grad_out);
  at::Tensor gx = at::zeros({d.B, d.H, d.W, C}, grad_out.options());
  const T* G = gl.data_ptr<T>();
  T* GX = gx.data_ptr<T>();
  const T* R = rois.data_ptr<T>();

  std::vector<RoiGeom<T>> geo(static_cast<size_t>(d.N));
  for (int64_t n = 0; n < d.N; ++n) geo[n] = make_geom(R + 6 * n, p, d.B);

  // channel blocks: one per thread at least, at least 16 channels wide
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t width = std::max<int64_t>(std::min<int64_t>(C, 16), (C + threads - 1) / threads);
  const int64_t nblocks = (C + width - 1) / width;

  std::vector<int64_t> start, bins;
  std::vector<Tap<T>> taps;
  for (int64_t n0 = 0; n0 < d.N;) {
    // the batch [n0, n1) and where each RoI's taps start
    start.assign(1, 0);
    int64_t n1 = n0;
    while (n1 < d.N && (n1 == n0 || start.back() + max_taps(geo[n1], p) <= kTapBudget)) {
      start.push_back(start.back() + max_taps(geo[n1], p));
      ++n1;
    }
    taps.resize(static_cast<size_t>(std::max<int64_t>(start.back(), 1)));
    bins.resize(static_cast<size_t>((n1 - n0) * (nbins + 1)));
    at::parallel_for(n0, n1, 1, [&](int64_t begin, int64_t end) {
      for (int64_t n = begin; n < end; ++n) {
        roi_taps(geo[n], p, d, taps.data() + start[n - n0], bins.data() + (n - n0) * (nbins + 1));
      }
    });
    at::parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t c0 = blk * width, cw = std::min(width, C - c0);
        for (int64_t n = n0; n < n1; ++n) {
          const Tap<T>* tp = taps.data() + start[n - n0];
          const int64_t* bn = bins.data() + (n - n0) * (nbins + 1);
          for (int64_t k = 0; k < nbins; ++k) {
            const T* __restrict__ g = G + (n * nbins + k) * C + c0;
            for (int64_t t = bn[k]; t < bn[k + 1]; ++t) {
              T* __restrict__ y = GX + tp[t].pix * C + c0;
              const T w = tp[t].w;
              for (int64_t c = 0; c < cw; ++c) y[c] += w * g[c];
            }
          }
        }
      }
    });
    n0 = n1;
  }
  return gx.permute({0, 3, 1, 2}).contiguous();
}

struct NoGuard {
  explicit NoGuard(const at::Device&) {}
};

struct CpuKernels {
  static void check_device(const at::Tensor& t) { VS_CHECK_CPU(t); }
  using Guard = NoGuard;
  template <typename T>
  static void forward(const at::Tensor& features, const at::Tensor& rois, const Params& p,
                      const Dims& d, at::Tensor& out) {
    forward_cpu<T>(features, rois, p, d, out);
  }
  template <typename T>
  static at::Tensor backward(const at::Tensor& grad_out, const at::Tensor& rois,
                             const Params& p, const Dims& d) {
    return backward_cpu<T>(grad_out, rois, p, d);
  }
};

}  // namespace
}  // namespace vision_sparse::roi_align_rotated

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  vision_sparse::roi_align_rotated::register_ops<vision_sparse::roi_align_rotated::CpuKernels>(
      m);
}
