// CUDA implementations of the Backend table (see reticulum/backend.h for contracts).
#pragma once
#include "reticulum/backend.h"

namespace rt::cuda {
RT_KERNEL_ENTRIES(RT_DECLARE_KERNEL)
}  // namespace rt::cuda
