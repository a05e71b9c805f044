// The bilinear affine warp of data augmentation (ops/image.cpp), threaded over image planes.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace rt::cpu {

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
            auto at = [&](int64_t yy, int64_t xx) -> double {
              return (yy >= 0 && yy < H && xx >= 0 && xx < W) ? src[yy * W + xx] : 0.0;
            };
            dst[i * W + j] = static_cast<T>((1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) +
                                            ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1)));
          }
      }
    });
  });
}

}  // namespace rt::cpu
