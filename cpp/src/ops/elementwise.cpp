// Elementwise ops: broadcasting binary arithmetic, comparisons, where, unary
// math, dtype casts. Forward, backward and checks of each op sit together.
#include <cmath>
#include <limits>

#include "reticulum/ops.h"

namespace rt {

// ---------------------------------------------------------------- helpers

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      fail<ValueError>(op, ": shapes ", shape_str(a), " and ", shape_str(b), " cannot be broadcast together (dimension ", i, ": ",
                       da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

void check_same_dtype(const char* op, const char* name_a, const Tensor& a, const char* name_b, const Tensor& b) {
  if (a && b && a->dtype != b->dtype)
    fail<RuntimeError>(op, ": expected ", name_a, " and ", name_b, " to have the same dtype, got ", dtype_name(a->dtype), " and ",
                       dtype_name(b->dtype), "; convert one with .to(dtype)");
}

// Stride-0 view of t at a broadcast shape, for kernels (no autograd).
static Tensor broadcast_view(const Tensor& t, const Shape& shape) {
  if (t->shape == shape) return t;
  size_t n = shape.size(), off = n - t->shape.size();
  Shape st(n, 0);
  for (size_t i = 0; i < t->shape.size(); ++i) st[i + off] = t->shape[i] == 1 ? 0 : t->strides[i];
  return make_view(t, shape, st, t->offset);
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g->shape == shape) return g;
  size_t lead = g->shape.size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < g->shape.size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && g->shape[i] != 1)) dims.push_back(static_cast<int64_t>(i));
  Tensor s = dims.empty() ? g : sum(g, dims, true);
  return reshape(s, shape);
}

static Tensor cast_raw(const Tensor& x, DType dt) {
  if (x->dtype == dt) return x;
  Tensor out = empty(x->shape, dt, x->device);
  backend(x).copy(x, out);
  return out;
}

Tensor scalar_tensor(double value, DType dtype, Device device) {
  check_fill_value(value, dtype, "scalar_tensor");
  Tensor t = empty({}, dtype, device);
  backend(t).fill(t, value);
  return t;
}

// Dtype of `tensor op python_scalar`: the tensor's, unless a float scalar meets an integer tensor.
static DType scalar_result_dtype(DType t, double s) {
  if (is_floating(t)) return t;
  if (std::floor(s) != s || std::isinf(s)) return DType::Float32;
  return DType::Int64;
}

// ---------------------------------------------------------------- binary

static Tensor binary_raw(BinaryOp op, const Tensor& a, const Tensor& b, DType dt, const char* name) {
  check_same_device(name, a, b);
  Shape shape = broadcast_shapes(a->shape, b->shape, name);
  Tensor out = empty(shape, dt, a->device);
  backend(out).binary(op, broadcast_view(cast_raw(a, dt), shape), broadcast_view(cast_raw(b, dt), shape), out);
  return out;
}

// PyTorch's result_type: a 0-d operand only decides the dtype when it is of a higher
// category (bool < integer < floating) than the dimensioned one.
static int category(DType d) { return d == DType::Bool ? 0 : d == DType::Int64 ? 1 : 2; }
static DType result_type(const Tensor& a, const Tensor& b) {
  const bool za = a->ndim() == 0, zb = b->ndim() == 0;
  if (za == zb) return promote(a->dtype, b->dtype);
  const Tensor& dimd = za ? b : a;
  const Tensor& zero = za ? a : b;
  return category(zero->dtype) > category(dimd->dtype) ? zero->dtype : dimd->dtype;
}

static DType arith_dtype(const Tensor& a, const Tensor& b) {
  DType d = result_type(a, b);
  return d == DType::Bool ? DType::Int64 : d;
}

// add, mul, maximum and minimum of two bools stay bool in PyTorch (or, and, or, and): the
// kernels have no bool arithmetic, so compute in int64 and cast back (nonzero is true).
// Returns null when the result is not bool.
static Tensor bool_result(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  if (result_type(a, b) != DType::Bool) return Tensor{};
  return cast_raw(binary_raw(op, a, b, DType::Int64, name), DType::Bool);
}

