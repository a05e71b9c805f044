// The test-only device ("testdev"): a second backend, on host memory, that proves op code is
// device-agnostic without a GPU (PyTorch's privateuse1 slot plays this part there).
//
// - Its memory is handed out as tagged pointers: bit 62 set makes the address non-canonical on
//   x86-64 (and outside any mapping elsewhere), so code that dereferences a testdev tensor's memory
//   on the host, instead of going through the table, faults at once (a segfault; pytest's
//   faulthandler prints the Python stack of the test that did it). Only this file strips the tag.
// - Fresh and freed memory is poisoned with 0xFF bytes (NaN in floats), so a kernel output that is
//   never written, or memory read after release, shows up.
// - Its kernels delegate to the CPU's on untagged aliases of their operands, after refusing any
//   operand that is not a testdev tensor: op code must check devices (check_same_device) first.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "reticulum/backend.h"

namespace rt {
namespace {

constexpr uintptr_t kTag = uintptr_t(1) << 62;
constexpr unsigned char kPoison = 0xFF;

void* tag(void* p) { return reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) | kTag); }

void* untag(const void* p, const char* what) {
  const auto u = reinterpret_cast<uintptr_t>(p);
  if (!(u & kTag)) fail<RuntimeError>("testdev ", what, ": pointer ", p, " is not testdev memory");
  return reinterpret_cast<void*>(u & ~kTag);
}

size_t block_size(size_t nbytes) { return (std::max<size_t>(nbytes, 1) + 63) / 64 * 64; }

void* allocate(Device, size_t nbytes) {
  const size_t sz = block_size(nbytes);
  void* p = std::aligned_alloc(64, sz);
  if (!p) return nullptr;
  std::memset(p, kPoison, sz);
  return tag(p);
}

void release(Device, void* p, size_t nbytes) {
  void* real = untag(p, "release");
  std::memset(real, kPoison, block_size(nbytes));
  std::free(real);
}

void copy_from_host(Device, void* dst, const void* host_src, size_t nbytes) {
  if (reinterpret_cast<uintptr_t>(host_src) & kTag)
    fail<RuntimeError>("testdev copy_from_host: the source is testdev memory, not host memory");
  std::memcpy(untag(dst, "copy_from_host"), host_src, nbytes);
}

void copy_to_host(Device, void* host_dst, const void* src, size_t nbytes) {
  if (reinterpret_cast<uintptr_t>(host_dst) & kTag)
    fail<RuntimeError>("testdev copy_to_host: the destination is testdev memory, not host memory");
  std::memcpy(host_dst, untag(src, "copy_to_host"), nbytes);
}

void synchronize(Device) {}

// A CPU view of a testdev tensor's memory (same geometry, untagged, not owning), for the CPU
// kernel to work on; a null tensor (an unused optional operand) stays null.
Tensor host_alias(const Tensor& t, const char* kernel) {
  if (!t) return t;
  if (t->device.type != DeviceType::TestDev)
    fail<RuntimeError>("testdev ", kernel, ": an operand is on ", device_str(t->device),
                       "; op code must refuse mixed devices (check_same_device) before calling a kernel");
  auto storage = std::make_shared<Storage>();
  storage->data = untag(t->storage->data, kernel);
  storage->nbytes = t->storage->nbytes;
  auto a = std::make_shared<TensorImpl>();
  a->storage = std::move(storage);
  a->shape = t->shape;
  a->strides = t->strides;
  a->offset = t->offset;
  a->dtype = t->dtype;
  return a;
}

template <class A>
decltype(auto) on_host(A&& a, const char* kernel) {
  if constexpr (std::is_same_v<std::decay_t<A>, Tensor>) return host_alias(a, kernel);
  else return std::forward<A>(a);
}

// The testdev entry for a kernel member of Backend: the CPU table's kernel on host aliases.
template <auto Member>
struct Delegate;
template <class R, class... Args, R (*Backend::*Member)(Args...)>
struct Delegate<Member> {
  static R call(Args... args) { return (cpu_backend().*Member)(on_host(args, name)...); }
  static const char* name;
};

Backend make_testdev_backend() {
  Backend b{};
#define RT_SET_MEMORY(entry) b.entry = entry;
  RT_MEMORY_ENTRIES(RT_SET_MEMORY)
#undef RT_SET_MEMORY
#define RT_DELEGATE(entry)                  \
  Delegate<&Backend::entry>::name = #entry; \
  b.entry = Delegate<&Backend::entry>::call;
  RT_KERNEL_ENTRIES(RT_DELEGATE)
#undef RT_DELEGATE
  return b;
}

template <class R, class... Args, R (*Backend::*Member)(Args...)>
const char* Delegate<Member>::name = "";

}  // namespace

void enable_test_device() {
  static const bool registered = [] {
    register_backend(DeviceType::TestDev, make_testdev_backend());
    return true;
  }();
  (void)registered;
}

void register_test_device_without(const std::string& entry) {
  Backend b = make_testdev_backend();
  bool found = false;
#define RT_DROP(name)   \
  if (entry == #name) { \
    b.name = nullptr;   \
    found = true;       \
  }
  RT_BACKEND_ENTRIES(RT_DROP)
#undef RT_DROP
  if (!found) fail<ValueError>("register_test_device_without: the table has no entry named '", entry, "'");
  register_backend(DeviceType::TestDev, b);
}

}  // namespace rt
