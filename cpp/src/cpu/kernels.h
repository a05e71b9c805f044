// CPU implementations of the Backend table (see reticulum/backend.h for contracts).
#pragma once
#include "reticulum/backend.h"

namespace rt::cpu {
void* allocate(Device d, size_t nbytes);
void release(Device d, void* p, size_t nbytes);
void copy_bytes(Device d, void* dst, const void* src, size_t nbytes);  // both directions: host memory is the CPU's
void synchronize(Device d);
RT_KERNEL_ENTRIES(RT_DECLARE_KERNEL)
}  // namespace rt::cpu