Tensor add(const Tensor& a, const Tensor& b) {
  if (Tensor r = bool_result(BinaryOp::Add, a, b, "add")) return r;
  Tensor out = binary_raw(BinaryOp::Add, a, b, arith_dtype(a, b), "add");
  Shape sa = a->shape, sb = b->shape;
  return record("AddBackward0", out, {a, b}, [sa, sb](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs(0) ? sum_to(g, sa) : Tensor{}, n.needs(1) ? sum_to(g, sb) : Tensor{}};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  if (a->dtype == DType::Bool || b->dtype == DType::Bool)
    fail<TypeError>(
        "sub: subtraction with a bool tensor is not supported (as in PyTorch); to invert a mask use ~mask or logical_not()");
  Tensor out = binary_raw(BinaryOp::Sub, a, b, arith_dtype(a, b), "sub");
  Shape sa = a->shape, sb = b->shape;
  return record("SubBackward0", out, {a, b}, [sa, sb](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs(0) ? sum_to(g, sa) : Tensor{}, n.needs(1) ? sum_to(neg(g), sb) : Tensor{}};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  if (Tensor r = bool_result(BinaryOp::Mul, a, b, "mul")) return r;
  Tensor out = binary_raw(BinaryOp::Mul, a, b, arith_dtype(a, b), "mul");
  Tensor da = detach(a), db = detach(b);
  return record("MulBackward0", out, {a, b}, [da, db](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs(0) ? sum_to(mul(g, db), da->shape) : Tensor{},
                               n.needs(1) ? sum_to(mul(g, da), db->shape) : Tensor{}};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  DType dt = arith_dtype(a, b);
  if (!is_floating(dt)) dt = DType::Float32;  // true division, as Python's /
  Tensor out = binary_raw(BinaryOp::Div, a, b, dt, "div");
  Tensor da = detach(a), db = detach(b);
  return record("DivBackward0", out, {a, b}, [da, db](const Tensor& g, const Node& n) {
    Tensor ga, gb;
    if (n.needs(0)) ga = sum_to(div(g, db), da->shape);
    if (n.needs(1)) gb = sum_to(neg(div(mul(g, da), mul(db, db))), db->shape);
    return std::vector<Tensor>{ga, gb};
  });
}

static Tensor rounded_div(BinaryOp op, const Tensor& a, const Tensor& b, const char* name) {
  DType dt = arith_dtype(a, b);
  if (!is_floating(dt) && item_int64(sum(compare_scalar(CompareOp::Eq, b, 0.0), {}, false)) > 0)
    fail<RuntimeError>(name, ": ZeroDivisionError: integer division by zero (divisor of shape ", shape_str(b->shape), ")");
  check_same_device(name, a, b);
  Tensor out = binary_raw(op, a, b, dt, name);
  Shape sa = a->shape, sb = b->shape;
  return record("DivBackward2", out, {a, b}, [sa, sb](const Tensor& g, const Node& n) {
    return std::vector<Tensor>{n.needs(0) ? zeros(sa, g->dtype, g->device) : Tensor{},
                               n.needs(1) ? zeros(sb, g->dtype, g->device) : Tensor{}};
  });
}
Tensor floor_divide(const Tensor& a, const Tensor& b) { return rounded_div(BinaryOp::FloorDiv, a, b, "floor_divide"); }
Tensor trunc_divide(const Tensor& a, const Tensor& b) { return rounded_div(BinaryOp::TruncDiv, a, b, "div"); }

Tensor pow(const Tensor& a, const Tensor& b) {
  if (a->dtype == DType::Bool && b->dtype == DType::Bool)
    fail<TypeError>("pow: not implemented for two bool tensors, as in PyTorch");
  Tensor out = binary_raw(BinaryOp::Pow, a, b, arith_dtype(a, b), "pow");
  Tensor da = detach(a), db = detach(b), dout = detach(out);
  return record("PowBackward1", out, {a, b}, [da, db, dout](const Tensor& g, const Node& n) {
    Tensor ga, gb;
    if (n.needs(0)) {  // b * a^(b-1), taken as 0 where b == 0 (a^0 is constant)
      Tensor d = mul(db, pow(da, add_scalar(db, -1.0)));
      ga = sum_to(mul(g, where(compare_scalar(CompareOp::Eq, db, 0.0), zeros({}, d->dtype, d->device), d)), da->shape);
    }
    if (n.needs(1)) {
      // d/db a^b = a^b log a; taken as 0 where a == 0 and b >= 0, as PyTorch does (for b < 0
      // it is inf * -inf: the limit, not a NaN).
      Tensor d = mul(dout, log(to_dtype(da, dout->dtype)));  // log of an integer base would be float32
      Tensor zero_base = where(compare_scalar(CompareOp::Ge, db, 0.0), compare_scalar(CompareOp::Eq, da, 0.0),
                               zeros({}, DType::Bool, da->device));
      gb = sum_to(mul(g, where(zero_base, zeros({}, d->dtype, d->device), d)), db->shape);
    }
    return std::vector<Tensor>{ga, gb};
  });
}

static Tensor minmax(BinaryOp op, const Tensor& a, const Tensor& b, const char* name, const char* grad_name) {
  if (Tensor r = bool_result(op, a, b, name)) return r;
  Tensor out = binary_raw(op, a, b, arith_dtype(a, b), name);
  Tensor da = detach(a), db = detach(b);
  CompareOp pick_a = op == BinaryOp::Maximum ? CompareOp::Gt : CompareOp::Lt;
  return record(grad_name, out, {a, b}, [da, db, pick_a](const Tensor& g, const Node& n) {
    // Ties split the gradient evenly, as PyTorch does.
    Tensor wa = where(compare(pick_a, da, db), ones({}, g->dtype, g->device),
                      where(compare(CompareOp::Eq, da, db), full({}, 0.5, g->dtype, g->device), zeros({}, g->dtype, g->device)));
    Tensor ga, gb;
    if (n.needs(0)) ga = sum_to(mul(g, wa), da->shape);
    if (n.needs(1)) gb = sum_to(mul(g, rsub_scalar(wa, 1.0)), db->shape);
    return std::vector<Tensor>{ga, gb};
  });
}
Tensor maximum(const Tensor& a, const Tensor& b) { return minmax(BinaryOp::Maximum, a, b, "maximum", "MaximumBackward0"); }
Tensor minimum(const Tensor& a, const Tensor& b) { return minmax(BinaryOp::Minimum, a, b, "minimum", "MinimumBackward0"); }

// ---------------------------------------------------------------- tensor-scalar

Tensor add_scalar(const Tensor& a, double s) {
  DType dt = scalar_result_dtype(a->dtype == DType::Bool ? DType::Int64 : a->dtype, s);
  Tensor out = binary_raw(BinaryOp::Add, a, scalar_tensor(s, dt, a->device), dt, "add");
  return record("AddBackward1", out, {a}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{g}; });
}

Tensor mul_scalar(const Tensor& a, double s) {
  DType dt = scalar_result_dtype(a->dtype == DType::Bool ? DType::Int64 : a->dtype, s);
  Tensor out = binary_raw(BinaryOp::Mul, a, scalar_tensor(s, dt, a->device), dt, "mul");
  return record("MulBackward1", out, {a}, [s](const Tensor& g, const Node&) { return std::vector<Tensor>{mul_scalar(g, s)}; });
}

Tensor rsub_scalar(const Tensor& a, double s) {
  DType dt = scalar_result_dtype(a->dtype == DType::Bool ? DType::Int64 : a->dtype, s);
  Tensor out = binary_raw(BinaryOp::Sub, scalar_tensor(s, dt, a->device), a, dt, "rsub");
  return record("RsubBackward1", out, {a}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{neg(g)}; });
}

Tensor pow_scalar(const Tensor& a, double e) {
  DType dt = scalar_result_dtype(a->dtype == DType::Bool ? DType::Int64 : a->dtype, e);
  if (!is_floating(dt) && e < 0) fail<ValueError>("pow: integers to negative integer powers are not allowed");
  Tensor x = cast_raw(contiguous(a), dt);
  Tensor out = empty(x->shape, dt, x->device);
  if (is_floating(dt)) {
    backend(x).unary(UnaryOp::PowScalar, x, out, {e, 0});
  } else {
    backend(x).binary(BinaryOp::Pow, x, broadcast_view(scalar_tensor(e, dt, x->device), x->shape), out);
  }
  Tensor dx = detach(x);
  return record("PowBackward0", out, {a}, [dx, e](const Tensor& g, const Node&) {
    Tensor gx = empty(g->shape, g->dtype, g->device);
    backend(g).unary_backward(UnaryOp::PowScalar, contiguous(g), dx, Tensor{}, gx, {e, 0});
    return std::vector<Tensor>{gx};
  });
}

// ---------------------------------------------------------------- comparisons & where

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b) {
  check_same_device("compare", a, b);
  DType dt = result_type(a, b);
  Shape shape = broadcast_shapes(a->shape, b->shape, "compare");
  Tensor out = empty(shape, DType::Bool, a->device);
  backend(out).compare(op, broadcast_view(cast_raw(a, dt), shape), broadcast_view(cast_raw(b, dt), shape), out);
  return out;
}

