// The AVX2 row kernel of the 2x2/stride-2 max pool (pool.cpp has the scalar tournament it vectorizes).
#include <algorithm>

#include "cpu/simd_avx2.h"

namespace rt::cpu::avx2 {

namespace {
// challenger > holder, or challenger is NaN: all-ones lanes where the challenger takes the window.
__m256 wins(__m256 challenger, __m256 holder) {
  return _mm256_or_ps(_mm256_cmp_ps(challenger, holder, _CMP_GT_OQ), _mm256_cmp_ps(challenger, challenger, _CMP_UNORD_Q));
}
// Even (sel = 0) or odd (sel = 1) elements of the 16 floats lo:hi, in order.
__m256 deinterleave(__m256 lo, __m256 hi, int sel) {
  const __m256 s = sel ? _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1)) : _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), 0xD8));
}
}  // namespace

// 8 outputs at a time (masked at the row's end): even and odd columns of both input rows are
// split by shuffles, the selects become blends.
void max_pool_2x2_row(const float* r0, const float* r1, int64_t W, int64_t OW, int64_t base, float* o, int64_t* id) {
  const __m256i one = _mm256_set1_epi32(1), lane2 = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
  const __m256i row1 = _mm256_set1_epi32(static_cast<int32_t>(W));
  const __m256i b = _mm256_set1_epi64x(base);
  for (int64_t ow = 0; ow < OW; ow += 8) {
    const int64_t n = std::min<int64_t>(8, OW - ow);
    const __m256i lo = lanes8(2 * n), hi = lanes8(2 * n - 8);
    const __m256 a0 = _mm256_maskload_ps(r0 + 2 * ow, lo), a1 = _mm256_maskload_ps(r0 + 2 * ow + 8, hi);
    const __m256 b0 = _mm256_maskload_ps(r1 + 2 * ow, lo), b1 = _mm256_maskload_ps(r1 + 2 * ow + 8, hi);
    const __m256 v0 = deinterleave(a0, a1, 0), v1 = deinterleave(a0, a1, 1);
    const __m256 v2 = deinterleave(b0, b1, 0), v3 = deinterleave(b0, b1, 1);
    const __m256 t01 = wins(v1, v0), t23 = wins(v3, v2);
    const __m256 m01 = _mm256_blendv_ps(v0, v1, t01), m23 = _mm256_blendv_ps(v2, v3, t23);
    const __m256 t = wins(m23, m01);
    const __m256i keep = lanes8(n);
    _mm256_maskstore_ps(o + ow, keep, _mm256_blendv_ps(m01, m23, t));
    // Offset in the window: t01 (row 0) or W + t23 (row 1).
    const __m256i pick01 = _mm256_and_si256(_mm256_castps_si256(t01), one);
    const __m256i pick23 = _mm256_add_epi32(row1, _mm256_and_si256(_mm256_castps_si256(t23), one));
    const __m256i pick = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(pick01), _mm256_castsi256_ps(pick23), t));
    const __m256i off = _mm256_add_epi32(_mm256_add_epi32(lane2, _mm256_set1_epi32(static_cast<int32_t>(2 * ow))), pick);
    const __m256i keep_lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(keep)),
                  keep_hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(keep, 1));
    _mm256_maskstore_epi64(reinterpret_cast<long long*>(id + ow), keep_lo,
                           _mm256_add_epi64(b, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(off))));
    _mm256_maskstore_epi64(reinterpret_cast<long long*>(id + ow + 4), keep_hi,
                           _mm256_add_epi64(b, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(off, 1))));
  }
}

}  // namespace rt::cpu::avx2
