// CUDA index_copy, sort and cumsum over a contiguous tensor viewed as [outer, r, inner] (the CPU
// contracts of cpp/src/cpu/sort_scan.cpp). One thread per (outer, inner) line for sort and cumsum:
// simple and order-exact (stable sort, sequential sums), at the cost of parallelism within a line.
#include <cmath>
#include <type_traits>

#include "kernels.h"
#include "launch.cuh"

namespace rt::cuda {

// Serial over the selected rows of one line, so a repeated index keeps the last write, as on the CPU.
template <class T>
__global__ void index_copy_kernel(T* out, const int64_t* idx, const T* src, int64_t lines, int64_t n, int64_t r, int64_t inner) {
  RT_GRID_LOOP(line, lines) {
    const int64_t a = line / inner, i = line % inner;
    for (int64_t j = 0; j < n; ++j) out[(a * r + idx[j]) * inner + i] = src[(a * n + j) * inner + i];
  }
}

void index_copy(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = idx->numel(), lines = outer * inner;
  if (n == 0 || lines == 0) return;
  DeviceGuard guard(out->device);
  dispatch_all(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    index_copy_kernel<T><<<grid_for(lines), kThreads, 0, stream(out->device)>>>(out->data<T>(), idx->data<int64_t>(),
                                                                                src->data<T>(), lines, n, r, inner);
  });
  check_launch("index_copy");
}

// NaN sorts above every number, as in PyTorch.
template <class T>
__device__ bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (a != a) return false;
    if (b != b) return true;
  }
  return a < b;
}

// Stable insertion sort of one line's indices, in place in the output (O(r^2) per line).
template <class T>
__global__ void sort_kernel(const T* x, int64_t* ix, int64_t lines, int64_t r, int64_t inner, bool descending) {
  RT_GRID_LOOP(line, lines) {
    const int64_t base = (line / inner) * r * inner + line % inner;
    const T* v = x + base;
    int64_t* o = ix + base;
    for (int64_t k = 0; k < r; ++k) {
      int64_t p = k;
      // Shift earlier entries right while the new one must come before them (strictly: stability).
      while (p > 0 && (descending ? less_nan_last(v[o[(p - 1) * inner] * inner], v[k * inner])
                                  : less_nan_last(v[k * inner], v[o[(p - 1) * inner] * inner]))) {
        o[p * inner] = o[(p - 1) * inner];
        --p;
      }
      o[p * inner] = k;
    }
  }
}

void sort(const Tensor& x, const Tensor& indices, int64_t outer, int64_t r, int64_t inner, bool descending) {
  const int64_t lines = outer * inner;
  if (lines == 0 || r == 0) return;
  DeviceGuard guard(x->device);
  dispatch_all(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    sort_kernel<T><<<grid_for(lines), kThreads, 0, stream(x->device)>>>(x->data<T>(), indices->data<int64_t>(), lines, r, inner,
                                                                        descending);
  });
  check_launch("sort");
}

// float32 accumulates in double and integers in uint64 (wrapping), as the CPU kernel.
template <class T>
__global__ void cumsum_kernel(const T* x, T* out, int64_t lines, int64_t r, int64_t inner) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, unsigned long long>;
  RT_GRID_LOOP(line, lines) {
    const int64_t base = (line / inner) * r * inner + line % inner;
    Acc acc = 0;
    for (int64_t k = 0; k < r; ++k) {
      acc += static_cast<Acc>(x[base + k * inner]);
      out[base + k * inner] = static_cast<T>(acc);
    }
  }
}

void cumsum(const Tensor& x, const Tensor& out, int64_t outer, int64_t r, int64_t inner) {
  const int64_t lines = outer * inner;
  if (lines == 0 || r == 0) return;
  DeviceGuard guard(x->device);
  dispatch_numeric(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    cumsum_kernel<T><<<grid_for(lines), kThreads, 0, stream(x->device)>>>(x->data<T>(), out->data<T>(), lines, r, inner);
  });
  check_launch("cumsum");
}

}  // namespace rt::cuda
