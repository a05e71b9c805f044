#include "common.h"

namespace rt::bind {

static std::string type_name(const py::handle& obj) { return py::str(py::type::of(obj).attr("__name__")); }

int64_t int64_from(const py::handle& obj, const char* op, const char* what) {
  if (py::isinstance<py::bool_>(obj) || (!py::isinstance<py::int_>(obj) && !py::hasattr(obj, "__index__")))
    fail<TypeError>(op, ": ", what, " must be an integer, got ", type_name(obj));
  py::int_ v = py::reinterpret_steal<py::int_>(PyNumber_Index(obj.ptr()));
  if (!v) throw py::error_already_set();
  int overflow = 0;
  const long long r = PyLong_AsLongLongAndOverflow(v.ptr(), &overflow);
  if (overflow) fail<TypeError>(op, ": ", what, " ", std::string(py::str(v)), " does not fit in a 64-bit integer");
  return r;
}

Shape shape_from_object(const py::handle& obj, const char* op) {
  if (py::isinstance<py::int_>(obj)) return {int64_from(obj, op, "size")};
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    Shape s;
    for (auto item : obj) {
      if (!py::isinstance<py::int_>(item) && !py::hasattr(item, "__index__"))
        fail<TypeError>(op, ": shape entries must be integers, got ", type_name(item));
      s.push_back(int64_from(item, op, "size"));
    }
    return s;
  }
  fail<TypeError>(op, ": expected a shape (ints or a tuple of ints), got ", type_name(obj));
}

Shape shape_from_args(const py::args& args, const char* op) {
  if (args.size() == 1 && !py::isinstance<py::int_>(args[0])) return shape_from_object(args[0], op);
  return shape_from_object(args, op);
}

std::vector<int64_t> dims_from_object(const py::handle& obj, const char* op) {
  if (obj.is_none()) return {};
  if (py::isinstance<py::int_>(obj) || !py::isinstance<py::sequence>(obj)) return {int64_from(obj, op, "dim")};
  std::vector<int64_t> dims;
  for (auto item : obj) dims.push_back(int64_from(item, op, "dim"));
  return dims;
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
  return scalar_tensor(v, dt, like->device);
}

Tensor as_tensor_arg(const py::handle& v, const Tensor& like, const char* op) {
  if (py::isinstance<TensorImpl>(v)) return v.cast<Tensor>();
  return scalar_like(v, like, op);
}

}  // namespace rt::bind
