// CPU elementwise kernels: copy/fill, unary (Eigen's vectorized math), binary,
// compare and where over strided operands, and random fills.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "cpu/float_loops.h"
#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace rt::cpu {

void copy(const Tensor& src, const Tensor& dst) {
  dispatch_all(src->dtype, [&](auto s) {
    using S = decltype(s);
    dispatch_all(dst->dtype, [&](auto d) {
      using D = decltype(d);
      strided_loop<2>(dst->shape, {&dst, &src}, [](std::array<char*, 2> p, std::array<int64_t, 2> st, int64_t n) {
        if (st[0] == sizeof(D) && st[1] == sizeof(S)) {
          D* o = reinterpret_cast<D*>(p[0]);
          const S* i = reinterpret_cast<const S*>(p[1]);
          for (int64_t k = 0; k < n; ++k) o[k] = static_cast<D>(i[k]);
        } else {
          for (int64_t k = 0; k < n; ++k)
            *reinterpret_cast<D*>(p[0] + k * st[0]) = static_cast<D>(*reinterpret_cast<const S*>(p[1] + k * st[1]));
        }
      });
    });
  });
}

void fill(const Tensor& dst, double value) {
  dispatch_all(dst->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T v = static_cast<T>(value);
    strided_loop<1>(dst->shape, {&dst}, [v](std::array<char*, 1> p, std::array<int64_t, 1> st, int64_t n) {
      for (int64_t k = 0; k < n; ++k) *reinterpret_cast<T*>(p[0] + k * st[0]) = v;
    });
  });
}

template <class T>
using Arr = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;
template <class T>
using CArr = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Unaligned>;

// -1, 0 or 1, and 0 for NaN as PyTorch's sign (Eigen's sign() keeps NaN): abs's gradient at NaN
// is then 0, so l1_loss at a NaN element gives a zero gradient as in PyTorch.
template <class T>
static auto sign_of(const CArr<T>& x) {
  return (x > T(0)).template cast<T>() - (x < T(0)).template cast<T>();
}

