// AVX-512 stencil packers and direct narrow-convolution kernels (built with AVX-512 flags only).
#include <algorithm>
#include <cstring>

#include "cpu/simd_avx512.h"

namespace rt::cpu::avx512 {

namespace {
#include "cpu/conv_stencil_walk.inc"

void pack_patch_columns(const void* ctx, int64_t j0, int64_t n, int64_t k0, int64_t kc, float* dst) {
  const Stencil& s = *static_cast<const Stencil*>(ctx);
  Run runs[NR];
  const int count = runs_of(s, j0, n, runs);
  if (count == 1 && n == NR && s.wstep == 1) {  // one output row covers the panel: two vector copies per tap
    const float* src = s.x + runs[0].corner;
    for (int64_t k = 0; k < kc; ++k) {
      const float* r = src + s.tap[k0 + k];
      _mm512_store_ps(dst + k * NR, _mm512_loadu_ps(r));
      _mm512_store_ps(dst + k * NR + 16, _mm512_loadu_ps(r + 16));
    }
    return;
  }
  // Otherwise each 16-lane half of a panel row is merged from masked loads (gathers when strided),
  // one per run that reaches it (lane l of run r reads corner_r + (16 * half + l - j_r) * wstep),
  // then stored whole: masked loads are cheap, masked stores are not. Lanes past n stay zero.
  struct Piece {
    int64_t offset;
    __mmask16 mask;
  };
  Piece pieces[2][NR];
  int npieces[2] = {0, 0};
  for (int r = 0; r < count; ++r)
    for (int half = 0; half < 2; ++half) {
      const int64_t lo = std::max<int64_t>(runs[r].j, 16 * half), hi = std::min<int64_t>(runs[r].j + runs[r].len, 16 * half + 16);
      if (lo >= hi) continue;
      const auto mask = static_cast<__mmask16>(lanes16(hi - 16 * half) & ~lanes16(lo - 16 * half));
      pieces[half][npieces[half]++] = {runs[r].corner - (runs[r].j - 16 * half) * s.wstep, mask};
    }
  auto fill = [&](auto load) {  // load(v, mask, from): merge the masked lanes of one piece into v
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = s.x + s.tap[k0 + k];
      for (int half = 0; half < 2; ++half) {
        __m512 v = _mm512_setzero_ps();
        for (int q = 0; q < npieces[half]; ++q) v = load(v, pieces[half][q].mask, src + pieces[half][q].offset);
        _mm512_store_ps(dst + k * NR + 16 * half, v);
      }
    }
  };
  if (s.wstep == 1) return fill([](__m512 v, __mmask16 m, const float* from) { return _mm512_mask_loadu_ps(v, m, from); });
  const __m512i step = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32(static_cast<int32_t>(s.wstep)));
  fill([step](__m512 v, __mmask16 m, const float* from) { return _mm512_mask_i32gather_ps(v, m, step, from, 4); });
}

// One gather per 16 taps: the tap offsets are fixed for the panel, only the window corner moves.
void pack_patch_rows(const void* ctx, int64_t j0, int64_t n, int64_t k0, int64_t kc, float* dst) {
  const Stencil& s = *static_cast<const Stencil*>(ctx);
  const __mmask16 m0 = lanes16(n), m1 = lanes16(n - 16);
  const __m512i t0 = _mm512_maskz_loadu_epi32(m0, s.tap + j0), t1 = _mm512_maskz_loadu_epi32(m1, s.tap + j0 + 16);
  const __m512 zero = _mm512_setzero_ps();
  Cursor at(s, k0);
  for (int64_t k = 0; k < kc; ++k, at.next()) {
    const float* base = s.x + at.corner();
    _mm512_store_ps(dst + k * NR, _mm512_mask_i32gather_ps(zero, m0, t0, base, 4));
    _mm512_store_ps(dst + k * NR + 16, _mm512_mask_i32gather_ps(zero, m1, t1, base, 4));
  }
}

}  // namespace

