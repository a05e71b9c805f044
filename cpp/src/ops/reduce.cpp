// Reductions (sum, mean, var, max/min, argmax/argmin) and softmax/log_softmax.
// Kernels see a contiguous tensor as [outer, r, inner] around the reduced axis.
#include <algorithm>

#include "reticulum/ops.h"

namespace rt {

static std::vector<int64_t> normalize_dims(std::vector<int64_t> dims, int64_t nd, const char* op) {
  if (dims.empty()) {
    for (int64_t i = 0; i < nd; ++i) dims.push_back(i);
    return dims;
  }
  for (auto& d : dims) d = wrap_dim(d, nd, op);
  std::sort(dims.begin(), dims.end());
  if (std::adjacent_find(dims.begin(), dims.end()) != dims.end())
    fail<ValueError>(op, ": dim appears multiple times in the list of dims");
  if (nd == 0) dims.clear();
  return dims;
}

static Shape reduced_shape(const Shape& s, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t i = 0; i < static_cast<int64_t>(s.size()); ++i) {
    bool red = std::binary_search(dims.begin(), dims.end(), i);
    if (!red) out.push_back(s[i]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

// Moves the reduced dims last and runs the kernel over [outer, r, 1] (or [outer, r, inner] for one dim).
static Tensor reduce_raw(ReduceOp op, const Tensor& x_in, const std::vector<int64_t>& dims, DType out_dtype, const char* name) {
  Tensor x = x_in;
  int64_t nd = x->ndim(), outer = 1, r = 1, inner = 1;
  if (dims.size() == 1) {
    x = contiguous(x);
    for (int64_t i = 0; i < dims[0]; ++i) outer *= x->shape[i];
    r = x->shape[dims[0]];
    for (int64_t i = dims[0] + 1; i < nd; ++i) inner *= x->shape[i];
  } else {
    Shape perm;
    for (int64_t i = 0; i < nd; ++i)
      if (!std::binary_search(dims.begin(), dims.end(), i)) {
        perm.push_back(i);
        outer *= x->shape[i];
      }
    for (auto d : dims) {
      perm.push_back(d);
      r *= x->shape[d];
    }
    x = contiguous(permute(detach(x), perm));
  }
  Tensor out = empty({outer * inner}, out_dtype, x->device);
  if (r == 0) {
    if (op != ReduceOp::Sum)
      fail<IndexError>(name, ": reduction over a zero-size dimension of input shape ", shape_str(x_in->shape),
                       " has no identity");
    backend(out).fill(out, 0);
    return out;
  }
  backend(x).reduce(op, x, outer, r, inner, out);
  return out;
}

Tensor sum(const Tensor& x, std::vector<int64_t> dims_in, bool keepdim) {
  auto dims = normalize_dims(std::move(dims_in), x->ndim(), "sum");
  DType dt = x->dtype == DType::Bool ? DType::Int64 : x->dtype;
  Tensor xx = x->dtype == DType::Bool ? to_dtype(x, dt) : x;
  Shape out_shape = reduced_shape(x->shape, dims, keepdim);
  Tensor out = dims.empty() ? clone(detach(xx)) : reshape(reduce_raw(ReduceOp::Sum, detach(xx), dims, dt, "sum"), out_shape);
  Shape xs = x->shape, keep_shape = reduced_shape(x->shape, dims, true);
  return record("SumBackward0", out, {x}, [xs, keep_shape](const Tensor& g, const Node&) {
    return std::vector<Tensor>{expand(reshape(g, keep_shape), xs)};
  });
}

Tensor mean(const Tensor& x, std::vector<int64_t> dims_in, bool keepdim) {
  if (!is_floating(x->dtype))
    fail<TypeError>("mean: could not infer output dtype; input dtype must be floating point, got ", dtype_name(x->dtype));
  auto dims = normalize_dims(std::move(dims_in), x->ndim(), "mean");
  int64_t n = 1;
  for (auto d : dims) n *= x->shape[d];
  return mul_scalar(sum(x, dims, keepdim), 1.0 / static_cast<double>(n));
}

Tensor var(const Tensor& x, std::vector<int64_t> dims_in, double correction, bool keepdim) {
  if (!is_floating(x->dtype)) fail<TypeError>("var: input dtype must be floating point, got ", dtype_name(x->dtype));
  auto dims = normalize_dims(std::move(dims_in), x->ndim(), "var");
  int64_t n = 1;
  for (auto d : dims) n *= x->shape[d];
  Tensor d = sub(x, mean(x, dims, true));
  return mul_scalar(sum(mul(d, d), dims, keepdim), 1.0 / std::max(0.0, static_cast<double>(n) - correction));
}

static std::pair<Tensor, Tensor> extreme_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  if (x->dtype == DType::Bool) fail<TypeError>(name, ": bool tensors are not supported; cast with .long() first");
  dim = wrap_dim(dim, x->ndim(), name);
  Shape kshape = x->ndim() ? reduced_shape(x->shape, {dim}, true) : Shape{};
  Shape oshape = x->ndim() ? reduced_shape(x->shape, {dim}, keepdim) : Shape{};
  if (x->ndim() == 0) return {x, zeros({}, DType::Int64, x->device)};
  Tensor vals = reshape(reduce_raw(is_max ? ReduceOp::Max : ReduceOp::Min, detach(x), {dim}, x->dtype, name), oshape);
  Tensor idx = reshape(reduce_raw(is_max ? ReduceOp::ArgMax : ReduceOp::ArgMin, detach(x), {dim}, DType::Int64, name), oshape);
  Shape xs = x->shape;
  Tensor didx = detach(idx);
  vals = record(is_max ? "MaxBackward0" : "MinBackward0", vals, {x}, [xs, dim, didx](const Tensor& g, const Node&) {
    int64_t outer = 1, inner = 1;
    for (int64_t i = 0; i < dim; ++i) outer *= xs[i];
    for (size_t i = dim + 1; i < xs.size(); ++i) inner *= xs[i];
    Tensor gx = zeros(xs, g->dtype, g->device);
    backend(g).scatter_add_dim(gx, contiguous(didx), contiguous(g), outer, xs[dim], inner);
    return std::vector<Tensor>{gx};
  });
  return {vals, idx};
}
std::pair<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim(x, dim, keepdim, true); }
std::pair<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim) { return extreme_dim(x, dim, keepdim, false); }

