// CUDA elementwise kernels: copy/fill, unary and its backward, binary, compare and where. One
// thread per output element; the op is a switch on a launch-uniform value (no divergence), and
// every formula is the CPU kernel's (cpp/src/cpu/elementwise.cpp), NaN rules included.
#include <cmath>

#include "kernels.h"
#include "launch.cuh"

namespace rt::cuda {

template <class D, class S>
__global__ void copy_kernel(Strided<2> g, int64_t n, D* dst, const S* src) {
  RT_GRID_LOOP(i, n) {
    int64_t off[2];
    g.offsets(i, off);
    dst[off[0]] = static_cast<D>(src[off[1]]);
  }
}

void copy(const Tensor& src, const Tensor& dst) {
  const int64_t n = dst->numel();
  if (n == 0) return;
  DeviceGuard guard(dst->device);
  const auto g = make_strided<2>(dst->shape, {&dst, &src}, "copy");
  dispatch_all(src->dtype, [&](auto s) {
    using S = decltype(s);
    dispatch_all(dst->dtype, [&](auto d) {
      using D = decltype(d);
      copy_kernel<D, S><<<grid_for(n), kThreads, 0, stream(dst->device)>>>(g, n, dst->data<D>(), src->data<S>());
    });
  });
  check_launch("copy");
}

template <class T>
__global__ void fill_kernel(Strided<1> g, int64_t n, T* dst, T v) {
  RT_GRID_LOOP(i, n) {
    int64_t off[1];
    g.offsets(i, off);
    dst[off[0]] = v;
  }
}

void fill(const Tensor& dst, double value) {
  const int64_t n = dst->numel();
  if (n == 0) return;
  DeviceGuard guard(dst->device);
  const auto g = make_strided<1>(dst->shape, {&dst}, "fill");
  dispatch_all(dst->dtype, [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<T><<<grid_for(n), kThreads, 0, stream(dst->device)>>>(g, n, dst->data<T>(), static_cast<T>(value));
  });
  check_launch("fill");
}

// -1, 0 or 1, and 0 for NaN (PyTorch's sign).
template <class T>
__device__ T sign_of(T x) {
  return static_cast<T>(x > T(0)) - static_cast<T>(x < T(0));
}

template <class T>
__device__ T unary_one(UnaryOp op, T x, T A, T B) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return x < T(0) ? -x : x;
    case UnaryOp::Relu: return x <= T(0) ? T(0) : x;  // NaN stays NaN
    case UnaryOp::Sign: return sign_of(x);
    case UnaryOp::Clamp: return x != x ? x : (x < A ? A : (x > B ? B : x));
    case UnaryOp::LeakyRelu: return x > T(0) ? x : x * A;
    case UnaryOp::Heaviside: return x > T(0) ? T(1) : (x == T(0) ? A : T(0));
    default: break;
  }
  if constexpr (std::is_floating_point_v<T>) {
    switch (op) {
      case UnaryOp::Exp: return exp(x);
      case UnaryOp::Log: return log(x);
      case UnaryOp::Sqrt: return sqrt(x);
      case UnaryOp::Sigmoid: return T(1) / (T(1) + exp(-x));
      case UnaryOp::Tanh: return tanh(x);
      case UnaryOp::Softplus: return (x > T(0) ? x : T(0)) + log1p(exp(-fabs(x)));
      case UnaryOp::PowScalar:
        if (A == T(2)) return x * x;
        if (A == T(1)) return x;
        if (A == T(0.5)) return sqrt(x);
        return pow(x, A);
      case UnaryOp::Sin: return sin(x);
      case UnaryOp::Cos: return cos(x);
#define RT_FORMULA_FORWARD(Op, name, grad_fn, where, forward, backward) \
  case UnaryOp::Op: {                                                   \
    RT_FORMULA_MATH;                                                    \
    return (forward);                                                   \
  }
        RT_FORMULA_UNARY_OPS(RT_FORMULA_FORWARD)
#undef RT_FORMULA_FORWARD
      case UnaryOp::Gelu:  // A = 0: exact (erf); A = 1: PyTorch's tanh approximation
        if (A == T(0)) return T(0.5) * x * (T(1) + erf(x * T(M_SQRT1_2)));
        return T(0.5) * x * (T(1) + tanh(T(M_SQRT2 * M_2_SQRTPI * 0.5) * (x + T(0.044715) * x * x * x)));
      default: break;
    }
  }
  return x;  // unreachable: op code sends integer tensors only the ops above
}

