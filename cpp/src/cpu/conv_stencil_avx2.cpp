// AVX2 stencil packers and direct narrow-convolution kernels (built with AVX2+FMA flags only):
// B panels are 16 positions (two ymm), A panels 6 taps; the direct kernels hold 16 output
// channels in two ymm registers.
#include <algorithm>
#include <cstring>

#include "cpu/simd_avx2.h"

namespace rt::cpu::avx2 {

namespace {
#include "cpu/conv_stencil_walk.inc"

// The lanes [lo, hi) of an 8-lane half, as a maskload/gather mask.
__m256i lane_range(int64_t lo, int64_t hi) { return _mm256_andnot_si256(lanes8(lo), lanes8(hi)); }

void pack_patch_columns(const void* ctx, int64_t j0, int64_t n, int64_t k0, int64_t kc, float* dst) {
  const Stencil& s = *static_cast<const Stencil*>(ctx);
  Run runs[NR];
  const int count = runs_of(s, j0, n, runs);
  if (count == 1 && n == NR && s.wstep == 1) {  // one output row covers the panel: two vector copies per tap
    const float* src = s.x + runs[0].corner;
    for (int64_t k = 0; k < kc; ++k) {
      const float* r = src + s.tap[k0 + k];
      _mm256_store_ps(dst + k * NR, _mm256_loadu_ps(r));
      _mm256_store_ps(dst + k * NR + 8, _mm256_loadu_ps(r + 8));
    }
    return;
  }
  // Otherwise each 8-lane half of a panel row is merged from masked loads (gathers when strided),
  // one per run that reaches it (lane l of run r reads corner_r + (8 * half + l - j_r) * wstep);
  // masked-off lanes load as zeros, so the pieces combine by OR. Lanes past n stay zero.
  struct Piece {
    int64_t offset;
    __m256i mask;
  };
  Piece pieces[2][NR];
  int npieces[2] = {0, 0};
  for (int r = 0; r < count; ++r)
    for (int half = 0; half < 2; ++half) {
      const int64_t lo = std::max<int64_t>(runs[r].j, 8 * half), hi = std::min<int64_t>(runs[r].j + runs[r].len, 8 * half + 8);
      if (lo >= hi) continue;
      pieces[half][npieces[half]++] = {runs[r].corner - (runs[r].j - 8 * half) * s.wstep,
                                       lane_range(lo - 8 * half, hi - 8 * half)};
    }
  auto fill = [&](auto load) {  // load(mask, from): the masked lanes of one piece, zeros elsewhere
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = s.x + s.tap[k0 + k];
      for (int half = 0; half < 2; ++half) {
        __m256 v = _mm256_setzero_ps();
        for (int q = 0; q < npieces[half]; ++q) v = _mm256_or_ps(v, load(pieces[half][q].mask, src + pieces[half][q].offset));
        _mm256_store_ps(dst + k * NR + 8 * half, v);
      }
    }
  };
  if (s.wstep == 1) return fill([](__m256i m, const float* from) { return _mm256_maskload_ps(from, m); });
  const __m256i step =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int32_t>(s.wstep)));
  fill([step](__m256i m, const float* from) {
    return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), from, step, _mm256_castsi256_ps(m), 4);
  });
}

// One gather per 8 taps: the tap offsets are fixed for the panel, only the window corner moves.
void pack_patch_rows(const void* ctx, int64_t j0, int64_t n, int64_t k0, int64_t kc, float* dst) {
  const Stencil& s = *static_cast<const Stencil*>(ctx);
  const __m256i m0 = lanes8(n), m1 = lanes8(n - 8);
  const __m256i t0 = _mm256_maskload_epi32(s.tap + j0, m0), t1 = _mm256_maskload_epi32(s.tap + j0 + 8, m1);
  const __m256 f0 = _mm256_castsi256_ps(m0), f1 = _mm256_castsi256_ps(m1), zero = _mm256_setzero_ps();
  Cursor at(s, k0);
  for (int64_t k = 0; k < kc; ++k, at.next()) {
    const float* base = s.x + at.corner();
    _mm256_store_ps(dst + k * NR, _mm256_mask_i32gather_ps(zero, base, t0, f0, 4));
    _mm256_store_ps(dst + k * NR + 8, _mm256_mask_i32gather_ps(zero, base, t1, f1, 4));
  }
}

// Positions (forward) or taps (weight gradient) per step of the direct kernels: 6 x 2 ymm
// accumulators, plus the two-register operand and a broadcast, fill the 16 ymm registers.
constexpr int kStep = 6;

