#include "cpu/kernels.h"

namespace rt {

static Backend make_cpu_backend() {
  Backend b{};
  b.copy = cpu::copy;
  b.fill = cpu::fill;
  b.unary = cpu::unary;
  b.unary_backward = cpu::unary_backward;
  b.binary = cpu::binary;
  b.compare = cpu::compare;
  b.where = cpu::where;
  b.reduce = cpu::reduce;
  b.scatter_add_dim = cpu::scatter_add_dim;
  b.softmax = cpu::softmax;
  b.softmax_backward = cpu::softmax_backward;
  b.bmm = cpu::bmm;
  b.index_select = cpu::index_select;
  b.index_add = cpu::index_add;
  b.conv_forward = cpu::conv_forward;
  b.conv_backward = cpu::conv_backward;
  b.max_pool2d = cpu::max_pool2d;
  b.max_pool2d_backward = cpu::max_pool2d_backward;
  b.avg_pool2d = cpu::avg_pool2d;
  b.avg_pool2d_backward = cpu::avg_pool2d_backward;
  b.adaptive_avg_pool2d = cpu::adaptive_avg_pool2d;
  b.adaptive_avg_pool2d_backward = cpu::adaptive_avg_pool2d_backward;
  b.batch_norm = cpu::batch_norm;
  b.batch_norm_backward = cpu::batch_norm_backward;
  b.nll_loss = cpu::nll_loss;
  b.nll_loss_backward = cpu::nll_loss_backward;
  b.optim_update = cpu::optim_update;
  b.affine_warp = cpu::affine_warp;
  b.uniform = cpu::uniform;
  b.normal = cpu::normal;
  b.randint = cpu::randint;
  b.bernoulli = cpu::bernoulli;
  return b;
}

const Backend& cpu_backend() {
  static const Backend b = make_cpu_backend();
  return b;
}

const Backend& backend(Device d) {
  if (d.type == DeviceType::CPU) return cpu_backend();
  fail<RuntimeError>("device ", device_str(d), ": reticulum was built without CUDA (rebuild with -C cmake.define.RETICULUM_CUDA=ON)");
}

}  // namespace rt