template <class T>
__global__ void unary_kernel(UnaryOp op, int64_t n, const T* x, T* out, T A, T B) {
  RT_GRID_LOOP(i, n) out[i] = unary_one(op, x[i], A, B);
}

void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryArgs args) {
  const int64_t n = x->numel();
  if (n == 0) return;
  DeviceGuard guard(out->device);
  dispatch_numeric(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    unary_kernel<T><<<grid_for(n), kThreads, 0, stream(out->device)>>>(op, n, x->data<T>(), out->data<T>(),
                                                                       static_cast<T>(args.a), static_cast<T>(args.b));
  });
  check_launch("unary");
}

template <class T>
__device__ T unary_grad_one(UnaryOp op, T gy, T x, T y, T A, T B) {
  switch (op) {
    case UnaryOp::Neg: return -gy;
    case UnaryOp::Abs: return gy * sign_of(x);
    case UnaryOp::Exp: return gy * y;
    case UnaryOp::Log: return gy / x;
    case UnaryOp::Sqrt: return gy / (T(2) * y);
    case UnaryOp::Relu: return x > T(0) ? gy : T(0);
    case UnaryOp::LeakyRelu: return x > T(0) ? gy : gy * A;
    case UnaryOp::Sigmoid: return gy * y * (T(1) - y);
    case UnaryOp::Tanh: return gy * (T(1) - y * y);
    case UnaryOp::Softplus: return gy * (T(1) / (T(1) + exp(-x)));
    case UnaryOp::Clamp: return (x >= A && x <= B) ? gy : T(0);
    case UnaryOp::PowScalar:
      if (A == T(2)) return gy * T(2) * x;
      if (A == T(0)) return T(0);  // d/dx x^0 = 0 everywhere, x = 0 included
      return gy * A * pow(x, A - T(1));
    case UnaryOp::Sign:
    case UnaryOp::Heaviside: return T(0);
    case UnaryOp::Sin: return gy * cos(x);
    case UnaryOp::Cos: return -gy * sin(x);
#define RT_FORMULA_BACKWARD(Op, name, grad_fn, where, forward, backward) \
  case UnaryOp::Op: {                                                    \
    RT_FORMULA_MATH;                                                     \
    return (backward);                                                   \
  }
      RT_FORMULA_UNARY_OPS(RT_FORMULA_BACKWARD)
#undef RT_FORMULA_BACKWARD
    case UnaryOp::Gelu:
      if (A == T(0)) {  // Phi(x) + x phi(x)
        return gy * (T(0.5) * (T(1) + erf(x * T(M_SQRT1_2))) + x * T(M_2_SQRTPI * M_SQRT1_2 * 0.5) * exp(T(-0.5) * x * x));
      } else {  // the tanh approximation's derivative, as the CPU kernel
        const T beta = T(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = T(0.044715), t = tanh(beta * (x + kappa * x * x * x));
        return gy * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * beta * (T(1) + T(3) * kappa * x * x));
      }
  }
  return T(0);
}

template <class T>
__global__ void unary_backward_kernel(UnaryOp op, int64_t n, const T* gy, const T* x, const T* y, T* gx, T A, T B) {
  RT_GRID_LOOP(i, n) gx[i] = unary_grad_one(op, gy[i], x[i], y[i], A, B);
}

void unary_backward(UnaryOp op, const Tensor& gy, const Tensor& x, const Tensor& y, const Tensor& gx, UnaryArgs args) {
  const int64_t n = gx->numel();
  if (n == 0) return;
  DeviceGuard guard(gx->device);
  dispatch_float(gx->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* gyp = gy->data<T>();
    const T* xp = x ? x->data<T>() : gyp;  // ops that need only y (or only x) pass the other as null
    const T* yp = y ? y->data<T>() : gyp;
    unary_backward_kernel<T><<<grid_for(n), kThreads, 0, stream(gx->device)>>>(op, n, gyp, xp, yp, gx->data<T>(),
                                                                               static_cast<T>(args.a), static_cast<T>(args.b));
  });
  check_launch("unary_backward");
}

