// Optimizer updates: one pass over a parameter and its state, in place.
// Formulas follow PyTorch's torch.optim (bias-corrected Adam moments; AdamW decays the weights
// before the update), not the textbook pseudocode, which omits the bias correction.
#include <cmath>

#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace rt::cpu {

template <class T>
static void update(OptimKind kind, const OptimHyper& h, int64_t step, T* p, const T* gr, T* s0, T* s1, T* s2, int64_t b, int64_t e) {
  const T lr = static_cast<T>(h.lr), wd = static_cast<T>(h.weight_decay), sign = h.maximize ? T(-1) : T(1);
  switch (kind) {
    case OptimKind::SGD: {
      // Branches hoisted out of the loops so each one vectorizes.
      const T mom = static_cast<T>(h.momentum), damp = static_cast<T>(1 - h.dampening);
      if (!s0) {
        for (int64_t i = b; i < e; ++i) p[i] -= lr * (sign * gr[i] + wd * p[i]);
      } else if (step == 1) {  // the buffer starts as the first gradient
        if (h.nesterov)
          for (int64_t i = b; i < e; ++i) {
            const T d = sign * gr[i] + wd * p[i];
            s0[i] = d;
            p[i] -= lr * (d + mom * d);
          }
        else
          for (int64_t i = b; i < e; ++i) {
            const T d = sign * gr[i] + wd * p[i];
            s0[i] = d;
            p[i] -= lr * d;
          }
      } else if (h.nesterov) {
        for (int64_t i = b; i < e; ++i) {
          const T d = sign * gr[i] + wd * p[i];
          const T v = mom * s0[i] + damp * d;
          s0[i] = v;
          p[i] -= lr * (d + mom * v);
        }
      } else {
        for (int64_t i = b; i < e; ++i) {
          const T v = mom * s0[i] + damp * (sign * gr[i] + wd * p[i]);
          s0[i] = v;
          p[i] -= lr * v;
        }
      }
      break;
    }
    case OptimKind::Adam: {
      const T b1 = static_cast<T>(h.beta1), b2 = static_cast<T>(h.beta2), eps = static_cast<T>(h.eps);
      const double bc1 = 1 - std::pow(h.beta1, static_cast<double>(step)), bc2 = 1 - std::pow(h.beta2, static_cast<double>(step));
      const T step_size = static_cast<T>(h.lr / bc1), inv_sqrt_bc2 = static_cast<T>(1.0 / std::sqrt(bc2));
      const T decay = static_cast<T>(1 - h.lr * h.weight_decay);
      for (int64_t i = b; i < e; ++i) {
        T g = sign * gr[i];
        if (h.decoupled) p[i] *= decay;  // AdamW
        else g += wd * p[i];
        s0[i] = b1 * s0[i] + (1 - b1) * g;
        s1[i] = b2 * s1[i] + (1 - b2) * g * g;
        T v = s1[i];
        if (s2) v = s2[i] = std::max(s2[i], s1[i]);
        p[i] -= step_size * s0[i] / (std::sqrt(v) * inv_sqrt_bc2 + eps);
      }
      break;
    }
    case OptimKind::RMSprop: {
      const T a = static_cast<T>(h.alpha), eps = static_cast<T>(h.eps), mom = static_cast<T>(h.momentum);
      for (int64_t i = b; i < e; ++i) {
        T g = sign * gr[i] + wd * p[i];
        s0[i] = a * s0[i] + (1 - a) * g * g;  // square_avg
        T avg;
        if (s2) {  // centered: subtract the squared mean gradient
          s2[i] = a * s2[i] + (1 - a) * g;
          avg = std::sqrt(s0[i] - s2[i] * s2[i]) + eps;
        } else {
          avg = std::sqrt(s0[i]) + eps;
        }
        if (s1) {
          s1[i] = mom * s1[i] + g / avg;
          p[i] -= lr * s1[i];
        } else {
          p[i] -= lr * g / avg;
        }
      }
      break;
    }
    case OptimKind::Adagrad: {
      const T clr = static_cast<T>(h.lr / (1 + static_cast<double>(step - 1) * h.lr_decay)), eps = static_cast<T>(h.eps);
      for (int64_t i = b; i < e; ++i) {
        T g = sign * gr[i] + wd * p[i];
        s0[i] += g * g;
        p[i] -= clr * g / (std::sqrt(s0[i]) + eps);
      }
      break;
    }
    case OptimKind::Adadelta: {
      // delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g, with PyTorch's order of operations.
      const T rho = static_cast<T>(h.rho), one_minus_rho = static_cast<T>(1 - h.rho), eps = static_cast<T>(h.eps);
      for (int64_t i = b; i < e; ++i) {
        const T g = sign * gr[i] + wd * p[i];
        s0[i] = s0[i] * rho + one_minus_rho * g * g;
        const T delta = std::sqrt(s1[i] + eps) / std::sqrt(s0[i] + eps) * g;
        s1[i] = s1[i] * rho + one_minus_rho * delta * delta;
        p[i] -= lr * delta;
      }
      break;
    }
  }
}

void optim_update(OptimKind kind, const OptimHyper& h, int64_t step, const Tensor& p, const Tensor& g, const Tensor& s0, const Tensor& s1,
                  const Tensor& s2) {
  dispatch_float(p->dtype, [&](auto tag) {
    using T = decltype(tag);
    auto ptr = [](const Tensor& t) { return t ? t->data<T>() : static_cast<T*>(nullptr); };
    T *pp = p->data<T>(), *a = ptr(s0), *b = ptr(s1), *c = ptr(s2);
    const T* gp = g->data<T>();
    parallel_range(p->numel(), 8, [&](int64_t lo, int64_t hi) { update<T>(kind, h, step, pp, gp, a, b, c, lo, hi); });
  });
}

}  // namespace rt::cpu
