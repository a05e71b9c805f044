// Max/average/adaptive-average pooling over [planes, H, W], threaded over planes, and the
// bilinear affine warp used by data augmentation (the same per-plane image loops).
#include <cmath>
#include <cstring>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <limits>
#include <type_traits>

#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace rt::cpu {

template <class F>
static void over_planes(const PoolGeom& g, F&& f) {
  parallel_range(g.planes, g.OH * g.OW * g.kh * g.kw + g.H * g.W, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) f(p);
  });
}

// The common 2x2/stride-2 unpadded window: a tournament of selects (no data-dependent
// branches: random data made the generic loop mispredict on most comparisons). Ties keep the
// earlier element and a NaN wins, matching the generic path's scan order.
// b if take else a, through the bits: GCC turns a float ternary into an unpredictable branch here.
template <class T>
static inline T pick(T a, T b, int take) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U ua, ub;
  std::memcpy(&ua, &a, sizeof(T));
  std::memcpy(&ub, &b, sizeof(T));
  const U r = ua ^ ((ua ^ ub) & (U(0) - static_cast<U>(take)));
  T out;
  std::memcpy(&out, &r, sizeof(T));
  return out;
}

#ifdef __AVX512F__
// The same tournament on 16 float outputs at a time (masked at the row's end): even and odd
// columns of both input rows are split by permutes, the selects become mask blends.
static void max_pool_2x2_row16(const float* r0, const float* r1, int64_t W, int64_t OW, int64_t base, float* o, int64_t* id) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  const __m512i one = _mm512_set1_epi32(1), lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
  auto wins = [](__m512 challenger, __m512 holder) {  // challenger > holder, or challenger is NaN
    return static_cast<__mmask16>(_mm512_cmp_ps_mask(challenger, holder, _CMP_GT_OQ) | _mm512_cmp_ps_mask(challenger, challenger, _CMP_UNORD_Q));
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
    const __m512i pick01 = _mm512_maskz_mov_epi32(t01, one), pick23 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int32_t>(W)), _mm512_maskz_mov_epi32(t23, one));
    const __m512i off = _mm512_add_epi32(_mm512_add_epi32(lane2, _mm512_set1_epi32(static_cast<int32_t>(2 * ow))), _mm512_mask_blend_epi32(t, pick01, pick23));
    const __m512i b = _mm512_set1_epi64(base);
    _mm512_mask_storeu_epi64(id + ow, static_cast<__mmask8>(keep), _mm512_add_epi64(b, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(off))));
    _mm512_mask_storeu_epi64(id + ow + 8, static_cast<__mmask8>(keep >> 8), _mm512_add_epi64(b, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(off, 1))));
  }
}
#endif

template <class T>
static void max_pool_2x2(const PoolGeom& g, const T* xp, T* op, int64_t* ip) {
  const int64_t OH = g.OH, OW = g.OW, W = g.W;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r0 = xp + 2 * oh * W;
    const T* r1 = r0 + W;
    T* o = op + oh * OW;
    int64_t* id = ip + oh * OW;
    const int64_t base = 2 * oh * W;
#ifdef __AVX512F__
    if constexpr (std::is_same_v<T, float>) {
      max_pool_2x2_row16(r0, r1, W, OW, base, o, id);
      continue;
    }
#endif
    for (int64_t ow = 0; ow < OW; ++ow) {
      const T v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
      const int t01 = (v1 > v0) | (v1 != v1), t23 = (v3 > v2) | (v3 != v3);
      const T m01 = pick(v0, v1, t01), m23 = pick(v2, v3, t23);
      const int t = (m23 > m01) | (m23 != m23);
      o[ow] = pick(m01, m23, t);
      const int64_t i01 = t01, i23 = W + t23;
      id[ow] = base + 2 * ow + i01 + t * (i23 - i01);
    }
  }
}

void max_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out, const Tensor& idx) {
  dispatch_float(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    const bool fast = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && 2 * g.OH <= g.H && 2 * g.OW <= g.W;
    over_planes(g, [&](int64_t p) {
      if (fast) {
        max_pool_2x2<T>(g, x->data<T>() + p * g.H * g.W, out->data<T>() + p * g.OH * g.OW, idx->data<int64_t>() + p * g.OH * g.OW);
        return;
      }
      const T* xp = x->data<T>() + p * g.H * g.W;
      T* op = out->data<T>() + p * g.OH * g.OW;
      int64_t* ip = idx->data<int64_t>() + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        int64_t h0 = oh * g.sh - g.ph, h1 = std::min(h0 + g.kh, g.H);
        h0 = std::max<int64_t>(h0, 0);
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          int64_t w0 = ow * g.sw - g.pw, w1 = std::min(w0 + g.kw, g.W);
          w0 = std::max<int64_t>(w0, 0);
          T best = -std::numeric_limits<T>::infinity();
          int64_t bi = h0 * g.W + w0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) {
              const int64_t k = h * g.W + w;
              const T v = xp[k];
              const int take = (v > best) | (v != v);  // NaN wins, as in PyTorch
              best = pick(best, v, take);
              bi += take * (k - bi);
            }
          op[oh * g.OW + ow] = best;
          ip[oh * g.OW + ow] = bi;
        }
      }
    });
  });
}

