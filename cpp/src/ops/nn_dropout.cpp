// Inverted dropout: kept elements (or whole channels, for dropout2d) are scaled by 1/(1-p) in
// training, so eval mode is the identity.
#include "reticulum/nn_ops.h"

namespace rt {

Tensor dropout(const Tensor& x, double p, bool training, bool channelwise) {
  const char* name = channelwise ? "dropout2d" : "dropout";
  if (!(p >= 0.0 && p <= 1.0)) fail<ValueError>(name, ": dropout probability has to be between 0 and 1, but got ", p);
  if (!training || p == 0.0) return x;
  if (!is_floating(x->dtype)) fail<TypeError>(name, ": expected a floating point input, got ", dtype_name(x->dtype));
  Shape mshape = x->shape;
  if (channelwise) {
    if (x->ndim() < 3) fail<ValueError>(name, ": expected an input of shape [N, C, *spatial], got ", shape_str(x->shape));
    for (size_t i = 2; i < mshape.size(); ++i) mshape[i] = 1;
  }
  if (p == 1.0) return mul(x, zeros(mshape, x->dtype, x->device));
  Tensor mask = bernoulli_mask(mshape, 1.0 - p, x->dtype, x->device);
  {
    GradModeGuard g(false);
    mask = mul_scalar(mask, 1.0 / (1.0 - p));
  }
  return mul(x, mask);
}

}  // namespace rt
