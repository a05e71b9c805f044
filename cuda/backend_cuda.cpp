// The CUDA kernel table: memory through the caching allocator and the device's stream, kernels
// from the .cu files, GEMM from cuBLAS and convolutions from cuDNN.
#include "allocator.h"
#include "kernels.h"
#include "reticulum_cuda.h"
#include "runtime.h"

namespace rt::cuda {

namespace {
// Host transfers go through the device's stream, so they follow every kernel queued before them,
// and wait for it: the contract is that the bytes have arrived when the call returns.
void copy_from_host(Device d, void* dst, const void* host_src, size_t nbytes) {
  if (nbytes == 0) return;
  DeviceGuard guard(d);
  check(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, stream(d)), "copying to the device");
  check(cudaStreamSynchronize(stream(d)), "copying to the device");
}

void copy_to_host(Device d, void* host_dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  DeviceGuard guard(d);
  check(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, stream(d)), "copying from the device");
  check(cudaStreamSynchronize(stream(d)), "copying from the device");
}

Backend make_cuda_backend() {
  Backend b{};
#define RT_SET_KERNEL(entry) b.entry = entry;  // memory entries included: the names match
  RT_BACKEND_ENTRIES(RT_SET_KERNEL)
#undef RT_SET_KERNEL
  return b;
}
}  // namespace

void register_cuda_backend() {
  register_backend(DeviceType::CUDA, make_cuda_backend());
  add_seed_hook(manual_seed);  // rt.manual_seed reseeds the CUDA generator too, as torch.manual_seed does
}

}  // namespace rt::cuda
