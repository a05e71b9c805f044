#include "reticulum/tensor.h"

#include <algorithm>
#include <vector>

#include "reticulum/backend.h"

namespace rt {

std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device) {
  const Backend& b = backend(device);
  auto s = std::make_shared<Storage>();
  s->data = b.allocate(device, nbytes);
  if (!s->data) fail<RuntimeError>("allocate: out of memory on ", device_str(device), " requesting ", nbytes, " bytes");
  s->nbytes = nbytes;
  s->device = device;
  s->release = b.release;
  return s;
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

int64_t TensorImpl::numel() const { return numel_of(shape); }

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

bool TensorImpl::is_contiguous() const {
  int64_t acc = 1;
  for (int64_t i = ndim() - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (strides[i] != acc) return false;
    acc *= shape[i];
  }
  return true;
}

bool TensorImpl::has_internal_overlap() const {
  // Dims with more than one element, by increasing stride: memory is free of overlap when each
  // stride exceeds the farthest offset the smaller dims reach.
  std::vector<std::pair<int64_t, int64_t>> dims;  // (|stride|, size)
  for (int64_t i = 0; i < ndim(); ++i) {
    if (shape[i] == 0) return false;  // no elements at all
    if (shape[i] > 1) dims.emplace_back(strides[i] < 0 ? -strides[i] : strides[i], shape[i]);
  }
  std::sort(dims.begin(), dims.end());
  int64_t reach = 0;
  for (auto [stride, size] : dims) {
    if (stride <= reach) return true;
    if (__builtin_mul_overflow(stride, size - 1, &stride) || __builtin_add_overflow(reach, stride, &reach)) return true;
  }
  return false;
}

int64_t checked_numel(const Shape& shape, const char* op) {
  // The product skips zero sizes: an empty tensor's strides are still products of the other
  // sizes, and must not overflow either (as in PyTorch, which refuses [0, 3, 2^31, 2^31]).
  int64_t n = 1;
  bool empty = false;
  for (auto s : shape) {
    if (s < 0) fail<ValueError>(op, ": negative dimension in shape ", shape_str(shape));
    if (s == 0) empty = true;
    else if (__builtin_mul_overflow(n, s, &n))
      fail<ValueError>(op, ": shape ", shape_str(shape), " has too many elements (the size overflows)");
  }
  return empty ? 0 : n;
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  int64_t n = checked_numel(shape, "empty"), nbytes;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(itemsize(dtype)), &nbytes))
    fail<ValueError>("empty: shape ", shape_str(shape), " needs more bytes than can be addressed");
  auto t = std::make_shared<TensorImpl>();
  t->storage = allocate_storage(static_cast<size_t>(nbytes), device);
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = dtype;
  t->device = device;
  return t;
}

Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset) {
  auto v = std::make_shared<TensorImpl>();
  v->storage = t->storage;
  v->shape = std::move(shape);
  v->strides = std::move(strides);
  v->offset = offset;
  v->dtype = t->dtype;
  v->device = t->device;
  return v;
}

Tensor detach(const Tensor& t) {
  if (!t) return t;
  return make_view(t, t->shape, t->strides, t->offset);
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = ndim == 0 ? 1 : ndim;  // a 0-d tensor accepts dim 0 and -1, as in PyTorch
  if (dim < -n || dim >= n)
    fail<IndexError>(op, ": dimension out of range (expected to be in range of [", -n, ", ", n - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

}  // namespace rt
