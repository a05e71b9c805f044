// Per-device CUDA state shared by every kernel file: error checks, the current device, one
// stream per device (all work of a device is ordered on it, so cached blocks can be reused
// without events), and the cuBLAS/cuDNN handles bound to that stream.
#pragma once
#include <cuda_runtime.h>

#include "reticulum_cuda.h"

typedef struct cublasContext* cublasHandle_t;
typedef struct cudnnContext* cudnnHandle_t;

namespace rt::cuda {

// A failed CUDA call becomes a RuntimeError naming what was being done and CUDA's reason.
void check(cudaError_t err, const char* what);
// After a kernel launch: reports a bad launch configuration (a kernel's own faults surface at
// the next synchronising call, as in PyTorch).
void check_launch(const char* kernel);

// Makes d the calling thread's current device for its lifetime, then restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(Device d);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

// The stream every kernel of device d runs on (created on first use; refuses a device index the
// driver does not have, naming it).
cudaStream_t stream(Device d);
cublasHandle_t cublas(Device d);
cudnnHandle_t cudnn(Device d);

}  // namespace rt::cuda
