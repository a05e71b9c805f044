// Tensor = shared handle to a TensorImpl: shape/strides/offset over shared Storage,
// plus the autograd fields. Views share Storage; contiguous() is the one copy.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "reticulum/dtype.h"
#include "reticulum/error.h"

namespace rt {

using Shape = std::vector<int64_t>;

// TestDev is a test-only device on host memory that refuses host reads (see src/testdev); like
// PyTorch's privateuse1 slot, it proves that op code reaches device memory only through the table.
enum class DeviceType : int8_t { CPU = 0, CUDA = 1, TestDev = 2 };
constexpr int kDeviceTypes = 3;
struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};
std::string device_str(const Device& d);
const char* device_type_name(DeviceType t);
// "cpu", "cuda", "cuda:1", "testdev": a ValueError naming the string for anything else. Parsing does
// not need the device to be built; using it does (backend() says so).
Device parse_device(const std::string& s);

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  // Who frees data: the device table's release entry for memory from allocate_storage (a plain
  // function pointer, so the hot allocation path makes no std::function); otherwise the deleter,
  // which for wrapped NumPy memory drops the array.
  void (*release)(Device, void*, size_t) = nullptr;
  std::function<void(void*)> deleter;
  int64_t version = 0;  // bumped by every in-place write, checked by backward
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() {
    if (release) release(device, data, nbytes);
    else if (deleter) deleter(data);
  }
};

// Allocates nbytes (64-byte aligned) on the device, through its table.
std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device);
// The CPU allocator's cache of freed blocks (src/cpu/allocator.cpp): returns them to the system /
// reports their total size (RETICULUM_NO_CACHE=1 disables the cache).
void empty_cache();
size_t cached_bytes();
// For tests: the CPU allocator fills every new storage with NaN bytes (all ones), cached block or
// fresh, so that an output element a kernel forgets to write (or reads before writing) shows up as NaN.
void set_poison_allocations(bool on);

struct Node;
struct GradHooks;
struct TensorImpl;
using Tensor = std::shared_ptr<TensorImpl>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  Device device;

  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::shared_ptr<GradHooks> hooks;  // a leaf's gradient hooks (autograd.h); a non-leaf's live in its grad_fn

  int64_t ndim() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const;
  bool is_contiguous() const;
  // True when two elements may share memory (an expanded view, or strides that interleave);
  // exact for views made by slicing, permuting and expanding a dense tensor.
  bool has_internal_overlap() const;
  bool is_leaf() const { return !grad_fn; }
  void* raw() const { return static_cast<char*>(storage->data) + offset * static_cast<int64_t>(itemsize(dtype)); }
  template <class T>
  T* data() const {
    return reinterpret_cast<T*>(raw());
  }
};

Shape contiguous_strides(const Shape& shape);
int64_t numel_of(const Shape& shape);
// numel_of, refusing negative sizes and products that overflow (naming the op).
int64_t checked_numel(const Shape& shape, const char* op);

// A fresh, uninitialised, contiguous tensor. The device has no default: op code takes it from an
// input (PyTorch's grad.options() habit), so that every op runs on any device.
Tensor empty(const Shape& shape, DType dtype, Device device);
// A view of t's storage with new geometry; carries no autograd history.
Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset);
// Same data, no history: what backward closures save, so the graph holds no cycles.
Tensor detach(const Tensor& t);

// Normalises a possibly negative dim against ndim, naming the op in the error.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

}  // namespace rt
