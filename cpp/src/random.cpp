// One seeded generator for rand/randn/randint/dropout/init: MT19937-64, the same stream as
// std::mt19937_64 (reproducible across platforms because we do our own conversion to floats).
// Written out rather than std::mt19937_64 because the library's regeneration step has a branch per
// word that the portable build (SSE2) does not vectorize: with it, drawing the bits took most of a
// dropout mask's time (rand of 590k floats: 4.6 ms against 1.9 ms when compiled for AVX-512).
// Both loops below are branch-free, so they vectorize at the portable level too.
#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "reticulum/backend.h"

namespace rt {

namespace {
class Mt19937_64 {
 public:
  explicit Mt19937_64(uint64_t seed) { seed_with(seed); }

  void seed_with(uint64_t seed) {
    mt_[0] = seed;
    for (int i = 1; i < kN; ++i) mt_[i] = 6364136223846793005ULL * (mt_[i - 1] ^ (mt_[i - 1] >> 62)) + static_cast<uint64_t>(i);
    next_ = kN;
  }

  void fill(uint64_t* out, int64_t n) {
    while (n > 0) {
      if (next_ == kN) regenerate();
      const int64_t take = std::min<int64_t>(n, kN - next_);
      for (int64_t i = 0; i < take; ++i) out[i] = temper(mt_[next_ + i]);
      next_ += static_cast<int>(take);
      out += take;
      n -= take;
    }
  }

  uint64_t operator()() {
    uint64_t v;
    fill(&v, 1);
    return v;
  }

 private:
  static constexpr int kN = 312, kM = 156;
  static constexpr uint64_t kMatrix = 0xB5026F5AA96619E9ULL, kUpper = ~uint64_t{0} << 31, kLower = (uint64_t{1} << 31) - 1;

  static uint64_t twist(uint64_t upper_of, uint64_t lower_of, uint64_t far) {
    const uint64_t y = (upper_of & kUpper) | (lower_of & kLower);
    return far ^ (y >> 1) ^ (kMatrix & (0 - (y & 1)));
  }
  static uint64_t temper(uint64_t y) {
    y ^= (y >> 29) & 0x5555555555555555ULL;
    y ^= (y << 17) & 0x71D67FFFEDA60000ULL;
    y ^= (y << 37) & 0xFFF7EEE000000000ULL;
    return y ^ (y >> 43);
  }
  // In three runs, as the reference implementation, so no index wraps: the first reads only words
  // not yet rewritten, the second words the first rewrote.
  void regenerate() {
    for (int i = 0; i < kN - kM; ++i) mt_[i] = twist(mt_[i], mt_[i + 1], mt_[i + kM]);
    for (int i = kN - kM; i < kN - 1; ++i) mt_[i] = twist(mt_[i], mt_[i + 1], mt_[i + kM - kN]);
    mt_[kN - 1] = twist(mt_[kN - 1], mt_[0], mt_[kM - 1]);
    next_ = 0;
  }

  uint64_t mt_[kN];
  int next_ = kN;
};

Mt19937_64& gen() {
  static Mt19937_64 g(5489u);
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
  gen().seed_with(seed);
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
  gen().fill(out, n);
}

void random_bits_chunked(int64_t n, void* context, void (*take)(void*, const uint64_t*, int64_t, int64_t)) {
  uint64_t chunk[kRandomChunk];
  std::lock_guard<std::mutex> lock(g_mutex);
  for (int64_t begin = 0; begin < n; begin += kRandomChunk) {
    const int64_t count = std::min(kRandomChunk, n - begin);
    gen().fill(chunk, count);
    take(context, chunk, begin, count);
  }
}

double next_uniform() { return static_cast<double>(next_random() >> 11) * 0x1.0p-53; }

}  // namespace rt
