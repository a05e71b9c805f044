// The AVX-512 row kernel of the 2x2/stride-2 max pool (pool.cpp has the scalar tournament it vectorizes).
#include <algorithm>

#include "cpu/simd_avx512.h"

namespace rt::cpu::avx512 {

// The same tournament on 16 float outputs at a time (masked at the row's end): even and odd
// columns of both input rows are split by permutes, the selects become mask blends.
void max_pool_2x2_row(const float* r0, const float* r1, int64_t W, int64_t OW, int64_t base, float* o, int64_t* id) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i one = _mm512_set1_epi32(1),
                lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
  auto wins = [](__m512 challenger, __m512 holder) {  // challenger > holder, or challenger is NaN
    return static_cast<__mmask16>(_mm512_cmp_ps_mask(challenger, holder, _CMP_GT_OQ) |
                                  _mm512_cmp_ps_mask(challenger, challenger, _CMP_UNORD_Q));
  };
  for (int64_t ow = 0; ow < OW; ow += 16) {
    const int64_t n = std::min<int64_t>(16, OW - ow);
    const __mmask16 lo = lanes16(2 * n), hi = lanes16(2 * n - 16);
    const __m512 a0 = _mm512_maskz_loadu_ps(lo, r0 + 2 * ow), a1 = _mm512_maskz_loadu_ps(hi, r0 + 2 * ow + 16);
    const __m512 b0 = _mm512_maskz_loadu_ps(lo, r1 + 2 * ow), b1 = _mm512_maskz_loadu_ps(hi, r1 + 2 * ow + 16);
    const __m512 v0 = _mm512_permutex2var_ps(a0, even, a1), v1 = _mm512_permutex2var_ps(a0, odd, a1);
    const __m512 v2 = _mm512_permutex2var_ps(b0, even, b1), v3 = _mm512_permutex2var_ps(b0, odd, b1);
    const __mmask16 t01 = wins(v1, v0), t23 = wins(v3, v2);
    const __m512 m01 = _mm512_mask_blend_ps(t01, v0, v1), m23 = _mm512_mask_blend_ps(t23, v2, v3);
    const __mmask16 t = wins(m23, m01);
    const __mmask16 keep = lanes16(n);
    _mm512_mask_storeu_ps(o + ow, keep, _mm512_mask_blend_ps(t, m01, m23));
    // Offset in the window: t01 (row 0) or W + t23 (row 1).
    const __m512i pick01 = _mm512_maskz_mov_epi32(t01, one),
                  pick23 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(W)), _mm512_maskz_mov_epi32(t23, one));
    const __m512i off = _mm512_add_epi32(_mm512_add_epi32(lane2, _mm512_set1_epi32(static_cast<int32_t>(2 * ow))),
                                         _mm512_mask_blend_epi32(t, pick01, pick23));
    const __m512i b = _mm512_set1_epi64(base);
    _mm512_mask_storeu_epi64(id + ow, static_cast<__mmask8>(keep),
                             _mm512_add_epi64(b, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(off))));
    _mm512_mask_storeu_epi64(id + ow + 8, static_cast<__mmask8>(keep >> 8),
                             _mm512_add_epi64(b, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(off, 1))));
  }
}

}  // namespace rt::cpu::avx512
