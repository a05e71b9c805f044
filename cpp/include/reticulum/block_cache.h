// The caching allocator behind each backend's allocate/release entries: freed blocks are kept per
// device and size class and handed out again, so a training loop that allocates the same shapes every
// step stops paying for the system allocator (mmap, page faults and zeroing of fresh pages on the CPU;
// cudaMalloc/cudaFree, which synchronise the device, on CUDA). Size classes are `small_step`-byte
// steps up to 4 KiB, then quarters of a power of two, so a block wastes at most 25%.
// RETICULUM_NO_CACHE=1 turns the cache off (every release frees), for memory checkers.
#pragma once
#include <cstdlib>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "reticulum/tensor.h"

namespace rt {

// Memory: `static void* obtain(Device, size_t)` (null when out of memory) and
// `static void give_back(Device, void*, size_t)`, the backend's own allocator.
template <class Memory>
class BlockCache {
 public:
  // max_cached: the most bytes the cache holds (beyond it, a released block is freed at once).
  BlockCache(size_t small_step, size_t max_cached) : small_step_(small_step), max_cached_(max_cached) {
    const char* env = std::getenv("RETICULUM_NO_CACHE");
    enabled_ = !(env && *env && std::string(env) != "0");
  }

  size_t size_class(size_t n) const {
    if (n == 0) n = 1;  // an empty tensor still gets a block of its own
    if (n <= 4096) return (n + small_step_ - 1) / small_step_ * small_step_;
    const size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));  // largest power of two below n
    const size_t step = p / 4;
    return (n + step - 1) / step * step;
  }

  // A block of size_class(nbytes) bytes; null when out of memory even after the cache was given back.
  void* take(Device d, size_t nbytes) {
    const size_t sz = size_class(nbytes);
    if (enabled_) {
      std::lock_guard<std::mutex> lock(m_);
      auto it = free_.find(key(d, sz));
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= sz;
        return p;
      }
    }
    void* p = Memory::obtain(d, sz);
    if (!p) {  // out of memory: give the cache back to the system and retry once
      release_all();
      p = Memory::obtain(d, sz);
    }
    return p;
  }

  void give(Device d, void* p, size_t nbytes) {
    const size_t sz = size_class(nbytes);
    if (enabled_) {
      std::lock_guard<std::mutex> lock(m_);
      if (cached_ + sz <= max_cached_) {
        free_[key(d, sz)].push_back(p);
        cached_ += sz;
        return;
      }
    }
    Memory::give_back(d, p, sz);
  }

  void release_all() {
    std::lock_guard<std::mutex> lock(m_);
    for (auto& [k, blocks] : free_)
      for (void* p : blocks) Memory::give_back(Device{Memory::kType, static_cast<int>(k >> 56)}, p, k & kSizeBits);
    free_.clear();
    cached_ = 0;
  }

  size_t cached() {
    std::lock_guard<std::mutex> lock(m_);
    return cached_;
  }

 private:
  // (device index, size class) in one word: sizes stay below 2^56 bytes, indices below 2^8.
  static constexpr uint64_t kSizeBits = (uint64_t{1} << 56) - 1;
  static uint64_t key(Device d, size_t sz) { return (static_cast<uint64_t>(d.index) << 56) | sz; }

  const size_t small_step_, max_cached_;
  bool enabled_ = true;
  std::mutex m_;
  std::unordered_map<uint64_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

}  // namespace rt