template <class T>
static void unary_block(UnaryOp op, const T* xp, T* op_, int64_t n, UnaryArgs a) {
  CArr<T> x(xp, n);
  Arr<T> o(op_, n);
  const T A = static_cast<T>(a.a), B = static_cast<T>(a.b);
  // Op code computes the transcendental ops in floating point, so integer kernels never see them.
  // Every op has its case (no default): -Wswitch then names an op added without a kernel.
  constexpr bool is_float = std::is_floating_point_v<T>;
  switch (op) {
    case UnaryOp::Neg: o = -x; break;
    case UnaryOp::Abs: o = x.abs(); break;
    case UnaryOp::Relu: o = (x <= T(0)).select(T(0), x); break;  // NaN stays NaN
    case UnaryOp::Sign: o = sign_of(x); break;
    case UnaryOp::Clamp: o = x.max(A).min(B); break;
    case UnaryOp::LeakyRelu: o = (x > T(0)).select(x, x * A); break;
    case UnaryOp::Heaviside:
      for (int64_t i = 0; i < n; ++i) op_[i] = xp[i] > T(0) ? T(1) : (xp[i] == T(0) ? A : T(0));
      break;
    case UnaryOp::Exp:
      if constexpr (is_float) o = x.exp();
      break;
    case UnaryOp::Log:
      if constexpr (is_float)
        for (int64_t i = 0; i < n; ++i) op_[i] = std::log(xp[i]);
      break;
    case UnaryOp::Sqrt:
      if constexpr (is_float)
        for (int64_t i = 0; i < n; ++i) op_[i] = std::sqrt(xp[i]);
      break;
    case UnaryOp::Sigmoid:
      // 1 / (1 + e^-x) with Eigen's exp (about 1 ulp): Eigen's logistic() is a rational fit with
      // 1e-7 absolute error, 8e-4 relative at outputs near 1e-4, where PyTorch is ulp-accurate.
      if constexpr (is_float) o = (T(1) + (-x).exp()).inverse();
      break;
    case UnaryOp::Tanh:
      if constexpr (is_float) o = x.tanh();
      break;
    case UnaryOp::Softplus:
      if constexpr (is_float) o = x.max(T(0)) + (-x.abs()).exp().log1p();
      break;
    case UnaryOp::Sin:
      if constexpr (is_float) o = x.sin();
      break;
    case UnaryOp::Cos:
      if constexpr (is_float) o = x.cos();
      break;
    // Formula ops (unary_formulas.h) never reach this block: they take float input only, and every
    // level's table (vec_loops, float and double) evaluates them.
#define RT_FORMULA_CASE(Op, ...) case UnaryOp::Op:
      RT_FORMULA_UNARY_OPS(RT_FORMULA_CASE)
      break;
#undef RT_FORMULA_CASE
    case UnaryOp::Gelu:
      if constexpr (is_float) {
        if (A == T(0)) {
          for (int64_t i = 0; i < n; ++i) op_[i] = T(0.5) * xp[i] * (T(1) + std::erf(xp[i] * T(M_SQRT1_2)));
        } else {
          const T beta = static_cast<T>(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = T(0.044715);
          o = T(0.5) * x * (T(1) + (beta * (x + kappa * x.cube())).tanh());
        }
      }
      break;
    case UnaryOp::PowScalar:
      if constexpr (is_float) {
        if (A == T(2)) o = x.square();
        else if (A == T(1)) o = x;
        else if (A == T(0.5))
          for (int64_t i = 0; i < n; ++i) op_[i] = std::sqrt(xp[i]);
        else
          for (int64_t i = 0; i < n; ++i) op_[i] = std::pow(xp[i], A);
      }
      break;
  }
}

void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryArgs args) {
  dispatch_numeric(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x->data<T>();
    T* op_ = out->data<T>();
    parallel_range(x->numel(), 4, [&](int64_t b, int64_t e) {
      if constexpr (std::is_floating_point_v<T>)
        if (vec_loops<T>().unary(op, xp + b, op_ + b, e - b, args)) return;
      unary_block<T>(op, xp + b, op_ + b, e - b, args);
    });
  });
}

template <class T>
static void unary_backward_block(UnaryOp op, const T* gyp, const T* xp, const T* yp, T* gp, int64_t n, UnaryArgs a) {
  CArr<T> gy(gyp, n), x(xp, n), y(yp, n);
  Arr<T> g(gp, n);
  const T A = static_cast<T>(a.a), B = static_cast<T>(a.b);
  switch (op) {
    case UnaryOp::Neg: g = -gy; break;
    case UnaryOp::Abs: g = gy * sign_of(x); break;
    case UnaryOp::Exp: g = gy * y; break;
    case UnaryOp::Log: g = gy / x; break;
    case UnaryOp::Sqrt: g = gy / (T(2) * y); break;
    case UnaryOp::Relu: g = (x > T(0)).select(gy, T(0)); break;
    case UnaryOp::LeakyRelu: g = (x > T(0)).select(gy, gy * A); break;
    case UnaryOp::Sigmoid: g = gy * y * (T(1) - y); break;
    case UnaryOp::Tanh: g = gy * (T(1) - y.square()); break;
    case UnaryOp::Softplus: g = gy * (T(1) + (-x).exp()).inverse(); break;  // gy * sigmoid(x)
    case UnaryOp::Clamp: g = ((x >= A) && (x <= B)).select(gy, T(0)); break;
    case UnaryOp::PowScalar:
      if (A == T(2)) g = gy * T(2) * x;
      else if (A == T(0)) g.setZero();  // d/dx x^0 = 0 everywhere, x = 0 included
      else
        for (int64_t i = 0; i < n; ++i) gp[i] = gyp[i] * A * std::pow(xp[i], A - T(1));
      break;
    case UnaryOp::Sign:
    case UnaryOp::Heaviside: g.setZero(); break;
    case UnaryOp::Sin: g = gy * x.cos(); break;
    case UnaryOp::Cos:
      g = -gy * x.sin();
      break;
    // Formula ops: their backward runs in every level's table (vec_loops), never here.
#define RT_FORMULA_CASE(Op, ...) case UnaryOp::Op:
      RT_FORMULA_UNARY_OPS(RT_FORMULA_CASE)
      break;
#undef RT_FORMULA_CASE
    case UnaryOp::Gelu:
      if (A == T(0)) {  // Phi(x) + x phi(x)
        const T inv_sqrt_2pi = static_cast<T>(M_2_SQRTPI * M_SQRT1_2 * 0.5);
        for (int64_t i = 0; i < n; ++i) {
          const T v = xp[i];
          gp[i] = gyp[i] * (T(0.5) * (T(1) + std::erf(v * T(M_SQRT1_2))) + v * inv_sqrt_2pi * std::exp(T(-0.5) * v * v));
        }
      } else {  // PyTorch's closed form of the tanh approximation's derivative
        const T beta = static_cast<T>(M_SQRT2 * M_2_SQRTPI * 0.5), kappa = T(0.044715);
        for (int64_t i = 0; i < n; ++i) {
          const T v = xp[i], t = std::tanh(beta * (v + kappa * v * v * v));
          gp[i] = gyp[i] * (T(0.5) * (T(1) + t) + T(0.5) * v * (T(1) - t * t) * beta * (T(1) + T(3) * kappa * v * v));
        }
      }
      break;
  }
}

