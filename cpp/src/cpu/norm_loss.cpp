// Batch normalization (fused forward, closed-form backward) and the NLL loss kernels.
#include <cmath>
#include <vector>

#include "cpu/float_loops.h"
#include "cpu/kernels.h"
#include "cpu/strided.h"
#include "reticulum/loss_formulas.h"

namespace rt::cpu {

// Per-channel statistics of x viewed as [N, C, L]: each (n, c) row is reduced by the per-level
// loops (float_loops.h) and rows are combined in double. For L == 1 ([N, C] inputs) rows have one
// element, so the loops run over channels instead (vectorized across C).
template <class T>
static void channel_stats(const T* x, int64_t N, int64_t C, int64_t L, int64_t c0, int64_t c1, std::vector<double>& mean,
                          std::vector<double>& var) {
  const double M = static_cast<double>(N * L);
  if (L == 1) {
    std::vector<double> s(C, 0.0), q(C, 0.0);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = c0; c < c1; ++c) s[c] += x[n * C + c];
    for (int64_t c = c0; c < c1; ++c) mean[c] = s[c] / M;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = c0; c < c1; ++c) {
        const double d = x[n * C + c] - mean[c];
        q[c] += d * d;
      }
    for (int64_t c = c0; c < c1; ++c) var[c] = q[c] / M;
    return;
  }
  const VecLoops<T>& loops = vec_loops<T>();
  for (int64_t c = c0; c < c1; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) s += loops.sum(x + (n * C + c) * L, L);
    const double mu = s / M;
    double q = 0;
    for (int64_t n = 0; n < N; ++n) q += loops.centered_square_sum(x + (n * C + c) * L, L, static_cast<T>(mu));
    mean[c] = mu;
    var[c] = q / M;
  }
}

void batch_norm(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& rmean, const Tensor& rvar, bool training,
                double momentum, double eps, const Tensor& outt, const Tensor& meant, const Tensor& invstdt) {
  const int64_t N = xt->shape[0], C = xt->shape[1], L = xt->numel() / std::max<int64_t>(1, N * C), M = N * L;
  dispatch_float(xt->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = xt->data<T>();
    T* out = outt->data<T>();
    std::vector<double> mean(C), var(C);
    if (training) {
      parallel_range(C, 2 * M, [&](int64_t c0, int64_t c1) { channel_stats(x, N, C, L, c0, c1, mean, var); });
    } else {
      for (int64_t c = 0; c < C; ++c) {
        mean[c] = rmean->data<T>()[c];
        var[c] = rvar->data<T>()[c];
      }
    }
    std::vector<T> scale(C), shift(C);
    for (int64_t c = 0; c < C; ++c) {
      const double is = 1.0 / std::sqrt(var[c] + eps);
      meant->data<T>()[c] = static_cast<T>(mean[c]);
      invstdt->data<T>()[c] = static_cast<T>(is);
      const double sc = (wt ? wt->data<T>()[c] : 1.0) * is;
      scale[c] = static_cast<T>(sc);
      shift[c] = static_cast<T>((bt ? bt->data<T>()[c] : 0.0) - mean[c] * sc);
      if (training && rmean) {  // running stats use the unbiased variance, as PyTorch
        T* rm = rmean->data<T>();
        T* rv = rvar->data<T>();
        const double unbiased = M > 1 ? var[c] * M / static_cast<double>(M - 1) : var[c];
        rm[c] = static_cast<T>((1 - momentum) * rm[c] + momentum * mean[c]);
        rv[c] = static_cast<T>((1 - momentum) * rv[c] + momentum * unbiased);
      }
    }
    const VecLoops<T>& loops = vec_loops<T>();
    parallel_range(N * C, L, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) loops.scale_shift(x + r * L, out + r * L, L, scale[r % C], shift[r % C]);
    });
  });
}

void batch_norm_backward(const Tensor& xt, const Tensor& gyt, const Tensor& wt, const Tensor& meant, const Tensor& invstdt,
                         bool training, const Tensor& gxt, const Tensor& gwt, const Tensor& gbt) {
  const int64_t N = xt->shape[0], C = xt->shape[1], L = xt->numel() / std::max<int64_t>(1, N * C), M = N * L;
  dispatch_float(xt->dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = xt->data<T>();
    const T* gy = gyt->data<T>();
    const T* mean = meant->data<T>();
    const T* invstd = invstdt->data<T>();
    const VecLoops<T>& loops = vec_loops<T>();
    std::vector<double> sg(C, 0.0), sgx(C, 0.0);  // sum(gy), sum(gy * xhat)
    parallel_range(C, 2 * M, [&](int64_t c0, int64_t c1) {
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t r = (n * C + c) * L;
          sg[c] += loops.sum(gy + r, L);
          sgx[c] += loops.centered_dot(gy + r, x + r, L, mean[c]) * invstd[c];
        }
    });
    for (int64_t c = 0; c < C; ++c) {
      if (gwt) gwt->data<T>()[c] = static_cast<T>(sgx[c]);
      if (gbt) gbt->data<T>()[c] = static_cast<T>(sg[c]);
    }
    if (!gxt) return;
    T* gx = gxt->data<T>();
    // training: gx = w*is * (gy - mean(gy) - xhat * mean(gy*xhat)); eval: gx = w*is * gy
    std::vector<T> k(C), a(C), b(C);
    for (int64_t c = 0; c < C; ++c) {
      const double w = wt ? static_cast<double>(wt->data<T>()[c]) : 1.0, is = invstd[c];
      k[c] = static_cast<T>(w * is);
      a[c] = training ? static_cast<T>(sg[c] / M) : T(0);
      b[c] = training ? static_cast<T>(sgx[c] / M * is) : T(0);
    }
    parallel_range(N * C, 2 * L, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % C;
        loops.norm_backward(gy + r * L, x + r * L, gx + r * L, L, k[c], a[c], mean[c], b[c]);
      }
    });
  });
}

// loss_i: nll_term (reticulum/loss_formulas.h); ignored targets give 0 (and weight 0).
void nll_loss(const Tensor& logpt, const Tensor& target, const Tensor& weight, int64_t ignore_index, double s,
              const Tensor& losst, const Tensor& wtt) {
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
        loss[i] = static_cast<T>(nll_term(lp + n * C * L + l, L, C, t, w, s));
        wt[i] = static_cast<T>(class_weight(w, t));
      }
  });
}

void nll_loss_backward(const Tensor& gt, const Tensor& target, const Tensor& weight, int64_t ignore_index, double s,
                       const Tensor& gxt) {
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
        row[t * L] += nll_target_grad(w, t, s, gi);
        if (s > 0)
          for (int64_t c = 0; c < C; ++c) row[c * L] += nll_smoothing_grad(w, c, C, s, gi);
      }
  });
}

}  // namespace rt::cpu
