// Shared helpers for the pybind11 layer: argument parsing into shapes/dims and
// turning Python scalars into 0-d tensors with PyTorch's result-dtype rules.
#pragma once
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "reticulum/ops.h"

namespace py = pybind11;

// A Tensor parameter refuses None. pybind11's default holder caster turns None into a null
// shared_ptr, which every op would then dereference; refusing it here makes each binding raise
// pybind11's TypeError ("<op>(): incompatible function arguments", listing the signature) for None
// in a Tensor position, and a null Tensor can only reach C++ through the parameters that declare
// themselves optional (std::optional<Tensor>, see or_null). Returning a null Tensor still gives None.
namespace pybind11::detail {
template <>
class type_caster<std::shared_ptr<rt::TensorImpl>>
    : public copyable_holder_caster<rt::TensorImpl, std::shared_ptr<rt::TensorImpl>> {
 public:
  bool load(handle src, bool convert) {
    if (src.is_none()) return false;
    return copyable_holder_caster<rt::TensorImpl, std::shared_ptr<rt::TensorImpl>>::load(src, convert);
  }
};
}  // namespace pybind11::detail

namespace rt::bind {

// A Python object kept alive by C++ (a backward closure, a gradient hook): released under the GIL,
// since the last reference may drop on a thread that runs backward without it.
struct PyRef {
  py::object obj;
  explicit PyRef(py::object o) : obj(std::move(o)) {}
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef() {
    py::gil_scoped_acquire gil;
    obj = py::object();
  }
};

// An optional Tensor argument (bias, weight, running stats): None becomes the null Tensor the ops expect.
using OptTensor = std::optional<Tensor>;
inline Tensor or_null(const OptTensor& t) { return t ? *t : Tensor{}; }

// An integer argument (anything with __index__) as int64, or a TypeError naming the op and the
// argument when it isn't an integer or doesn't fit 64 bits.
int64_t int64_from(const py::handle& obj, const char* op, const char* what);
// Accepts f(2, 3), f((2, 3)), f([2, 3]) and f(size_object).
Shape shape_from_args(const py::args& args, const char* op);
Shape shape_from_object(const py::handle& obj, const char* op);
// None -> {} (all dims); int -> {d}; tuple/list -> dims.
std::vector<int64_t> dims_from_object(const py::handle& obj, const char* op);
// A Python scalar as a 0-d tensor whose dtype follows `like` (float scalars make int tensors float32).
Tensor scalar_like(const py::handle& s, const Tensor& like, const char* op);
// A Tensor or a Python scalar (then shaped by `like`).
Tensor as_tensor_arg(const py::handle& v, const Tensor& like, const char* op);

void bind_tensor(py::module_& m, py::class_<TensorImpl, std::shared_ptr<TensorImpl>>& cls);
void bind_functions(py::module_& m);
void bind_nn(py::module_& m);
void bind_optim(py::module_& m);
void bind_cpu(py::module_& m);
void bind_reducer(py::module_& m);  // DistributedDataParallel's gradient reducer
#ifdef RETICULUM_WITH_CUDA
void bind_cuda(py::module_& m);
#endif

}  // namespace rt::bind
