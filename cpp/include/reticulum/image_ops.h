// Image ops for data augmentation (no autograd: they transform inputs, not parameters).
#pragma once
#include "reticulum/ops.h"

namespace rt {

// x [N, C, H, W] (or [C, H, W]); theta [N, 2, 3] float64 maps output (col, row) to input (col, row).
Tensor affine_warp(const Tensor& x, const Tensor& theta);

}  // namespace rt
