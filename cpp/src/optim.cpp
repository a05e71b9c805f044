#include "reticulum/optim.h"

#include <cmath>
#include <limits>

#include "reticulum/ops.h"

namespace rt {

ParamGroupState::ParamGroupState(std::vector<Tensor> params)
    : params_(std::move(params)), state_(params_.size()), steps_(params_.size(), 0) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p) fail<TypeError>("optimizer: parameter ", i, " is None");
    if (!is_floating(p->dtype))
      fail<TypeError>("optimizer: can only optimize floating point tensors, parameter ", i, " is ", dtype_name(p->dtype));
    if (!p->is_leaf())
      fail<ValueError>("optimizer: can't optimize a non-leaf tensor (parameter ", i, " of shape ", shape_str(p->shape), ")");
  }
}

static bool slot_used(OptimKind kind, const OptimHyper& h, int slot) {
  switch (kind) {
    case OptimKind::SGD: return slot == 0 && h.momentum != 0;
    case OptimKind::Adam: return slot < 2 || h.amsgrad;
    case OptimKind::RMSprop: return slot == 0 || (slot == 1 && h.momentum > 0) || (slot == 2 && h.centered);
    case OptimKind::Adagrad: return slot == 0;
    case OptimKind::Adadelta: return slot < 2;
  }
  return false;
}

void ParamGroupState::step(OptimKind kind, const OptimHyper& h, double initial_accumulator) {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p->grad) continue;
    if (!is_floating(p->dtype))  // p.data was rebound to an integer or bool tensor
      fail<TypeError>("optimizer: can only optimize floating point tensors, parameter ", i, " is ", dtype_name(p->dtype));
    if (!p->is_contiguous())
      fail<RuntimeError>("optimizer: parameter ", i, " of shape ", shape_str(p->shape), " is not contiguous");
    Tensor g = p->grad;
    if (g->shape != p->shape)
      fail<RuntimeError>("optimizer: gradient shape ", shape_str(g->shape), " does not match parameter ", shape_str(p->shape));
    if (!g->is_contiguous() || g->dtype != p->dtype) g = contiguous(to_dtype(detach(g), p->dtype));
    bool fresh = false;
    for (int s = 0; s < 3; ++s) {
      Tensor& st = state_[i][s];
      if (st && st->shape != p->shape)
        fail<RuntimeError>("optimizer: parameter ", i, " changed shape to ", shape_str(p->shape), " but its state has shape ",
                           shape_str(st->shape));
      if (st && st->dtype != p->dtype) st = contiguous(to_dtype(st, p->dtype));  // e.g. model.double() mid-training
      if (st && st->device != p->device) st = to_device(st, p->device);         // or model.to(device)
      if (!slot_used(kind, h, s) || st) continue;
      fresh = true;
      double init = (kind == OptimKind::Adagrad) ? initial_accumulator : 0.0;
      state_[i][s] = full(p->shape, init, p->dtype, p->device);
    }
    ++steps_[i];
    const Tensor& s0 = slot_used(kind, h, 0) ? state_[i][0] : Tensor{};
    const Tensor& s1 = slot_used(kind, h, 1) ? state_[i][1] : Tensor{};
    const Tensor& s2 = slot_used(kind, h, 2) ? state_[i][2] : Tensor{};
    // SGD's momentum buffer starts as the first gradient: the kernel sees step 1 exactly when the buffer is new.
    int64_t step = kind == OptimKind::SGD ? (fresh ? 1 : 2) : steps_[i];
    backend(p).optim_update(kind, h, step, p, g, s0, s1, s2);
    ++p->storage->version;
  }
}

void ParamGroupState::zero_grad(bool set_to_none) {
  for (auto& p : params_) {
    if (!p->grad) continue;
    if (set_to_none) p->grad.reset();
    else backend(p->grad).fill(p->grad, 0.0);
  }
}

Tensor ParamGroupState::get_state(size_t i, int slot) const { return state_.at(i).at(slot); }

void ParamGroupState::set_state(size_t i, int slot, const Tensor& t) {
  const Tensor& p = params_.at(i);
  if (t && t->shape != p->shape)
    fail<ValueError>("optimizer load_state_dict: state of shape ", shape_str(t->shape), " does not match parameter ", i,
                     " of shape ", shape_str(p->shape));
  state_.at(i).at(slot) = t ? contiguous(to_dtype(to_device(clone(detach(t)), p->device), p->dtype))
                            : Tensor{};  // PyTorch moves state to the parameter
}

// Runs an in-place update of p's gradient with kernels that need one dense buffer. A gradient
// without one (only reachable by rebinding p.grad.data) is refused when its elements share memory,
// as PyTorch refuses, and otherwise updated through a contiguous copy.
template <class Update>
static void update_grad(const Tensor& p, const char* op, Update&& update) {
  const Tensor& g = p->grad;
  check_no_internal_overlap(g, op);
  if (g->is_contiguous()) {
    update(g);
    return;
  }
  Tensor dense = clone(detach(g));
  update(dense);
  backend(g).copy(dense, g);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  GradModeGuard no_grad(false);
  double total = 0;
  const bool inf_norm = std::isinf(norm_type);
  for (auto& p : params) {
    if (!p->grad) continue;
    Tensor a = to_dtype(abs(p->grad), DType::Float64);
    if (a->numel() == 0) continue;
    if (inf_norm) {
      const double m = item_double(max_all(a));
      total = (m > total || m != m) ? m : total;  // NaN propagates
    } else total += item_double(sum(pow_scalar(a, norm_type), {}, false));
  }
  if (!inf_norm) total = std::pow(total, 1.0 / norm_type);
  if (error_if_nonfinite && !std::isfinite(total))
    fail<RuntimeError>("clip_grad_norm_: the total norm of order ", norm_type,
                       " of the gradients is non-finite, so it cannot be clipped");
  const double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1))  // a NaN norm makes every gradient NaN, as in PyTorch
    for (auto& p : params)
      if (p->grad)
        update_grad(p, "clip_grad_norm_", [coef](const Tensor& g) {
          backend(g).binary(BinaryOp::Mul, g,
                            make_view(scalar_tensor(coef, g->dtype, g->device), g->shape, Shape(g->ndim(), 0), 0), g);
        });
  return total;
}

void clip_grad_value(const std::vector<Tensor>& params, double clip_value) {
  GradModeGuard no_grad(false);
  for (auto& p : params)
    if (p->grad)
      update_grad(p, "clip_grad_value_",
                  [clip_value](const Tensor& g) { backend(g).unary(UnaryOp::Clamp, g, g, {-clip_value, clip_value}); });
}

}  // namespace rt
