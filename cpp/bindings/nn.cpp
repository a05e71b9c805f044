// rt._C.nn: the NN ops; argument normalisation (ints vs tuples, 'same') is in nn/functional.py.
#include "common.h"
#include "reticulum/image_ops.h"
#include "reticulum/nn_ops.h"

namespace rt::bind {

void bind_nn(py::module_& root) {
  using GilRelease = py::call_guard<py::gil_scoped_release>;
  py::module_ m = root.def_submodule("nn", "neural-network ops");
  m.def(
      "conv",
      [](int nd, const Tensor& x, const Tensor& w, const OptTensor& b, std::vector<int64_t> stride, std::vector<int64_t> padding,
         std::vector<int64_t> dilation, int64_t groups) {
        const char* name = nd == 1 ? "conv1d" : nd == 2 ? "conv2d" : "conv3d";
        return conv_nd(nd, x, w, or_null(b), ConvArgs{stride, padding, dilation, groups}, name);
      },
      py::arg("nd"), py::arg("x"), py::arg("w"), py::arg("b").none(true), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("groups"), GilRelease());
  m.def("affine_warp", &affine_warp, py::arg("x"), py::arg("theta"), GilRelease());
  m.def(
      "linear", [](const Tensor& x, const Tensor& w, const OptTensor& b) { return linear(x, w, or_null(b)); }, py::arg("x"),
      py::arg("w"), py::arg("b").none(true), GilRelease());
  m.def(
      "max_pool2d",
      [](const Tensor& x, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> p, bool ceil,
         const std::string& name) {
        return max_pool2d(x, PoolArgs{k, s, p, ceil, true}, name == "max_pool1d" ? "max_pool1d" : "max_pool2d");
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"), py::arg("name"),
      GilRelease());
  m.def(
      "avg_pool2d",
      [](const Tensor& x, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> p, bool ceil, bool cip,
         const std::string& name) {
        return avg_pool2d(x, PoolArgs{k, s, p, ceil, cip}, name == "avg_pool1d" ? "avg_pool1d" : "avg_pool2d");
      },
      py::arg("input"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"), py::arg("ceil_mode"),
      py::arg("count_include_pad"), py::arg("name"), GilRelease());
  m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d, py::arg("input"), py::arg("oh"), py::arg("ow"), GilRelease());
  m.def(
      "batch_norm",
      [](const Tensor& x, const OptTensor& rm, const OptTensor& rv, const OptTensor& w, const OptTensor& b, bool training,
         double momentum,
         double eps) { return batch_norm(x, or_null(rm), or_null(rv), or_null(w), or_null(b), training, momentum, eps); },
      py::arg("x"), py::arg("running_mean").none(true), py::arg("running_var").none(true), py::arg("weight").none(true),
      py::arg("bias").none(true), py::arg("training"), py::arg("momentum"), py::arg("eps"), GilRelease());
  m.def("dropout", &dropout, py::arg("input"), py::arg("p"), py::arg("training"), py::arg("channelwise"), GilRelease());
  m.def("softplus", &softplus, py::arg("input"));
  // Formula ops placed as NN (unary_formulas.h); the METHOD ones are bound in tensor.cpp.
#define RT_BIND_NN(name) m.def(#name, &name, py::arg("input"), GilRelease());
#define RT_BIND_METHOD(name)
#define RT_FORMULA_BIND(Op, name, grad_fn, where, forward, backward) RT_BIND_##where(name)
  RT_FORMULA_UNARY_OPS(RT_FORMULA_BIND)
#undef RT_FORMULA_BIND
#undef RT_BIND_METHOD
#undef RT_BIND_NN
  m.def("gelu", &gelu, py::arg("input"), py::arg("tanh_approximation"));
  m.def(
      "reduce_loss",
      [](const Tensor& loss, const std::string& reduction, const std::string& name) {
        return apply_reduction(loss, parse_reduction(reduction, name.c_str()));
      },
      py::arg("loss"), py::arg("reduction"), py::arg("name"));
  m.def(
      "nll_loss",
      [](const Tensor& x, const Tensor& t, const OptTensor& w, const std::string& red, int64_t ignore_index) {
        return nll_loss(x, t, or_null(w), parse_reduction(red, "nll_loss"), ignore_index, 0.0, "nll_loss");
      },
      py::arg("x"), py::arg("t"), py::arg("w").none(true), py::arg("reduction"), py::arg("ignore_index"), GilRelease());
  m.def(
      "cross_entropy",
      [](const Tensor& x, const Tensor& t, const OptTensor& w, const std::string& red, int64_t ignore_index, double ls) {
        return cross_entropy(x, t, or_null(w), parse_reduction(red, "cross_entropy"), ignore_index, ls);
      },
      py::arg("x"), py::arg("t"), py::arg("w").none(true), py::arg("reduction"), py::arg("ignore_index"),
      py::arg("label_smoothing"), GilRelease());
}

}  // namespace rt::bind
