// rt._C.optim: fused per-group optimizer state and gradient clipping.
#include "common.h"
#include "reticulum/optim.h"

namespace rt::bind {

static OptimHyper hyper_from(const py::dict& d) {
  OptimHyper h;
  auto num = [&](const char* k, double& v) {
    if (d.contains(k) && !d[k].is_none()) v = d[k].cast<double>();
  };
  auto flag = [&](const char* k, bool& v) {
    if (d.contains(k) && !d[k].is_none()) v = d[k].cast<bool>();
  };
  num("lr", h.lr);
  num("momentum", h.momentum);
  num("dampening", h.dampening);
  num("weight_decay", h.weight_decay);
  num("eps", h.eps);
  num("alpha", h.alpha);
  num("lr_decay", h.lr_decay);
  num("rho", h.rho);
  if (d.contains("betas")) {
    auto b = d["betas"].cast<std::pair<double, double>>();
    h.beta1 = b.first;
    h.beta2 = b.second;
  }
  flag("nesterov", h.nesterov);
  flag("maximize", h.maximize);
  flag("amsgrad", h.amsgrad);
  flag("decoupled", h.decoupled);
  flag("centered", h.centered);
  return h;
}

void bind_optim(py::module_& root) {
  using GilRelease = py::call_guard<py::gil_scoped_release>;
  py::module_ m = root.def_submodule("optim", "fused optimizer kernels");
  py::enum_<OptimKind>(m, "Kind")
      .value("SGD", OptimKind::SGD)
      .value("Adam", OptimKind::Adam)
      .value("RMSprop", OptimKind::RMSprop)
      .value("Adagrad", OptimKind::Adagrad)
      .value("Adadelta", OptimKind::Adadelta);
  py::class_<ParamGroupState>(m, "GroupState")
      .def(py::init<std::vector<Tensor>>())
      .def(
          "step",
          [](ParamGroupState& s, OptimKind k, const py::dict& group, double init_acc) {
            OptimHyper h = hyper_from(group);
            py::gil_scoped_release nogil;
            s.step(k, h, init_acc);
          },
          py::arg("kind"), py::arg("group"), py::arg("initial_accumulator_value") = 0.0)
      .def("zero_grad", &ParamGroupState::zero_grad)
      .def("get_state", &ParamGroupState::get_state)
      .def(
          "set_state", [](ParamGroupState& s, size_t i, int slot, const OptTensor& t) { s.set_state(i, slot, or_null(t)); },
          py::arg("i"), py::arg("slot"), py::arg("t").none(true))
      .def("get_step", &ParamGroupState::get_step)
      .def("set_step", &ParamGroupState::set_step)
      .def_property_readonly("params", &ParamGroupState::params);
  m.def("clip_grad_norm", &clip_grad_norm, GilRelease());
  m.def("clip_grad_value", &clip_grad_value, GilRelease());
}

}  // namespace rt::bind
