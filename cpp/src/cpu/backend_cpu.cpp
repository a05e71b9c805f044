#include "cpu/kernels.h"

namespace rt {

const Backend& cpu_backend() {
  static const Backend b{cpu::copy,   cpu::fill,    cpu::unary,          cpu::unary_backward, cpu::binary,
                         cpu::compare, cpu::where,  cpu::reduce,         cpu::scatter_add_dim, cpu::softmax,
                         cpu::softmax_backward,     cpu::bmm,            cpu::index_select,   cpu::index_add,
                         cpu::uniform, cpu::normal, cpu::randint,        cpu::bernoulli};
  return b;
}

const Backend& backend(Device d) {
  if (d.type == DeviceType::CPU) return cpu_backend();
  fail<RuntimeError>("device ", device_str(d), ": reticulum was built without CUDA (rebuild with -C cmake.define.RETICULUM_CUDA=ON)");
}

}  // namespace rt
