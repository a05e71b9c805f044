// What the rest of reticulum (the bindings) sees of the CUDA backend; no CUDA types, so plain C++
// translation units can include it.
#pragma once
#include <cstddef>
#include <cstdint>

#include "reticulum/tensor.h"

namespace rt::cuda {

// Installs the CUDA table in the device registry (once, at import). Needs no GPU: a device is
// touched only when a tensor is first put on it.
void register_cuda_backend();
// Devices the driver reports; 0 without a driver or a device.
int device_count();
// Returns once every kernel queued on d has finished.
void synchronize(Device d);
// Reseeds the CUDA generator alone (rt.manual_seed reseeds it too).
void manual_seed(uint64_t seed);
// The caching allocator: gives cached blocks back to the driver / the bytes it holds.
void empty_cache();
size_t cached_bytes();

}  // namespace rt::cuda