// Full reductions split the gradient evenly among tied extremes, as PyTorch does.
static Tensor extreme_all(const Tensor& x, bool is_max) {
  const char* name = is_max ? "max" : "min";
  if (x->numel() == 0)
    fail<RuntimeError>(name, ": operation does not have an identity; the input of shape ", shape_str(x->shape), " is empty");
  if (x->dtype == DType::Bool) fail<TypeError>(name, ": bool tensors are not supported; cast with .long() first");
  Tensor flat = reshape(detach(x), {-1});
  Tensor v = reshape(reduce_raw(is_max ? ReduceOp::Max : ReduceOp::Min, flat, {0}, x->dtype, name), {});
  Tensor dx = detach(x), dv = detach(v);
  return record(is_max ? "MaxBackward1" : "MinBackward1", v, {x}, [dx, dv](const Tensor& g, const Node&) {
    Tensor mask = to_dtype(compare(CompareOp::Eq, dx, dv), g->dtype);
    return std::vector<Tensor>{mul(mask, div(g, sum(mask, {}, false)))};
  });
}
Tensor max_all(const Tensor& x) { return extreme_all(x, true); }
Tensor min_all(const Tensor& x) { return extreme_all(x, false); }

static Tensor arg_extreme(const Tensor& x, std::optional<int64_t> dim, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  if (x->numel() == 0) fail<RuntimeError>(name, ": expected a non-empty tensor, got shape ", shape_str(x->shape));
  if (x->dtype == DType::Bool) fail<TypeError>(name, ": bool tensors are not supported");
  ReduceOp op = is_max ? ReduceOp::ArgMax : ReduceOp::ArgMin;
  if (!dim) {
    Tensor r = reshape(reduce_raw(op, reshape(detach(x), {-1}), {0}, DType::Int64, name), {});
    return keepdim ? reshape(r, Shape(x->ndim(), 1)) : r;
  }
  int64_t d = wrap_dim(*dim, x->ndim(), name);  // validates the dim for 0-d tensors too (only 0 and -1)
  if (x->ndim() == 0) return zeros({}, DType::Int64, x->device);
  return reshape(reduce_raw(op, detach(x), {d}, DType::Int64, name), reduced_shape(x->shape, {d}, keepdim));
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme(x, dim, keepdim, true); }
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) { return arg_extreme(x, dim, keepdim, false); }

static Tensor softmax_impl(const Tensor& x_in, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  Tensor x = x_in;
  if (!is_floating(x->dtype)) x = to_dtype(x, DType::Float32);
  x = contiguous(detach(x));
  if (x->ndim() == 0) x = reshape(x, {1});
  dim = wrap_dim(dim, x->ndim(), name);
  int64_t outer = 1, inner = 1, r = x->shape[dim];
  for (int64_t i = 0; i < dim; ++i) outer *= x->shape[i];
  for (int64_t i = dim + 1; i < x->ndim(); ++i) inner *= x->shape[i];
  Tensor out = empty(x->shape, x->dtype, x->device);
  backend(x).softmax(x, out, outer, r, inner, log);
  out = reshape(out, x_in->shape);
  Tensor dy = detach(out);
  return record(log ? "LogSoftmaxBackward0" : "SoftmaxBackward0", out, {x_in},
                [dy, outer, r, inner, log](const Tensor& g, const Node&) {
                  Tensor gx = empty(dy->shape, dy->dtype, dy->device);
                  backend(g).softmax_backward(contiguous(g), dy, gx, outer, r, inner, log);
                  return std::vector<Tensor>{gx};
                });
}
Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

}  // namespace rt
