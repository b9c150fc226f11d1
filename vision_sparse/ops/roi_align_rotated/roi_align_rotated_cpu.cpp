// CPU kernels of roi_align_rotated.
//
// The geometry of a RoI is worked out once, not once per channel: its "taps",
// bin by bin, are the pixel and weight (bilinear weight / samples of the bin) of
// every corner of every valid sample, the corners that several samples share
// merged (kMergeTaps); a bin is then sum_taps w * X[pixel, :].  The taps of a
// batch of RoIs are built in parallel over RoIs.
//
// The channel work runs in parallel over blocks of up to 32 channels: a thread
// copies its block of the map channels-last ((B H W, cw), a few MB) so that the
// cw values of one pixel are contiguous and the loops over them vectorise, then
//   forward:  out[n, c0:c0+cw, bin] = sum_taps w * Xb[pixel, :]
//   backward: Gb[pixel, :] += w * grad_out[n, c0:c0+cw, bin] over every tap,
//             then Gb is copied into its channels of grad_in.
// Each thread owns its channels of the output and of the gradient: no atomics,
// no per-thread copies of the whole map, no full-size transposed copies (whose
// page faults alone cost as much as the pooling on the finest FPN level), and a
// result that does not depend on the number of threads.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
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

// Bins with at most this many taps merge the taps of one pixel (neighbouring
// samples share corners when they are less than a pixel apart, the common case
// on the finest FPN level): fewer rows of C values to read or update.
constexpr int64_t kMergeTaps = 64;

// Writes the taps of bin (ph, pw) of a RoI to taps[0 ..); returns their number
// (at most max_bin_taps).
template <typename T>
inline int64_t bin_taps(const RoiGeom<T>& g, const Dims& d, int64_t ph, int64_t pw,
                        Tap<T>* taps) {
  if (g.batch < 0) return 0;
  const int64_t base = g.batch * d.H * d.W;
  const bool merge = max_bin_taps(g) <= kMergeTaps;
  int64_t n = 0;
  for_each_corner(g, d.H, d.W, ph, pw, [&](int64_t off, T w) {
    const int64_t pix = base + off;
    int64_t t = merge ? 0 : n;
    while (t < n && taps[t].pix != pix) ++t;
    if (t < n) {
      taps[t].w += w * g.inv_count;
    } else {
      taps[n++] = {pix, w * g.inv_count};
    }
  });
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

// The taps of the RoIs [n0, n1): those of bin k of RoI n are
// taps[bins[(n - n0) * (nbins + 1) + k] .. bins[(n - n0) * (nbins + 1) + k + 1]).
template <typename T>
struct TapTable {
  int64_t n0 = 0, n1 = 0, nbins = 0;
  std::vector<int64_t> start, bins;
  std::vector<Tap<T>> taps;
  const Tap<T>* roi_taps_of(int64_t n) const { return taps.data() + start[n - n0]; }
  const int64_t* bins_of(int64_t n) const { return bins.data() + (n - n0) * (nbins + 1); }
};

// Taps of at most this many per batch of RoIs (~64 MB of float taps), unless a
// single RoI needs more (a batch holds 2,000 RoIs of 7 x 7 bins at
// sampling_ratio 2; each further batch copies the map blocks again).
constexpr int64_t kTapBudget = int64_t(1) << 22;

// Builds the table of the RoIs from n0 on, as many as the budget allows.
template <typename T>
void build_table(const std::vector<RoiGeom<T>>& geo, int64_t n0, const Params& p,
                 const Dims& d, TapTable<T>& tb) {
  tb.n0 = n0;
  tb.nbins = p.out_h * p.out_w;
  tb.start.assign(1, 0);
  int64_t n1 = n0;
  while (n1 < d.N && (n1 == n0 || tb.start.back() + max_taps(geo[n1], p) <= kTapBudget)) {
    tb.start.push_back(tb.start.back() + max_taps(geo[n1], p));
    ++n1;
  }
  tb.n1 = n1;
  tb.taps.resize(static_cast<size_t>(std::max<int64_t>(tb.start.back(), 1)));
  tb.bins.resize(static_cast<size_t>((n1 - n0) * (tb.nbins + 1)));
  at::parallel_for(n0, n1, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      roi_taps(geo[n], p, d, tb.taps.data() + tb.start[n - n0],
               tb.bins.data() + (n - n0) * (tb.nbins + 1));
    }
  });
}

// Channels per block: enough blocks for the threads, at most 32 (a pixel's
// values fill two cache lines in float32), and a block copy of at most ~32 MB.
inline int64_t block_width(const Dims& d, int64_t elem) {
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  int64_t w = std::min<int64_t>(32, std::max<int64_t>(8, (d.C + threads - 1) / threads));
  while (w > 1 && d.B * d.H * d.W * w * elem > (int64_t(32) << 20)) w /= 2;
  return std::min(w, d.C);
}

// Pixels per tile of the block copies (a tile of the cw planes stays in L1).
constexpr int64_t kPixTile = 64;

