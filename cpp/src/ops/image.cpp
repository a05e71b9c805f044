#include "reticulum/image_ops.h"

namespace rt {

Tensor affine_warp(const Tensor& x_in, const Tensor& theta_in) {
  if (x_in->ndim() != 3 && x_in->ndim() != 4)
    fail<ValueError>("affine_warp: expected an image [C, H, W] or batch [N, C, H, W], got shape ", shape_str(x_in->shape));
  const bool single = x_in->ndim() == 3;
  Tensor x = contiguous(detach(single ? unsqueeze(x_in, 0) : x_in));
  if (!is_floating(x->dtype)) x = to_dtype(x, DType::Float32);
  Tensor theta = contiguous(to_dtype(detach(theta_in), DType::Float64));
  if (theta->ndim() == 2) theta = unsqueeze(theta, 0);
  if (theta->ndim() != 3 || theta->shape[0] != x->shape[0] || theta->shape[1] != 2 || theta->shape[2] != 3)
    fail<ValueError>("affine_warp: theta must have shape [", x->shape[0], ", 2, 3] for images of shape ", shape_str(x_in->shape),
                     ", got ", shape_str(theta_in->shape));
  theta = contiguous(theta);
  check_same_device("affine_warp", x, theta);
  Tensor out = empty(x->shape, x->dtype, x->device);
  backend(x).affine_warp(x, theta, out);
  return single ? squeeze(out, 0) : out;
}

}  // namespace rt
