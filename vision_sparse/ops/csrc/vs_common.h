// Shared helpers for the compiled ops of vision_sparse.
#pragma once
#include <torch/library.h>
#include <ATen/ATen.h>

#if defined(__CUDACC__) || defined(__HIPCC__)
#define VS_HOST_DEVICE __host__ __device__
#define VS_DEVICE __device__
#else
#define VS_HOST_DEVICE
#define VS_DEVICE
#endif

// Inlining forced (the march helpers take lambdas whose captured state must stay
// in registers).
#if defined(__CUDACC__) || defined(__HIPCC__)
#define VS_FORCE_INLINE __host__ __device__ __forceinline__
#else
#define VS_FORCE_INLINE inline __attribute__((always_inline))
#endif

// `#pragma unroll` in the device pass of nvcc only (host compilers warn about it).
#if defined(__CUDA_ARCH__)
#define VS_UNROLL _Pragma("unroll")
#else
#define VS_UNROLL
#endif

#define VS_CHECK_CPU(x) TORCH_CHECK(!(x).is_cuda(), #x " must be a CPU tensor")
#define VS_CHECK_CUDA(x) TORCH_CHECK((x).is_cuda(), #x " must be a CUDA tensor")
#define VS_CHECK_FLOAT(x)                                                       \
  TORCH_CHECK((x).scalar_type() == at::kFloat || (x).scalar_type() == at::kDouble, \
              #x " must be float32 or float64")
