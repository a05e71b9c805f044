// Batch normalization: per-channel batch statistics in training, running statistics in eval.
#include "reticulum/nn_ops.h"

namespace rt {

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  if (x->ndim() < 2) fail<ValueError>("batch_norm: expected an input of shape [N, C] or [N, C, *], got ", shape_str(x->shape));
  if (!is_floating(x->dtype)) fail<TypeError>("batch_norm: expected a floating point input, got ", dtype_name(x->dtype));
  const int64_t C = x->shape[1];
  for (auto* t : {&running_mean, &running_var, &weight, &bias})
    if (*t && ((*t)->ndim() != 1 || (*t)->shape[0] != C))
      fail<ValueError>("batch_norm: running stats, weight and bias must have shape [", C, "] for input ", shape_str(x->shape),
                       ", got ", shape_str((*t)->shape));
  if (static_cast<bool>(running_mean) != static_cast<bool>(running_var))
    fail<ValueError>("batch_norm: running_mean and running_var must both be given or both be None");
  if (!training && !running_mean) fail<ValueError>("batch_norm: running_mean and running_var are required in eval mode");
  if (training && x->numel() / std::max<int64_t>(C, 1) <= 1)
    fail<ValueError>("batch_norm: expected more than 1 value per channel when training, got input of shape ",
                     shape_str(x->shape));
  if (eps <= 0) fail<ValueError>("batch_norm: eps must be positive, got ", eps);
  Tensor xc = contiguous(detach(x));
  auto as_dt = [&](const Tensor& t) { return t ? contiguous(to_dtype(detach(t), x->dtype)) : Tensor{}; };
  Tensor wd = as_dt(weight), bd = as_dt(bias);
  if (running_mean && (running_mean->dtype != x->dtype || !running_mean->is_contiguous() || running_var->dtype != x->dtype ||
                       !running_var->is_contiguous()))
    fail<TypeError>("batch_norm: running stats must be contiguous and of the input's dtype (", dtype_name(x->dtype), ")");
  check_same_device("batch_norm", x, weight, bias, running_mean, running_var);
  Tensor out = empty(x->shape, x->dtype, x->device), mean = empty({C}, x->dtype, x->device),
         invstd = empty({C}, x->dtype, x->device);
  backend(x).batch_norm(xc, wd, bd, running_mean, running_var, training, momentum, eps, out, mean, invstd);
  if (training && running_mean) {
    ++running_mean->storage->version;
    ++running_var->storage->version;
  }
  return record("NativeBatchNormBackward0", out, {x, weight, bias},
                [xc, wd, mean, invstd, training](const Tensor& gy, const Node& n) {
                  Tensor gx = n.needs(0) ? empty(xc->shape, xc->dtype, gy->device) : Tensor{};
                  Tensor gw = n.needs(1) ? empty(mean->shape, xc->dtype, gy->device) : Tensor{};
                  Tensor gb = n.needs(2) ? empty(mean->shape, xc->dtype, gy->device) : Tensor{};
                  backend(gy).batch_norm_backward(xc, contiguous(gy), wd, mean, invstd, training, gx, gw, gb);
                  return std::vector<Tensor>{gx, gw, gb};
                });
}

}  // namespace rt
