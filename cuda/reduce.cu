// CUDA reductions, softmax and gather/scatter along the middle axis of a contiguous tensor
// viewed as [outer, r, inner] (the CPU contracts of cpp/src/cpu/reduce.cpp).
#include <cmath>
#include <limits>

#include "block_reduce.cuh"
#include "kernels.h"

namespace rt::cuda {

// A partial max/min/arg result: the value and where it was found (i < 0: no element seen yet).
template <class T>
struct Extreme {
  T v;
  int64_t i;
};

// The sequential CPU rule as an order-free choice: the first NaN wins; else the extreme value;
// ties go to the smaller index.
template <class T>
struct PickExtreme {
  bool is_max;
  __device__ Extreme<T> operator()(Extreme<T> a, Extreme<T> b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = a.v != a.v, bn = b.v != b.v;
    if (an != bn) return an ? a : b;
    if (!an) {
      if (is_max ? b.v > a.v : b.v < a.v) return b;
      if (is_max ? a.v > b.v : a.v < b.v) return a;
    }
    return a.i < b.i ? a : b;
  }
};

// One thread per output: the CPU's loop, for many short reductions.
template <class T>
__global__ void reduce_per_thread(ReduceOp op, const T* x, int64_t outs, int64_t r, int64_t inner, T* out, int64_t* idx) {
  RT_GRID_LOOP(k, outs) {
    const int64_t a = k / inner, i = k % inner;
    const T* base = x + a * r * inner + i;
    if (op == ReduceOp::Sum) {
      Acc<T> s = 0;
      for (int64_t j = 0; j < r; ++j) s += base[j * inner];
      out[k] = static_cast<T>(s);
      continue;
    }
    const bool is_max = op == ReduceOp::Max || op == ReduceOp::ArgMax;
    T best = base[0];
    int64_t bi = 0;
    for (int64_t j = 1; j < r; ++j) {
      const T v = base[j * inner];
      if (best != best) break;
      if (v != v || (is_max ? v > best : v < best)) {
        best = v;
        bi = j;
      }
    }
    if (idx) idx[k] = bi;
    else out[k] = best;
  }
}

// One block per output: its threads split a long reduction.
template <class T>
__global__ void reduce_per_block(ReduceOp op, const T* x, int64_t outs, int64_t r, int64_t inner, T* out, int64_t* idx) {
  for (int64_t k = blockIdx.x; k < outs; k += gridDim.x) {
    const int64_t a = k / inner, i = k % inner;
    const T* base = x + a * r * inner + i;
    if (op == ReduceOp::Sum) {
      Acc<T> s = 0;
      for (int64_t j = threadIdx.x; j < r; j += blockDim.x) s += base[j * inner];
      s = block_reduce(s, SumOp{});
      if (threadIdx.x == 0) out[k] = static_cast<T>(s);
      continue;
    }
    const PickExtreme<T> pick{op == ReduceOp::Max || op == ReduceOp::ArgMax};
    Extreme<T> e{T(0), -1};
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) e = pick(e, Extreme<T>{base[j * inner], j});
    e = block_reduce(e, pick);
    if (threadIdx.x == 0) {
      if (idx) idx[k] = e.i;
      else out[k] = e.v;
    }
  }
}

void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t r, int64_t inner, const Tensor& out) {
  const int64_t outs = outer * inner;
  if (outs == 0) return;
  DeviceGuard guard(out->device);
  const bool want_idx = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  dispatch_numeric(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = want_idx ? nullptr : out->data<T>();
    int64_t* ix = want_idx ? out->data<int64_t>() : nullptr;
    // Few outputs over long rows would leave most of the GPU idle one thread each.
    if (r > 64 && outs < 4096)
      reduce_per_block<T><<<static_cast<unsigned>(std::min<int64_t>(outs, 65536)), kThreads, 0, stream(out->device)>>>(
          op, x->data<T>(), outs, r, inner, o, ix);
    else reduce_per_thread<T><<<grid_for(outs), kThreads, 0, stream(out->device)>>>(op, x->data<T>(), outs, r, inner, o, ix);
  });
  check_launch("reduce");
}

template <class T>
__global__ void scatter_add_dim_kernel(T* out, const int64_t* idx, const T* src, int64_t n, int64_t r, int64_t inner) {
  RT_GRID_LOOP(k, n) {
    const int64_t a = k / inner, i = k % inner;
    atomic_add(out + (a * r + idx[k]) * inner + i, src[k]);
  }
}

void scatter_add_dim(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = outer * inner;
  if (n == 0) return;
  DeviceGuard guard(out->device);
  dispatch_numeric(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    scatter_add_dim_kernel<T>
        <<<grid_for(n), kThreads, 0, stream(out->device)>>>(out->data<T>(), idx->data<int64_t>(), src->data<T>(), n, r, inner);
  });
  check_launch("scatter_add_dim");
}

// Softmax of one row (stride `inner`) by one thread: the CPU's loop.
template <class T>
__global__ void softmax_per_thread(const T* x, T* out, int64_t rows, int64_t r, int64_t inner, bool log) {
  RT_GRID_LOOP(k, rows) {
    const int64_t a = k / inner, i = k % inner;
    const T* xs = x + a * r * inner + i;
    T* os = out + a * r * inner + i;
    // No special case for infinite maxima: as in PyTorch, a row holding +inf or only -inf comes out NaN.
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = 0; j < r; ++j) m = fmax(m, xs[j * inner]);
    double s = 0;
    for (int64_t j = 0; j < r; ++j) {
      const T ev = exp(xs[j * inner] - m);
      if (!log) os[j * inner] = ev;
      s += ev;
    }
    if (log) {
      const T ls = static_cast<T>(::log(s));  // (x - m) - log(s): x - (m + log s) loses digits for large x
      for (int64_t j = 0; j < r; ++j) os[j * inner] = (xs[j * inner] - m) - ls;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t j = 0; j < r; ++j) os[j * inner] *= inv;
    }
  }
}

