// Iterates N same-shaped strided operands row by row, after merging dimensions that
// are contiguous for every operand; splits the work over OpenMP threads when it is big.
#pragma once
#include <omp.h>

#include <array>

#include "reticulum/tensor.h"

namespace rt::cpu {

// Below this many elements the OpenMP fork/join costs more than it saves on 2 cores.
constexpr int64_t kParallelGrain = 32768;

inline bool use_threads(int64_t work) { return work >= kParallelGrain && omp_get_max_threads() > 1 && !omp_in_parallel(); }

// inner(ptrs, byte_strides, n) processes one row of n elements.
template <size_t N, class F>
void strided_loop(const Shape& shape_in, const std::array<const Tensor*, N>& ts, F&& inner) {
  const int64_t nd_in = static_cast<int64_t>(shape_in.size());
  std::array<char*, N> base;
  Shape shape;
  std::array<Shape, N> st;
  for (size_t k = 0; k < N; ++k) base[k] = static_cast<char*>((*ts[k])->raw());
  int64_t numel = numel_of(shape_in);
  if (numel == 0) return;
  // Drop size-1 dims, then merge dim d into d+1 where every operand is contiguous across them.
  for (int64_t d = 0; d < nd_in; ++d) {
    if (shape_in[d] == 1) continue;
    bool merge = !shape.empty();
    for (size_t k = 0; k < N && merge; ++k)
      merge = st[k].back() == (*ts[k])->strides[d] * shape_in[d] * static_cast<int64_t>(itemsize((*ts[k])->dtype));
    if (merge) {
      shape.back() *= shape_in[d];
      for (size_t k = 0; k < N; ++k) st[k].back() = (*ts[k])->strides[d] * static_cast<int64_t>(itemsize((*ts[k])->dtype));
    } else {
      shape.push_back(shape_in[d]);
      for (size_t k = 0; k < N; ++k) st[k].push_back((*ts[k])->strides[d] * static_cast<int64_t>(itemsize((*ts[k])->dtype)));
    }
  }
  if (shape.empty()) {
    std::array<int64_t, N> zs{};
    inner(base, zs, int64_t{1});
    return;
  }
  const int64_t nd = static_cast<int64_t>(shape.size());
  std::array<int64_t, N> in_st;
  for (size_t k = 0; k < N; ++k) in_st[k] = st[k][nd - 1];
  const int64_t row = shape[nd - 1];
  const int64_t rows = numel / row;
  if (rows == 1) {
    if (!use_threads(numel)) {
      inner(base, in_st, row);
      return;
    }
    const int64_t chunk = 8192;
    const int64_t nchunks = (row + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nchunks; ++c) {
      std::array<char*, N> p;
      for (size_t k = 0; k < N; ++k) p[k] = base[k] + c * chunk * in_st[k];
      inner(p, in_st, std::min(chunk, row - c * chunk));
    }
    return;
  }
  auto run_row = [&](int64_t r) {
    std::array<char*, N> p = base;
    int64_t rem = r;
    for (int64_t d = nd - 2; d >= 0; --d) {
      int64_t i = rem % shape[d];
      rem /= shape[d];
      for (size_t k = 0; k < N; ++k) p[k] += i * st[k][d];
    }
    inner(p, in_st, row);
  };
  if (use_threads(numel)) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) run_row(r);
  } else {
    for (int64_t r = 0; r < rows; ++r) run_row(r);
  }
}

// Runs f(begin, end) over [0, n), threaded when n * cost_per_item is large.
template <class F>
void parallel_range(int64_t n, int64_t cost_per_item, F&& f) {
  if (n <= 1 || !use_threads(n * cost_per_item)) {
    f(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    int nt = omp_get_num_threads(), t = omp_get_thread_num();
    int64_t per = (n + nt - 1) / nt, b = t * per, e = std::min(n, b + per);
    if (b < e) f(b, e);
  }
}

}  // namespace rt::cpu
