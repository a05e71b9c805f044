// Block-wide reductions and the atomics the scatter kernels share.
#pragma once
#include <type_traits>

#include "launch.cuh"

namespace rt::cuda {

// Accumulator of a sum, as the CPU kernels: double for floating types, int64 for integers.
template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Combines every thread's v with `combine` (which must not depend on the order it is applied in)
// and returns the result to all threads. Blocks are kThreads threads (a power of two).
template <class V, class F>
__device__ V block_reduce(V v, F combine) {
  __shared__ V buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) buf[threadIdx.x] = combine(buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  const V r = buf[0];
  __syncthreads();  // the buffer is free again for the caller's next reduction
  return r;
}

struct SumOp {
  template <class V>
  __device__ V operator()(V a, V b) const {
    return a + b;
  }
};

template <class T>
__device__ void atomic_add(T* p, T v) {
  if constexpr (std::is_same_v<T, int64_t>)
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));  // two's complement: same bits
  else atomicAdd(p, v);
}

}  // namespace rt::cuda