void max_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& idx, const Tensor& gx) {
  dispatch_float(gy->dtype, [&](auto tag) {
    using T = decltype(tag);
    over_planes(g, [&](int64_t p) {
      const T* gp = gy->data<T>() + p * g.OH * g.OW;
      const int64_t* ip = idx->data<int64_t>() + p * g.OH * g.OW;
      T* xp = gx->data<T>() + p * g.H * g.W;
      std::fill(xp, xp + g.H * g.W, T(0));
      for (int64_t i = 0; i < g.OH * g.OW; ++i) xp[ip[i]] += gp[i];
    });
  });
}

// PyTorch's window and divisor rules (windows may overhang the padding in ceil mode).
struct AvgWindow {
  int64_t h0, h1, w0, w1, div;
};
static AvgWindow avg_window(const PoolGeom& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int64_t h1 = std::min(h0 + g.kh, g.H + g.ph), w1 = std::min(w0 + g.kw, g.W + g.pw);
  int64_t pool = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.H);
  w1 = std::min(w1, g.W);
  return {h0, h1, w0, w1, g.count_include_pad ? pool : (h1 - h0) * (w1 - w0)};
}

// Adaptive pooling: windows [floor(i*H/OH), ceil((i+1)*H/OH)), averaged over their area.
static AvgWindow adaptive_window(const PoolGeom& g, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * g.H / g.OH, h1 = ((oh + 1) * g.H + g.OH - 1) / g.OH;
  const int64_t w0 = ow * g.W / g.OW, w1 = ((ow + 1) * g.W + g.OW - 1) / g.OW;
  return {h0, h1, w0, w1, (h1 - h0) * (w1 - w0)};
}

// Average pooling over the windows `window(g, oh, ow)` gives, and its adjoint.
template <class Window>
static void avg_forward(const PoolGeom& g, const Tensor& x, const Tensor& out, Window window) {
  dispatch_float(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    over_planes(g, [&](int64_t p) {
      const T* xp = x->data<T>() + p * g.H * g.W;
      T* op = out->data<T>() + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow a = window(g, oh, ow);
          T s = 0;
          for (int64_t h = a.h0; h < a.h1; ++h)
            for (int64_t w = a.w0; w < a.w1; ++w) s += xp[h * g.W + w];
          op[oh * g.OW + ow] = a.div > 0 ? s / static_cast<T>(a.div) : T(0);
        }
    });
  });
}

template <class Window>
static void avg_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx, Window window) {
  dispatch_float(gy->dtype, [&](auto tag) {
    using T = decltype(tag);
    over_planes(g, [&](int64_t p) {
      const T* gp = gy->data<T>() + p * g.OH * g.OW;
      T* xp = gx->data<T>() + p * g.H * g.W;
      std::fill(xp, xp + g.H * g.W, T(0));
      for (int64_t oh = 0; oh < g.OH; ++oh)
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow a = window(g, oh, ow);
          if (a.div <= 0) continue;
          const T v = gp[oh * g.OW + ow] / static_cast<T>(a.div);
          for (int64_t h = a.h0; h < a.h1; ++h)
            for (int64_t w = a.w0; w < a.w1; ++w) xp[h * g.W + w] += v;
        }
    });
  });
}

void avg_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out) { avg_forward(g, x, out, avg_window); }
void avg_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx) { avg_backward(g, gy, gx, avg_window); }
void adaptive_avg_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out) { avg_forward(g, x, out, adaptive_window); }
void adaptive_avg_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx) { avg_backward(g, gy, gx, adaptive_window); }


void affine_warp(const Tensor& x, const Tensor& theta, const Tensor& out) {
  const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
  dispatch_float(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    const double* th = theta->data<double>();
    parallel_range(N * C, H * W * 8, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const double* m = th + (p / C) * 6;
        const T* src = x->data<T>() + p * H * W;
        T* dst = out->data<T>() + p * H * W;
        for (int64_t i = 0; i < H; ++i)
          for (int64_t j = 0; j < W; ++j) {
            const double sx = m[0] * j + m[1] * i + m[2], sy = m[3] * j + m[4] * i + m[5];
            const double fx = std::floor(sx), fy = std::floor(sy), ax = sx - fx, ay = sy - fy;
            const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
            auto at = [&](int64_t yy, int64_t xx) -> double { return (yy >= 0 && yy < H && xx >= 0 && xx < W) ? src[yy * W + xx] : 0.0; };
            dst[i * W + j] = static_cast<T>((1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) + ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1)));
          }
      }
    });
  });
}

}  // namespace rt::cpu