Tensor compare_scalar(CompareOp op, const Tensor& a, double s) {
  DType dt = scalar_result_dtype(a->dtype, s);
  if (a->dtype == DType::Bool && (s == 0 || s == 1)) dt = DType::Bool;
  return compare(op, cast_raw(a, dt), scalar_tensor(s, dt, a->device));
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  if (cond->dtype != DType::Bool) fail<TypeError>("where: condition must be a bool tensor, got ", dtype_name(cond->dtype));
  check_same_device("where", a, b, cond);
  DType dt = result_type(a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond->shape, a->shape, "where"), b->shape, "where");
  Tensor out = empty(shape, dt, a->device);
  backend(out).where(broadcast_view(cond, shape), broadcast_view(cast_raw(a, dt), shape), broadcast_view(cast_raw(b, dt), shape),
                     out);
  Tensor dc = detach(cond);
  Shape sa = a->shape, sb = b->shape;
  return record("WhereBackward0", out, {a, b}, [dc, sa, sb](const Tensor& g, const Node& n) {
    Tensor z = zeros({}, g->dtype, g->device);
    Tensor ga, gb;
    if (n.needs(0)) ga = sum_to(where(dc, g, z), sa);
    if (n.needs(1)) gb = sum_to(where(dc, z, g), sb);
    return std::vector<Tensor>{ga, gb};
  });
}

