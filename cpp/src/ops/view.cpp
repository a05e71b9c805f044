// Shape ops. Views (reshape-when-possible, transpose, permute, expand, squeeze,
// unsqueeze, slice, select) only rewrite shape/strides; cat/stack/index_select copy.
#include <numeric>

#include "reticulum/checked.h"
#include "reticulum/ops.h"

namespace rt {

static Tensor view_of(const Tensor& x, Shape shape, Shape strides, int64_t offset) {
  return make_view(x, std::move(shape), std::move(strides), offset);
}

// Resolves one -1 and checks the element count.
static Shape infer_shape(Shape shape, int64_t numel, const char* op, const Shape& from) {
  int64_t known = 1, neg = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (neg >= 0) fail<ValueError>(op, ": only one dimension can be inferred (-1) in shape ", shape_str(shape));
      neg = static_cast<int64_t>(i);
    } else if (shape[i] < 0) {
      fail<ValueError>(op, ": invalid shape dimension ", shape[i], " in ", shape_str(shape));
    } else {
      known = checked_mul(known, shape[i], op, "the number of elements of the requested shape");
    }
  }
  if (neg >= 0) {
    if (known == 0 || numel % known != 0)
      fail<ValueError>(op, ": shape ", shape_str(shape), " is invalid for input of size ", numel, " (shape ", shape_str(from),
                       ")");
    shape[neg] = numel / known;
  } else if (known != numel) {
    fail<ValueError>(op, ": shape ", shape_str(shape), " is invalid for input of size ", numel, " (shape ", shape_str(from), ")");
  }
  return shape;
}

// Strides for viewing x as `shape` without a copy, or empty if impossible
// (the chunk-matching rule PyTorch uses).
static std::optional<Shape> view_strides(const Tensor& x, const Shape& shape) {
  if (x->numel() == 0 || x->is_contiguous()) return contiguous_strides(shape);
  Shape st(shape.size());
  const Shape& os = x->shape;
  const Shape& ost = x->strides;
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = ost.empty() ? 1 : ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(os.size()) - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        st[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return st;
}

static Tensor reshape_backward_record(const Tensor& out, const Tensor& x) {
  Shape s = x->shape;
  return record("ViewBackward0", out, {x}, [s](const Tensor& g, const Node&) { return std::vector<Tensor>{reshape(g, s)}; });
}

Tensor view(const Tensor& x, Shape shape) {
  shape = infer_shape(std::move(shape), x->numel(), "view", x->shape);
  auto st = view_strides(x, shape);
  if (!st)
    fail<RuntimeError>("view: shape ", shape_str(shape), " is not compatible with the input's size and stride (shape ",
                       shape_str(x->shape), "); use reshape() instead");
  return reshape_backward_record(view_of(x, shape, *st, x->offset), x);
}

Tensor reshape(const Tensor& x, Shape shape) {
  shape = infer_shape(std::move(shape), x->numel(), "reshape", x->shape);
  if (shape == x->shape) return x;
  auto st = view_strides(x, shape);
  if (st) return reshape_backward_record(view_of(x, shape, *st, x->offset), x);
  return view(contiguous(x), shape);
}

Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
  start = wrap_dim(start, x->ndim(), "flatten");  // a 0-d tensor accepts only 0 and -1, as in PyTorch
  end = wrap_dim(end, x->ndim(), "flatten");
  if (x->ndim() == 0) return reshape(x, {1});
  if (start > end) fail<ValueError>("flatten: start_dim ", start, " cannot come after end_dim ", end);
  Shape s(x->shape.begin(), x->shape.begin() + start);
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= x->shape[i];
  s.push_back(m);
  s.insert(s.end(), x->shape.begin() + end + 1, x->shape.end());
  return reshape(x, s);
}

Tensor permute(const Tensor& x, Shape dims) {
  int64_t n = x->ndim();
  if (static_cast<int64_t>(dims.size()) != n)
    fail<ValueError>("permute: number of dims ", dims.size(), " does not match the input's ", n, " dims (shape ",
                     shape_str(x->shape), ")");
  Shape shape(n), st(n), inv(n);
  std::vector<bool> seen(n, false);
  for (int64_t i = 0; i < n; ++i) {
    int64_t d = wrap_dim(dims[i], n, "permute");
    if (seen[d]) fail<ValueError>("permute: repeated dim ", d, " in ", shape_str(dims));
    seen[d] = true;
    shape[i] = x->shape[d];
    st[i] = x->strides[d];
    inv[d] = i;
  }
  return record("PermuteBackward0", view_of(x, shape, st, x->offset), {x},
                [inv](const Tensor& g, const Node&) { return std::vector<Tensor>{permute(g, inv)}; });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  int64_t n = x->ndim();
  if (n == 0) return x;
  d0 = wrap_dim(d0, n, "transpose");
  d1 = wrap_dim(d1, n, "transpose");
  Shape dims(n);
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[d0], dims[d1]);
  return permute(x, dims);
}

