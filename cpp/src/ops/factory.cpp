// Creation ops. Random ones draw from the one seeded generator (random.cpp).
#include <cmath>

#include "reticulum/ops.h"

namespace rt {

void check_fill_value(double value, DType dtype, const char* op) {
  // Converting NaN, inf or a double outside int64's range to int64 is undefined behaviour in C++.
  if (dtype == DType::Int64 && !(value >= -9223372036854775808.0 && value < 9223372036854775808.0))
    fail<RuntimeError>(op, ": value ", value, " cannot be converted to type int64 without overflow");
}

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  check_fill_value(value, dtype, "full");
  Tensor t = empty(shape, dtype, device);
  backend(t).fill(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t->shape, t->dtype, t->device); }
Tensor ones_like(const Tensor& t) { return ones(t->shape, t->dtype, t->device); }

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  if (step == 0) fail<ValueError>("arange: step must be nonzero");
  if (!std::isfinite(start) || !std::isfinite(end) || !std::isfinite(step))
    fail<ValueError>("arange: start, end and step must be finite, got start=", start, ", end=", end, ", step=", step);
  if ((step > 0 && start > end) || (step < 0 && start < end))
    fail<ValueError>("arange: upper bound and larger bound inconsistent with step sign (start=", start, ", end=", end,
                     ", step=", step, ")");
  const double count = std::ceil((end - start) / step);
  if (!(count < 9.2e18))  // also catches inf; converting a larger double to int64 is undefined
    fail<ValueError>("arange: too many elements (start=", start, ", end=", end, ", step=", step, "), possible overflow");
  const int64_t n = static_cast<int64_t>(count);
  Tensor t = empty({n}, DType::Float64, Device{});  // filled on the host, then moved
  double* p = t->data<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = start + static_cast<double>(i) * step;
  return to_device(to_dtype(t, dtype), device);
}

Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device) {
  if (steps < 0) fail<ValueError>("linspace: number of steps must be non-negative, got ", steps);
  Tensor t = empty({steps}, DType::Float64, Device{});  // filled on the host, then moved
  double* p = t->data<double>();
  double step = steps > 1 ? (end - start) / static_cast<double>(steps - 1) : 0.0;
  // Fill from both ends so the last point is exactly `end`, as PyTorch does.
  for (int64_t i = 0; i < steps; ++i)
    p[i] = steps == 1      ? start
           : i < steps / 2 ? start + step * static_cast<double>(i)
                           : end - step * static_cast<double>(steps - 1 - i);
  return to_device(to_dtype(t, dtype), device);
}

Tensor eye(int64_t n, int64_t m, DType dtype, Device device) {
  if (n < 0 || m < 0) fail<ValueError>("eye: n and m must be non-negative, got ", n, " and ", m);
  Tensor t = zeros({n, m}, dtype, device);
  Tensor diag = make_view(t, {std::min(n, m)}, {m + 1}, 0);
  backend(t).fill(diag, 1.0);
  return t;
}

static void require_float(DType d, const char* op) {
  if (!is_floating(d)) fail<TypeError>(op, ": expected a floating point dtype, got ", dtype_name(d));
}

Tensor rand(const Shape& shape, DType dtype, Device device) {
  require_float(dtype, "rand");
  Tensor t = empty(shape, dtype, device);
  backend(t).uniform(t, 0.0, 1.0);
  return t;
}

Tensor randn(const Shape& shape, DType dtype, Device device) {
  require_float(dtype, "randn");
  Tensor t = empty(shape, dtype, device);
  backend(t).normal(t, 0.0, 1.0);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Device device) {
  if (high <= low) fail<ValueError>("randint: expected low < high, got low=", low, ", high=", high);
  if (dtype == DType::Bool) fail<TypeError>("randint: bool dtype is not supported");
  Tensor t = empty(shape, dtype, device);
  backend(t).randint(t, low, high);
  return t;
}

void random_fill_(const Tensor& dst, bool normal, double a, double b) {
  check_inplace(dst, normal ? "normal_" : "uniform_");
  check_no_internal_overlap(dst, normal ? "normal_" : "uniform_");
  if (!is_floating(dst->dtype))
    fail<TypeError>(normal ? "normal_" : "uniform_", ": expected a floating point tensor, got ", dtype_name(dst->dtype));
  if (normal && b < 0) fail<ValueError>("normal_: std must be non-negative, got ", b);
  Tensor t = dst->is_contiguous() ? dst : empty(dst->shape, dst->dtype, dst->device);
  if (normal) backend(t).normal(t, a, b);
  else backend(t).uniform(t, a, b);
  if (t != dst) backend(dst).copy(t, dst);
  ++dst->storage->version;
}

Tensor bernoulli_mask(const Shape& shape, double keep_prob, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  backend(t).bernoulli(t, keep_prob);
  return t;
}

}  // namespace rt
