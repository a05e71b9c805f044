// CPU reductions, softmax and gather/scatter along one axis of a contiguous
// tensor viewed as [outer, r, inner].
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace rt::cpu {

template <class T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t r, int64_t inner, const Tensor& out) {
  dispatch_numeric(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x->data<T>();
    if (op == ReduceOp::Sum) {
      T* o = out->data<T>();
      parallel_range(outer, r * inner, [&](int64_t ob, int64_t oe) {
        std::vector<Acc<T>> acc(static_cast<size_t>(inner));
        for (int64_t a = ob; a < oe; ++a) {
          const T* base = xp + a * r * inner;
          if (inner == 1) {
            Acc<T> s = 0;
            for (int64_t j = 0; j < r; ++j) s += base[j];
            o[a] = static_cast<T>(s);
            continue;
          }
          std::fill(acc.begin(), acc.end(), Acc<T>(0));
          for (int64_t j = 0; j < r; ++j)
            for (int64_t i = 0; i < inner; ++i) acc[i] += base[j * inner + i];
          for (int64_t i = 0; i < inner; ++i) o[a * inner + i] = static_cast<T>(acc[i]);
        }
      });
      return;
    }
    // Max/Min/ArgMax/ArgMin: first extreme wins; NaN propagates, as in PyTorch.
    const bool is_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
    const bool want_idx = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
    parallel_range(outer * inner, r, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        int64_t a = k / inner, i = k % inner;
        const T* base = xp + a * r * inner + i;
        T best = base[0];
        int64_t bi = 0;
        for (int64_t j = 1; j < r; ++j) {
          T v = base[j * inner];
          if (best != best) break;
          if (v != v || (is_max ? v > best : v < best)) {
            best = v;
            bi = j;
          }
        }
        if (want_idx) out->data<int64_t>()[k] = bi;
        else out->data<T>()[k] = best;
      }
    });
  });
}

void scatter_add_dim(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner) {
  dispatch_numeric(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out->data<T>();
    const T* s = src->data<T>();
    const int64_t* ix = idx->data<int64_t>();
    for (int64_t k = 0; k < outer * inner; ++k) {
      int64_t a = k / inner, i = k % inner;
      o[(a * r + ix[k]) * inner + i] += s[k];
    }
  });
}

void softmax(const Tensor& x, const Tensor& out, int64_t outer, int64_t r, int64_t inner, bool log) {
  dispatch_float(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x->data<T>();
    T* op = out->data<T>();
    parallel_range(outer * inner, 4 * r, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        int64_t a = k / inner, i = k % inner;
        const T* xs = xp + a * r * inner + i;
        T* os = op + a * r * inner + i;
        T m = -std::numeric_limits<T>::infinity();
        // No special case for infinite maxima: as in PyTorch, a row holding +inf (inf - inf) or only
        // -inf (-inf + inf) comes out all NaN, and so does its gradient.
        for (int64_t j = 0; j < r; ++j) m = std::max(m, xs[j * inner]);
        Acc<T> s = 0;
        for (int64_t j = 0; j < r; ++j) {
          T ev = std::exp(xs[j * inner] - m);
          if (!log) os[j * inner] = ev;
          s += ev;
        }
        if (log) {
          T ls = static_cast<T>(std::log(s));  // (x - m) - log(s): x - (m + log s) loses digits for large x
          for (int64_t j = 0; j < r; ++j) os[j * inner] = (xs[j * inner] - m) - ls;
        } else {
          T inv = static_cast<T>(1.0 / s);
          for (int64_t j = 0; j < r; ++j) os[j * inner] *= inv;
        }
      }
    });
  });
}

void softmax_backward(const Tensor& gy, const Tensor& y, const Tensor& gx, int64_t outer, int64_t r, int64_t inner, bool log) {
  dispatch_float(y->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* g = gy->data<T>();
    const T* yp = y->data<T>();
    T* o = gx->data<T>();
    parallel_range(outer * inner, 3 * r, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        int64_t a = k / inner, i = k % inner, base = a * r * inner + i;
        Acc<T> s = 0;
        for (int64_t j = 0; j < r; ++j) s += log ? g[base + j * inner] : g[base + j * inner] * yp[base + j * inner];
        T st = static_cast<T>(s);
        for (int64_t j = 0; j < r; ++j) {
          int64_t q = base + j * inner;
          o[q] = log ? g[q] - std::exp(yp[q]) * st : yp[q] * (g[q] - st);
        }
      }
    });
  });
}

void index_select(const Tensor& x, const Tensor& idx, const Tensor& out, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = idx->numel();
  const int64_t* ix = idx->data<int64_t>();
  if (inner == 1) {  // gathering single elements: a typed loop, not a memcpy per element
    dispatch_all(x->dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* xp = x->data<T>();
      T* op = out->data<T>();
      parallel_range(outer, n, [&](int64_t b, int64_t e) {
        for (int64_t a = b; a < e; ++a)
          for (int64_t j = 0; j < n; ++j) op[a * n + j] = xp[a * r + ix[j]];
      });
    });
    return;
  }
  const size_t es = itemsize(x->dtype);
  const char* xp = static_cast<const char*>(x->raw());
  char* op = static_cast<char*>(out->raw());
  parallel_range(outer * n, inner, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t a = k / n, j = k % n;
      std::memcpy(op + (k * inner) * es, xp + ((a * r + ix[j]) * inner) * es, inner * es);
    }
  });
}

void index_add(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = idx->numel();
  const int64_t* ix = idx->data<int64_t>();
  dispatch_numeric(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = out->data<T>();
    const T* s = src->data<T>();
    // Threads split the outer axis only: two selected rows may hit the same target.
    parallel_range(outer, n * inner, [&](int64_t b, int64_t e) {
      for (int64_t a = b; a < e; ++a)
        for (int64_t j = 0; j < n; ++j) {
          T* dst = o + (a * r + ix[j]) * inner;
          const T* sp = s + (a * n + j) * inner;
          for (int64_t i = 0; i < inner; ++i) dst[i] += sp[i];
        }
    });
  });
}

}  // namespace rt::cpu
