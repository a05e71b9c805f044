// CUDA batch normalization (one block per channel for the statistics, then one thread per element)
// and the NLL loss kernels (one thread per (n, l) position, which owns its column of C classes).
// Formulas are the CPU kernels' (cpp/src/cpu/norm_loss.cpp); sums are accumulated in double.
#include <cmath>

#include "allocator.h"
#include "block_reduce.cuh"
#include "kernels.h"
#include "reticulum/loss_formulas.h"

namespace rt::cuda {

// Per channel c: mean/invstd outputs, the running stats update, and scale/shift for the apply pass.
template <class T>
__global__ void bn_stats_kernel(const T* x, const T* w, const T* b, T* rmean, T* rvar, bool training, double momentum, double eps,
                                int64_t N, int64_t C, int64_t L, T* mean_out, T* invstd_out, T* scale, T* shift) {
  const int64_t c = blockIdx.x, M = N * L;
  double mean, var;
  if (training) {
    double s = 0;
    for (int64_t m = threadIdx.x; m < M; m += blockDim.x) s += x[((m / L) * C + c) * L + m % L];
    mean = block_reduce(s, SumOp{}) / static_cast<double>(M);
    double q = 0;
    for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
      const double d = x[((m / L) * C + c) * L + m % L] - mean;
      q += d * d;
    }
    var = block_reduce(q, SumOp{}) / static_cast<double>(M);
  } else {
    mean = rmean[c];
    var = rvar[c];
  }
  if (threadIdx.x != 0) return;
  const double is = 1.0 / sqrt(var + eps);
  mean_out[c] = static_cast<T>(mean);
  invstd_out[c] = static_cast<T>(is);
  const double sc = (w ? static_cast<double>(w[c]) : 1.0) * is;
  scale[c] = static_cast<T>(sc);
  shift[c] = static_cast<T>((b ? static_cast<double>(b[c]) : 0.0) - mean * sc);
  if (training && rmean) {  // running stats use the unbiased variance, as PyTorch
    const double unbiased = M > 1 ? var * M / static_cast<double>(M - 1) : var;
    rmean[c] = static_cast<T>((1 - momentum) * rmean[c] + momentum * mean);
    rvar[c] = static_cast<T>((1 - momentum) * rvar[c] + momentum * unbiased);
  }
}

template <class T>
__global__ void bn_apply_kernel(const T* x, const T* scale, const T* shift, T* out, int64_t n, int64_t C, int64_t L) {
  RT_GRID_LOOP(k, n) {
    const int64_t c = (k / L) % C;
    out[k] = x[k] * scale[c] + shift[c];
  }
}

template <class T>
static T* ptr(const Tensor& t) {
  return t ? t->data<T>() : nullptr;
}

void batch_norm(const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& rmean, const Tensor& rvar, bool training,
                double momentum, double eps, const Tensor& outt, const Tensor& meant, const Tensor& invstdt) {
  const int64_t N = xt->shape[0], C = xt->shape[1], L = xt->numel() / std::max<int64_t>(1, N * C);
  if (C == 0) return;
  DeviceGuard guard(outt->device);
  cudaStream_t s = stream(outt->device);
  dispatch_float(xt->dtype, [&](auto tag) {
    using T = decltype(tag);
    Scratch coeffs(outt->device, 2 * C * sizeof(T));  // scale, shift
    T* scale = static_cast<T*>(coeffs.get());
    bn_stats_kernel<T><<<static_cast<unsigned>(C), kThreads, 0, s>>>(xt->data<T>(), ptr<T>(wt), ptr<T>(bt), ptr<T>(rmean),
                                                                     ptr<T>(rvar), training, momentum, eps, N, C, L,
                                                                     meant->data<T>(), invstdt->data<T>(), scale, scale + C);
    check_launch("batch_norm");
    const int64_t n = xt->numel();
    if (n == 0) return;
    bn_apply_kernel<T><<<grid_for(n), kThreads, 0, s>>>(xt->data<T>(), scale, scale + C, outt->data<T>(), n, C, L);
    check_launch("batch_norm");
  });
}

// Per channel c: gw = sum(gy * xhat), gb = sum(gy), and the coefficients of gx = k * (gy - a - (x - mean) * b).
template <class T>
__global__ void bn_backward_stats_kernel(const T* x, const T* gy, const T* w, const T* mean, const T* invstd, bool training,
                                         int64_t N, int64_t C, int64_t L, T* gw, T* gb, T* k_, T* a_, T* b_) {
  const int64_t c = blockIdx.x, M = N * L;
  const double mu = mean[c], is = invstd[c];
  double sg = 0, sgx = 0;
  for (int64_t m = threadIdx.x; m < M; m += blockDim.x) {
    const int64_t q = ((m / L) * C + c) * L + m % L;
    sg += gy[q];
    sgx += static_cast<double>(gy[q]) * (static_cast<double>(x[q]) - mu);
  }
  sg = block_reduce(sg, SumOp{});
  sgx = block_reduce(sgx, SumOp{}) * is;
  if (threadIdx.x != 0) return;
  if (gw) gw[c] = static_cast<T>(sgx);
  if (gb) gb[c] = static_cast<T>(sg);
  const double wc = w ? static_cast<double>(w[c]) : 1.0;
  k_[c] = static_cast<T>(wc * is);
  a_[c] = training ? static_cast<T>(sg / M) : T(0);
  b_[c] = training ? static_cast<T>(sgx / M * is) : T(0);
}

