#include "allocator.h"

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime.h"

namespace rt::cuda {

namespace {
// Size classes as the CPU cache (cpp/src/tensor.cpp): 512-byte steps up to 4 KiB, then quarters
// of a power of two, so a block wastes at most 25%.
size_t size_class(size_t n) {
  if (n <= 4096) return (n + 511) / 512 * 512;
  const size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));
  const size_t step = p / 4;
  return (n + step - 1) / step * step;
}

class DeviceCache {
 public:
  static DeviceCache& get() {
    static DeviceCache* c = new DeviceCache();  // leaked on purpose: storages may die after static destructors
    return *c;
  }
  void* take(Device d, size_t sz) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(m_);
      auto& bucket = free_[d.index][sz];
      if (!bucket.empty()) {
        void* p = bucket.back();
        bucket.pop_back();
        cached_ -= sz;
        return p;
      }
    }
    DeviceGuard guard(d);
    void* p = nullptr;
    if (cudaMalloc(&p, sz) != cudaSuccess) {
      (void)cudaGetLastError();  // clear the sticky-free out-of-memory error before retrying
      release_all();
      if (cudaMalloc(&p, sz) != cudaSuccess) {
        (void)cudaGetLastError();
        return nullptr;
      }
    }
    return p;
  }
  void give(Device d, void* p, size_t sz) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(m_);
      free_[d.index][sz].push_back(p);
      cached_ += sz;
      return;
    }
    DeviceGuard guard(d);
    cudaFree(p);  // a failure here (the context is gone at exit) has nothing left to free
  }
  void release_all() {
    std::lock_guard<std::mutex> lock(m_);
    for (auto& [index, sizes] : free_) {
      DeviceGuard guard(Device{DeviceType::CUDA, index});
      for (auto& [sz, blocks] : sizes)
        for (void* p : blocks) cudaFree(p);
    }
    free_.clear();
    cached_ = 0;
  }
  size_t cached() {
    std::lock_guard<std::mutex> lock(m_);
    return cached_;
  }

 private:
  DeviceCache() {
    const char* env = std::getenv("RETICULUM_NO_CACHE");
    enabled_ = !(env && *env && std::string(env) != "0");
  }
  std::mutex m_;
  std::unordered_map<int, std::unordered_map<size_t, std::vector<void*>>> free_;  // device index -> size class -> blocks
  size_t cached_ = 0;
  bool enabled_ = true;
};
}  // namespace

void* allocate(Device d, size_t nbytes) { return DeviceCache::get().take(d, size_class(std::max<size_t>(nbytes, 1))); }
void release(Device d, void* p, size_t nbytes) { DeviceCache::get().give(d, p, size_class(std::max<size_t>(nbytes, 1))); }
void empty_cache() { DeviceCache::get().release_all(); }
size_t cached_bytes() { return DeviceCache::get().cached(); }

Scratch::Scratch(Device d, size_t nbytes) : d_(d), nbytes_(nbytes), p_(allocate(d, nbytes)) {
  if (!p_) fail<RuntimeError>("CUDA out of memory: a kernel's ", nbytes, "-byte work buffer on ", device_str(d));
}
Scratch::~Scratch() { release(d_, p_, nbytes_); }

}  // namespace rt::cuda
