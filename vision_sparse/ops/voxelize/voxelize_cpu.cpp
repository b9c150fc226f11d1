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

// Cell keys of the points (-1: outside), in parallel.
template <typename T>
std::vector<int64_t> point_keys(const T* P, int64_t N, int64_t C, const Grid& g) {
  std::vector<int64_t> keys(static_cast<size_t>(N));
  at::parallel_for(0, N, kGrain, [&](int64_t b, int64_t e) {
    int64_t c[3];
    for (int64_t i = b; i < e; ++i) {
      keys[i] = point_cell(P + i * C, g, c) ? cell_key(c, g) : -1;
    }
  });
  return keys;
}

// Open-addressing hash table key (>= 0) -> int32 value, linear probing; the
// capacity (a power of two, at least twice the keys) is fixed at construction.
class KeyTable {
 public:
  explicit KeyTable(int64_t max_keys) {
    int64_t cap = 16;
    while (cap < 2 * max_keys) cap <<= 1;
    mask_ = static_cast<uint64_t>(cap - 1);
    keys_.assign(static_cast<size_t>(cap), -1);
    vals_.resize(static_cast<size_t>(cap));
  }
  // The value of key, inserting `fresh` when the key is new (sets `added`).
  int32_t find_or_add(int64_t key, int32_t fresh, bool& added) {
    uint64_t h = (static_cast<uint64_t>(key) * 0x9E3779B97F4A7C15ull) >> 17;
    for (;; ++h) {
      const size_t s = static_cast<size_t>(h & mask_);
      if (keys_[s] == key) {
        added = false;
        return vals_[s];
      }
      if (keys_[s] < 0) {
        keys_[s] = key;
        vals_[s] = fresh;
        added = true;
        return fresh;
      }
    }
  }

 private:
  uint64_t mask_;
  std::vector<int64_t> keys_;
  std::vector<int32_t> vals_;
};

// Voxel numbers in first-point order, slots in input order: vid[i] / slot[i]
// of point i (vid -1: dropped); the voxels' keys and point counts.
struct Assignment {
  std::vector<int32_t> vid, slot, count;
  std::vector<int64_t> voxel_key;
};

Assignment assign(const std::vector<int64_t>& keys, int64_t max_points, int64_t max_voxels) {
  const int64_t N = static_cast<int64_t>(keys.size());
  Assignment a;
  a.vid.assign(keys.size(), -1);
  a.slot.assign(keys.size(), -1);
  KeyTable table(N);
  constexpr int32_t kNoVoxel = -1;  // value of a cell met after max_voxels were made
  for (int64_t i = 0; i < N; ++i) {
    if (keys[i] < 0) continue;
    const int64_t made = static_cast<int64_t>(a.count.size());
    const int32_t fresh = made < max_voxels ? static_cast<int32_t>(made) : kNoVoxel;
    bool added = false;
    const int32_t v = table.find_or_add(keys[i], fresh, added);
    if (v == kNoVoxel) continue;
    if (added) {
      a.count.push_back(0);
      a.voxel_key.push_back(keys[i]);
    }
    if (a.count[v] < max_points) {
      a.vid[i] = v;
      a.slot[i] = a.count[v]++;
    }
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
      for (int64_t i = b; i < e; ++i) point_zyx(P + i * C, g, out + 3 * i);
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
    at::Tensor voxels = at::zeros({M, max_points, C}, points.options());
    at::Tensor coors = at::empty({M, 3}, points.options().dtype(at::kInt));
    at::Tensor num = at::empty({M}, points.options().dtype(at::kInt));
    T* V = voxels.data_ptr<T>();
    at::parallel_for(0, N, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if (a.vid[i] < 0) continue;
        std::memcpy(V + (a.vid[i] * max_points + a.slot[i]) * C, P + i * C, C * sizeof(T));
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
