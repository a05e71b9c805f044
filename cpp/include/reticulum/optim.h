// Fused optimizer state for one parameter group: one call updates every parameter.
#pragma once
#include <array>

#include "reticulum/backend.h"

namespace rt {

// State slots per optimizer:
//   SGD: 0 momentum_buffer | Adam/AdamW: 0 exp_avg, 1 exp_avg_sq, 2 max_exp_avg_sq (amsgrad)
//   RMSprop: 0 square_avg, 1 momentum_buffer, 2 grad_avg (centered) | Adagrad: 0 sum
//   Adadelta: 0 square_avg, 1 acc_delta
class ParamGroupState {
 public:
  explicit ParamGroupState(std::vector<Tensor> params);
  // Updates every parameter that has a gradient; creates state on first use.
  void step(OptimKind kind, const OptimHyper& h, double initial_accumulator = 0.0);
  void zero_grad(bool set_to_none);
  const std::vector<Tensor>& params() const { return params_; }
  Tensor get_state(size_t i, int slot) const;
  void set_state(size_t i, int slot, const Tensor& t);
  int64_t get_step(size_t i) const { return steps_.at(i); }
  void set_step(size_t i, int64_t s) { steps_.at(i) = s; }

 private:
  std::vector<Tensor> params_;
  std::vector<std::array<Tensor, 3>> state_;
  std::vector<int64_t> steps_;
};

// Scales all gradients so their joint norm is at most max_norm; returns the norm before clipping.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite);
void clip_grad_value(const std::vector<Tensor>& params, double clip_value);

}  // namespace rt
