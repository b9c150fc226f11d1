// Schemas of the multi-scale deformable attention ops; kernels:
// ms_deform_attn_cpu.cpp, ms_deform_attn_cuda.cu (semantics: ms_deform_attn.h).
#include "ms_deform_attn.h"

// ms_deform_attn_forward:
//   value (bs, num_keys, num_heads, head_dim) float32 or float64;
//   spatial_shapes (L, 2) int64 (H, W); level_start_index (L,) int64, the
//     exclusive cumulative sum of H * W (sum H * W == num_keys);
//   sampling_locations (bs, num_queries, num_heads, L, P, 2) normalised (x, y);
//   attention_weights (bs, num_queries, num_heads, L, P); all of the dtype and
//   device of value (any strides).
//   -> (bs, num_queries, num_heads * head_dim).
// ms_deform_attn_backward: the gradients of <grad_out, forward(...)> w.r.t.
//   value, sampling_locations and attention_weights (their shapes).
TORCH_LIBRARY_FRAGMENT(vision_sparse, m) {
  m.def(
      "ms_deform_attn_forward(Tensor value, Tensor spatial_shapes, Tensor level_start_index, "
      "Tensor sampling_locations, Tensor attention_weights) -> Tensor");
  m.def(
      "ms_deform_attn_backward(Tensor grad_out, Tensor value, Tensor spatial_shapes, "
      "Tensor level_start_index, Tensor sampling_locations, Tensor attention_weights) "
      "-> (Tensor, Tensor, Tensor)");
}
