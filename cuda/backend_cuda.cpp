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
  b.allocate = allocate;
  b.release = release;
  b.copy_from_host = copy_from_host;
  b.copy_to_host = copy_to_host;
  b.synchronize = synchronize;
  b.copy = copy;
  b.fill = fill;
  b.unary = unary;
  b.unary_backward = unary_backward;
  b.binary = binary;
  b.compare = compare;
  b.where = where;
  b.reduce = reduce;
  b.scatter_add_dim = scatter_add_dim;
  b.softmax = softmax;
  b.softmax_backward = softmax_backward;
  b.bmm = bmm;
  b.index_select = index_select;
  b.index_add = index_add;
  b.index_copy = index_copy;
  b.sort = sort;
  b.cumsum = cumsum;
  b.conv_forward = conv_forward;
  b.conv_backward = conv_backward;
  b.max_pool2d = max_pool2d;
  b.max_pool2d_backward = max_pool2d_backward;
  b.avg_pool2d = avg_pool2d;
  b.avg_pool2d_backward = avg_pool2d_backward;
  b.adaptive_avg_pool2d = adaptive_avg_pool2d;
  b.adaptive_avg_pool2d_backward = adaptive_avg_pool2d_backward;
  b.batch_norm = batch_norm;
  b.batch_norm_backward = batch_norm_backward;
  b.nll_loss = nll_loss;
  b.nll_loss_backward = nll_loss_backward;
  b.optim_update = optim_update;
  b.affine_warp = affine_warp;
  b.uniform = uniform;
  b.normal = normal;
  b.randint = randint;
  b.bernoulli = bernoulli;
  return b;
}
}  // namespace

void register_cuda_backend() {
  register_backend(DeviceType::CUDA, make_cuda_backend());
  add_seed_hook(manual_seed);  // rt.manual_seed reseeds the CUDA generator too, as torch.manual_seed does
}

}  // namespace rt::cuda
