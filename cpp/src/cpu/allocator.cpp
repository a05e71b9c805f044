// The CPU backend's memory entries: a caching allocator, and transfers that are plain memcpy
// (host memory is the CPU's memory).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cpu/kernels.h"

namespace rt {

// A caching allocator: freed blocks are kept per size class and reused, so a training
// loop that allocates the same shapes every step stops paying for mmap, page faults and
// zeroing of fresh pages. Size classes waste at most 25%; the cache is capped.
namespace {
class BlockCache {
 public:
  static BlockCache& get() {
    static BlockCache* c = new BlockCache();  // leaked on purpose: storages may die after static destructors
    return *c;
  }
  static size_t size_class(size_t n) {
    if (n == 0) n = 1;  // an empty tensor still gets a block of its own
    if (n <= 4096) return (n + 63) / 64 * 64;
    size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));  // largest power of two below n
    size_t step = p / 4;
    return (n + step - 1) / step * step;
  }
  void* take(size_t sz) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(m_);
      auto it = free_.find(sz);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= sz;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, sz);
    if (!p) {  // out of memory: give the cache back to the system and retry once
      release_all();
      p = std::aligned_alloc(64, sz);
    }
    return p;
  }
  void give(void* p, size_t sz) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(m_);
      if (cached_ + sz <= kMaxCached) {
        free_[sz].push_back(p);
        cached_ += sz;
        return;
      }
    }
    std::free(p);
  }
  void release_all() {
    std::lock_guard<std::mutex> lock(m_);
    for (auto& [sz, v] : free_)
      for (void* p : v) std::free(p);
    free_.clear();
    cached_ = 0;
  }
  size_t cached() {
    std::lock_guard<std::mutex> lock(m_);
    return cached_;
  }

 private:
  BlockCache() {
    const char* env = std::getenv("RETICULUM_NO_CACHE");
    enabled_ = !(env && *env && std::string(env) != "0");
  }
  static constexpr size_t kMaxCached = size_t(1) << 30;
  std::mutex m_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  bool enabled_ = true;
};

std::atomic<bool> poison_allocations{false};
}  // namespace

void empty_cache() { BlockCache::get().release_all(); }
void set_poison_allocations(bool on) { poison_allocations.store(on); }
size_t cached_bytes() { return BlockCache::get().cached(); }

namespace cpu {

void* allocate(Device, size_t nbytes) {
  const size_t sz = BlockCache::size_class(nbytes);
  void* p = BlockCache::get().take(sz);
  if (p && poison_allocations.load(std::memory_order_relaxed)) std::memset(p, 0xFF, sz);
  return p;
}

void release(Device, void* p, size_t nbytes) { BlockCache::get().give(p, BlockCache::size_class(nbytes)); }

void copy_bytes(Device, void* dst, const void* src, size_t nbytes) { std::memcpy(dst, src, nbytes); }

void synchronize(Device) {}

}  // namespace cpu
}  // namespace rt
