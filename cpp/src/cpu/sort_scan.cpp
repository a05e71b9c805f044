// CPU kernels that walk each line along one axis of a contiguous [outer, r, inner] tensor (sort,
// cumulative sum), and the element writes of scatter (index_copy).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace rt::cpu {

void index_copy(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = idx->numel();
  const int64_t* ix = idx->data<int64_t>();
  dispatch_all(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out->data<T>();
    const T* s = src->data<T>();
    // Serial within an outer row: where indices repeat, the last write wins, as in a plain loop.
    parallel_range(outer, n * inner, [&](int64_t b, int64_t e) {
      for (int64_t a = b; a < e; ++a)
        for (int64_t j = 0; j < n; ++j) std::copy_n(s + (a * n + j) * inner, inner, o + (a * r + ix[j]) * inner);
    });
  });
}

// NaN sorts above every number, as in PyTorch (last ascending, first descending).
template <class T>
static bool less_nan_last(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
  }
  return a < b;
}

void sort(const Tensor& x, const Tensor& indices, int64_t outer, int64_t r, int64_t inner, bool descending) {
  int64_t* ip = indices->data<int64_t>();
  dispatch_all(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x->data<T>();
    parallel_range(outer * inner, r * 8, [&](int64_t b, int64_t e) {
      std::vector<int64_t> order(static_cast<size_t>(r));
      for (int64_t line = b; line < e; ++line) {
        const int64_t base = (line / inner) * r * inner + line % inner;
        const T* v = xp + base;
        std::iota(order.begin(), order.end(), 0);
        // Stable in both directions: equal values keep their original order.
        if (descending)
          std::stable_sort(order.begin(), order.end(),
                           [&](int64_t p, int64_t q) { return less_nan_last(v[q * inner], v[p * inner]); });
        else
          std::stable_sort(order.begin(), order.end(),
                           [&](int64_t p, int64_t q) { return less_nan_last(v[p * inner], v[q * inner]); });
        for (int64_t k = 0; k < r; ++k) ip[base + k * inner] = order[k];
      }
    });
  });
}

void cumsum(const Tensor& x, const Tensor& out, int64_t outer, int64_t r, int64_t inner) {
  dispatch_numeric(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    // float32 sums accumulate in double, as PyTorch's CPU kernel does (long rows drift less); integers in
    // uint64, so that an overflow wraps as in PyTorch instead of being undefined.
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;
    const T* xp = x->data<T>();
    T* op = out->data<T>();
    parallel_range(outer * inner, r, [&](int64_t b, int64_t e) {
      for (int64_t line = b; line < e; ++line) {
        const int64_t base = (line / inner) * r * inner + line % inner;
        Acc acc = 0;
        for (int64_t k = 0; k < r; ++k) {
          acc += static_cast<Acc>(xp[base + k * inner]);
          op[base + k * inner] = static_cast<T>(acc);
        }
      }
    });
  });
}

}  // namespace rt::cpu
