// The device allocator, cached (reticulum/block_cache.h) so that a training loop stops paying for
// cudaMalloc/cudaFree, each of which synchronises the device. All work of a device runs on its
// one stream, so a block freed by the host may be reused by the next kernel at once: the stream
// orders the new use after every queued use of the old tensor.
#pragma once
#include <cstddef>

#include "reticulum_cuda.h"

namespace rt::cuda {

// nbytes on device d (a distinct non-null block even for 0 bytes); null when out of memory even
// after the cache was given back to the driver.
void* allocate(Device d, size_t nbytes);
void release(Device d, void* p, size_t nbytes);

// A temporary device buffer for one kernel call (released, in stream order, when it goes out of scope).
class Scratch {
 public:
  Scratch(Device d, size_t nbytes);
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* get() const { return p_; }

 private:
  Device d_;
  size_t nbytes_;
  void* p_;
};

}  // namespace rt::cuda
