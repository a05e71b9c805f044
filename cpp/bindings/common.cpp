#include "common.h"

namespace rt::bind {

Shape shape_from_object(const py::handle& obj, const char* op) {
  if (py::isinstance<py::int_>(obj)) return {obj.cast<int64_t>()};
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    Shape s;
    for (auto item : obj) {
      if (!py::isinstance<py::int_>(item) && !py::hasattr(item, "__index__"))
        fail<TypeError>(op, ": shape entries must be integers, got ", std::string(py::str(py::type::of(item).attr("__name__"))));
      s.push_back(item.cast<int64_t>());
    }
    return s;
  }
  fail<TypeError>(op, ": expected a shape (ints or a tuple of ints), got ", std::string(py::str(py::type::of(obj).attr("__name__"))));
}

Shape shape_from_args(const py::args& args, const char* op) {
  if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) return shape_from_object(args[0], op);
  return shape_from_object(args, op);
}

std::vector<int64_t> dims_from_object(const py::handle& obj) {
  if (obj.is_none()) return {};
  if (py::isinstance<py::int_>(obj)) return {obj.cast<int64_t>()};
  return obj.cast<std::vector<int64_t>>();
}

Tensor scalar_like(const py::handle& s, const Tensor& like, const char* op) {
  DType dt = like->dtype;
  double v;
  if (py::isinstance<py::bool_>(s)) {
    v = s.cast<bool>() ? 1.0 : 0.0;
  } else if (py::isinstance<py::int_>(s) || (!py::isinstance<py::float_>(s) && py::hasattr(s, "__index__"))) {
    v = static_cast<double>(s.attr("__index__")().cast<int64_t>());
    if (dt == DType::Bool) dt = DType::Int64;
  } else if (py::isinstance<py::float_>(s) || py::hasattr(s, "__float__")) {
    v = s.cast<double>();
    if (!is_floating(dt)) dt = DType::Float32;
  } else {
    fail<TypeError>(op, ": unsupported operand type ", std::string(py::str(py::type::of(s).attr("__name__"))), " with a Tensor");
  }
  return scalar_tensor(v, dt);
}

Tensor as_tensor_arg(const py::handle& v, const Tensor& like, const char* op) {
  if (py::isinstance<TensorImpl>(v)) return v.cast<Tensor>();
  return scalar_like(v, like, op);
}

}  // namespace rt::bind