// Window corners of the output positions [p, p + kStep) (past the end: the first one again).
void corners(const Stencil& s, int64_t p, int64_t n, const float* out[kStep]) {
  Cursor at(s, p);
  for (int i = 0; i < kStep; ++i, at.next()) out[i] = i < n ? s.x + at.corner() : out[0];
}
}  // namespace

void conv_narrow_forward(const Stencil& s, int64_t taps, const float* w_t, int64_t outputs, float* out) {
  const int64_t L = s.od * s.oh * s.ow;
  alignas(32) float by_pos[kStep][16];
  for (int64_t p = 0; p < L; p += kStep) {
    const int64_t n = std::min<int64_t>(kStep, L - p);
    const float* base[kStep];
    corners(s, p, n, base);
    __m256 lo[kStep], hi[kStep];
    for (int i = 0; i < kStep; ++i) lo[i] = hi[i] = _mm256_setzero_ps();
    for (int64_t t = 0; t < taps; ++t) {
      const __m256 w0 = _mm256_loadu_ps(w_t + t * 16), w1 = _mm256_loadu_ps(w_t + t * 16 + 8);
      const int32_t off = s.tap[t];
      for (int i = 0; i < kStep; ++i) {
        const __m256 x = _mm256_broadcast_ss(base[i] + off);
        lo[i] = _mm256_fmadd_ps(x, w0, lo[i]);
        hi[i] = _mm256_fmadd_ps(x, w1, hi[i]);
      }
    }
    for (int i = 0; i < kStep; ++i) {
      _mm256_store_ps(by_pos[i], lo[i]);
      _mm256_store_ps(by_pos[i] + 8, hi[i]);
    }
    for (int64_t o = 0; o < outputs; ++o)
      for (int64_t i = 0; i < n; ++i) out[o * L + p + i] = by_pos[i][o];
  }
}

void conv_narrow_weight_grad(const Stencil& s, int64_t taps, const float* gy_t, int64_t outputs, float* gw) {
  const int64_t L = s.od * s.oh * s.ow;
  alignas(32) float by_tap[kStep][16];
  for (int64_t t0 = 0; t0 < taps; t0 += kStep) {
    const int64_t nt = std::min<int64_t>(kStep, taps - t0);
    int32_t off[kStep];
    for (int i = 0; i < kStep; ++i) off[i] = s.tap[t0 + std::min<int64_t>(i, nt - 1)];
    __m256 lo[kStep], hi[kStep];
    for (int i = 0; i < kStep; ++i) lo[i] = hi[i] = _mm256_setzero_ps();
    Cursor at(s, 0);
    for (int64_t p = 0; p < L; ++p, at.next()) {
      const float* base = s.x + at.corner();
      const __m256 g0 = _mm256_loadu_ps(gy_t + p * 16), g1 = _mm256_loadu_ps(gy_t + p * 16 + 8);
      for (int i = 0; i < kStep; ++i) {
        const __m256 x = _mm256_broadcast_ss(base + off[i]);
        lo[i] = _mm256_fmadd_ps(x, g0, lo[i]);
        hi[i] = _mm256_fmadd_ps(x, g1, hi[i]);
      }
    }
    for (int i = 0; i < kStep; ++i) {
      _mm256_store_ps(by_tap[i], lo[i]);
      _mm256_store_ps(by_tap[i] + 8, hi[i]);
    }
    for (int64_t o = 0; o < outputs; ++o)
      for (int64_t i = 0; i < nt; ++i) gw[o * taps + t0 + i] += by_tap[i][o];
  }
}

void transpose_channels16(const float* gy, int64_t outputs, int64_t positions, float* gy_t) {
  for (int64_t p = 0; p < positions; p += 8) {
    const int64_t n = std::min<int64_t>(8, positions - p);
    const __m256i m = lanes8(n);
    __m256 r[2][8];  // channels 0-7 and 8-15; rows past `outputs` are zeros
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 8; ++i) {
        const int64_t o = 8 * h + i;
        r[h][i] = o < outputs ? _mm256_maskload_ps(gy + o * positions + p, m) : _mm256_setzero_ps();
      }
      transpose8x8(r[h]);
    }
    for (int64_t i = 0; i < n; ++i) {
      _mm256_storeu_ps(gy_t + (p + i) * 16, r[0][i]);
      _mm256_storeu_ps(gy_t + (p + i) * 16 + 8, r[1][i]);
    }
  }
}

PanelPacker patch_columns(const Stencil* s) { return {pack_patch_columns, s}; }
PanelPacker patch_rows(const Stencil* s) { return {pack_patch_rows, s}; }
PanelPacker patch_rows_a(const Stencil* s) { return {pack_patch_rows_a, s}; }

}  // namespace rt::cpu::avx2
