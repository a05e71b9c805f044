// The per-position terms of the negative log-likelihood loss (class weights, label smoothing s), one
// definition for the CPU loops and the CUDA kernels, so both compute the same values in the same order.
// logp points at one position's log-probability of class 0; class c's is logp[c * stride]. A null w
// weighs every class 1. The caller has checked 0 <= t < C.
#pragma once
#include <cstdint>

#ifdef __CUDACC__
#define RT_HOST_DEVICE __host__ __device__
#else
#define RT_HOST_DEVICE
#endif

namespace rt {

template <class T>
RT_HOST_DEVICE inline double class_weight(const T* w, int64_t c) {
  return w ? static_cast<double>(w[c]) : 1.0;
}

// loss = -(1 - s) w[t] logp[t] - (s / C) sum_c w[c] logp[c]
template <class T>
RT_HOST_DEVICE inline double nll_term(const T* logp, int64_t stride, int64_t C, int64_t t, const T* w, double s) {
  double v = -(1 - s) * class_weight(w, t) * static_cast<double>(logp[t * stride]);
  if (s > 0) {
    double acc = 0;
    for (int64_t c = 0; c < C; ++c) acc += class_weight(w, c) * static_cast<double>(logp[c * stride]);
    v -= s / static_cast<double>(C) * acc;
  }
  return v;
}

// d loss / d logp[c] times the upstream gradient g, in two parts: the target's (c == t only) and the
// smoothing one (every c, when s > 0). Each is rounded to T before they are added, in this order.
template <class T>
RT_HOST_DEVICE inline T nll_target_grad(const T* w, int64_t t, double s, double g) {
  return static_cast<T>(-(1 - s) * class_weight(w, t) * g);
}
template <class T>
RT_HOST_DEVICE inline T nll_smoothing_grad(const T* w, int64_t c, int64_t C, double s, double g) {
  return static_cast<T>(-s / static_cast<double>(C) * class_weight(w, c) * g);
}

}  // namespace rt