// Python's floor division, as the CPU kernel: floats through fmod (so 1 // 0.1 is 9), integers round
// the quotient toward -inf (op code refuses integer division by zero; INT64_MIN // -1 wraps).
template <class T>
__device__ T floor_div(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b == T(0)) return a / b;
    const T mod = fmod(a, b);
    T div = (a - mod) / b;
    if (mod != T(0) && (b < T(0)) != (mod < T(0))) div -= T(1);
    if (div == T(0)) return copysign(T(0), a / b);
    T floored = floor(div);
    if (div - floored > T(0.5)) floored += T(1);
    return floored;
  } else {
    if (b == T(-1)) return static_cast<T>(0ull - static_cast<unsigned long long>(a));
    const T q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  }
}

template <class T>
__device__ T trunc_div(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return trunc(a / b);
  else return b == T(-1) ? static_cast<T>(0ull - static_cast<unsigned long long>(a)) : a / b;
}

template <class T>
__device__ T binary_one(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Pow:
      if constexpr (std::is_floating_point_v<T>) return pow(x, y);
      else return static_cast<T>(pow(static_cast<double>(x), static_cast<double>(y)));  // std::pow's integer overload
    case BinaryOp::Maximum: return x != x ? x : (x > y ? x : y);
    case BinaryOp::Minimum: return x != x ? x : (x < y ? x : y);
    case BinaryOp::FloorDiv: return floor_div(x, y);
    case BinaryOp::TruncDiv: return trunc_div(x, y);
  }
  return x;
}

template <class T>
__global__ void binary_kernel(BinaryOp op, Strided<3> g, int64_t n, T* out, const T* a, const T* b) {
  RT_GRID_LOOP(i, n) {
    int64_t off[3];
    g.offsets(i, off);
    out[off[0]] = binary_one(op, a[off[1]], b[off[2]]);
  }
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out->numel();
  if (n == 0) return;
  DeviceGuard guard(out->device);
  const auto g = make_strided<3>(out->shape, {&out, &a, &b}, "binary");
  dispatch_numeric(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    binary_kernel<T><<<grid_for(n), kThreads, 0, stream(out->device)>>>(op, g, n, out->data<T>(), a->data<T>(), b->data<T>());
  });
  check_launch("binary");
}

template <class T>
__device__ bool compare_one(CompareOp op, T x, T y) {
  switch (op) {
    case CompareOp::Eq: return x == y;
    case CompareOp::Ne: return x != y;
    case CompareOp::Lt: return x < y;
    case CompareOp::Le: return x <= y;
    case CompareOp::Gt: return x > y;
    case CompareOp::Ge: return x >= y;
  }
  return false;
}

template <class T>
__global__ void compare_kernel(CompareOp op, Strided<3> g, int64_t n, bool* out, const T* a, const T* b) {
  RT_GRID_LOOP(i, n) {
    int64_t off[3];
    g.offsets(i, off);
    out[off[0]] = compare_one(op, a[off[1]], b[off[2]]);
  }
}

void compare(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out->numel();
  if (n == 0) return;
  DeviceGuard guard(out->device);
  const auto g = make_strided<3>(out->shape, {&out, &a, &b}, "compare");
  dispatch_all(a->dtype, [&](auto tag) {
    using T = decltype(tag);
    compare_kernel<T><<<grid_for(n), kThreads, 0, stream(out->device)>>>(op, g, n, out->data<bool>(), a->data<T>(), b->data<T>());
  });
  check_launch("compare");
}

template <class T>
__global__ void where_kernel(Strided<4> g, int64_t n, T* out, const bool* cond, const T* a, const T* b) {
  RT_GRID_LOOP(i, n) {
    int64_t off[4];
    g.offsets(i, off);
    out[off[0]] = cond[off[1]] ? a[off[2]] : b[off[3]];
  }
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t n = out->numel();
  if (n == 0) return;
  DeviceGuard guard(out->device);
  const auto g = make_strided<4>(out->shape, {&out, &cond, &a, &b}, "where");
  dispatch_all(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    where_kernel<T>
        <<<grid_for(n), kThreads, 0, stream(out->device)>>>(g, n, out->data<T>(), cond->data<bool>(), a->data<T>(), b->data<T>());
  });
  check_launch("where");
}

}  // namespace rt::cuda