// Between channels c0 .. c0 + cw of a (B, C, H, W) map and their channels-last
// copy, the block (B H W, cw): block[(b H W + q) cw + j] = map[(b C + c0 + j) H W + q],
// map -> block when kToBlock, else block -> map; in tiles of kPixTile pixels.
template <bool kToBlock, typename T>
void block_copy(std::conditional_t<kToBlock, const T*, T*> map,
                std::conditional_t<kToBlock, T*, const T*> block, const Dims& d, int64_t c0,
                int64_t cw) {
  const int64_t hw = d.H * d.W;
  for (int64_t b = 0; b < d.B; ++b) {
    for (int64_t q0 = 0; q0 < hw; q0 += kPixTile) {
      const int64_t q1 = std::min(q0 + kPixTile, hw);
      for (int64_t j = 0; j < cw; ++j) {
        auto* m = map + (b * d.C + c0 + j) * hw;
        auto* k = block + b * hw * cw + j;
        for (int64_t q = q0; q < q1; ++q) {
          if constexpr (kToBlock) {
            k[q * cw] = m[q];
          } else {
            m[q] = k[q * cw];
          }
        }
      }
    }
  }
}

// acc[0:cw] = sum_t taps[t].w * xb[taps[t].pix * cw + 0:cw].
template <typename T>
inline void gather(const Tap<T>* taps, int64_t nt, const T* __restrict__ xb, int64_t cw,
                   T* __restrict__ acc) {
  std::fill(acc, acc + cw, T(0));
  for (int64_t t = 0; t < nt; ++t) {
    const T* __restrict__ x = xb + taps[t].pix * cw;
    const T w = taps[t].w;
    for (int64_t j = 0; j < cw; ++j) acc[j] += w * x[j];
  }
}

// Geometry of every RoI.
template <typename T>
std::vector<RoiGeom<T>> all_geoms(const at::Tensor& rois, const Params& p, const Dims& d) {
  const T* R = rois.data_ptr<T>();
  std::vector<RoiGeom<T>> geo(static_cast<size_t>(d.N));
  for (int64_t n = 0; n < d.N; ++n) geo[n] = make_geom(R + 6 * n, p, d.B);
  return geo;
}

template <typename T>
void forward_cpu(const at::Tensor& features, const at::Tensor& rois, const Params& p,
                 const Dims& d, at::Tensor& out) {
  const at::Tensor x = features.contiguous();
  const T* X = x.data_ptr<T>();
  T* O = out.data_ptr<T>();
  const int64_t nbins = p.out_h * p.out_w, C = d.C;
  const int64_t width = block_width(d, sizeof(T)), nblocks = (C + width - 1) / width;
  const std::vector<RoiGeom<T>> geo = all_geoms<T>(rois, p, d);
  TapTable<T> tb;
  for (int64_t n0 = 0; n0 < d.N; n0 = tb.n1) {
    build_table(geo, n0, p, d, tb);
    at::parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
      std::vector<T> xb(static_cast<size_t>(d.B * d.H * d.W * width));
      T acc[64];
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t c0 = blk * width, cw = std::min(width, C - c0);
        block_copy<true, T>(X, xb.data(), d, c0, cw);
        for (int64_t n = tb.n0; n < tb.n1; ++n) {
          const Tap<T>* tp = tb.roi_taps_of(n);
          const int64_t* bn = tb.bins_of(n);
          T* o = O + (n * C + c0) * nbins;  // out[n, c0 + j, k] = o[j * nbins + k]
          for (int64_t k = 0; k < nbins; ++k) {
            gather(tp + bn[k], bn[k + 1] - bn[k], xb.data(), cw, acc);
            for (int64_t j = 0; j < cw; ++j) o[j * nbins + k] = acc[j];
          }
        }
      }
    });
  }
}

template <typename T>
at::Tensor backward_cpu(const at::Tensor& grad_out, const at::Tensor& rois, const Params& p,
                        const Dims& d) {
  const int64_t nbins = p.out_h * p.out_w, C = d.C;
  const at::Tensor go = grad_out.contiguous();
  const T* G = go.data_ptr<T>();
  at::Tensor grad_in = at::empty({d.B, C, d.H, d.W}, grad_out.options());
  T* GI = grad_in.data_ptr<T>();
  const int64_t width = block_width(d, sizeof(T)), nblocks = (C + width - 1) / width;
  const std::vector<RoiGeom<T>> geo = all_geoms<T>(rois, p, d);
  TapTable<T> tb;
  // one table in the common case; otherwise the block gradients are carried
  // over the batches in grad_in itself (read back in, added to, copied out)
  for (int64_t n0 = 0; n0 < d.N; n0 = tb.n1) {
    build_table(geo, n0, p, d, tb);
    const bool first = n0 == 0;
    at::parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
      std::vector<T> gb(static_cast<size_t>(d.B * d.H * d.W * width));
      T gk[64];
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t c0 = blk * width, cw = std::min(width, C - c0);
        if (first) {
          std::fill(gb.begin(), gb.end(), T(0));
        } else {
          block_copy<true, T>(GI, gb.data(), d, c0, cw);
        }
        for (int64_t n = tb.n0; n < tb.n1; ++n) {
          const Tap<T>* tp = tb.roi_taps_of(n);
          const int64_t* bn = tb.bins_of(n);
          const T* g = G + (n * C + c0) * nbins;  // grad_out[n, c0 + j, k] = g[j * nbins + k]
          for (int64_t k = 0; k < nbins; ++k) {
            if (bn[k] == bn[k + 1]) continue;
            for (int64_t j = 0; j < cw; ++j) gk[j] = g[j * nbins + k];
            for (int64_t t = bn[k]; t < bn[k + 1]; ++t) {
              T* __restrict__ y = gb.data() + tp[t].pix * cw;
              const T w = tp[t].w;
              for (int64_t j = 0; j < cw; ++j) y[j] += w * gk[j];
            }
          }
        }
        block_copy<false, T>(GI, gb.data(), d, c0, cw);
      }
    });
  }
  return grad_in;
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