template <class T>
__global__ void bn_backward_apply_kernel(const T* x, const T* gy, const T* mean, const T* k_, const T* a_, const T* b_, T* gx,
                                         int64_t n, int64_t C, int64_t L) {
  RT_GRID_LOOP(q, n) {
    const int64_t c = (q / L) % C;
    gx[q] = k_[c] * (gy[q] - a_[c] - (x[q] - mean[c]) * b_[c]);
  }
}

void batch_norm_backward(const Tensor& xt, const Tensor& gyt, const Tensor& wt, const Tensor& meant, const Tensor& invstdt,
                         bool training, const Tensor& gxt, const Tensor& gwt, const Tensor& gbt) {
  const int64_t N = xt->shape[0], C = xt->shape[1], L = xt->numel() / std::max<int64_t>(1, N * C);
  if (C == 0) return;
  DeviceGuard guard(xt->device);
  cudaStream_t s = stream(xt->device);
  dispatch_float(xt->dtype, [&](auto tag) {
    using T = decltype(tag);
    Scratch coeffs(xt->device, 3 * C * sizeof(T));  // k, a, b
    T* k = static_cast<T*>(coeffs.get());
    bn_backward_stats_kernel<T><<<static_cast<unsigned>(C), kThreads, 0, s>>>(
        xt->data<T>(), gyt->data<T>(), ptr<T>(wt), meant->data<T>(), invstdt->data<T>(), training, N, C, L, ptr<T>(gwt),
        ptr<T>(gbt), k, k + C, k + 2 * C);
    check_launch("batch_norm_backward");
    const int64_t n = xt->numel();
    if (!gxt || n == 0) return;
    bn_backward_apply_kernel<T><<<grid_for(n), kThreads, 0, s>>>(xt->data<T>(), gyt->data<T>(), meant->data<T>(), k, k + C,
                                                                 k + 2 * C, gxt->data<T>(), n, C, L);
    check_launch("batch_norm_backward");
  });
}

// loss_i: nll_term (reticulum/loss_formulas.h); ignored targets give 0 (and weight 0).
// Op code has checked every other target is in [0, C); one that is not gives NaN, never a wild read.
template <class T>
__global__ void nll_kernel(const T* lp, const int64_t* tg, const T* w, int64_t ignore_index, double s, int64_t N, int64_t C,
                           int64_t L, T* loss, T* wt) {
  RT_GRID_LOOP(i, N * L) {
    const int64_t n = i / L, l = i % L, t = tg[i];
    if (t == ignore_index || t < 0 || t >= C) {
      loss[i] = t == ignore_index ? T(0) : T(NAN);
      wt[i] = 0;
      continue;
    }
    loss[i] = static_cast<T>(nll_term(lp + n * C * L + l, L, C, t, w, s));
    wt[i] = static_cast<T>(class_weight(w, t));
  }
}

void nll_loss(const Tensor& logpt, const Tensor& target, const Tensor& weight, int64_t ignore_index, double s,
              const Tensor& losst, const Tensor& wtt) {
  const int64_t N = logpt->shape[0], C = logpt->shape[1], L = logpt->numel() / std::max<int64_t>(1, N * C);
  if (N * L == 0) return;
  DeviceGuard guard(losst->device);
  dispatch_float(logpt->dtype, [&](auto tag) {
    using T = decltype(tag);
    nll_kernel<T><<<grid_for(N * L), kThreads, 0, stream(losst->device)>>>(
        logpt->data<T>(), target->data<int64_t>(), ptr<T>(weight), ignore_index, s, N, C, L, losst->data<T>(), wtt->data<T>());
  });
  check_launch("nll_loss");
}

template <class T>
__global__ void nll_backward_kernel(const T* g, const int64_t* tg, const T* w, int64_t ignore_index, double s, int64_t N,
                                    int64_t C, int64_t L, T* gx) {
  RT_GRID_LOOP(i, N * L) {
    const int64_t n = i / L, l = i % L, t = tg[i];
    T* row = gx + n * C * L + l;
    const bool skip = t == ignore_index || t < 0 || t >= C;
    const double gi = g[i];
    for (int64_t c = 0; c < C; ++c) {
      T v = 0;  // the CPU's order: zero, plus the target term, plus the smoothing term
      if (!skip && c == t) v += nll_target_grad(w, t, s, gi);
      if (!skip && s > 0) v += nll_smoothing_grad(w, c, C, s, gi);
      row[c * L] = v;
    }
  }
}

void nll_loss_backward(const Tensor& gt, const Tensor& target, const Tensor& weight, int64_t ignore_index, double s,
                       const Tensor& gxt) {
  const int64_t N = gxt->shape[0], C = gxt->shape[1], L = gxt->numel() / std::max<int64_t>(1, N * C);
  if (N * L == 0) return;
  DeviceGuard guard(gxt->device);
  dispatch_float(gxt->dtype, [&](auto tag) {
    using T = decltype(tag);
    nll_backward_kernel<T><<<grid_for(N * L), kThreads, 0, stream(gxt->device)>>>(
        gt->data<T>(), target->data<int64_t>(), ptr<T>(weight), ignore_index, s, N, C, L, gxt->data<T>());
  });
  check_launch("nll_loss_backward");
}

}  // namespace rt::cuda
