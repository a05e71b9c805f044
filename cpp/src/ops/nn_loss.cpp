// Losses with a fused kernel: nll_loss (weights, ignore_index, label smoothing) and
// cross_entropy = nll_loss(log_softmax(x)). Elementwise losses are Python composites.
#include "reticulum/nn_ops.h"

namespace rt {

Reduction parse_reduction(const std::string& r, const char* op) {
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  if (r == "none") return Reduction::None;
  fail<ValueError>(op, ": reduction must be 'none', 'mean' or 'sum', got '", r, "'");
}

Tensor apply_reduction(const Tensor& loss, Reduction r) {
  if (r == Reduction::Mean) return mean(loss, {}, false);
  if (r == Reduction::Sum) return sum(loss, {}, false);
  return loss;
}

Tensor nll_loss(const Tensor& logp_in, const Tensor& target_in, const Tensor& weight, Reduction red, int64_t ignore_index,
                double smoothing, const char* name) {
  if (target_in->dtype != DType::Int64)
    fail<TypeError>(name, ": expected target of dtype int64 (class indices), got ", dtype_name(target_in->dtype), " with shape ",
                    shape_str(target_in->shape));
  if (!is_floating(logp_in->dtype)) fail<TypeError>(name, ": expected floating point input, got ", dtype_name(logp_in->dtype));
  if (smoothing < 0.0 || smoothing > 1.0) fail<ValueError>(name, ": label_smoothing must be in [0, 1], got ", smoothing);
  const bool unbatched = logp_in->ndim() == 1;
  Tensor logp = unbatched ? unsqueeze(logp_in, 0) : logp_in;
  Tensor target = unbatched ? unsqueeze(target_in, 0) : target_in;
  if (logp->ndim() < 2)
    fail<ValueError>(name, ": expected input of shape [N, C] or [N, C, d1, ...], got ", shape_str(logp_in->shape));
  Shape want(logp->shape);
  want.erase(want.begin() + 1);
  if (target->shape != want)
    fail<ValueError>(name, ": expected target of shape ", shape_str(want), " for input of shape ", shape_str(logp_in->shape),
                     ", got ", shape_str(target_in->shape));
  const int64_t N = logp->shape[0], C = logp->shape[1], L = N ? target->numel() / N : 0;
  if (weight && (weight->ndim() != 1 || weight->shape[0] != C))
    fail<ValueError>(name, ": weight must have shape [", C, "] (one per class), got ", shape_str(weight->shape));
  check_same_device(name, logp, target, weight);
  Tensor lp = contiguous(detach(logp));
  Tensor tg = contiguous(detach(target));
  {
    GradModeGuard g(false);
    Tensor valid = compare_scalar(CompareOp::Ne, tg, static_cast<double>(ignore_index));
    Tensor bad = where(valid,
                       where(compare_scalar(CompareOp::Lt, tg, 0.0), ones({}, DType::Bool, tg->device),
                             compare_scalar(CompareOp::Ge, tg, static_cast<double>(C))),
                       zeros({}, DType::Bool, tg->device));
    if (tg->numel() && item_int64(max_all(to_dtype(bad, DType::Int64)))) {
      const int64_t first = item_int64(argmax(to_dtype(bad, DType::Int64), std::nullopt, false));
      fail<IndexError>(name, ": target ", item_int64(select(reshape(tg, {-1}), 0, first)), " is out of bounds for ", C,
                       " classes (valid: 0..", C - 1, " or ignore_index ", ignore_index, ")");
    }
  }
  Tensor wd = weight ? contiguous(to_dtype(detach(weight), lp->dtype)) : Tensor{};
  Tensor loss = empty({N, L}, lp->dtype, lp->device), wt = empty({N, L}, lp->dtype, lp->device);
  backend(lp).nll_loss(make_view(lp, {N, C, L}, {C * L, L, 1}, lp->offset), tg, wd, ignore_index, smoothing, loss, wt);
  Tensor out;
  double denom = 1.0;
  {
    GradModeGuard g(false);
    if (red == Reduction::None) {
      out = reshape(loss, target_in->shape);
    } else {
      out = sum(loss, {}, false);
      if (red == Reduction::Mean) {
        denom = item_double(sum(wt, {}, false));
        out = mul_scalar(out, 1.0 / denom);  // all targets ignored: 0/0 = nan, as PyTorch
      }
    }
  }
  Shape lshape = logp->shape, in_shape = logp_in->shape;
  return record("NllLossBackward0", out, {logp_in},
                [tg, wd, ignore_index, smoothing, red, denom, N, C, L, in_shape](const Tensor& gy, const Node&) {
                  Tensor g = red == Reduction::None ? contiguous(reshape(gy, {N, L}))
                                                    : expand(mul_scalar(gy, red == Reduction::Mean ? 1.0 / denom : 1.0), {N, L});
                  g = contiguous(g);
                  Tensor gx = empty({N, C, L}, gy->dtype, gy->device);
                  backend(gy).nll_loss_backward(g, tg, wd, ignore_index, smoothing, gx);
                  return std::vector<Tensor>{reshape(gx, in_shape)};
                });
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const Tensor& weight, Reduction red, int64_t ignore_index,
                     double smoothing) {
  if (logits->ndim() < 1) fail<ValueError>("cross_entropy: expected input of shape [N, C] or [N, C, d1, ...], got a 0-d tensor");
  const int64_t class_dim = logits->ndim() == 1 ? 0 : 1;
  Tensor logp = log_softmax(logits, class_dim);
  if (is_floating(target->dtype)) {
    // Class probabilities: -(sum_c w_c q_c log p_c), q smoothed toward uniform.
    if (target->shape != logits->shape)
      fail<ValueError>("cross_entropy: probability targets must have the input's shape ", shape_str(logits->shape), ", got ",
                       shape_str(target->shape));
    // There is no class index to ignore; PyTorch rejects any ignore_index but its default.
    if (ignore_index != -100)
      fail<RuntimeError>(
          "cross_entropy: ignore_index is not supported for floating point (class probability) targets, got ignore_index ",
          ignore_index, " with target of shape ", shape_str(target->shape));
    const double C = static_cast<double>(logits->shape[class_dim]);
    Tensor q = smoothing > 0 ? add_scalar(mul_scalar(target, 1.0 - smoothing), smoothing / C) : target;
    Tensor terms = mul(logp, q);
    if (weight) {
      Shape ws(logits->ndim(), 1);
      ws[class_dim] = logits->shape[class_dim];
      terms = mul(terms, reshape(weight, ws));
    }
    Tensor per = neg(sum(terms, {class_dim}, false));
    if (red == Reduction::None) return per;
    if (red == Reduction::Sum) return sum(per, {}, false);
    return mean(per, {}, false);
  }
  return nll_loss(logp, target, weight, red, ignore_index, smoothing, "cross_entropy");
}

}  // namespace rt
