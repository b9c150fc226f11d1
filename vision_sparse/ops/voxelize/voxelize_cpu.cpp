// CPU kernels of the voxelisation ops.
//
// Hard voxelisation in three passes:
//  1. (parallel over points) the key of every point's cell, -1 when outside;
//  2. (one thread, input order) an open-addressing hash table key -> voxel
//     numbers the voxels by their first point and gives every point its slot
//     in its voxel (or drops it: voxel full, or no voxel left); O(N), no dense
//     grid (a 0.075 m grid over nuScenes' range has 83 M cells);
//  3. (parallel over points) each kept point is copied to its slot.
// The result is the sequential algorithm's, whatever the number of threads.
// The BEV scatter marks the winning row of every cell in a dense int32 map
// (one pass in row order: the last row wins), then copies in parallel.
#include <ATen/Parallel.h>
#include <c10/core/DeviceGuard.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "voxelize.h"

namespace vision_sparse::voxelize {

namespace {

// Grain of the parallel loops over points / rows: the work per point is a few
// ns, so a sweep (~35 k points) runs on the calling thread (no OpenMP region,
// whose barrier costs more than the loop on a busy machine) and only
// multi-sweep clouds are split.
constexpr int64_t kGrain = int64_t(1) << 16;

// Points per block of the cell computation.
constexpr int64_t kBlock = 256;

// Cells of the points [i0, i0 + n), n <= kBlock: x / y / z in cell[0 / 1 / 2][k]
// and inside[k] (0 / 1).  point_cell's arithmetic, written axis by axis over
// contiguous copies so that the divisions and comparisons vectorise.
template <typename T>
inline void block_cells(const T* P, int64_t C, int64_t i0, int64_t n, const Grid& g,
                        int32_t (&cell)[3][kBlock], int32_t (&inside)[kBlock]) {
  T v[3][kBlock];
  const T* p = P + i0 * C;
  for (int64_t k = 0; k < n; ++k, p += C) {  // one pass over the rows
    v[0][k] = p[0];
    v[1][k] = p[1];
    v[2][k] = p[2];
  }
  for (int64_t k = 0; k < n; ++k) inside[k] = 1;
  for (int j = 0; j < 3; ++j) {
    const T lo = static_cast<T>(g.lo[j]), size = static_cast<T>(g.size[j]);
    const T hi = static_cast<T>(g.n[j]);
    const T* vj = v[j];
    int32_t* c = cell[j];
    for (int64_t k = 0; k < n; ++k) {
      const T q = (vj[k] - lo) / size;
      const int32_t ok = static_cast<int32_t>(q >= T(0)) & static_cast<int32_t>(q < hi);
      inside[k] &= ok;
      c[k] = ok ? static_cast<int32_t>(q) : 0;  // 0 <= q < n <= 2**31 - 1
    }
  }
}

// Calls fn(i, inside, x, y, z) for the points [b, e), block by block.
template <typename T, typename Fn>
inline void for_each_cell(const T* P, int64_t C, int64_t b, int64_t e, const Grid& g, Fn&& fn) {
  int32_t cell[3][kBlock], inside[kBlock];
  for (int64_t i0 = b; i0 < e; i0 += kBlock) {
    const int64_t n = std::min(kBlock, e - i0);
    block_cells(P, C, i0, n, g, cell, inside);
    for (int64_t k = 0; k < n; ++k) fn(i0 + k, inside[k], cell[0][k], cell[1][k], cell[2][k]);
  }
}

// Cell keys of the points (-1: outside), in parallel.
template <typename T>
std::vector<int64_t> point_keys(const T* P, int64_t N, int64_t C, const Grid& g) {
  std::vector<int64_t> keys(static_cast<size_t>(N));
  at::parallel_for(0, N, kGrain, [&](int64_t b, int64_t e) {
    for_each_cell(P, C, b, e, g, [&](int64_t i, int32_t in, int64_t x, int64_t y, int64_t z) {
      keys[i] = in ? (z * g.n[1] + y) * g.n[0] + x : -1;
    });
  });
  return keys;
}

// Open-addressing hash table key (>= 0) -> int32 value (Fibonacci hashing,
// linear probing, key and value side by side: one cache line per probe); the
// capacity (a power of two, at least 4/3 of the keys) is fixed at construction.
class KeyTable {
 public:
  explicit KeyTable(int64_t max_keys) {
    int bits = 4;
    while ((int64_t(1) << bits) < max_keys + max_keys / 3) ++bits;  // load <= 3/4
    shift_ = 64 - bits;
    mask_ = (uint64_t(1) << bits) - 1;
    slots_.assign(size_t(1) << bits, Slot{-1, 0});
  }
  // Home slot of a key.
  uint64_t home(int64_t key) const {
    return (static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ull) >> shift_;
  }
  // Asks the cache for the home slot of a key that will be looked up soon.
  void prefetch(int64_t key) const { __builtin_prefetch(slots_.data() + home(key)); }
  // The value of key, or -1 when absent; `at` is where it is or would go.
  int32_t find(int64_t key, size_t& at) const {
    for (uint64_t h = home(key);; h = (h + 1) & mask_) {
      const Slot& sl = slots_[h];
      if (sl.key == key || sl.key < 0) {
        at = static_cast<size_t>(h);
        return sl.key == key ? sl.val : -1;
      }
    }
  }
  void put(size_t at, int64_t key, int32_t val) { slots_[at] = Slot{key, val}; }