void unary_backward(UnaryOp op, const Tensor& gy, const Tensor& x, const Tensor& y, const Tensor& gx, UnaryArgs args) {
  dispatch_float(gx->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* gyp = gy->data<T>();
    const T* xp = x ? x->data<T>() : gyp;  // ops that need only y (or only x) pass the other as null
    const T* yp = y ? y->data<T>() : gyp;
    T* gp = gx->data<T>();
    parallel_range(gx->numel(), 4, [&](int64_t b, int64_t e) {
      if (!vec_loops<T>().unary_backward(op, gyp + b, xp + b, yp + b, gp + b, e - b, args))
        unary_backward_block<T>(op, gyp + b, xp + b, yp + b, gp + b, e - b, args);
    });
  });
}

// Python's floor division. Floats follow PyTorch's kernel (through fmod, so that e.g. 1 // 0.1 is 9
// as in Python, not floor(1 / 0.1) = 10); integers round the quotient toward -inf.
template <class T>
static T floor_div(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (b == T(0)) return a / b;
    const T mod = std::fmod(a, b);
    T div = (a - mod) / b;
    if (mod != T(0) && (b < T(0)) != (mod < T(0))) div -= T(1);
    if (div == T(0)) return std::copysign(T(0), a / b);
    T floored = std::floor(div);
    if (div - floored > T(0.5)) floored += T(1);
    return floored;
  } else {
    if (b == T(-1)) return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));  // INT64_MIN / -1 wraps instead of trapping
    const T q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
  }
}

template <class T>
static T trunc_div(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) return std::trunc(a / b);
  else return b == T(-1) ? static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a)) : a / b;
}

