// Ops driven by an index along one dim: gather, scatter, scatter_add, sort, topk, and cumsum.
// gather reads x through flat positions (index_select on the flattened tensor), so its gradient
// is index_select's; sort and topk return their values through gather for the same reason.
#include <algorithm>

#include "reticulum/ops.h"

namespace rt {

static void outer_r_inner(const Shape& s, int64_t dim, int64_t& outer, int64_t& r, int64_t& inner) {
  outer = 1;
  inner = 1;
  r = s.empty() ? 1 : s[dim];
  for (int64_t i = 0; i < dim; ++i) outer *= s[i];
  for (size_t i = dim + 1; i < s.size(); ++i) inner *= s[i];
}

// PyTorch's rules for a gather/scatter index: int64, the rank of `x` (and of `src`), no larger than
// `src` in any dim nor than `x` outside `dim`, and values in [0, x.shape[dim]) (negatives are refused).
static void check_index(const char* op, const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src) {
  check_same_device(op, x, idx);
  if (src) check_same_device(op, x, src);
  if (idx->dtype != DType::Int64) fail<RuntimeError>(op, ": expected dtype int64 for index, got ", dtype_name(idx->dtype));
  if (std::max<int64_t>(idx->ndim(), 1) != std::max<int64_t>(x->ndim(), 1))
    fail<RuntimeError>(op, ": index ", shape_str(idx->shape), " must have the same number of dimensions as the input ",
                       shape_str(x->shape));
  if (src && std::max<int64_t>(src->ndim(), 1) != std::max<int64_t>(idx->ndim(), 1))
    fail<RuntimeError>(op, ": index ", shape_str(idx->shape), " must have the same number of dimensions as src ",
                       shape_str(src->shape));
  for (int64_t d = 0; d < idx->ndim() && x->ndim() > 0; ++d) {
    if (d != dim && idx->shape[d] > x->shape[d])
      fail<RuntimeError>(op, ": size does not match at dimension ", d, ": index ", shape_str(idx->shape),
                         " must be no larger than the input ", shape_str(x->shape), " apart from dimension ", dim);
    if (src && src->ndim() > 0 && idx->shape[d] > src->shape[d])
      fail<RuntimeError>(op, ": size does not match at dimension ", d, ": index ", shape_str(idx->shape),
                         " must be no larger than src ", shape_str(src->shape));
  }
  if (idx->numel() == 0) return;
  const int64_t n = x->ndim() ? x->shape[dim] : 1;
  const int64_t lo = item_int64(min_all(idx)), hi = item_int64(max_all(idx));
  if (lo < 0 || hi >= n)
    fail<RuntimeError>(op, ": index ", lo < 0 ? lo : hi, " is out of bounds for dimension ", dim, " with size ", n,
                       " (input shape ", shape_str(x->shape), ")");
}

// Flat positions, in a contiguous tensor of shape xs, of the elements idx addresses along dim:
// idx * stride[dim] + sum over the other dims d of (coordinate d) * stride[d]; the shape of idx.
static Tensor flat_positions(const Shape& xs, int64_t dim, const Tensor& idx) {
  GradModeGuard no_grad(false);
  Shape st = contiguous_strides(xs);
  Tensor lin = mul_scalar(idx, static_cast<double>(xs.empty() ? 1 : st[dim]));
  for (int64_t d = 0; d < idx->ndim(); ++d) {
    if (d == dim || idx->shape[d] == 1) continue;
    Shape at(idx->ndim(), 1);
    at[d] = idx->shape[d];
    lin = add(lin, reshape(mul_scalar(arange(0, static_cast<double>(idx->shape[d]), 1, DType::Int64, idx->device),
                                      static_cast<double>(st[d])),
                           at));
  }
  return lin;
}

// The leading idx.shape block of t (src of a scatter may be larger than the index).
static Tensor leading_block(const Tensor& t, const Shape& shape) {
  Tensor out = t;
  for (size_t d = 0; d < shape.size(); ++d)
    if (out->shape[d] != shape[d]) out = slice(out, static_cast<int64_t>(d), 0, shape[d], 1);
  return out;
}

static Tensor gather_unchecked(const Tensor& x, int64_t dim, const Tensor& idx) {
  Tensor flat = reshape(contiguous(x), {-1});
  return reshape(index_select(flat, 0, reshape(flat_positions(x->shape, dim, idx), {-1})), idx->shape);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& idx) {
  dim = wrap_dim(dim, x->ndim(), "gather");
  check_index("gather", x, dim, idx, Tensor{});
  return gather_unchecked(x, dim, idx);
}

// out = x with out[..., idx[p], ...] = src[p] (or += for scatter_add) along dim.
static Tensor scatter_impl(const char* op, const Tensor& x, int64_t dim_in, const Tensor& idx, const Tensor& src,
                           bool src_is_value, bool accumulate) {
  const int64_t dim = wrap_dim(dim_in, x->ndim(), op);
  check_index(op, x, dim, idx, src_is_value ? Tensor{} : src);
  if (src->dtype != x->dtype)
    fail<RuntimeError>(op, ": expected self.dtype to be equal to src.dtype, got ", dtype_name(x->dtype), " and ",
                       dtype_name(src->dtype));
  if (accumulate && x->dtype == DType::Bool)
    fail<RuntimeError>(op, ": bool tensors are not supported (shape ", shape_str(x->shape), ")");
  Tensor out = empty(x->shape, x->dtype, x->device);
  backend(x).copy(x, out);
  if (idx->numel() > 0) {
    Tensor lin = contiguous(reshape(flat_positions(x->shape, dim, idx), {-1}));
    Tensor block = src_is_value ? expand(detach(src), idx->shape) : leading_block(detach(src), idx->shape);
    Tensor vals = contiguous(reshape(contiguous(block), {-1}));
    Tensor flat = reshape(out, {-1});
    if (accumulate) backend(x).index_add(flat, lin, vals, 1, flat->numel(), 1);
    else backend(x).index_copy(flat, lin, vals, 1, flat->numel(), 1);
  }
  Tensor didx = detach(idx);
  Shape ss = src->shape;
  auto backward = [dim, didx, ss, accumulate, src_is_value](const Tensor& g, const Node& n) {
    Tensor gx;
    if (n.needs(0)) gx = accumulate ? g : scatter_impl("scatter", g, dim, didx, zeros({}, g->dtype, g->device), true, false);
    if (src_is_value) return std::vector<Tensor>{gx};
    Tensor gs;
    if (n.needs(1)) {
      gs = gather_unchecked(g, dim, didx);
      if (gs->shape != ss) {  // src larger than the index: zeros outside the block it was read from
        Tensor padded = zeros(ss, g->dtype, g->device);
        copy_(leading_block(padded, didx->shape), gs);
        gs = padded;
      }
    }
    return std::vector<Tensor>{gx, gs};
  };
  const char* name = accumulate ? "ScatterAddBackward0" : src_is_value ? "ScatterBackward1" : "ScatterBackward0";
  return src_is_value ? record(name, out, {x}, backward) : record(name, out, {x, src}, backward);
}

Tensor scatter(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src) {
  return scatter_impl("scatter", x, dim, idx, src, false, false);
}
Tensor scatter_value(const Tensor& x, int64_t dim, const Tensor& idx, double value) {
  check_fill_value(value, x->dtype, "scatter");
  return scatter_impl("scatter", x, dim, idx, full({}, value, x->dtype, x->device), true, false);
}
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src) {
  return scatter_impl("scatter_add", x, dim, idx, src, false, true);
}