 private:
  struct Slot {
    int64_t key;
    int32_t val;
  };
  int shift_;
  uint64_t mask_;
  std::vector<Slot> slots_;
};

// Voxel numbers in first-point order, slots in input order: point i goes to
// row dst[i] = voxel * max_points + slot of the voxels (-1: dropped); the
// voxels' keys and point counts.
struct Assignment {
  std::vector<int64_t> dst, voxel_key;
  std::vector<int32_t> count;
};

// Points ahead whose table slot is prefetched.
constexpr int64_t kPrefetch = 16;

Assignment assign(const std::vector<int64_t>& keys, int64_t max_points, int64_t max_voxels) {
  const int64_t N = static_cast<int64_t>(keys.size());
  Assignment a;
  a.dst.assign(keys.size(), -1);
  // only created voxels enter the table: a cell met once max_voxels exist is
  // looked up (absent: its points are dropped) and never added
  KeyTable table(std::min(N, max_voxels));
  for (int64_t i = 0; i < N; ++i) {
    // the probes are cache misses (the table is ~1 MB, the points jump between
    // cells): start the one of a later point now
    if (i + kPrefetch < N && keys[i + kPrefetch] >= 0) table.prefetch(keys[i + kPrefetch]);
    const int64_t key = keys[i];
    if (key < 0) continue;
    size_t at;
    int32_t v = table.find(key, at);
    if (v < 0) {
      if (static_cast<int64_t>(a.count.size()) >= max_voxels) continue;
      v = static_cast<int32_t>(a.count.size());
      table.put(at, key, v);
      a.count.push_back(0);
      a.voxel_key.push_back(key);
    }
    if (a.count[v] < max_points) a.dst[i] = v * max_points + a.count[v]++;
  }
  return a;
}

struct CpuKernels {
  static void check_device(const at::Tensor& t) { VS_CHECK_CPU(t); }
  using Guard = c10::DeviceGuard;  // a no-op on the CPU

  template <typename T>
  static at::Tensor dynamic(const at::Tensor& points, const Grid& g) {
    const int64_t N = points.size(0), C = points.size(1);
    const T* P = points.data_ptr<T>();
    at::Tensor coors = at::empty({N, 3}, points.options().dtype(at::kInt));
    int32_t* out = coors.data_ptr<int32_t>();
    at::parallel_for(0, N, kGrain, [&](int64_t b, int64_t e) {
      for_each_cell(P, C, b, e, g, [&](int64_t i, int32_t in, int32_t x, int32_t y, int32_t z) {
        int32_t* o = out + 3 * i;
        o[0] = in ? z : -1;
        o[1] = in ? y : -1;
        o[2] = in ? x : -1;
      });
    });
    return coors;
  }

