// Every differentiable op and its shape checks. Each is defined, with its backward,
// in one section of src/ops/*.cpp.
#pragma once
#include <optional>
#include <utility>

#include "reticulum/autograd.h"
#include "reticulum/backend.h"

namespace rt {

// ---- creation (factory.cpp)
// The device is never implied: op code passes an input's, so nothing silently lands on the CPU.
Tensor full(const Shape& shape, double value, DType dtype, Device device);
Tensor zeros(const Shape& shape, DType dtype, Device device);
Tensor ones(const Shape& shape, DType dtype, Device device);
Tensor zeros_like(const Tensor& t);  // t's shape, dtype and device
Tensor ones_like(const Tensor& t);
// A 0-d tensor on the device of the tensor it is combined with (so `x + 2` works on any device).
Tensor scalar_tensor(double value, DType dtype, Device device);
// Refuses values an int64 tensor cannot hold (NaN, inf, beyond +-2^63), naming the op.
void check_fill_value(double value, DType dtype, const char* op);
Tensor arange(double start, double end, double step, DType dtype, Device device);
Tensor linspace(double start, double end, int64_t steps, DType dtype, Device device);
Tensor eye(int64_t n, int64_t m, DType dtype, Device device);
Tensor rand(const Shape& shape, DType dtype, Device device);
Tensor randn(const Shape& shape, DType dtype, Device device);
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype, Device device);
Tensor bernoulli_mask(const Shape& shape, double keep_prob, DType dtype, Device device);

// ---- devices (transfer.cpp)
// x on device d: x itself when it is there already, else a copy through the tables' host
// transfers; differentiable (the gradient goes back to x's device), as PyTorch's Tensor.to.
Tensor to_device(const Tensor& x, Device d);
// Refuses operands on different devices (RuntimeError naming the op and both devices); null
// tensors are skipped. Every op that combines tensors calls it before it touches a kernel.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
template <class... More>
void check_same_device(const char* op, const Tensor& a, const Tensor& b, const More&... more) {
  check_same_device(op, a, b);
  (check_same_device(op, a, more), ...);
}
// The value of a one-element tensor, read on the host through the device's copy_to_host: the one
// way op code looks at tensor values (bounds checks, loss denominators, norms).
double item_double(const Tensor& x);
int64_t item_int64(const Tensor& x);

// ---- elementwise (elementwise.cpp)
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
// div with rounding_mode 'floor' (Python's //) or 'trunc'; gradient zero, as in PyTorch.
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor trunc_divide(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);
Tensor rsub_scalar(const Tensor& a, double s);  // s - a
Tensor pow_scalar(const Tensor& a, double e);   // a ** e
Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);
Tensor compare_scalar(CompareOp op, const Tensor& a, double s);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double slope);
Tensor sigmoid(const Tensor& x);
Tensor softplus(const Tensor& x);  // log(1 + exp(x)), computed without overflow
Tensor tanh(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);
Tensor heaviside(const Tensor& x, const Tensor& values);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
// The formula ops (unary_formulas.h): log1p, erf, ...
#define RT_FORMULA_OP(Op, name, ...) Tensor name(const Tensor& x);
RT_FORMULA_UNARY_OPS(RT_FORMULA_OP)
#undef RT_FORMULA_OP
// GELU, exact (x * Phi(x)) or with PyTorch's tanh approximation; floating-point input only.
Tensor gelu(const Tensor& x, bool tanh_approximation);

Tensor to_dtype(const Tensor& x, DType dtype);
Tensor clone(const Tensor& x);
Tensor contiguous(const Tensor& x);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// GEMM-based ops (matmul, linear, convolution) and BCE take one dtype, as in PyTorch, which
// refuses to mix them there rather than promote.
void check_same_dtype(const char* op, const char* name_a, const Tensor& a, const char* name_b, const Tensor& b);
// Sums a broadcast gradient back to `shape` (the inverse of expand).
Tensor sum_to(const Tensor& g, const Shape& shape);

// ---- in place, never recorded (optimizers, init, setitem); refuse tensors that need grad
void copy_(const Tensor& dst, const Tensor& src);  // src broadcast to dst
void fill_(const Tensor& dst, double v);
// Uniform [a, b) or normal (mean a, std b) values, in place (initializers).
void random_fill_(const Tensor& dst, bool normal, double a, double b);
void check_inplace(const Tensor& t, const char* op);
// Refuses (RuntimeError, as PyTorch) to write a tensor whose elements share memory.
void check_no_internal_overlap(const Tensor& t, const char* op);

// ---- views and shape ops (view.cpp)
Tensor reshape(const Tensor& x, Shape shape);
Tensor view(const Tensor& x, Shape shape);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor permute(const Tensor& x, Shape dims);
Tensor expand(const Tensor& x, Shape shape);
Tensor squeeze(const Tensor& x, std::optional<int64_t> dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start, int64_t end);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t stop, int64_t step);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& idx);
Tensor cat(const std::vector<Tensor>& xs, int64_t dim);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
void index_copy_(const Tensor& dst, int64_t dim, const Tensor& idx, const Tensor& src);

// ---- index-driven ops (index.cpp); gather/scatter indices are int64 of the input's rank, not wrapped
Tensor gather(const Tensor& x, int64_t dim, const Tensor& idx);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src);
Tensor scatter_value(const Tensor& x, int64_t dim, const Tensor& idx, double value);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& src);
std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending);  // stable; (values, indices)
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest);  // sorted
Tensor cumsum(const Tensor& x, int64_t dim, std::optional<DType> dtype);

// ---- reductions and softmax (reduce.cpp)
Tensor sum(const Tensor& x, std::vector<int64_t> dims, bool keepdim);  // empty dims = all
Tensor mean(const Tensor& x, std::vector<int64_t> dims, bool keepdim);
Tensor var(const Tensor& x, std::vector<int64_t> dims, double correction, bool keepdim);
std::pair<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim);
std::pair<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim);
Tensor max_all(const Tensor& x);
Tensor min_all(const Tensor& x);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

// ---- linear algebra (linalg.cpp)
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);

}  // namespace rt
