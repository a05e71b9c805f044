// Loops over contiguous float memory, compiled once per kernel level (float_loops.inc) so the
// elementwise, activation, batch-norm and optimizer kernels run at the active level's vector width.
// float64 gets the portable build only; integer dtypes and the transcendental unary ops stay on the
// generic code in elementwise.cpp.
#pragma once
#include <cstdint>

#include "reticulum/backend.h"

namespace rt::cpu {

template <class T>
struct VecLoops {
  // out[i] = op(x[i]) for i < n; false (nothing written) for an op left to the portable path.
  bool (*unary)(UnaryOp op, const T* x, T* out, int64_t n, UnaryArgs a);
  // gx[i] = d op(x[i]) * gy[i] (y is op's output); false for an op left to the portable path.
  bool (*unary_backward)(UnaryOp op, const T* gy, const T* x, const T* y, T* gx, int64_t n, UnaryArgs a);
  // out[k] = op(a[k * sa], b[k * sb]) with element strides sa, sb in {0, 1}; false for Pow and the rounding divisions.
  bool (*binary)(BinaryOp op, const T* a, int64_t sa, const T* b, int64_t sb, T* out, int64_t n);
  // One optimizer update over elements [begin, end) (the contract of Backend::optim_update).
  void (*optim_update)(OptimKind kind, const OptimHyper& h, int64_t step, T* p, const T* g, T* s0, T* s1, T* s2, int64_t begin,
                       int64_t end);
  // Row reductions for batch norm, accumulated in lanes of T and summed in double:
  // sum(x), sum((x - mu)^2) and sum(g * (x - mu)) over n elements.
  double (*sum)(const T* x, int64_t n);
  double (*centered_square_sum)(const T* x, int64_t n, T mu);
  double (*centered_dot)(const T* g, const T* x, int64_t n, T mu);
  // out = x * scale + shift, and the batch-norm input gradient gx = k * (g - a - (x - mu) * b).
  void (*scale_shift)(const T* x, T* out, int64_t n, T scale, T shift);
  void (*norm_backward)(const T* g, const T* x, T* gx, int64_t n, T k, T a, T mu, T b);
  // Bernoulli draws from random words: out[i] = 1 when (bits[i] >> 11) < threshold, else 0.
  void (*bernoulli_mask)(const uint64_t* bits, T* out, int64_t n, uint64_t threshold);
};
using FloatLoops = VecLoops<float>;

// The active level's loops (the portable build of float_loops.inc at the DEFAULT level).
const FloatLoops& float_loops();

namespace baseline {
extern const FloatLoops float_loops;
extern const VecLoops<double> double_loops;
}  // namespace baseline
namespace avx2 {
extern const FloatLoops float_loops;
}
namespace avx512 {
extern const FloatLoops float_loops;
}

// The loops for T at the active level (float) or the portable one (double).
template <class T>
const VecLoops<T>& vec_loops();
template <>
inline const VecLoops<float>& vec_loops<float>() {
  return float_loops();
}
template <>
inline const VecLoops<double>& vec_loops<double>() {
  return baseline::double_loops;
}

}  // namespace rt::cpu