  template <typename T>
  static std::vector<at::Tensor> hard(const at::Tensor& points, const Grid& g,
                                      int64_t max_points, int64_t max_voxels) {
    const int64_t N = points.size(0), C = points.size(1);
    const T* P = points.data_ptr<T>();
    const Assignment a = assign(point_keys(P, N, C, g), max_points, max_voxels);
    const int64_t M = static_cast<int64_t>(a.count.size());
    at::Tensor voxels = at::empty({M, max_points, C}, points.options());
    at::Tensor coors = at::empty({M, 3}, points.options().dtype(at::kInt));
    at::Tensor num = at::empty({M}, points.options().dtype(at::kInt));
    T* V = voxels.data_ptr<T>();
    at::parallel_for(0, N, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if (a.dst[i] < 0) continue;
        T* o = V + a.dst[i] * C;
        const T* p = P + i * C;
        for (int64_t j = 0; j < C; ++j) o[j] = p[j];
      }
    });
    at::parallel_for(0, M, kGrain, [&](int64_t b, int64_t e) {  // unused slots: 0
      for (int64_t v = b; v < e; ++v) {
        std::fill(V + (v * max_points + a.count[v]) * C, V + (v + 1) * max_points * C, T(0));
      }
    });
    int32_t* K = coors.data_ptr<int32_t>();
    for (int64_t v = 0; v < M; ++v) key_zyx(a.voxel_key[v], g, K + 3 * v);
    if (M) std::memcpy(num.data_ptr<int32_t>(), a.count.data(), M * sizeof(int32_t));
    return {voxels, coors, num};
  }

  template <typename T, typename I>
  static std::vector<at::Tensor> bev_forward(const at::Tensor& features, const at::Tensor& coors,
                                             const Bev& v) {
    const int64_t M = features.size(0), F = features.size(1);
    const T* X = features.data_ptr<T>();
    const I* Cc = coors.data_ptr<I>();
    std::vector<int32_t> winner(static_cast<size_t>(v.B * v.ny * v.nx), -1);
    std::vector<int64_t> cell(static_cast<size_t>(M));
    for (int64_t i = 0; i < M; ++i) {
      cell[i] = bev_cell(Cc + 4 * i, v);
      if (cell[i] >= 0) winner[cell[i]] = static_cast<int32_t>(i);
    }
    at::Tensor out = at::zeros({v.B, F, v.ny, v.nx}, features.options());
    at::Tensor won = at::empty({M}, features.options().dtype(at::kBool));
    T* O = out.data_ptr<T>();
    bool* W = won.data_ptr<bool>();
    const int64_t plane = v.ny * v.nx;
    at::parallel_for(0, M, kGrain / 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        W[i] = cell[i] >= 0 && winner[cell[i]] == i;
        if (!W[i]) continue;
        const int64_t bi = cell[i] / plane, q = cell[i] % plane;
        T* o = O + bi * F * plane + q;
        const T* x = X + i * F;
        for (int64_t f = 0; f < F; ++f) o[f * plane] = x[f];
      }
    });
    return {out, won};
  }

  template <typename T, typename I>
  static at::Tensor bev_backward(const at::Tensor& grad_out, const at::Tensor& coors,
                                 const at::Tensor& won, const Bev& v) {
    const int64_t M = coors.size(0), F = grad_out.size(1);
    const T* G = grad_out.data_ptr<T>();
    const I* Cc = coors.data_ptr<I>();
    const bool* W = won.data_ptr<bool>();
    at::Tensor grad = at::empty({M, F}, grad_out.options());
    T* D = grad.data_ptr<T>();
    const int64_t plane = v.ny * v.nx;
    at::parallel_for(0, M, kGrain / 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        T* d = D + i * F;
        const int64_t cell = bev_cell(Cc + 4 * i, v);
        if (!W[i] || cell < 0) {
          std::fill(d, d + F, T(0));
          continue;
        }
        const T* g = G + (cell / plane) * F * plane + cell % plane;
        for (int64_t f = 0; f < F; ++f) d[f] = g[f * plane];
      }
    });
    return grad;
  }
};

}  // namespace
}  // namespace vision_sparse::voxelize

TORCH_LIBRARY_IMPL(vision_sparse, CPU, m) {
  vision_sparse::voxelize::register_ops<vision_sparse::voxelize::CpuKernels>(m);
}
