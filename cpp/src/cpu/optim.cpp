// Optimizer updates: one pass over a parameter and its state, in place, split over threads. The
// update formulas are in float_loops.inc (compiled per kernel level); they follow PyTorch's
// torch.optim (bias-corrected Adam moments; AdamW decays the weights before the update), not the
// textbook pseudocode, which omits the bias correction.
#include "cpu/float_loops.h"
#include "cpu/kernels.h"
#include "cpu/strided.h"

namespace rt::cpu {

void optim_update(OptimKind kind, const OptimHyper& h, int64_t step, const Tensor& p, const Tensor& g, const Tensor& s0,
                  const Tensor& s1, const Tensor& s2) {
  dispatch_float(p->dtype, [&](auto tag) {
    using T = decltype(tag);
    auto ptr = [](const Tensor& t) { return t ? t->data<T>() : static_cast<T*>(nullptr); };
    T *pp = p->data<T>(), *a = ptr(s0), *b = ptr(s1), *c = ptr(s2);
    const T* gp = g->data<T>();
    const VecLoops<T>& loops = vec_loops<T>();
    parallel_range(p->numel(), 8, [&](int64_t lo, int64_t hi) { loops.optim_update(kind, h, step, pp, gp, a, b, c, lo, hi); });
  });
}

}  // namespace rt::cpu
