// Max/average/adaptive-average pooling over [planes, H, W], threaded over planes.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu/kernels.h"
#include "cpu/simd.h"
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

// One output row: o[ow] = max of r0[2ow], r0[2ow+1], r1[2ow], r1[2ow+1] and id[ow] its flat index
// (base + offset in the plane). The SIMD levels' max_pool_2x2_row (simd.h) follow the same order.
template <class T>
static void max_pool_2x2(const PoolGeom& g, const T* xp, T* op, int64_t* ip, const SimdKernels* simd) {
  const int64_t OH = g.OH, OW = g.OW, W = g.W;
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r0 = xp + 2 * oh * W;
    const T* r1 = r0 + W;
    T* o = op + oh * OW;
    int64_t* id = ip + oh * OW;
    const int64_t base = 2 * oh * W;
    if constexpr (std::is_same_v<T, float>) {
      if (simd) {
        simd->max_pool_2x2_row(r0, r1, W, OW, base, o, id);
        continue;
      }
    }
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
    const bool fast =
        g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && 2 * g.OH <= g.H && 2 * g.OW <= g.W;
    const SimdKernels* simd = cpu::simd();
    over_planes(g, [&](int64_t p) {
      if (fast) {
        max_pool_2x2<T>(g, x->data<T>() + p * g.H * g.W, out->data<T>() + p * g.OH * g.OW, idx->data<int64_t>() + p * g.OH * g.OW,
                        simd);
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
void adaptive_avg_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx) {
  avg_backward(g, gy, gx, adaptive_window);
}

}  // namespace rt::cpu
