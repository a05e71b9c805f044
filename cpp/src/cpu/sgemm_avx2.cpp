// Single-precision GEMM with an AVX2+FMA register-blocked micro-kernel (BLIS's Haswell shape:
// B packed into 16-column panels, A into 6-row panels, a 6x16 tile of 12 ymm accumulators per
// call); the blocking and threading are shared with the AVX-512 level (sgemm_blocking.inc).
// Built with AVX2+FMA flags; chosen at run time (reticulum/cpu_capability.h).
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/simd_avx2.h"

namespace rt::cpu::avx2 {

namespace {
// A block of 168 rows x 256 depth (168 KiB) stays in a Zen 3 / Haswell L2; a B micro-panel (16 KiB) in L1.
constexpr int64_t KC = kSgemmKC, MC = MR * 28, NC = NR * 256;

// Ap[k*MR + i] = A(i0 + i, k0 + k), zero-padded past m.
void pack_a(const float* a, int64_t rs, int64_t cs, int64_t m, int64_t kc, float* ap) {
  if (cs == 1) {
    const float* rows[MR];
    for (int64_t i = 0; i < MR; ++i) rows[i] = i < m ? a + i * rs : nullptr;
    pack_a_rows(rows, kc, ap);
  } else {
    for (int64_t k = 0; k < kc; ++k) {
      const float* col = a + k * cs;
      for (int64_t i = 0; i < MR; ++i) ap[k * MR + i] = i < m ? col[i * rs] : 0.f;
    }
  }
}

// Bp[k*NR + j] = B(k0 + k, j0 + j), zero-padded past n.
void pack_b(const float* b, int64_t rs, int64_t cs, int64_t n, int64_t kc, float* bp) {
  if (cs == 1 && n == NR) {
    for (int64_t k = 0; k < kc; ++k) {
      _mm256_store_ps(bp + k * NR, _mm256_loadu_ps(b + k * rs));
      _mm256_store_ps(bp + k * NR + 8, _mm256_loadu_ps(b + k * rs + 8));
    }
  } else if (cs == 1) {
    const __m256i m0 = lanes8(n), m1 = lanes8(n - 8);
    for (int64_t k = 0; k < kc; ++k) {
      _mm256_store_ps(bp + k * NR, _mm256_maskload_ps(b + k * rs, m0));
      _mm256_store_ps(bp + k * NR + 8, _mm256_maskload_ps(b + k * rs + 8, m1));
    }
  } else if (rs == 1 && n == NR) {  // column-major B (e.g. a weight used transposed): 8x8 register transposes
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8)
      for (int64_t j = 0; j < NR; j += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(b + (j + i) * cs + k);
        transpose8x8(r);
        for (int i = 0; i < 8; ++i) _mm256_store_ps(bp + (k + i) * NR + j, r[i]);
      }
    for (; k < kc; ++k)
      for (int64_t j = 0; j < NR; ++j) bp[k * NR + j] = b[j * cs + k];
  } else {
    for (int64_t j = 0; j < NR; ++j) {
      const float* col = b + j * cs;
      for (int64_t k = 0; k < kc; ++k) bp[k * NR + j] = j < n ? col[k * rs] : 0.f;
    }
  }
}

// C[6 x 16] (+)= Ap * Bp over kc; `accumulate` adds to C, else overwrites. Per depth step: two
// aligned B loads, six broadcasts, twelve FMAs (both FMA pipes busy; loads fit beside them).
void kernel(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, bool accumulate) {
  __m256 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(bp + k * NR), b1 = _mm256_load_ps(bp + k * NR + 8);
    const float* a = ap + k * MR;
#pragma GCC unroll 6
    for (int i = 0; i < MR; ++i) {
      const __m256 av = _mm256_broadcast_ss(a + i);
      c0[i] = _mm256_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(av, b1, c1[i]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      c0[i] = _mm256_add_ps(c0[i], _mm256_loadu_ps(row));
      c1[i] = _mm256_add_ps(c1[i], _mm256_loadu_ps(row + 8));
    }
    _mm256_storeu_ps(row, c0[i]);
    _mm256_storeu_ps(row + 8, c1[i]);
  }
}
}  // namespace

void pack_a_rows(const float* const rows[MR], int64_t len, float* dst) {
  __m256 r[8];
  for (int64_t j = 0; j < len; j += 8) {
    const int64_t n = std::min<int64_t>(8, len - j);
    const __m256i m = lanes8(n);
    for (int i = 0; i < MR; ++i) r[i] = rows[i] ? _mm256_maskload_ps(rows[i] + j, m) : _mm256_setzero_ps();
    r[6] = r[7] = _mm256_setzero_ps();
    transpose8x8(r);  // r[p]: depth j + p of the six rows, in lanes 0-5
    // Eight-float stores, in order: each spills two zeros into the next step's slots, which that
    // step's store overwrites; the panel's last step stores exactly six.
    for (int64_t p = 0; p < n; ++p) {
      float* d = dst + (j + p) * MR;
      if (j + p + 1 < len) {
        _mm256_storeu_ps(d, r[p]);
      } else {
        _mm_storeu_ps(d, _mm256_castps256_ps128(r[p]));
        _mm_storel_pi(reinterpret_cast<__m64*>(d + 4), _mm256_extractf128_ps(r[p], 1));
      }
    }
  }
}

#include "cpu/sgemm_blocking.inc"

}  // namespace rt::cpu::avx2