namespace {
// Window corners of the output positions [p, p + 8) (past the end: the first one again).
void corners8(const Stencil& s, int64_t p, int64_t n, const float* out[8]) {
  Cursor at(s, p);
  for (int i = 0; i < 8; ++i, at.next()) out[i] = i < n ? s.x + at.corner() : out[0];
}

// tile[o][i] = acc[i][o]: 8 accumulators of 16 lanes become 16 rows of 8.
void transpose_tile(const __m512 acc[8], float* tile /* [16][8] */) {
  alignas(64) float by_row[8][16];
  const float* rows[MR];
  for (int i = 0; i < 8; ++i) {
    _mm512_store_ps(by_row[i], acc[i]);
    rows[i] = by_row[i];
  }
  pack_a_rows(rows, 16, tile);
}
}  // namespace

void conv_narrow_forward(const Stencil& s, int64_t taps, const float* w_t, int64_t outputs, float* out) {
  const int64_t L = s.od * s.oh * s.ow;
  alignas(64) float tile[16 * 8];
  for (int64_t p = 0; p < L; p += 8) {
    const int64_t n = std::min<int64_t>(8, L - p);
    const float* base[8];
    corners8(s, p, n, base);
    __m512 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = _mm512_setzero_ps();
    for (int64_t t = 0; t < taps; ++t) {
      const __m512 wv = _mm512_loadu_ps(w_t + t * 16);
      const int32_t off = s.tap[t];
      for (int i = 0; i < 8; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(base[i][off]), wv, acc[i]);
    }
    transpose_tile(acc, tile);
    for (int64_t o = 0; o < outputs; ++o) std::memcpy(out + o * L + p, tile + o * 8, sizeof(float) * static_cast<size_t>(n));
  }
}

void conv_narrow_weight_grad(const Stencil& s, int64_t taps, const float* gy_t, int64_t outputs, float* gw) {
  const int64_t L = s.od * s.oh * s.ow;
  alignas(64) float tile[16 * 8];
  for (int64_t t0 = 0; t0 < taps; t0 += 8) {
    const int64_t nt = std::min<int64_t>(8, taps - t0);
    int32_t off[8];
    for (int i = 0; i < 8; ++i) off[i] = s.tap[t0 + std::min<int64_t>(i, nt - 1)];
    __m512 acc[8];
    for (int i = 0; i < 8; ++i) acc[i] = _mm512_setzero_ps();
    Cursor at(s, 0);
    for (int64_t p = 0; p < L; ++p, at.next()) {
      const float* base = s.x + at.corner();
      const __m512 g = _mm512_loadu_ps(gy_t + p * 16);
      for (int i = 0; i < 8; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(base[off[i]]), g, acc[i]);
    }
    transpose_tile(acc, tile);
    for (int64_t o = 0; o < outputs; ++o)
      for (int64_t i = 0; i < nt; ++i) gw[o * taps + t0 + i] += tile[o * 8 + i];
  }
}

void transpose_channels16(const float* gy, int64_t outputs, int64_t positions, float* gy_t) {
  alignas(64) float tile[16 * 16] = {};  // rows past `outputs` stay zero
  for (int64_t p = 0; p < positions; p += 16) {
    const int64_t n = std::min<int64_t>(16, positions - p);
    for (int64_t o = 0; o < outputs; ++o)
      _mm512_store_ps(tile + o * 16, _mm512_maskz_loadu_ps(lanes16(n), gy + o * positions + p));
    if (n == 16) {
      transpose16x16(tile, 16, gy_t + p * 16, 16);
    } else {
      alignas(64) float full[16 * 16];
      transpose16x16(tile, 16, full, 16);
      std::memcpy(gy_t + p * 16, full, sizeof(float) * static_cast<size_t>(n * 16));
    }
  }
}

PanelPacker patch_columns(const Stencil* s) { return {pack_patch_columns, s}; }
PanelPacker patch_rows(const Stencil* s) { return {pack_patch_rows, s}; }
PanelPacker patch_rows_a(const Stencil* s) { return {pack_patch_rows_a, s}; }

}  // namespace rt::cpu::avx512
