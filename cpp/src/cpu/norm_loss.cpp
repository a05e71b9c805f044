// Batch normalization (fused forward, closed-form backward) and the NLL loss kernels.
#include <cmath>
#include <vector>

#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace rt::cpu {

// x viewed as [N, C, L]; statistics per channel in double for accuracy.
void batch_norm(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& rmean, const Tensor& rvar, bool training, double momentum,
                double eps, const Tensor& outt, const Tensor& meant, const Tensor& invstdt) {
  const int64_t N = xt->shape[0], C = xt->shape[1], L = xt->numel() / std::max<int64_t>(1, N * C), M = N * L;
  dispatch_float(xt->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = xt->data<T>();
    T* out = outt->data<T>();
    T* mean = meant->data<T>();
    T* invstd = invstdt->data<T>();
    parallel_range(C, 3 * M, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        double mu, var;
        if (training) {
          double s = 0;
          for (int64_t n = 0; n < N; ++n) {
            const T* p = x + (n * C + c) * L;
            for (int64_t l = 0; l < L; ++l) s += p[l];
          }
          mu = s / static_cast<double>(M);
          double q = 0;
          for (int64_t n = 0; n < N; ++n) {
            const T* p = x + (n * C + c) * L;
            for (int64_t l = 0; l < L; ++l) {
              double d = p[l] - mu;
              q += d * d;
            }
          }
          var = q / static_cast<double>(M);
          if (rmean) {
            T* rm = rmean->data<T>();
            T* rv = rvar->data<T>();
            double unbiased = M > 1 ? q / static_cast<double>(M - 1) : var;
            rm[c] = static_cast<T>((1 - momentum) * rm[c] + momentum * mu);
            rv[c] = static_cast<T>((1 - momentum) * rv[c] + momentum * unbiased);
          }
        } else {
          mu = rmean->data<T>()[c];
          var = rvar->data<T>()[c];
        }
        double is = 1.0 / std::sqrt(var + eps);
        mean[c] = static_cast<T>(mu);
        invstd[c] = static_cast<T>(is);
        double scale = (wt ? wt->data<T>()[c] : 1.0) * is;
        double shift = (bt ? bt->data<T>()[c] : 0.0) - mu * scale;
        const T sc = static_cast<T>(scale), sh = static_cast<T>(shift);
        for (int64_t n = 0; n < N; ++n) {
          const T* p = x + (n * C + c) * L;
          T* o = out + (n * C + c) * L;
          for (int64_t l = 0; l < L; ++l) o[l] = p[l] * sc + sh;
        }
      }
    });
  });
}

void batch_norm_backward(const Tensor& xt, const Tensor& gyt, const Tensor& wt, const Tensor& meant, const Tensor& invstdt, bool training,
                         const Tensor& gxt, const Tensor& gwt, const Tensor& gbt) {
  const int64_t N = xt->shape[0], C = xt->shape[1], L = xt->numel() / std::max<int64_t>(1, N * C), M = N * L;
  dispatch_float(xt->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = xt->data<T>();
    const T* gy = gyt->data<T>();
    parallel_range(C, 3 * M, [&](int64_t cb, int64_t ce) {
      for (int64_t c = cb; c < ce; ++c) {
        const double mu = meant->data<T>()[c], is = invstdt->data<T>()[c];
        double sg = 0, sgx = 0;  // sum(gy), sum(gy * xhat)
        for (int64_t n = 0; n < N; ++n) {
          const T* p = x + (n * C + c) * L;
          const T* g = gy + (n * C + c) * L;
          for (int64_t l = 0; l < L; ++l) {
            sg += g[l];
            sgx += g[l] * (p[l] - mu) * is;
          }
        }
        if (gwt) gwt->data<T>()[c] = static_cast<T>(sgx);
        if (gbt) gbt->data<T>()[c] = static_cast<T>(sg);
        if (!gxt) continue;
        const double w = wt ? static_cast<double>(wt->data<T>()[c]) : 1.0;
        T* gx = gxt->data<T>();
        if (training) {
          // gx = w*is/M * (M*gy - sum(gy) - xhat*sum(gy*xhat))
          const double k = w * is / static_cast<double>(M), mg = sg / static_cast<double>(M), mx = sgx / static_cast<double>(M);
          for (int64_t n = 0; n < N; ++n) {
            const T* p = x + (n * C + c) * L;
            const T* g = gy + (n * C + c) * L;
            T* o = gx + (n * C + c) * L;
            for (int64_t l = 0; l < L; ++l) o[l] = static_cast<T>(k * static_cast<double>(M) * (g[l] - mg - (p[l] - mu) * is * mx));
          }
        } else {
          const T k = static_cast<T>(w * is);
          for (int64_t n = 0; n < N; ++n) {
            const T* g = gy + (n * C + c) * L;
            T* o = gx + (n * C + c) * L;
            for (int64_t l = 0; l < L; ++l) o[l] = g[l] * k;
          }
        }
      }
    });
  });
}