std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending) {
  dim = wrap_dim(dim, x->ndim(), "sort");
  int64_t outer, r, inner;
  outer_r_inner(x->shape, dim, outer, r, inner);
  Tensor idx = empty(x->shape, DType::Int64, x->device);
  if (x->numel() > 0) backend(x).sort(contiguous(detach(x)), idx, outer, r, inner, descending);
  return {gather_unchecked(x, dim, idx), idx};
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest) {
  dim = wrap_dim(dim, x->ndim(), "topk");
  const int64_t n = x->ndim() ? x->shape[dim] : 1;
  if (k < 0 || k > n)
    fail<RuntimeError>("topk: k (", k, ") is out of range for dimension ", dim, " of size ", n, " (input shape ",
                       shape_str(x->shape), ")");
  if (x->dtype == DType::Bool) fail<RuntimeError>("topk: bool tensors are not supported (shape ", shape_str(x->shape), ")");
  Tensor order = sort(detach(x), dim, largest).second;
  Tensor idx = x->ndim() ? contiguous(slice(order, dim, 0, k, 1)) : order;
  return {gather_unchecked(x, dim, idx), idx};
}

Tensor cumsum(const Tensor& x_in, int64_t dim, std::optional<DType> dtype) {
  dim = wrap_dim(dim, x_in->ndim(), "cumsum");
  Tensor x = to_dtype(x_in, dtype ? *dtype : x_in->dtype == DType::Bool ? DType::Int64 : x_in->dtype);
  if (x->dtype == DType::Bool) fail<RuntimeError>("cumsum: dtype bool is not supported for the result");
  int64_t outer, r, inner;
  outer_r_inner(x->shape, dim, outer, r, inner);
  Tensor out = empty(x->shape, x->dtype, x->device);
  if (x->numel() > 0) backend(x).cumsum(contiguous(detach(x)), out, outer, r, inner);
  return record("CumsumBackward0", out, {x}, [dim, r](const Tensor& g, const Node&) {
    if (g->ndim() == 0) return std::vector<Tensor>{g};
    // d(out_j)/d(x_i) = 1 for j >= i: the gradient is the reversed cumulative sum of g.
    Tensor reverse = arange(static_cast<double>(r - 1), -1, -1, DType::Int64, g->device);
    return std::vector<Tensor>{index_select(cumsum(index_select(g, dim, reverse), dim, std::nullopt), dim, reverse)};
  });
}

}  // namespace rt
