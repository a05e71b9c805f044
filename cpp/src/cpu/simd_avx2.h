// Declarations shared by the AVX2+FMA translation units. Everything they define lives in
// rt::cpu::avx2 (the build checks that they define no shared inline or template code, which the
// linker could pick for baseline callers).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "cpu/simd.h"

namespace rt::cpu::avx2 {

constexpr int64_t MR = 6, NR = 16;  // SGEMM register tile: 12 ymm accumulators (BLIS's Haswell shape)

// The first n of 8 lanes (n clamped to 0..8), as the sign-bit mask that maskload/maskstore/gathers take.
inline __m256i lanes8(int64_t n) {
  const int64_t k = n < 0 ? 0 : n > 8 ? 8 : n;
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// Transposes 8 rows of 8 floats in registers (r[i][j] -> r[j][i]).
inline void transpose8x8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int h = 0; h < 8; h += 4) {
    u[h] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// 64-byte-aligned per-thread packing buffer `which` (0 or 1) of at least n floats, kept between calls.
float* scratch(int which, int64_t n);

// The A-panel layout from 6 row pointers: dst[k*6 + i] = rows[i][k] for k < len; a null row reads
// as zeros. Rows are loaded 8 at a time and transposed in registers.
void pack_a_rows(const float* const rows[MR], int64_t len, float* dst);

void sgemm_packed(int64_t M, int64_t N, int64_t K, PanelPacker a, PanelPacker b, float* c, int64_t ldc, bool accumulate);
PanelPacker strided_a(const StridedOperand* op);
PanelPacker strided_b(const StridedOperand* op);
PanelPacker patch_columns(const Stencil* s);
PanelPacker patch_rows(const Stencil* s);
PanelPacker patch_rows_a(const Stencil* s);
void conv_narrow_forward(const Stencil& s, int64_t taps, const float* w_t, int64_t outputs, float* out);
void conv_narrow_weight_grad(const Stencil& s, int64_t taps, const float* gy_t, int64_t outputs, float* gw);
void transpose_channels16(const float* gy, int64_t outputs, int64_t positions, float* gy_t);
void max_pool_2x2_row(const float* r0, const float* r1, int64_t W, int64_t OW, int64_t base, float* o, int64_t* id);

}  // namespace rt::cpu::avx2