// Float rows whose output is contiguous and whose inputs are contiguous or broadcast scalars go to the
// per-level loops (float_loops.h); everything else runs f here.
template <class T, class F>
static void binary_loop(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  strided_loop<3>(out->shape, {&out, &a, &b}, [f, op](std::array<char*, 3> p, std::array<int64_t, 3> st, int64_t n) {
    T* o = reinterpret_cast<T*>(p[0]);
    const T* x = reinterpret_cast<const T*>(p[1]);
    const T* y = reinterpret_cast<const T*>(p[2]);
    constexpr int64_t s = sizeof(T);
    if constexpr (!std::is_floating_point_v<T>) {
      (void)op;  // integer rows never take the float loops
    } else {
      if (st[0] == s && (st[1] == s || st[1] == 0) && (st[2] == s || st[2] == 0) &&
          vec_loops<T>().binary(op, x, st[1] / s, y, st[2] / s, o, n))
        return;
    }
    if (st[0] == s && st[1] == s && st[2] == s) {
      for (int64_t k = 0; k < n; ++k) o[k] = f(x[k], y[k]);
    } else if (st[0] == s && st[1] == s && st[2] == 0) {
      const T yv = *y;
      for (int64_t k = 0; k < n; ++k) o[k] = f(x[k], yv);
    } else if (st[0] == s && st[1] == 0 && st[2] == s) {
      const T xv = *x;
      for (int64_t k = 0; k < n; ++k) o[k] = f(xv, y[k]);
    } else {
      for (int64_t k = 0; k < n; ++k)
        *reinterpret_cast<T*>(p[0] + k * st[0]) =
            f(*reinterpret_cast<const T*>(p[1] + k * st[1]), *reinterpret_cast<const T*>(p[2] + k * st[2]));
    }
  });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_numeric(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case BinaryOp::Add: binary_loop<T>(op, a, b, out, [](T x, T y) { return x + y; }); break;
      case BinaryOp::Sub: binary_loop<T>(op, a, b, out, [](T x, T y) { return x - y; }); break;
      case BinaryOp::Mul: binary_loop<T>(op, a, b, out, [](T x, T y) { return x * y; }); break;
      case BinaryOp::Div: binary_loop<T>(op, a, b, out, [](T x, T y) { return x / y; }); break;
      case BinaryOp::Pow: binary_loop<T>(op, a, b, out, [](T x, T y) { return static_cast<T>(std::pow(x, y)); }); break;
      case BinaryOp::Maximum: binary_loop<T>(op, a, b, out, [](T x, T y) { return x != x ? x : (x > y ? x : y); }); break;
      case BinaryOp::Minimum: binary_loop<T>(op, a, b, out, [](T x, T y) { return x != x ? x : (x < y ? x : y); }); break;
      case BinaryOp::FloorDiv: binary_loop<T>(op, a, b, out, [](T x, T y) { return floor_div(x, y); }); break;
      case BinaryOp::TruncDiv: binary_loop<T>(op, a, b, out, [](T x, T y) { return trunc_div(x, y); }); break;
    }
  });
}

template <class T, class F>
static void compare_loop(const Tensor& a, const Tensor& b, const Tensor& out, F f) {
  strided_loop<3>(out->shape, {&out, &a, &b}, [f](std::array<char*, 3> p, std::array<int64_t, 3> st, int64_t n) {
    for (int64_t k = 0; k < n; ++k)
      *reinterpret_cast<bool*>(p[0] + k * st[0]) =
          f(*reinterpret_cast<const T*>(p[1] + k * st[1]), *reinterpret_cast<const T*>(p[2] + k * st[2]));
  });
}

void compare(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_all(a->dtype, [&](auto tag) {
    using T = decltype(tag);
    switch (op) {
      case CompareOp::Eq: compare_loop<T>(a, b, out, [](T x, T y) { return x == y; }); break;
      case CompareOp::Ne: compare_loop<T>(a, b, out, [](T x, T y) { return x != y; }); break;
      case CompareOp::Lt: compare_loop<T>(a, b, out, [](T x, T y) { return x < y; }); break;
      case CompareOp::Le: compare_loop<T>(a, b, out, [](T x, T y) { return x <= y; }); break;
      case CompareOp::Gt: compare_loop<T>(a, b, out, [](T x, T y) { return x > y; }); break;
      case CompareOp::Ge: compare_loop<T>(a, b, out, [](T x, T y) { return x >= y; }); break;
    }
  });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  dispatch_all(out->dtype, [&](auto tag) {
    using T = decltype(tag);
    strided_loop<4>(out->shape, {&out, &cond, &a, &b}, [](std::array<char*, 4> p, std::array<int64_t, 4> st, int64_t n) {
      for (int64_t k = 0; k < n; ++k)
        *reinterpret_cast<T*>(p[0] + k * st[0]) = *reinterpret_cast<const bool*>(p[1] + k * st[1])
                                                      ? *reinterpret_cast<const T*>(p[2] + k * st[2])
                                                      : *reinterpret_cast<const T*>(p[3] + k * st[3]);
    });
  });
}

