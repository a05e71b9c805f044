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
#define RT_SET_KERNEL(entry) b.entry = cpu::entry;
  RT_KERNEL_ENTRIES(RT_SET_KERNEL)
#undef RT_SET_KERNEL
  return b;
}

const Backend& cpu_backend() {
  static const Backend b = make_cpu_backend();
  return b;
}

}  // namespace rt