// loss_i = -(1-s) w[t] logp[t] - (s/C) sum_c w[c] logp[c]; ignored targets give 0 (and weight 0).
void nll_loss(const Tensor& logpt, const Tensor& target, const Tensor& weight, int64_t ignore_index, double s, const Tensor& losst,
              const Tensor& wtt) {
  const int64_t N = logpt->shape[0], C = logpt->shape[1], L = logpt->numel() / std::max<int64_t>(1, N * C);
  const int64_t* tg = target->data<int64_t>();
  dispatch_float(logpt->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* lp = logpt->data<T>();
    const T* w = weight ? weight->data<T>() : nullptr;
    T* loss = losst->data<T>();
    T* wt = wtt->data<T>();
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = n * L + l, t = tg[i];
        if (t == ignore_index) {
          loss[i] = 0;
          wt[i] = 0;
          continue;
        }
        if (t < 0 || t >= C) fail<IndexError>("nll_loss: target ", t, " is out of bounds for ", C, " classes");
        const T* row = lp + n * C * L + l;
        const double wt_t = w ? static_cast<double>(w[t]) : 1.0;
        double v = -(1 - s) * wt_t * static_cast<double>(row[t * L]);
        if (s > 0) {
          double acc = 0;
          for (int64_t c = 0; c < C; ++c) acc += (w ? static_cast<double>(w[c]) : 1.0) * static_cast<double>(row[c * L]);
          v -= s / static_cast<double>(C) * acc;
        }
        loss[i] = static_cast<T>(v);
        wt[i] = static_cast<T>(wt_t);
      }
  });
}

void nll_loss_backward(const Tensor& gt, const Tensor& target, const Tensor& weight, int64_t ignore_index, double s, const Tensor& gxt) {
  const int64_t N = gxt->shape[0], C = gxt->shape[1], L = gxt->numel() / std::max<int64_t>(1, N * C);
  const int64_t* tg = target->data<int64_t>();
  dispatch_float(gxt->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* g = gt->data<T>();
    const T* w = weight ? weight->data<T>() : nullptr;
    T* gx = gxt->data<T>();
    std::fill(gx, gx + gxt->numel(), T(0));
    for (int64_t n = 0; n < N; ++n)
      for (int64_t l = 0; l < L; ++l) {
        const int64_t i = n * L + l, t = tg[i];
        if (t == ignore_index) continue;
        T* row = gx + n * C * L + l;
        const double gi = g[i];
        row[t * L] += static_cast<T>(-(1 - s) * (w ? w[t] : 1.0) * gi);
        if (s > 0)
          for (int64_t c = 0; c < C; ++c) row[c * L] += static_cast<T>(-s / static_cast<double>(C) * (w ? w[c] : 1.0) * gi);
      }
  });
}

}  // namespace rt::cpu
