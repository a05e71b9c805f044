// CUDA max/average/adaptive-average pooling over [planes, H, W] and the bilinear affine warp:
// one thread per output element, with the CPU kernels' window and tie rules (cpp/src/cpu/pool.cpp).
// The backward passes zero the input gradient and scatter each output's share with atomics,
// since windows may overlap.
#include <cmath>
#include <limits>

#include "block_reduce.cuh"
#include "kernels.h"

namespace rt::cuda {

template <class T>
__global__ void max_pool_kernel(PoolGeom g, const T* x, T* out, int64_t* idx) {
  RT_GRID_LOOP(k, g.planes * g.OH * g.OW) {
    const int64_t ow = k % g.OW, oh = (k / g.OW) % g.OH, p = k / (g.OW * g.OH);
    const T* xp = x + p * g.H * g.W;
    int64_t h0 = oh * g.sh - g.ph, h1 = min(h0 + g.kh, g.H);
    int64_t w0 = ow * g.sw - g.pw, w1 = min(w0 + g.kw, g.W);
    h0 = h0 < 0 ? 0 : h0;
    w0 = w0 < 0 ? 0 : w0;
    T best = -std::numeric_limits<T>::infinity();
    int64_t bi = h0 * g.W + w0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t q = h * g.W + w;
        const T v = xp[q];
        if (v > best || v != v) {  // NaN wins, as in PyTorch; a later NaN does too, as on the CPU
          best = v;
          bi = q;
        }
      }
    out[k] = best;
    idx[k] = bi;
  }
}

void max_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out, const Tensor& idx) {
  const int64_t n = g.planes * g.OH * g.OW;
  if (n == 0) return;
  DeviceGuard guard(out->device);
  dispatch_float(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    max_pool_kernel<T><<<grid_for(n), kThreads, 0, stream(out->device)>>>(g, x->data<T>(), out->data<T>(), idx->data<int64_t>());
  });
  check_launch("max_pool2d");
}

template <class T>
__global__ void max_pool_backward_kernel(PoolGeom g, const T* gy, const int64_t* idx, T* gx) {
  RT_GRID_LOOP(k, g.planes * g.OH * g.OW) {
    const int64_t p = k / (g.OH * g.OW);
    atomic_add(gx + p * g.H * g.W + idx[k], gy[k]);
  }
}

template <class T>
static void zero(const Tensor& t) {
  check(cudaMemsetAsync(t->data<T>(), 0, static_cast<size_t>(t->numel()) * sizeof(T), stream(t->device)), "zeroing a gradient");
}

void max_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& idx, const Tensor& gx) {
  DeviceGuard guard(gx->device);
  dispatch_float(gy->dtype, [&](auto tag) {
    using T = decltype(tag);
    zero<T>(gx);
    const int64_t n = g.planes * g.OH * g.OW;
    if (n == 0) return;
    max_pool_backward_kernel<T>
        <<<grid_for(n), kThreads, 0, stream(gx->device)>>>(g, gy->data<T>(), idx->data<int64_t>(), gx->data<T>());
    check_launch("max_pool2d_backward");
  });
}

struct AvgWindow {
  int64_t h0, h1, w0, w1, div;
};

// PyTorch's window and divisor rules (windows may overhang the padding in ceil mode).
struct FixedWindow {
  __device__ AvgWindow operator()(const PoolGeom& g, int64_t oh, int64_t ow) const {
    int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    int64_t h1 = min(h0 + g.kh, g.H + g.ph), w1 = min(w0 + g.kw, g.W + g.pw);
    const int64_t pool = (h1 - h0) * (w1 - w0);
    h0 = h0 < 0 ? 0 : h0;
    w0 = w0 < 0 ? 0 : w0;
    h1 = min(h1, g.H);
    w1 = min(w1, g.W);
    return {h0, h1, w0, w1, g.count_include_pad ? pool : (h1 - h0) * (w1 - w0)};
  }
};

// Adaptive pooling: windows [floor(i*H/OH), ceil((i+1)*H/OH)), averaged over their area.
struct AdaptiveWindow {
  __device__ AvgWindow operator()(const PoolGeom& g, int64_t oh, int64_t ow) const {
    const int64_t h0 = oh * g.H / g.OH, h1 = ((oh + 1) * g.H + g.OH - 1) / g.OH;
    const int64_t w0 = ow * g.W / g.OW, w1 = ((ow + 1) * g.W + g.OW - 1) / g.OW;
    return {h0, h1, w0, w1, (h1 - h0) * (w1 - w0)};
  }
};