// ---- random fills (dst contiguous): the words are drawn under one lock and converted chunk by chunk

// Calls convert(bits, begin, count) for consecutive chunks of n fresh random words.
template <class Convert>
static void draw(int64_t n, Convert&& convert) {
  random_bits_chunked(n, &convert, [](void* c, const uint64_t* bits, int64_t begin, int64_t count) {
    (*static_cast<Convert*>(c))(bits, begin, count);
  });
}
static inline double to_unit(uint64_t b) { return static_cast<double>(b >> 11) * 0x1.0p-53; }

void uniform(const Tensor& dst, double low, double high) {
  dispatch_float(dst->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = dst->data<T>();
    draw(dst->numel(), [&](const uint64_t* bits, int64_t begin, int64_t count) {
      for (int64_t i = 0; i < count; ++i) o[begin + i] = static_cast<T>(low + (high - low) * to_unit(bits[i]));
    });
  });
}

void normal(const Tensor& dst, double mean, double std) {
  static_assert(kRandomChunk % 2 == 0, "Box-Muller pairs must not straddle chunks");
  const int64_t n = dst->numel();
  dispatch_float(dst->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = dst->data<T>();
    draw(n + (n & 1), [&](const uint64_t* bits, int64_t begin, int64_t count) {
      for (int64_t i = 0; i < count; i += 2) {  // Box-Muller: two normals per pair of uniforms
        double u1 = 1.0 - to_unit(bits[i]), u2 = to_unit(bits[i + 1]);
        double r = std::sqrt(-2.0 * std::log(u1)), th = 6.283185307179586 * u2;
        o[begin + i] = static_cast<T>(mean + std * r * std::cos(th));
        if (begin + i + 1 < n) o[begin + i + 1] = static_cast<T>(mean + std * r * std::sin(th));
      }
    });
  });
}

void randint(const Tensor& dst, int64_t low, int64_t high) {
  const uint64_t range = static_cast<uint64_t>(high - low);
  dispatch_numeric(dst->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = dst->data<T>();
    draw(dst->numel(), [&](const uint64_t* bits, int64_t begin, int64_t count) {
      for (int64_t i = 0; i < count; ++i) o[begin + i] = static_cast<T>(low + static_cast<int64_t>(bits[i] % range));
    });
  });
}

// to_unit(b) < p, compared in integers: (b >> 11) < p * 2^53 holds exactly when (b >> 11) < ceil(p * 2^53)
// (p * 2^53 is exact). The same mask as the float compare, without a 64-bit integer to double
// conversion per element; floating dtypes run it at the active level's vector width (the portable
// build has no 64-bit vector compare: scalar, it took 5% of mnist-cnn's dropout-heavy forward).
void bernoulli(const Tensor& dst, double p) {
  const double scaled = std::ceil(std::min(std::max(p, 0.0), 1.0) * 0x1.0p53);
  const uint64_t threshold = static_cast<uint64_t>(scaled);
  dispatch_all(dst->dtype, [&](auto tag) {
    using T = decltype(tag);
    T* o = dst->data<T>();
    draw(dst->numel(), [&](const uint64_t* bits, int64_t begin, int64_t count) {
      if constexpr (std::is_floating_point_v<T>) {
        vec_loops<T>().bernoulli_mask(bits, o + begin, count, threshold);
      } else {
        for (int64_t i = 0; i < count; ++i) o[begin + i] = static_cast<T>((bits[i] >> 11) < threshold);
      }
    });
  });
}

}  // namespace rt::cpu
