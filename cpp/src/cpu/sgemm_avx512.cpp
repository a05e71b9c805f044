// Single-precision GEMM with an AVX-512 register-blocked micro-kernel (BLIS-style:
// pack B into 32-column panels and A into 8-row panels, then a 8x32 tile per call);
// threads split C into independent blocks.
// Eigen's float GEMM reaches ~0.85x of MKL on this class of CPU; this one measured 1.05-1.17x
// (bench/README.md). Built with AVX-512 flags; chosen at run time (reticulum/cpu_capability.h).
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu/simd_avx512.h"

namespace rt::cpu::avx512 {

// GCC 12's AVX-512 unpack/shuffle intrinsics pass a deliberately undefined vector as their masked-off
// source (all lanes are written), and -Wuninitialized reports that vector once they are inlined here
// (GCC bug 105593). Nothing in this function reads uninitialised memory: the warning is off for it only.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
// dst[c*ldd + r] = src[r*lds + c] for a 16x16 block.
void transpose16x16(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  auto lo = [](__m512 a, __m512 b) { return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
  auto hi = [](__m512 a, __m512 b) { return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
  for (int i = 0; i < 16; i += 4) {
    r[i] = lo(t[i], t[i + 2]);
    r[i + 1] = hi(t[i], t[i + 2]);
    r[i + 2] = lo(t[i + 1], t[i + 3]);
    r[i + 3] = hi(t[i + 1], t[i + 3]);
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}
#pragma GCC diagnostic pop

namespace {
// 8 rows divide the usual channel and batch sizes.
constexpr int64_t KC = kSgemmKC, MC = MR * 42, NC = NR * 128;  // B micro-panel (32 KiB) in L1, A block in L2

// 8 rows of 16 floats -> 16 rows of 8 (dst[p*8 + i] = r[i][p]), stored for the first `len` rows.
void transpose8x16_store(const __m512 r[8], int64_t len, float* dst) {
  __m512 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);      // per 128-bit lane: p0 of rows i, i+1, then p1
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);  // p2, p3
  }
  auto lo = [](__m512 a, __m512 b) { return _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
  auto hi = [](__m512 a, __m512 b) { return _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(b))); };
  for (int h = 0; h < 8; h += 4) {  // u[h + q]: rows h..h+3 at position 4*lane + q
    u[h] = lo(t[h], t[h + 2]);
    u[h + 1] = hi(t[h], t[h + 2]);
    u[h + 2] = lo(t[h + 1], t[h + 3]);
    u[h + 3] = hi(t[h + 1], t[h + 3]);
  }
  for (int q = 0; q < 4; q += 2) {  // positions 4l + q and 4l + q + 1, rows 0..7
    for (int half = 0; half < 2; ++half) {
      const int sel = half ? 0xEE : 0x44;
      const __m512 a = _mm512_shuffle_f32x4(u[q], u[4 + q], sel), b = _mm512_shuffle_f32x4(u[q + 1], u[5 + q], sel);
      const __m512 out[2] = {_mm512_shuffle_f32x4(a, b, 0x88), _mm512_shuffle_f32x4(a, b, 0xDD)};
      for (int e = 0; e < 2; ++e) {
        const int64_t p = 4 * (2 * half + e) + q;  // first of the two positions held by out[e]
        if (p + 1 < len) _mm512_storeu_ps(dst + p * 8, out[e]);
        else if (p < len) _mm512_mask_storeu_ps(dst + p * 8, 0x00FF, out[e]);
      }
    }
  }
}

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
    for (int64_t k = 0; k < kc; ++k) std::memcpy(bp + k * NR, b + k * rs, NR * sizeof(float));
  } else if (cs == 1) {
    for (int64_t k = 0; k < kc; ++k)
      for (int64_t j = 0; j < NR; ++j) bp[k * NR + j] = j < n ? b[k * rs + j] : 0.f;
  } else if (rs == 1 && n == NR) {  // column-major B (e.g. a weight used transposed): 16x16 register transposes
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16)
      for (int64_t j = 0; j < NR; j += 16) transpose16x16(b + j * cs + k, cs, bp + k * NR + j, NR);
    for (; k < kc; ++k)
      for (int64_t j = 0; j < NR; ++j) bp[k * NR + j] = b[j * cs + k];
  } else {
    for (int64_t j = 0; j < NR; ++j) {
      const float* col = b + j * cs;
      for (int64_t k = 0; k < kc; ++k) bp[k * NR + j] = j < n ? col[k * rs] : 0.f;
    }
  }
}

// C[8 x 32] (+)= Ap * Bp over kc; `accumulate` adds to C, else overwrites.
void kernel(int64_t kc, const float* ap, const float* bp, float* c, int64_t ldc, bool accumulate) {
  __m512 c0[MR], c1[MR];
  for (int i = 0; i < MR; ++i) c0[i] = c1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(bp + k * NR), b1 = _mm512_load_ps(bp + k * NR + 16);  // packed: aligned
    const float* a = ap + k * MR;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const __m512 av = _mm512_set1_ps(a[i]);
      c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
      c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* row = c + i * ldc;
    if (accumulate) {
      c0[i] = _mm512_add_ps(c0[i], _mm512_loadu_ps(row));
      c1[i] = _mm512_add_ps(c1[i], _mm512_loadu_ps(row + 16));
    }
    _mm512_storeu_ps(row, c0[i]);
    _mm512_storeu_ps(row + 16, c1[i]);
  }
}
}  // namespace

void pack_a_rows(const float* const rows[MR], int64_t len, float* dst) {
  __m512 r[MR];
  for (int64_t j = 0; j < len; j += 16) {
    const int64_t n = std::min<int64_t>(16, len - j);
    const __mmask16 m = lanes16(n);
    for (int i = 0; i < MR; ++i) r[i] = rows[i] ? _mm512_maskz_loadu_ps(m, rows[i] + j) : _mm512_setzero_ps();
    transpose8x16_store(r, n, dst + j * MR);
  }
}

#include "cpu/sgemm_blocking.inc"

}  // namespace rt::cpu::avx512