// ---------------------------------------------------------------- unary

// Ops that need a float input promote integer tensors to float32, as PyTorch does.
static Tensor unary_op(UnaryOp op, const char* name, const Tensor& x_in, UnaryArgs args, bool float_only, bool save_out) {
  Tensor x = contiguous(x_in);
  if (x->dtype == DType::Bool) x = cast_raw(x, float_only ? DType::Float32 : DType::Int64);
  if (float_only && !is_floating(x->dtype)) x = cast_raw(x, DType::Float32);
  Tensor out = empty(x->shape, x->dtype, x->device);
  backend(x).unary(op, x, out, args);
  if (!is_floating(out->dtype)) return out;
  Tensor dx = save_out ? Tensor{} : detach(x), dy = save_out ? detach(out) : Tensor{};
  return record(name, out, {x_in}, [op, args, dx, dy](const Tensor& g, const Node&) {
    Tensor gx = empty(g->shape, g->dtype, g->device);
    backend(g).unary_backward(op, contiguous(g), dx, dy, gx, args);
    return std::vector<Tensor>{gx};
  });
}

Tensor neg(const Tensor& x) {
  if (x->dtype == DType::Bool) fail<TypeError>("neg: negation of a bool tensor is not supported; use logical_not");
  return unary_op(UnaryOp::Neg, "NegBackward0", x, {}, false, true);
}
// PyTorch refuses these on bool tensors (abs, relu, leaky_relu) rather than promote them to int64.
static const Tensor& refuse_bool(const Tensor& x, const char* op) {
  if (x->dtype == DType::Bool)
    fail<TypeError>(op, ": bool tensors are not supported (shape ", shape_str(x->shape), "), as in PyTorch");
  return x;
}

