#include "runtime.h"

#include <cublas_v2.h>
#include <cudnn.h>

#include <memory>
#include <mutex>
#include <vector>

namespace rt::cuda {

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) fail<RuntimeError>("CUDA error while ", what, ": ", cudaGetErrorString(err));
}

void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) fail<RuntimeError>("CUDA error in kernel ", kernel, ": ", cudaGetErrorString(err));
}

int device_count() {
  static const int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      (void)cudaGetLastError();  // no driver or no device: not an error, just no CUDA devices
      return 0;
    }
    return count;
  }();
  return n;
}

static void check_index(Device d) {
  const int n = device_count();
  if (d.index < 0 || d.index >= n)
    fail<RuntimeError>("device ", device_str(d), " is not available: ",
                       n == 0 ? std::string("no CUDA device was found") : std::to_string(n) + " CUDA device(s) present");
}

DeviceGuard::DeviceGuard(Device d) {
  check_index(d);
  check(cudaGetDevice(&previous_), "reading the current device");
  if (previous_ != d.index) check(cudaSetDevice(d.index), "selecting a device");
}

DeviceGuard::~DeviceGuard() {
  int now = -1;
  if (cudaGetDevice(&now) == cudaSuccess && now != previous_) cudaSetDevice(previous_);
}

namespace {
// What each device owns, made on its first use and kept for the life of the process.
struct DeviceState {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  cudnnHandle_t dnn = nullptr;
};

std::mutex g_state_mutex;

DeviceState& state(Device d) {
  check_index(d);
  static std::vector<std::unique_ptr<DeviceState>> states(static_cast<size_t>(device_count()));
  std::lock_guard<std::mutex> lock(g_state_mutex);
  auto& s = states[static_cast<size_t>(d.index)];
  if (!s) {
    auto fresh = std::make_unique<DeviceState>();
    DeviceGuard guard(d);
    check(cudaStreamCreateWithFlags(&fresh->stream, cudaStreamNonBlocking), "creating a stream");
    s = std::move(fresh);
  }
  return *s;
}
}  // namespace

cudaStream_t stream(Device d) { return state(d).stream; }

cublasHandle_t cublas(Device d) {
  DeviceState& s = state(d);
  std::lock_guard<std::mutex> lock(g_state_mutex);
  if (!s.blas) {
    DeviceGuard guard(d);
    cublasHandle_t h = nullptr;
    if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) fail<RuntimeError>("cuBLAS could not be initialised on ", device_str(d));
    cublasSetStream(h, s.stream);
    // Full FP32 products (no TF32), as torch.backends.cuda.matmul.allow_tf32 defaults to.
    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
    s.blas = h;
  }
  return s.blas;
}

cudnnHandle_t cudnn(Device d) {
  DeviceState& s = state(d);
  std::lock_guard<std::mutex> lock(g_state_mutex);
  if (!s.dnn) {
    DeviceGuard guard(d);
    cudnnHandle_t h = nullptr;
    const cudnnStatus_t st = cudnnCreate(&h);
    if (st != CUDNN_STATUS_SUCCESS)
      fail<RuntimeError>("cuDNN could not be initialised on ", device_str(d), ": ", cudnnGetErrorString(st));
    cudnnSetStream(h, s.stream);
    s.dnn = h;
  }
  return s.dnn;
}

void synchronize(Device d) {
  DeviceGuard guard(d);
  check(cudaStreamSynchronize(stream(d)), "waiting for the device");
}

}  // namespace rt::cuda
