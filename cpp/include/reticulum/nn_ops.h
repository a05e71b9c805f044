// Neural-network ops (torch.nn.functional semantics), forward + backward in src/ops/nn_*.cpp.
#pragma once
#include <string>

#include "reticulum/ops.h"

namespace rt {

struct ConvArgs {
  std::vector<int64_t> stride, padding, dilation;  // one per spatial dim
  int64_t groups = 1;
};
// x [N, C, *spatial] (or unbatched [C, *spatial]); nd = 1, 2 or 3 spatial dims.
Tensor conv_nd(int nd, const Tensor& x, const Tensor& w, const Tensor& b, const ConvArgs& a, const char* name);

struct PoolArgs {
  std::vector<int64_t> kernel, stride, padding;  // two each (H, W)
  bool ceil_mode = false, count_include_pad = true;
};
Tensor max_pool2d(const Tensor& x, const PoolArgs& a, const char* name);
Tensor avg_pool2d(const Tensor& x, const PoolArgs& a, const char* name);
Tensor adaptive_avg_pool2d(const Tensor& x, int64_t oh, int64_t ow);

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps);
Tensor dropout(const Tensor& x, double p, bool training, bool channelwise);

enum class Reduction { None, Mean, Sum };
Reduction parse_reduction(const std::string& r, const char* op);
// The mean, the sum or the elementwise losses themselves: the one reduction rule of every loss.
Tensor apply_reduction(const Tensor& loss, Reduction r);
Tensor nll_loss(const Tensor& logp, const Tensor& target, const Tensor& weight, Reduction red, int64_t ignore_index,
                double smoothing, const char* name);
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, Reduction red, int64_t ignore_index,
                     double smoothing);
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b);

}  // namespace rt
