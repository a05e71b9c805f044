// Random fills from a counter-based generator (Philox4x32-10, Salmon et al., SC'11): element i of
// a fill takes the block at counter (i, offset) under key `seed`, so every thread draws on its own
// and a fill's values depend only on the seed and how many fills came before, never on the launch
// geometry. rt.manual_seed resets seed and offset (as torch.manual_seed reseeds every device);
// rt.cuda.manual_seed resets this generator alone. The conversions from bits are the CPU's.
#include <cmath>
#include <mutex>

#include "kernels.h"
#include "launch.cuh"
#include "reticulum_cuda.h"

namespace rt::cuda {

namespace {
std::mutex g_mutex;
uint64_t g_seed = 67280421310721ull;  // torch's default CUDA seed, for a generator nobody seeded
uint64_t g_offset = 0;

// The (seed, offset) for the next fill; each fill uses one offset.
void next_key(uint64_t& seed, uint64_t& offset) {
  std::lock_guard<std::mutex> lock(g_mutex);
  seed = g_seed;
  offset = g_offset++;
}
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_seed = seed;
  g_offset = 0;
}

struct Bits128 {
  uint64_t a, b;
};

__device__ Bits128 philox(uint64_t seed, uint64_t index, uint64_t offset) {
  uint32_t c0 = static_cast<uint32_t>(index), c1 = static_cast<uint32_t>(index >> 32);
  uint32_t c2 = static_cast<uint32_t>(offset), c3 = static_cast<uint32_t>(offset >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {c0 | (static_cast<uint64_t>(c1) << 32), c2 | (static_cast<uint64_t>(c3) << 32)};
}

__device__ double to_unit(uint64_t b) { return static_cast<double>(b >> 11) * 0x1.0p-53; }

template <class T>
__global__ void uniform_kernel(T* o, int64_t n, uint64_t seed, uint64_t offset, double low, double high) {
  RT_GRID_LOOP(i, n) o[i] = static_cast<T>(low + (high - low) * to_unit(philox(seed, i, offset).a));
}

// Box-Muller from the element's own two uniforms.
template <class T>
__global__ void normal_kernel(T* o, int64_t n, uint64_t seed, uint64_t offset, double mean, double std) {
  RT_GRID_LOOP(i, n) {
    const Bits128 r = philox(seed, i, offset);
    const double u1 = 1.0 - to_unit(r.a), u2 = to_unit(r.b);
    o[i] = static_cast<T>(mean + std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
  }
}

template <class T>
__global__ void randint_kernel(T* o, int64_t n, uint64_t seed, uint64_t offset, int64_t low, uint64_t range) {
  RT_GRID_LOOP(i, n) o[i] = static_cast<T>(low + static_cast<int64_t>(philox(seed, i, offset).a % range));
}

template <class T>
__global__ void bernoulli_kernel(T* o, int64_t n, uint64_t seed, uint64_t offset, double p) {
  RT_GRID_LOOP(i, n) o[i] = to_unit(philox(seed, i, offset).a) < p ? T(1) : T(0);
}

// Draws a key even for an empty fill, so the sequence of fills (not their sizes) fixes each key.
template <class Launch>
static void random_fill(const Tensor& dst, const char* name, Launch launch) {
  uint64_t seed, offset;
  next_key(seed, offset);
  const int64_t n = dst->numel();
  if (n == 0) return;
  DeviceGuard guard(dst->device);
  launch(n, seed, offset, stream(dst->device));
  check_launch(name);
}

void uniform(const Tensor& dst, double low, double high) {
  random_fill(dst, "uniform", [&](int64_t n, uint64_t seed, uint64_t offset, cudaStream_t s) {
    dispatch_float(dst->dtype, [&](auto tag) {
      using T = decltype(tag);
      uniform_kernel<T><<<grid_for(n), kThreads, 0, s>>>(dst->data<T>(), n, seed, offset, low, high);
    });
  });
}

void normal(const Tensor& dst, double mean, double std) {
  random_fill(dst, "normal", [&](int64_t n, uint64_t seed, uint64_t offset, cudaStream_t s) {
    dispatch_float(dst->dtype, [&](auto tag) {
      using T = decltype(tag);
      normal_kernel<T><<<grid_for(n), kThreads, 0, s>>>(dst->data<T>(), n, seed, offset, mean, std);
    });
  });
}

void randint(const Tensor& dst, int64_t low, int64_t high) {
  random_fill(dst, "randint", [&](int64_t n, uint64_t seed, uint64_t offset, cudaStream_t s) {
    dispatch_numeric(dst->dtype, [&](auto tag) {
      using T = decltype(tag);
      randint_kernel<T><<<grid_for(n), kThreads, 0, s>>>(dst->data<T>(), n, seed, offset, low, static_cast<uint64_t>(high - low));
    });
  });
}

void bernoulli(const Tensor& dst, double p) {
  random_fill(dst, "bernoulli", [&](int64_t n, uint64_t seed, uint64_t offset, cudaStream_t s) {
    dispatch_all(dst->dtype, [&](auto tag) {
      using T = decltype(tag);
      bernoulli_kernel<T><<<grid_for(n), kThreads, 0, s>>>(dst->data<T>(), n, seed, offset, p);
    });
  });
}

}  // namespace rt::cuda