Tensor abs(const Tensor& x) { return unary_op(UnaryOp::Abs, "AbsBackward0", refuse_bool(x, "abs"), {}, false, false); }
Tensor exp(const Tensor& x) { return unary_op(UnaryOp::Exp, "ExpBackward0", x, {}, true, true); }
Tensor log(const Tensor& x) { return unary_op(UnaryOp::Log, "LogBackward0", x, {}, true, false); }
Tensor sqrt(const Tensor& x) { return unary_op(UnaryOp::Sqrt, "SqrtBackward0", x, {}, true, true); }
Tensor relu(const Tensor& x) { return unary_op(UnaryOp::Relu, "ReluBackward0", refuse_bool(x, "relu"), {}, false, false); }
Tensor leaky_relu(const Tensor& x, double slope) {
  return unary_op(UnaryOp::LeakyRelu, "LeakyReluBackward0", refuse_bool(x, "leaky_relu"), {slope, 0}, false, false);
}
Tensor sigmoid(const Tensor& x) { return unary_op(UnaryOp::Sigmoid, "SigmoidBackward0", x, {}, true, true); }
Tensor tanh(const Tensor& x) { return unary_op(UnaryOp::Tanh, "TanhBackward0", x, {}, true, true); }
Tensor sin(const Tensor& x) { return unary_op(UnaryOp::Sin, "SinBackward0", x, {}, true, false); }
Tensor cos(const Tensor& x) { return unary_op(UnaryOp::Cos, "CosBackward0", x, {}, true, false); }
#define RT_FORMULA_OP(Op, name, grad_fn, where, forward, backward) \
  Tensor name(const Tensor& x) { return unary_op(UnaryOp::Op, grad_fn, x, {}, true, false); }
RT_FORMULA_UNARY_OPS(RT_FORMULA_OP)
#undef RT_FORMULA_OP
Tensor gelu(const Tensor& x, bool tanh_approximation) {
  if (!is_floating(x->dtype))  // PyTorch has no integer GELU kernel and does not promote
    fail<RuntimeError>("gelu: expected a floating-point input, got ", dtype_name(x->dtype), " of shape ", shape_str(x->shape));
  return unary_op(UnaryOp::Gelu, "GeluBackward0", x, {tanh_approximation ? 1.0 : 0.0, 0}, true, false);
}
Tensor softplus(const Tensor& x) { return unary_op(UnaryOp::Softplus, "SoftplusBackward0", x, {}, true, false); }
Tensor sign(const Tensor& x) {
  if (x->dtype == DType::Bool) return clone(x);  // sign(True) is True: PyTorch keeps bool
  return unary_op(UnaryOp::Sign, "SignBackward0", x, {}, false, false);
}

Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  if (!lo && !hi) fail<ValueError>("clamp: at least one of 'min' or 'max' must not be None");
  const double inf = std::numeric_limits<double>::infinity();
  if ((lo && std::isnan(*lo)) || (hi && std::isnan(*hi))) {  // PyTorch: every value NaN, every gradient 0
    Tensor xf = is_floating(x->dtype) ? x : to_dtype(x, DType::Float32);
    return add_scalar(mul_scalar(xf, 0.0), std::numeric_limits<double>::quiet_NaN());
  }
  UnaryArgs args{lo ? *lo : -inf, hi ? *hi : inf};
  auto integral = [](std::optional<double> v) { return !v || std::floor(*v) == *v; };
  if (!is_floating(x->dtype) && !(integral(lo) && integral(hi))) return clamp(to_dtype(x, DType::Float32), lo, hi);
  if (!is_floating(x->dtype)) {  // integer bounds stay integers; infinities would overflow
    const double big = 9.2e18;
    args = {std::max(args.a, -big), std::min(args.b, big)};
  }
  return unary_op(UnaryOp::Clamp, "ClampBackward1", x, args, false, false);
}