struct MaxOp {
  template <class V>
  __device__ V operator()(V a, V b) const {
    return fmax(a, b);
  }
};

// Softmax of one contiguous row (inner == 1) by one block.
template <class T>
__global__ void softmax_per_block(const T* x, T* out, int64_t rows, int64_t r, bool log) {
  for (int64_t k = blockIdx.x; k < rows; k += gridDim.x) {
    const T* xs = x + k * r;
    T* os = out + k * r;
    T m = -std::numeric_limits<T>::infinity();
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) m = fmax(m, xs[j]);
    m = block_reduce(m, MaxOp{});
    double s = 0;
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) {
      const T ev = exp(xs[j] - m);
      if (!log) os[j] = ev;
      s += ev;
    }
    s = block_reduce(s, SumOp{});
    if (log) {
      const T ls = static_cast<T>(::log(s));
      for (int64_t j = threadIdx.x; j < r; j += blockDim.x) os[j] = (xs[j] - m) - ls;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (int64_t j = threadIdx.x; j < r; j += blockDim.x) os[j] *= inv;
    }
  }
}

void softmax(const Tensor& x, const Tensor& out, int64_t outer, int64_t r, int64_t inner, bool log) {
  const int64_t rows = outer * inner;
  if (rows == 0 || r == 0) return;
  DeviceGuard guard(out->device);
  dispatch_float(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    if (inner == 1)
      softmax_per_block<T><<<static_cast<unsigned>(std::min<int64_t>(rows, 65536)), kThreads, 0, stream(out->device)>>>(
          x->data<T>(), out->data<T>(), rows, r, log);
    else
      softmax_per_thread<T>
          <<<grid_for(rows), kThreads, 0, stream(out->device)>>>(x->data<T>(), out->data<T>(), rows, r, inner, log);
  });
  check_launch("softmax");
}

// gx = gy - exp(y) * sum(gy) for log_softmax, y * (gy - sum(gy * y)) for softmax; one block per row.
template <class T>
__global__ void softmax_backward_kernel(const T* gy, const T* y, T* gx, int64_t rows, int64_t r, int64_t inner, bool log) {
  for (int64_t k = blockIdx.x; k < rows; k += gridDim.x) {
    const int64_t base = (k / inner) * r * inner + k % inner;
    double s = 0;
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) {
      const int64_t q = base + j * inner;
      s += log ? gy[q] : gy[q] * y[q];
    }
    const T st = static_cast<T>(block_reduce(s, SumOp{}));
    for (int64_t j = threadIdx.x; j < r; j += blockDim.x) {
      const int64_t q = base + j * inner;
      gx[q] = log ? gy[q] - exp(y[q]) * st : y[q] * (gy[q] - st);
    }
  }
}

void softmax_backward(const Tensor& gy, const Tensor& y, const Tensor& gx, int64_t outer, int64_t r, int64_t inner, bool log) {
  const int64_t rows = outer * inner;
  if (rows == 0 || r == 0) return;
  DeviceGuard guard(gx->device);
  dispatch_float(y->dtype, [&](auto tag) {
    using T = decltype(tag);
    softmax_backward_kernel<T><<<static_cast<unsigned>(std::min<int64_t>(rows, 65536)), kThreads, 0, stream(gx->device)>>>(
        gy->data<T>(), y->data<T>(), gx->data<T>(), rows, r, inner, log);
  });
  check_launch("softmax_backward");
}

template <class T>
__global__ void index_select_kernel(const T* x, const int64_t* idx, T* out, int64_t total, int64_t n, int64_t r, int64_t inner) {
  RT_GRID_LOOP(k, total) {
    const int64_t i = k % inner, j = (k / inner) % n, a = k / (inner * n);
    out[k] = x[(a * r + idx[j]) * inner + i];
  }
}

void index_select(const Tensor& x, const Tensor& idx, const Tensor& out, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = idx->numel(), total = outer * n * inner;
  if (total == 0) return;
  DeviceGuard guard(out->device);
  dispatch_all(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    index_select_kernel<T><<<grid_for(total), kThreads, 0, stream(out->device)>>>(x->data<T>(), idx->data<int64_t>(),
                                                                                  out->data<T>(), total, n, r, inner);
  });
  check_launch("index_select");
}

// Atomic: two selected rows may hit the same target.
template <class T>
__global__ void index_add_kernel(T* out, const int64_t* idx, const T* src, int64_t total, int64_t n, int64_t r, int64_t inner) {
  RT_GRID_LOOP(k, total) {
    const int64_t i = k % inner, j = (k / inner) % n, a = k / (inner * n);
    atomic_add(out + (a * r + idx[j]) * inner + i, src[k]);
  }
}

void index_add(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner) {
  const int64_t n = idx->numel(), total = outer * n * inner;
  if (total == 0) return;
  DeviceGuard guard(out->device);
  dispatch_numeric(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    index_add_kernel<T><<<grid_for(total), kThreads, 0, stream(out->device)>>>(out->data<T>(), idx->data<int64_t>(),
                                                                               src->data<T>(), total, n, r, inner);
  });
  check_launch("index_add");
}

}  // namespace rt::cuda
