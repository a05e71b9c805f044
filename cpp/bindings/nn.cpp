// rt._C.nn: the NN ops; argument normalisation (ints vs tuples, 'same') is in nn/functional.py.
#include "common.h"
#include "reticulum/image_ops.h"
#include "reticulum/nn_ops.h"

namespace rt::bind {

void bind_nn(py::module_& root) {
  using GilRelease = py::call_guard<py::gil_scoped_release>;
  py::module_ m = root.def_submodule("nn", "neural-network ops");
  m.def("conv", [](int nd, const Tensor& x, const Tensor& w, const Tensor& b, std::vector<int64_t> stride, std::vector<int64_t> padding,
                   std::vector<int64_t> dilation, int64_t groups) {
         const char* name = nd == 1 ? "conv1d" : nd == 2 ? "conv2d" : "conv3d";
         return conv_nd(nd, x, w, b, ConvArgs{stride, padding, dilation, groups}, name);
       }, py::arg("nd"), py::arg("x"), py::arg("w"), py::arg("b").none(true), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
       py::arg("groups"), GilRelease());
  m.def("affine_warp", &affine_warp, py::arg("x"), py::arg("theta"), GilRelease());
  m.def("linear", &linear, py::arg("x"), py::arg("w"), py::arg("b").none(true), GilRelease());
  m.def("max_pool2d", [](const Tensor& x, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> p, bool ceil, const std::string& name) {
    return max_pool2d(x, PoolArgs{k, s, p, ceil, true}, name == "max_pool1d" ? "max_pool1d" : "max_pool2d");
  }, GilRelease());
  m.def("avg_pool2d", [](const Tensor& x, std::vector<int64_t> k, std::vector<int64_t> s, std::vector<int64_t> p, bool ceil, bool cip,
                         const std::string& name) {
    return avg_pool2d(x, PoolArgs{k, s, p, ceil, cip}, name == "avg_pool1d" ? "avg_pool1d" : "avg_pool2d");
  }, GilRelease());
  m.def("adaptive_avg_pool2d", &adaptive_avg_pool2d, GilRelease());
  m.def("batch_norm", &batch_norm, py::arg("x"), py::arg("running_mean").none(true), py::arg("running_var").none(true),
        py::arg("weight").none(true), py::arg("bias").none(true), py::arg("training"), py::arg("momentum"), py::arg("eps"), GilRelease());
  m.def("dropout", &dropout, GilRelease());
  m.def("softplus", &softplus);
  m.def("nll_loss", [](const Tensor& x, const Tensor& t, const Tensor& w, const std::string& red, int64_t ignore_index) {
    return nll_loss(x, t, w, parse_reduction(red, "nll_loss"), ignore_index, 0.0, "nll_loss");
  }, py::arg("x"), py::arg("t"), py::arg("w").none(true), py::arg("reduction"), py::arg("ignore_index"), GilRelease());
  m.def("cross_entropy", [](const Tensor& x, const Tensor& t, const Tensor& w, const std::string& red, int64_t ignore_index, double ls) {
    return cross_entropy(x, t, w, parse_reduction(red, "cross_entropy"), ignore_index, ls);
  }, py::arg("x"), py::arg("t"), py::arg("w").none(true), py::arg("reduction"), py::arg("ignore_index"), py::arg("label_smoothing"), GilRelease());
}

}  // namespace rt::bind
