// Shared helpers for the pybind11 layer: argument parsing into shapes/dims and
// turning Python scalars into 0-d tensors with PyTorch's result-dtype rules.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "reticulum/ops.h"

namespace py = pybind11;

namespace rt::bind {

// Accepts f(2, 3), f((2, 3)), f([2, 3]) and f(size_object).
Shape shape_from_args(const py::args& args, const char* op);
Shape shape_from_object(const py::handle& obj, const char* op);
// None -> {} (all dims); int -> {d}; tuple/list -> dims.
std::vector<int64_t> dims_from_object(const py::handle& obj);
// A Python scalar as a 0-d tensor whose dtype follows `like` (float scalars make int tensors float32).
Tensor scalar_like(const py::handle& s, const Tensor& like, const char* op);
// A Tensor or a Python scalar (then shaped by `like`).
Tensor as_tensor_arg(const py::handle& v, const Tensor& like, const char* op);

void bind_tensor(py::module_& m, py::class_<TensorImpl, std::shared_ptr<TensorImpl>>& cls);
void bind_functions(py::module_& m);
void bind_nn(py::module_& m);
void bind_optim(py::module_& m);
void bind_cpu(py::module_& m);

}  // namespace rt::bind