Tensor expand(const Tensor& x, Shape shape) {
  int64_t n = static_cast<int64_t>(shape.size()), xd = x->ndim();
  if (n < xd)
    fail<ValueError>("expand: the number of sizes provided (", n, ") must be at least the number of dimensions (", xd,
                     ") of shape ", shape_str(x->shape));
  Shape st(n, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t j = i - (n - xd);
    if (j < 0) {
      if (shape[i] < 0) fail<ValueError>("expand: -1 not allowed in a new leading dimension (", shape_str(shape), ")");
      continue;
    }
    if (shape[i] == -1) shape[i] = x->shape[j];
    if (x->shape[j] == shape[i]) st[i] = x->strides[j];
    else if (x->shape[j] != 1)
      fail<ValueError>("expand: the expanded size (", shape[i], ") must match the existing size (", x->shape[j],
                       ") at non-singleton dimension ", i, ". Target sizes: ", shape_str(shape),
                       ". Tensor sizes: ", shape_str(x->shape));
  }
  if (shape == x->shape) return x;
  checked_numel(shape, "expand");
  Shape s = x->shape;
  return record("ExpandBackward0", view_of(x, shape, st, x->offset), {x},
                [s](const Tensor& g, const Node&) { return std::vector<Tensor>{sum_to(g, s)}; });
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  Shape shape, st;
  int64_t d = dim ? wrap_dim(*dim, x->ndim(), "squeeze") : -1;
  for (int64_t i = 0; i < x->ndim(); ++i) {
    bool drop = x->shape[i] == 1 && (!dim || i == d);
    if (!drop) {
      shape.push_back(x->shape[i]);
      st.push_back(x->strides[i]);
    }
  }
  if (shape.size() == x->shape.size()) return x;
  return reshape_backward_record(view_of(x, shape, st, x->offset), x);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  dim = wrap_dim(dim, x->ndim() + 1, "unsqueeze");
  Shape shape = x->shape, st = x->strides;
  int64_t s = dim < x->ndim() ? x->strides[dim] * x->shape[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  st.insert(st.begin() + dim, s);
  return reshape_backward_record(view_of(x, shape, st, x->offset), x);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t stop, int64_t step) {
  if (x->ndim() == 0) fail<IndexError>("slice: cannot slice a 0-d tensor");
  dim = wrap_dim(dim, x->ndim(), "slice");
  if (step <= 0) fail<ValueError>("slice: step must be positive, got ", step);
  int64_t n = x->shape[dim];
  auto clampi = [n](int64_t v) { return v < 0 ? std::max<int64_t>(v + n, 0) : std::min(v, n); };
  start = clampi(start);
  stop = clampi(stop);
  int64_t len = stop > start ? (stop - start - 1) / step + 1 : 0;
  Shape shape = x->shape, st = x->strides;
  shape[dim] = len;
  if (len > 1) st[dim] *= step;  // step < n here, so the stride stays inside the storage
  Shape xs = x->shape;
  return record("SliceBackward0", view_of(x, shape, st, x->offset + start * x->strides[dim]), {x},
                [xs, dim, start, stop, step](const Tensor& g, const Node&) {
                  Tensor gx = zeros(xs, g->dtype, g->device);
                  copy_(slice(gx, dim, start, stop, step), g);
                  return std::vector<Tensor>{gx};
                });
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  if (x->ndim() == 0) fail<IndexError>("select: invalid index of a 0-dim tensor");
  dim = wrap_dim(dim, x->ndim(), "select");
  int64_t n = x->shape[dim];
  if (index < -n || index >= n)
    fail<IndexError>("select: index ", index, " is out of bounds for dimension ", dim, " with size ", n);
  if (index < 0) index += n;
  Shape shape = x->shape, st = x->strides;
  shape.erase(shape.begin() + dim);
  st.erase(st.begin() + dim);
  Shape xs = x->shape;
  return record("SelectBackward0", view_of(x, shape, st, x->offset + index * x->strides[dim]), {x},
                [xs, dim, index](const Tensor& g, const Node&) {
                  Tensor gx = zeros(xs, g->dtype, g->device);
                  copy_(select(gx, dim, index), g);
                  return std::vector<Tensor>{gx};
                });
}

static void outer_inner(const Shape& s, int64_t dim, int64_t& outer, int64_t& inner) {
  outer = 1;
  inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= s[i];
  for (size_t i = dim + 1; i < s.size(); ++i) inner *= s[i];
}

// The indices flattened, with negative ones wrapped, after a bounds check on the host (a transfer
// for a device tensor). Returned on the host: index_copy_ reads them there.
static Tensor checked_index_on_host(const Tensor& idx_in, int64_t n, const char* op, int64_t dim) {
  if (idx_in->dtype != DType::Int64) fail<TypeError>(op, ": index tensor must be int64, got ", dtype_name(idx_in->dtype));
  Tensor idx = to_device(contiguous(reshape(detach(idx_in), {-1})), Device{});
  Tensor fixed = empty(idx->shape, DType::Int64, Device{});
  const int64_t* ip = idx->data<int64_t>();
  int64_t* fp = fixed->data<int64_t>();
  for (int64_t i = 0; i < idx->numel(); ++i) {
    int64_t v = ip[i];
    if (v < -n || v >= n) fail<IndexError>(op, ": index ", v, " is out of bounds for dimension ", dim, " with size ", n);
    fp[i] = v < 0 ? v + n : v;
  }
  return fixed;
}

Tensor index_select(const Tensor& x_in, int64_t dim, const Tensor& idx_in) {
  if (x_in->ndim() == 0) fail<IndexError>("index_select: cannot index a 0-d tensor");
  dim = wrap_dim(dim, x_in->ndim(), "index_select");
  check_same_device("index_select", x_in, idx_in);
  Tensor idx = to_device(checked_index_on_host(idx_in, x_in->shape[dim], "index_select", dim), x_in->device);
  Tensor x = contiguous(x_in);
  int64_t outer, inner;
  outer_inner(x->shape, dim, outer, inner);
  Shape shape = x->shape;
  shape[dim] = idx->numel();
  Tensor out = empty(shape, x->dtype, x->device);
  backend(x).index_select(x, idx, out, outer, x->shape[dim], inner);
  Shape xs = x->shape;
  return record("IndexSelectBackward0", out, {x_in}, [xs, dim, idx, outer, inner](const Tensor& g, const Node&) {
    Tensor gx = zeros(xs, g->dtype, g->device);
    backend(g).index_add(gx, idx, contiguous(g), outer, xs[dim], inner);
    return std::vector<Tensor>{gx};
  });
}

void index_copy_(const Tensor& dst, int64_t dim, const Tensor& idx_in, const Tensor& src) {
  check_inplace(dst, "index_copy_");
  check_no_internal_overlap(dst, "index_copy_");
  dim = wrap_dim(dim, dst->ndim(), "index_copy_");
  check_same_device("index_copy_", dst, idx_in, src);
  Tensor idx = checked_index_on_host(idx_in, dst->shape[dim], "index_copy_", dim);
  Shape want = dst->shape;
  want[dim] = idx->numel();
  Tensor s = contiguous(expand(to_dtype(detach(src), dst->dtype), want));
  const int64_t* ip = idx->data<int64_t>();
  for (int64_t j = 0; j < idx->numel(); ++j) copy_(select(dst, dim, ip[j]), select(s, dim, j));
}

Tensor cat(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) fail<ValueError>("cat: expected a non-empty list of tensors");
  const Tensor& f = xs[0];
  if (f->ndim() == 0) fail<ValueError>("cat: zero-dimensional tensor cannot be concatenated");
  dim = wrap_dim(dim, f->ndim(), "cat");
  DType dt = f->dtype;
  int64_t total = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor& t = xs[k];
    if (t->ndim() != f->ndim())
      fail<ValueError>("cat: tensors must have the same number of dimensions: got ", f->ndim(), " and ", t->ndim(), " (tensor ",
                       k, ")");
    for (int64_t d = 0; d < f->ndim(); ++d)
      if (d != dim && t->shape[d] != f->shape[d])
        fail<ValueError>("cat: sizes of tensors must match except in dimension ", dim, ": expected ", shape_str(f->shape),
                         " but got ", shape_str(t->shape), " for tensor ", k);
    dt = promote(dt, t->dtype);
    total = checked_add(total, t->shape[dim], "cat", "the concatenated size");
  }
  Shape shape = f->shape;
  shape[dim] = total;
  for (size_t k = 1; k < xs.size(); ++k) check_same_device("cat", f, xs[k]);
  Tensor out = empty(shape, dt, f->device);
  std::vector<int64_t> sizes;
  int64_t off = 0;
  for (auto& t : xs) {
    Shape s = out->shape;
    s[dim] = t->shape[dim];
    backend(out).copy(t, make_view(out, s, out->strides, out->offset + off * out->strides[dim]));
    sizes.push_back(t->shape[dim]);
    off += t->shape[dim];
  }
  return record("CatBackward0", out, xs, [sizes, dim](const Tensor& g, const Node& n) {
    std::vector<Tensor> gs(sizes.size());
    int64_t o = 0;
    for (size_t k = 0; k < sizes.size(); ++k) {
      if (n.needs(k)) gs[k] = slice(g, dim, o, o + sizes[k], 1);
      o += sizes[k];
    }
    return gs;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  if (xs.empty()) fail<ValueError>("stack: expected a non-empty list of tensors");
  for (size_t k = 1; k < xs.size(); ++k)
    if (xs[k]->shape != xs[0]->shape)
      fail<ValueError>("stack: expects each tensor to be equal size, but got ", shape_str(xs[0]->shape), " at entry 0 and ",
                       shape_str(xs[k]->shape), " at entry ", k);
  dim = wrap_dim(dim, xs[0]->ndim() + 1, "stack");
  std::vector<Tensor> us;
  us.reserve(xs.size());
  for (auto& t : xs) us.push_back(unsqueeze(t, dim));
  return cat(us, dim);
}

}  // namespace rt