template <class T, class Window>
__global__ void avg_pool_kernel(PoolGeom g, Window window, const T* x, T* out) {
  RT_GRID_LOOP(k, g.planes * g.OH * g.OW) {
    const int64_t ow = k % g.OW, oh = (k / g.OW) % g.OH, p = k / (g.OW * g.OH);
    const T* xp = x + p * g.H * g.W;
    const AvgWindow a = window(g, oh, ow);
    T s = 0;
    for (int64_t h = a.h0; h < a.h1; ++h)
      for (int64_t w = a.w0; w < a.w1; ++w) s += xp[h * g.W + w];
    out[k] = a.div > 0 ? s / static_cast<T>(a.div) : T(0);
  }
}

template <class T, class Window>
__global__ void avg_pool_backward_kernel(PoolGeom g, Window window, const T* gy, T* gx) {
  RT_GRID_LOOP(k, g.planes * g.OH * g.OW) {
    const int64_t ow = k % g.OW, oh = (k / g.OW) % g.OH, p = k / (g.OW * g.OH);
    const AvgWindow a = window(g, oh, ow);
    if (a.div <= 0) continue;
    const T v = gy[k] / static_cast<T>(a.div);
    T* xp = gx + p * g.H * g.W;
    for (int64_t h = a.h0; h < a.h1; ++h)
      for (int64_t w = a.w0; w < a.w1; ++w) atomic_add(xp + h * g.W + w, v);
  }
}

template <class Window>
static void avg_forward(const PoolGeom& g, const Tensor& x, const Tensor& out, Window window, const char* name) {
  const int64_t n = g.planes * g.OH * g.OW;
  if (n == 0) return;
  DeviceGuard guard(out->device);
  dispatch_float(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    avg_pool_kernel<T><<<grid_for(n), kThreads, 0, stream(out->device)>>>(g, window, x->data<T>(), out->data<T>());
  });
  check_launch(name);
}

template <class Window>
static void avg_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx, Window window, const char* name) {
  DeviceGuard guard(gx->device);
  dispatch_float(gy->dtype, [&](auto tag) {
    using T = decltype(tag);
    zero<T>(gx);
    const int64_t n = g.planes * g.OH * g.OW;
    if (n == 0) return;
    avg_pool_backward_kernel<T><<<grid_for(n), kThreads, 0, stream(gx->device)>>>(g, window, gy->data<T>(), gx->data<T>());
    check_launch(name);
  });
}

void avg_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out) { avg_forward(g, x, out, FixedWindow{}, "avg_pool2d"); }
void avg_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx) {
  avg_backward(g, gy, gx, FixedWindow{}, "avg_pool2d_backward");
}
void adaptive_avg_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out) {
  avg_forward(g, x, out, AdaptiveWindow{}, "adaptive_avg_pool2d");
}
void adaptive_avg_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx) {
  avg_backward(g, gy, gx, AdaptiveWindow{}, "adaptive_avg_pool2d_backward");
}

// out[n] samples x[n] at theta[n] (output pixel -> input pixel, 2x3, float64), bilinear, zeros outside.
template <class T>
__global__ void affine_warp_kernel(const T* x, const double* theta, T* out, int64_t N, int64_t C, int64_t H, int64_t W) {
  RT_GRID_LOOP(k, N * C * H * W) {
    const int64_t j = k % W, i = (k / W) % H, p = k / (W * H);
    const double* m = theta + (p / C) * 6;
    const T* src = x + p * H * W;
    const double sx = m[0] * j + m[1] * i + m[2], sy = m[3] * j + m[4] * i + m[5];
    const double fx = floor(sx), fy = floor(sy), ax = sx - fx, ay = sy - fy;
    const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
    auto at = [&](int64_t yy, int64_t xx) -> double {
      return (yy >= 0 && yy < H && xx >= 0 && xx < W) ? static_cast<double>(src[yy * W + xx]) : 0.0;
    };
    out[k] = static_cast<T>((1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) +
                            ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1)));
  }
}

void affine_warp(const Tensor& x, const Tensor& theta, const Tensor& out) {
  const int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3], n = N * C * H * W;
  if (n == 0) return;
  DeviceGuard guard(out->device);
  dispatch_float(x->dtype, [&](auto tag) {
    using T = decltype(tag);
    affine_warp_kernel<T>
        <<<grid_for(n), kThreads, 0, stream(out->device)>>>(x->data<T>(), theta->data<double>(), out->data<T>(), N, C, H, W);
  });
  check_launch("affine_warp");
}

}  // namespace rt::cuda
