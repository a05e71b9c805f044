// Fused optimizer updates: one thread per parameter element updates it and its state in place,
// with the formulas of cpp/src/cpu/optim.cpp (PyTorch's torch.optim).
#include <cmath>

#include "kernels.h"
#include "launch.cuh"

namespace rt::cuda {

// The per-step constants, computed on the host in double exactly as the CPU kernel does.
template <class T>
struct StepConsts {
  T lr, wd, sign, mom, damp, b1, b2, eps, step_size, inv_sqrt_bc2, decay, alpha, clr, rho;
};

template <class T>
__global__ void optim_kernel(OptimKind kind, StepConsts<T> k, bool first, bool nesterov, bool decoupled, int64_t n, T* p,
                             const T* gr, T* s0, T* s1, T* s2) {
  RT_GRID_LOOP(i, n) {
    switch (kind) {
      case OptimKind::SGD: {
        const T d = k.sign * gr[i] + k.wd * p[i];
        if (!s0) {
          p[i] -= k.lr * d;
        } else if (first) {  // the buffer starts as the first gradient
          s0[i] = d;
          p[i] -= k.lr * (nesterov ? d + k.mom * d : d);
        } else {
          const T v = k.mom * s0[i] + k.damp * d;
          s0[i] = v;
          p[i] -= k.lr * (nesterov ? d + k.mom * v : v);
        }
        break;
      }
      case OptimKind::Adam: {
        T g = k.sign * gr[i];
        if (decoupled) p[i] *= k.decay;  // AdamW
        else g += k.wd * p[i];
        s0[i] = k.b1 * s0[i] + (1 - k.b1) * g;
        s1[i] = k.b2 * s1[i] + (1 - k.b2) * g * g;
        T v = s1[i];
        if (s2) v = s2[i] = s2[i] < s1[i] ? s1[i] : s2[i];  // std::max's rule (a NaN s1 is not taken)
        p[i] -= k.step_size * s0[i] / (sqrt(v) * k.inv_sqrt_bc2 + k.eps);
        break;
      }
      case OptimKind::RMSprop: {
        const T g = k.sign * gr[i] + k.wd * p[i];
        s0[i] = k.alpha * s0[i] + (1 - k.alpha) * g * g;  // square_avg
        T avg;
        if (s2) {  // centered: subtract the squared mean gradient
          s2[i] = k.alpha * s2[i] + (1 - k.alpha) * g;
          avg = sqrt(s0[i] - s2[i] * s2[i]) + k.eps;
        } else {
          avg = sqrt(s0[i]) + k.eps;
        }
        if (s1) {
          s1[i] = k.mom * s1[i] + g / avg;
          p[i] -= k.lr * s1[i];
        } else {
          p[i] -= k.lr * g / avg;
        }
        break;
      }
      case OptimKind::Adagrad: {
        const T g = k.sign * gr[i] + k.wd * p[i];
        s0[i] += g * g;
        p[i] -= k.clr * g / (sqrt(s0[i]) + k.eps);
        break;
      }
      case OptimKind::Adadelta: {  // PyTorch's order of operations, as the CPU kernel
        const T g = k.sign * gr[i] + k.wd * p[i];
        s0[i] = s0[i] * k.rho + (1 - k.rho) * g * g;
        const T delta = sqrt(s1[i] + k.eps) / sqrt(s0[i] + k.eps) * g;
        s1[i] = s1[i] * k.rho + (1 - k.rho) * delta * delta;
        p[i] -= k.lr * delta;
        break;
      }
    }
  }
}

void optim_update(OptimKind kind, const OptimHyper& h, int64_t step, const Tensor& p, const Tensor& g, const Tensor& s0,
                  const Tensor& s1, const Tensor& s2) {
  const int64_t n = p->numel();
  if (n == 0) return;
  DeviceGuard guard(p->device);
  dispatch_float(p->dtype, [&](auto tag) {
    using T = decltype(tag);
    const double bc1 = 1 - std::pow(h.beta1, static_cast<double>(step)), bc2 = 1 - std::pow(h.beta2, static_cast<double>(step));
    const StepConsts<T> k{static_cast<T>(h.lr),
                          static_cast<T>(h.weight_decay),
                          h.maximize ? T(-1) : T(1),
                          static_cast<T>(h.momentum),
                          static_cast<T>(1 - h.dampening),
                          static_cast<T>(h.beta1),
                          static_cast<T>(h.beta2),
                          static_cast<T>(h.eps),
                          static_cast<T>(h.lr / bc1),
                          static_cast<T>(1.0 / std::sqrt(bc2)),
                          static_cast<T>(1 - h.lr * h.weight_decay),
                          static_cast<T>(h.alpha),
                          static_cast<T>(h.lr / (1 + static_cast<double>(step - 1) * h.lr_decay)),
                          static_cast<T>(h.rho)};
    auto ptr = [](const Tensor& t) { return t ? t->data<T>() : static_cast<T*>(nullptr); };
    optim_kernel<T><<<grid_for(n), kThreads, 0, stream(p->device)>>>(kind, k, step == 1, h.nesterov, h.decoupled, n, p->data<T>(),
                                                                     g->data<T>(), ptr(s0), ptr(s1), ptr(s2));
  });
  check_launch("optim_update");
}

}  // namespace rt::cuda
