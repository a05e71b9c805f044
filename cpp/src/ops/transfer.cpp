// Moving tensors between devices, and reading values on the host. Op code never dereferences a
// device tensor's memory: it transfers through the tables' copy_from_host / copy_to_host here.
#include "reticulum/ops.h"

namespace rt {

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  if (a && b && a->device != b->device)
    fail<RuntimeError>(op, ": expected all tensors to be on the same device, but found tensors on ", device_str(a->device),
                       " and ", device_str(b->device), "; move one with .to(device)");
}

// A contiguous copy of x's bytes on device d (x contiguous, on another device). Between two
// non-CPU devices the bytes go through the host.
static Tensor transfer(const Tensor& x, Device d) {
  Tensor out = empty(x->shape, x->dtype, d);
  const size_t nbytes = static_cast<size_t>(x->numel()) * itemsize(x->dtype);
  if (nbytes == 0) return out;
  if (x->device.type == DeviceType::CPU) {
    backend(d).copy_from_host(d, out->raw(), x->raw(), nbytes);
  } else if (d.type == DeviceType::CPU) {
    backend(x).copy_to_host(x->device, out->raw(), x->raw(), nbytes);
  } else {
    Tensor host = transfer(x, Device{});
    backend(d).copy_from_host(d, out->raw(), host->raw(), nbytes);
  }
  return out;
}

Tensor to_device(const Tensor& x, Device d) {
  if (x->device == d) return x;
  Tensor out = transfer(contiguous(detach(x)), d);
  Device from = x->device;
  return record("ToCopyBackward0", out, {x},
                [from](const Tensor& g, const Node&) { return std::vector<Tensor>{to_device(g, from)}; });
}

template <class T>
static T item_as(const Tensor& x, DType dt, const char* op) {
  if (x->numel() != 1) fail<RuntimeError>(op, ": expected a tensor with one element, got shape ", shape_str(x->shape));
  GradModeGuard no_grad(false);
  Tensor host = to_device(contiguous(to_dtype(x, dt)), Device{});
  return *host->data<T>();
}

double item_double(const Tensor& x) { return item_as<double>(x, DType::Float64, "item"); }
int64_t item_int64(const Tensor& x) { return item_as<int64_t>(x, DType::Int64, "item"); }

}  // namespace rt
