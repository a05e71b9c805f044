// Unary ops defined by a formula: one line of RT_FORMULA_UNARY_OPS is the whole C++ side of such an op.
//
//   X(Op, name, "GradFn", where, forward(x), backward(gy, x))
//
// From that line come: the enum member UnaryOp::Op; `Tensor rt::name(const Tensor&)`, float-only
// (integer and bool inputs promote to float32, as PyTorch) and recording "GradFn" with the input saved;
// the CPU kernels, forward and backward, compiled at every kernel level (float_loops.inc) and at the
// portable one (cpu/elementwise.cpp); the CUDA kernels (cuda/elementwise.cu); and the Python binding,
// placed by `where`: METHOD makes it a Tensor method (as torch.Tensor.log1p; rt.log1p in _functions.py
// calls it), NN a function of rt._C.nn (for nn.functional, as torch.nn.functional.softsign).
//
// The formulas are expressions in T (float or double), x and gy, written with unqualified math
// functions (exp, log, log1p, expm1, erf, fabs, sqrt, tanh, sin, cos), so one text compiles as C++ at
// every CPU level and as CUDA device code. Each kernel evaluates it element by element: an arithmetic
// formula vectorizes at each level, one that calls libm runs at libm's scalar speed. An op that needs
// the output in its backward, extra arguments, or Eigen's vectorized transcendental functions is
// written by hand instead (the other UnaryOp members, backend.h).
#pragma once

// clang-format off
#define RT_FORMULA_UNARY_OPS(X)                                                                         \
  X(Log1p, log1p, "Log1PBackward0", METHOD, log1p(x), gy / (T(1) + x))                                  \
  X(Erf, erf, "ErfBackward0", METHOD, erf(x), gy * T(M_2_SQRTPI) * exp(-x * x))                        \
  X(Softsign, softsign, "SoftsignBackward0", NN, x / (T(1) + fabs(x)), gy / ((T(1) + fabs(x)) * (T(1) + fabs(x))))
// clang-format on

// The math functions a formula may call, brought into the scope that evaluates it: the std overloads
// keep float arithmetic in float, and they hide rt's tensor ops of the same names.
#define RT_FORMULA_MATH \
  using std::cos;       \
  using std::erf;       \
  using std::exp;       \
  using std::expm1;     \
  using std::fabs;      \
  using std::log;       \
  using std::log1p;     \
  using std::sin;       \
  using std::sqrt;      \
  using std::tanh
