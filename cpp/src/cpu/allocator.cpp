// The CPU backend's memory entries: a caching allocator, and transfers that are plain memcpy
// (host memory is the CPU's memory).
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "cpu/kernels.h"
#include "reticulum/block_cache.h"

namespace rt {

namespace {
struct HostMemory {
  static constexpr DeviceType kType = DeviceType::CPU;
  static void* obtain(Device, size_t sz) { return std::aligned_alloc(64, sz); }
  static void give_back(Device, void* p, size_t) { std::free(p); }
};

// 64-byte size steps up to 4 KiB (one cache line); at most 1 GiB kept.
BlockCache<HostMemory>& cache() {
  // Leaked on purpose: storages may die after static destructors.
  static auto* c = new BlockCache<HostMemory>(64, size_t(1) << 30);
  return *c;
}

std::atomic<bool> poison_allocations{false};
}  // namespace

void empty_cache() { cache().release_all(); }
void set_poison_allocations(bool on) { poison_allocations.store(on); }
size_t cached_bytes() { return cache().cached(); }

namespace cpu {

void* allocate(Device d, size_t nbytes) {
  void* p = cache().take(d, nbytes);
  if (p && poison_allocations.load(std::memory_order_relaxed)) std::memset(p, 0xFF, cache().size_class(nbytes));
  return p;
}

void release(Device d, void* p, size_t nbytes) { cache().give(d, p, nbytes); }

void copy_bytes(Device, void* dst, const void* src, size_t nbytes) { std::memcpy(dst, src, nbytes); }

void synchronize(Device) {}

}  // namespace cpu
}  // namespace rt