// Step function with `values` where x == 0; its derivative is zero almost everywhere. One value
// that adds no dims (values [1] with x 0-d broadcasts to [1]) is a scalar parameter of the kernel.
Tensor heaviside(const Tensor& x, const Tensor& values) {
  check_same_device("heaviside", x, values);
  if (values->numel() == 1 && values->ndim() <= x->ndim()) {
    return unary_op(UnaryOp::Heaviside, "HeavisideBackward0", x, {item_double(values), 0}, false, false);
  }
  Tensor pos = compare_scalar(CompareOp::Gt, x, 0.0), zero = compare_scalar(CompareOp::Eq, x, 0.0);
  DType dt = promote(x->dtype, values->dtype);
  return where(pos, ones({}, dt, x->device), where(zero, detach(values), zeros({}, dt, x->device)));
}

// ---------------------------------------------------------------- casts & copies

Tensor to_dtype(const Tensor& x, DType dtype) {
  if (x->dtype == dtype) return x;
  Tensor out = cast_raw(x, dtype);
  if (!is_floating(dtype) || !is_floating(x->dtype)) return out;
  DType src = x->dtype;
  return record("ToCopyBackward0", out, {x},
                [src](const Tensor& g, const Node&) { return std::vector<Tensor>{to_dtype(g, src)}; });
}

Tensor clone(const Tensor& x) {
  Tensor out = empty(x->shape, x->dtype, x->device);
  backend(x).copy(x, out);
  return record("CloneBackward0", out, {x}, [](const Tensor& g, const Node&) { return std::vector<Tensor>{g}; });
}

Tensor contiguous(const Tensor& x) { return x->is_contiguous() ? x : clone(x); }

void check_inplace(const Tensor& t, const char* op) {
  if (grad_enabled() && t->requires_grad)
    fail<RuntimeError>(op, ": a tensor that requires grad (shape ", shape_str(t->shape),
                       ") cannot be modified in place while grad mode is on; wrap the update in reticulum.no_grad()");
}

void check_no_internal_overlap(const Tensor& t, const char* op) {
  if (t->has_internal_overlap())
    fail<RuntimeError>(op, ": unsupported operation: more than one element of the written-to tensor (shape ", shape_str(t->shape),
                       ", strides ", shape_str(t->strides), ") refers to a single memory location; clone() it first");
}

void copy_(const Tensor& dst, const Tensor& src) {
  check_inplace(dst, "copy_");
  check_no_internal_overlap(dst, "copy_");
  if (numel_of(broadcast_shapes(dst->shape, src->shape, "copy_")) != dst->numel())
    fail<ValueError>("copy_: source of shape ", shape_str(src->shape), " cannot be broadcast to destination ",
                     shape_str(dst->shape));
  // A source on another device is transferred first, as PyTorch's copy_ does; one that overlaps the
  // destination is copied out first; extra leading (size-1) dims are dropped.
  Tensor s = src->device != dst->device     ? to_device(detach(src), dst->device)
             : src->storage == dst->storage ? clone(detach(src))
                                            : src;
  if (s->ndim() > dst->ndim()) s = reshape(detach(s), Shape(s->shape.end() - dst->ndim(), s->shape.end()));
  backend(dst).copy(broadcast_view(s, dst->shape), dst);
  ++dst->storage->version;
}

void fill_(const Tensor& dst, double v) {
  check_inplace(dst, "fill_");
  check_fill_value(v, dst->dtype, "fill_");
  backend(dst).fill(dst, v);
  ++dst->storage->version;
}

}  // namespace rt
