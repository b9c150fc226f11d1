// CPU kernels of ms_deform_attn.
//
// Forward: parallel over the (batch, head, query) triples; each sums its
// L x P samples, every corner a contiguous row of head_dim values
// (value[b, key, h, :]).
// Backward: parallel over the (batch, head) pairs; each walks its queries in
// order and owns grad_value[b, :, h, :], so no atomics and a result that does
// not depend on the number of threads (deterministic); it sums into a
// contiguous per-thread scratch and writes its slice once at the end.
// The location and attention-weight gradients of a sample are its own.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ms_deform_attn.h"

namespace vision_sparse::ms_deform_attn {

namespace {

// Pointers and sizes of one call; the tensors are contiguous.
template <typename T>
struct View {
  const T* V;        // (bs, K, nh, D)
  const int64_t* S;  // (L, 2)
  const int64_t* I;  // (L,)
  const T* loc;      // (bs, nq, nh, L, P, 2)
  const T* A;        // (bs, nq, nh, L, P)
  Dims d;

  // Offset of value[b, 0, h, 0]; key k of that (batch, head) is k * nh * D further.
  int64_t first_row(int64_t b, int64_t h) const { return (b * d.K * d.nh + h) * d.D; }

  // Calls fn(s, corners, start, H, W) for every sample s of the (batch, query,
  // head) i = (b nq + q) nh + h that lies on its map (level l: keys start ..
  // start + H W; corner k is key start + off[k]).
  template <typename Fn>
  void for_each_sample(int64_t i, Fn&& fn) const {
    for (int64_t l = 0; l < d.L; ++l) {
      const int64_t H = S[2 * l], W = S[2 * l + 1];
      for (int64_t p = 0; p < d.P; ++p) {
        const int64_t s = (i * d.L + l) * d.P + p;
        Corners<T> c;
        if (corners(loc[2 * s], loc[2 * s + 1], H, W, c)) fn(s, c, I[l], H, W);
      }
    }
  }
};

template <typename T>
View<T> make_view(const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
                  const at::Tensor& loc, const at::Tensor& attn, const Dims& d) {
  return {value.data_ptr<T>(), shapes.data_ptr<int64_t>(), starts.data_ptr<int64_t>(),
          loc.data_ptr<T>(),   attn.data_ptr<T>(),        d};
}

template <typename T>
void forward_cpu(const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
                 const at::Tensor& loc, const at::Tensor& attn, const Dims& d, at::Tensor& out) {
  const View<T> v = make_view<T>(value, shapes, starts, loc, attn, d);
  T* O = out.data_ptr<T>();
  const int64_t D = d.D, stride = d.nh * d.D;
  // in (batch, head, query) order: a thread's consecutive queries read the
  // rows of one (batch, head), a few MB, rather than those of every head
  at::parallel_for(0, d.bs * d.nh * d.nq, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = (b nh + h) nq + q
      const int64_t q = r % d.nq, h = (r / d.nq) % d.nh, b = r / (d.nq * d.nh);
      const int64_t i = (b * d.nq + q) * d.nh + h;
      T* __restrict__ o = O + i * D;
      const T* rows = v.V + v.first_row(b, h);
      v.for_each_sample(i, [&](int64_t s, const Corners<T>& c, int64_t start, int64_t, int64_t) {
        for (int k = 0; k < 4; ++k) {
          if (c.off[k] < 0) continue;
          const T w = v.A[s] * c.w[k];
          const T* __restrict__ x = rows + (start + c.off[k]) * stride;
          for (int64_t j = 0; j < D; ++j) o[j] += w * x[j];
        }
      });
    }
  });
}

template <typename T>
void backward_cpu(const at::Tensor& grad_out, const at::Tensor& value, const at::Tensor& shapes,
                  const at::Tensor& starts, const at::Tensor& loc, const at::Tensor& attn,
                  const Dims& d, at::Tensor& grad_value, at::Tensor& grad_loc,
                  at::Tensor& grad_attn) {
  const View<T> v = make_view<T>(value, shapes, starts, loc, attn, d);
  const T* G = grad_out.data_ptr<T>();
  T* GV = grad_value.data_ptr<T>();
  T* GL = grad_loc.data_ptr<T>();
  T* GA = grad_attn.data_ptr<T>();
  const int64_t D = d.D, stride = d.nh * d.D;
  at::parallel_for(0, d.bs * d.nh, 1, [&](int64_t t0, int64_t t1) {
    // the (batch, head)'s value gradient is summed in a contiguous (K, D)
    // scratch (a few MB: its scattered additions stay in cache and TLB reach),
    // then written once, in key order, into its strided slice of grad_value
    std::vector<T> scratch(static_cast<size_t>(d.K * D));
    for (int64_t t = t0; t < t1; ++t) {  // t = b nh + h: owns grad_value[b, :, h, :]
      const int64_t b = t / d.nh, h = t % d.nh;
      const T* rows = v.V + v.first_row(b, h);  // key k: rows + k * stride
      T* acc = scratch.data();                    // key k: acc + k * D
      std::fill(scratch.begin(), scratch.end(), T(0));
      for (int64_t q = 0; q < d.nq; ++q) {
        const int64_t i = (b * d.nq + q) * d.nh + h;
        v.for_each_sample(i, [&](int64_t s, const Corners<T>& c, int64_t start, int64_t H,
                                 int64_t W) {
          sample_backward(c, v.A[s], H, W, G + i * D, rows + start * stride, stride,
                          acc + start * D, D, D, GA + s, GL + 2 * s,
                          [](T* p, T val) { *p += val; });
        });
      }
      T* out = GV + v.first_row(b, h);
      for (int64_t k = 0; k < d.K; ++k)
        std::copy(acc + k * D, acc + (k + 1) * D, out + k * stride);
    }
  });
}

// The value gradient (e.g. 185 MB): uninitialised, since backward_cpu writes
// every element.  No huge-page advice: with the kernel's default THP defrag
// policy ('madvise') an advised fault may compact memory synchronously, which
// made the backward time swing 0.09-0.53 s from run to run.
at::Tensor empty_like_value(const at::Tensor& like) {
  return at::empty(like.sizes(), like.options());
}

struct NoGuard {
  explicit NoGuard(const at::Device&) {}
};

struct CpuKernels {
  static void check_device(const at::Tensor& t) { VS_CHECK_CPU(t); }
  using Guard = NoGuard;
  static at::Tensor new_grad_value(const at::Tensor& value) { return empty_like_value(value); }
  template <typename T>
  static void forward(const at::Tensor& value, const at::Tensor& shapes, const at::Tensor& starts,
                      const at::Tensor& loc, const at::Tensor& attn, const Dims& d,
                      at::Tensor& out) {
    forward_cpu<T>(value, shapes, starts, loc, attn, d, out);
  }
  template <typename T>
  static void backward(const at::Tensor& grad_out, const at::Tensor& value,
                       const at::Tensor& shapes, const at::Tensor& starts, const at::Tensor& loc,
                       const at::Tensor& attn, const Dims& d, at::Tensor& grad_value,
                       at::Tensor& grad_loc, at::Tensor& grad_attn) {
    backward_cpu<T>(grad_out, value, shapes, starts, loc, attn, d, grad_value, grad_loc,
                    grad_attn);
  }
};

}  // namespace
}  // namespace vision_sparse::ms_deform_attn

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  vision_sparse::ms_deform_attn::register_ops<vision_sparse::ms_deform_attn::CpuKernels>(m);
}
