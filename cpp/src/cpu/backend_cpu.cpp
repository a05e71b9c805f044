#include <omp.h>

#include <atomic>

#include "cpu/kernels.h"

namespace rt {

namespace {
std::atomic<int> g_num_threads{0};  // 0: never set, OpenMP's default stands
thread_local int t_num_threads = 0;  // the count this thread last handed to OpenMP
}  // namespace

// Only set_num_threads changes OpenMP's count, so t_num_threads is this thread's setting; a stale
// one is refreshed (outside parallel regions, where it would only set the nested count).
void adopt_num_threads() {
  const int n = g_num_threads.load(std::memory_order_relaxed);
  if (n != 0 && n != t_num_threads && !omp_in_parallel()) {
    omp_set_num_threads(n);
    t_num_threads = n;
  }
}

void set_num_threads(int n) {
  if (n < 1) fail<ValueError>("set_num_threads: expected a positive number of threads, got ", n);
  g_num_threads.store(n, std::memory_order_relaxed);
  adopt_num_threads();
}

int get_num_threads() {
  adopt_num_threads();
  return omp_get_max_threads();
}

static Backend make_cpu_backend() {
  Backend b{};
  b.allocate = cpu::allocate;
  b.release = cpu::release;
  b.copy_from_host = cpu::copy_bytes;
  b.copy_to_host = cpu::copy_bytes;
  b.synchronize = cpu::synchronize;
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
  b.index_copy = cpu::index_copy;
  b.sort = cpu::sort;
  b.cumsum = cpu::cumsum;
  return b;
}

const Backend& cpu_backend() {
  static const Backend b = make_cpu_backend();
  return b;
}

}  // namespace rt
