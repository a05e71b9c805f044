#include "allocator.h"

#include "reticulum/block_cache.h"
#include "runtime.h"

namespace rt::cuda {

namespace {
struct CudaMemory {
  static constexpr DeviceType kType = DeviceType::CUDA;
  static void* obtain(Device d, size_t sz) {
    DeviceGuard guard(d);
    void* p = nullptr;
    if (cudaMalloc(&p, sz) == cudaSuccess) return p;
    (void)cudaGetLastError();  // clear the out-of-memory error: the cache retries after giving its blocks back
    return nullptr;
  }
  static void give_back(Device d, void* p, size_t) {
    DeviceGuard guard(d);
    cudaFree(p);  // a failure here (the context is gone at exit) has nothing left to free
  }
};

// 512-byte size steps up to 4 KiB (cudaMalloc's own granularity is coarser); no cap: device memory
// is the model's, and an allocation that fails empties the cache and retries.
BlockCache<CudaMemory>& cache() {
  // Leaked on purpose: storages may die after static destructors.
  static auto* c = new BlockCache<CudaMemory>(512, ~size_t{0});
  return *c;
}
}  // namespace

void* allocate(Device d, size_t nbytes) { return cache().take(d, nbytes); }
void release(Device d, void* p, size_t nbytes) { cache().give(d, p, nbytes); }
void empty_cache() { cache().release_all(); }
size_t cached_bytes() { return cache().cached(); }

Scratch::Scratch(Device d, size_t nbytes) : d_(d), nbytes_(nbytes), p_(allocate(d, nbytes)) {
  if (!p_) fail<RuntimeError>("CUDA out of memory: a kernel's ", nbytes, "-byte work buffer on ", device_str(d));
}
Scratch::~Scratch() { release(d_, p_, nbytes_); }

}  // namespace rt::cuda
