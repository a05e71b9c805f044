// CUDA implementations of the Backend table (see reticulum/backend.h for contracts).
#pragma once
#include "reticulum/backend.h"

namespace rt::cuda {
void copy(const Tensor& src, const Tensor& dst);
void fill(const Tensor& dst, double value);
void unary(UnaryOp op, const Tensor& x, const Tensor& out, UnaryArgs args);
void unary_backward(UnaryOp op, const Tensor& gy, const Tensor& x, const Tensor& y, const Tensor& gx, UnaryArgs args);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
void compare(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
void reduce(ReduceOp op, const Tensor& x, int64_t outer, int64_t r, int64_t inner, const Tensor& out);
void scatter_add_dim(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner);
void softmax(const Tensor& x, const Tensor& out, int64_t outer, int64_t r, int64_t inner, bool log);
void softmax_backward(const Tensor& gy, const Tensor& y, const Tensor& gx, int64_t outer, int64_t r, int64_t inner, bool log);
void bmm(const Tensor& a, const Tensor& b, const Tensor& out);
void index_select(const Tensor& x, const Tensor& idx, const Tensor& out, int64_t outer, int64_t r, int64_t inner);
void index_add(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner);
void index_copy(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner);
void sort(const Tensor& x, const Tensor& indices, int64_t outer, int64_t r, int64_t inner, bool descending);
void cumsum(const Tensor& x, const Tensor& out, int64_t outer, int64_t r, int64_t inner);
void conv_forward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out);
void conv_backward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                   const Tensor& gb);
void max_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out, const Tensor& idx);
void max_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& idx, const Tensor& gx);
void avg_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out);
void avg_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx);
void adaptive_avg_pool2d(const PoolGeom& g, const Tensor& x, const Tensor& out);
void adaptive_avg_pool2d_backward(const PoolGeom& g, const Tensor& gy, const Tensor& gx);
void batch_norm(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rmean, const Tensor& rvar, bool training,
                double momentum, double eps, const Tensor& out, const Tensor& mean, const Tensor& invstd);
void batch_norm_backward(const Tensor& x, const Tensor& gy, const Tensor& w, const Tensor& mean, const Tensor& invstd,
                         bool training, const Tensor& gx, const Tensor& gw, const Tensor& gb);
void nll_loss(const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index, double smoothing,
              const Tensor& loss, const Tensor& wt);
void nll_loss_backward(const Tensor& g, const Tensor& target, const Tensor& weight, int64_t ignore_index, double smoothing,
                       const Tensor& gx);
void optim_update(OptimKind kind, const OptimHyper& h, int64_t step, const Tensor& p, const Tensor& g, const Tensor& s0,
                  const Tensor& s1, const Tensor& s2);
void affine_warp(const Tensor& x, const Tensor& theta, const Tensor& out);
void uniform(const Tensor& dst, double low, double high);
void normal(const Tensor& dst, double mean, double std);
void randint(const Tensor& dst, int64_t low, int64_t high);
void bernoulli(const Tensor& dst, double p);
}  // namespace rt::cuda
