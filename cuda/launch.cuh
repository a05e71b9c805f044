// Launch geometry and the strided indexer the elementwise kernels share.
#pragma once
#include <algorithm>
#include <array>

#include "runtime.h"

namespace rt::cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items: enough to fill the GPU, never more than the items need.
inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, 65536)));
}

// Every index in [0, n) once, whatever the grid.
#define RT_GRID_LOOP(i, n)                                                               \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

constexpr int kMaxDims = 16;

// The geometry of N same-shaped strided operands, passed to a kernel by value: a thread turns its
// linear output index into each operand's element offset. Dims of size 1 are dropped and dims
// contiguous for every operand merged on the host, so a dense tensor has one dim.
template <int N>
struct Strided {
  int nd = 0;
  int64_t size[kMaxDims];
  int64_t stride[N][kMaxDims];  // in elements of each operand's own dtype

  __device__ void offsets(int64_t i, int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = nd - 1; d >= 0; --d) {
      const int64_t c = i % size[d];
      i /= size[d];
      for (int k = 0; k < N; ++k) off[k] += c * stride[k][d];
    }
  }
};

template <int N>
Strided<N> make_strided(const Shape& shape, const std::array<const Tensor*, N>& ts, const char* op) {
  Strided<N> s;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = s.nd > 0;
    for (int k = 0; k < N && merge; ++k) merge = s.stride[k][s.nd - 1] == (*ts[k])->strides[d] * shape[d];
    if (merge) {
      s.size[s.nd - 1] *= shape[d];
      for (int k = 0; k < N; ++k) s.stride[k][s.nd - 1] = (*ts[k])->strides[d];
      continue;
    }
    if (s.nd == kMaxDims)
      fail<RuntimeError>(op, ": cuda kernels take at most ", kMaxDims, " non-mergeable dimensions, got shape ", shape_str(shape));
    s.size[s.nd] = shape[d];
    for (int k = 0; k < N; ++k) s.stride[k][s.nd] = (*ts[k])->strides[d];
    ++s.nd;
  }
  return s;
}

}  // namespace rt::cuda
