// One seeded generator for rand/randn/randint/dropout/init (mt19937_64: reproducible
// across platforms because we do our own conversion to floats).
#include <mutex>
#include <random>
#include <vector>

#include "reticulum/backend.h"

namespace rt {

namespace {
std::mt19937_64& gen() {
  static std::mt19937_64 g(5489u);
  return g;
}
std::mutex g_mutex;
std::vector<void (*)(uint64_t)>& seed_hooks() {
  static std::vector<void (*)(uint64_t)> hooks;
  return hooks;
}
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(g_mutex);
  gen().seed(seed);
  for (auto hook : seed_hooks()) hook(seed);
}

void add_seed_hook(void (*hook)(uint64_t seed)) {
  std::lock_guard<std::mutex> lock(g_mutex);
  seed_hooks().push_back(hook);
}

uint64_t next_random() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return gen()();
}

void random_bits(uint64_t* out, int64_t n) {
  std::lock_guard<std::mutex> lock(g_mutex);
  for (int64_t i = 0; i < n; ++i) out[i] = gen()();
}

double next_uniform() { return static_cast<double>(next_random() >> 11) * 0x1.0p-53; }

}  // namespace rt
