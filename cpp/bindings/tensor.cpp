// The Tensor class as Python sees it: properties, methods and operators.
// Indexing, repr and list conversion live in python/reticulum/_tensor.py.
#include <pybind11/numpy.h>

#include "common.h"

namespace rt::bind {

using Cls = py::class_<TensorImpl, std::shared_ptr<TensorImpl>>;
using GilRelease = py::call_guard<py::gil_scoped_release>;
// Elementwise calls on at least this many elements release the GIL (small ones would pay more than they gain).
constexpr int64_t kNoGilElems = 1 << 15;

// What a Tensor operator accepts on its other side: a Tensor or a Python/NumPy number.
static bool is_operand(const py::handle& b) {
  return py::isinstance<TensorImpl>(b) || py::isinstance<py::int_>(b) || py::isinstance<py::float_>(b) ||
         py::hasattr(b, "__float__");
}

// How an operator answers an unsupported other side: `x + None` returns NotImplemented so that
// Python tries the reflected operator (and then raises TypeError); `x.add(None)` raises at once.
enum class Form : bool { Operator, Method };
static py::object unsupported(Form form, const char* name, const py::handle& b) {
  if (form == Form::Operator) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
  fail<TypeError>(name, ": expected 'other' to be a Tensor or a number, got ",
                  std::string(py::str(py::type::of(b).attr("__name__"))));
}

template <class F>
static Tensor maybe_nogil(const Tensor& t, F&& f) {
  if (t->numel() < kNoGilElems) return f();
  py::gil_scoped_release nogil;
  return f();
}

template <class F>
static std::pair<Tensor, Tensor> maybe_nogil_pair(const Tensor& t, F&& f) {
  if (t->numel() < kNoGilElems) return f();
  py::gil_scoped_release nogil;
  return f();
}

static py::object item(const Tensor& t) {
  if (t->numel() != 1)
    fail<RuntimeError>("item: a Tensor with ", t->numel(), " elements cannot be converted to a Python scalar (shape ",
                       shape_str(t->shape), ")");
  Tensor host = to_device(contiguous(detach(t)), Device{});  // a device tensor's element is read through a transfer
  return dispatch_all(t->dtype, [&](auto tag) -> py::object {
    using T = decltype(tag);
    T v = *host->data<T>();
    if constexpr (std::is_same_v<T, bool>) return py::bool_(v);
    else if constexpr (std::is_same_v<T, int64_t>) return py::int_(v);
    else return py::float_(static_cast<double>(v));
  });
}

static const char* numpy_format(DType d) {
  switch (d) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "";
}

static py::array to_numpy(const Tensor& t) {
  if (t->requires_grad && grad_enabled())
    fail<RuntimeError>("numpy: can't call numpy() on a Tensor that requires grad; use tensor.detach().numpy() instead");
  // The array shares the tensor's memory, which only a CPU tensor has on the host (PyTorch refuses too).
  if (t->device.type != DeviceType::CPU)
    fail<TypeError>("numpy: can't convert a ", device_str(t->device),
                    " tensor to a NumPy array; use Tensor.cpu() to copy it to host memory first");
  std::vector<py::ssize_t> shape(t->shape.begin(), t->shape.end()), strides;
  for (auto s : t->strides) strides.push_back(s * static_cast<py::ssize_t>(itemsize(t->dtype)));
  auto* keep = new std::shared_ptr<Storage>(t->storage);
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  return py::array(py::dtype(numpy_format(t->dtype)), shape, strides, t->raw(), base);
}

static std::string type_name(const py::handle& o) { return py::str(py::type::of(o).attr("__name__")); }

// p.grad = g, with PyTorch's checks: None or a Tensor of p's dtype, shape and device. Kernels that
// write gradients in place (accumulation, clipping, optimizers) rely on a leaf's grad being a dense
// contiguous buffer, so a strided or expanded gradient is stored as a contiguous copy (PyTorch would
// alias it; the values are the same).
static void set_grad(const Tensor& t, const py::object& g) {
  if (g.is_none()) {
    t->grad.reset();
    return;
  }
  if (!py::isinstance<TensorImpl>(g))
    fail<TypeError>("grad: assigned grad expected to be a Tensor or None but got grad of type ", type_name(g));
  Tensor gt = g.cast<Tensor>();
  if (gt == t) fail<RuntimeError>("grad: can't assign a tensor as its own grad");
  if (gt->dtype != t->dtype)
    fail<RuntimeError>("grad: assigned grad has data of a different type (", dtype_name(gt->dtype), ") than the tensor (",
                       dtype_name(t->dtype), ")");
  if (gt->device != t->device)
    fail<RuntimeError>("grad: assigned grad has data located on a different device (", device_str(gt->device),
                       ") than the tensor (", device_str(t->device), ")");
  if (gt->shape != t->shape)
    fail<RuntimeError>("grad: assigned grad has data of a different size: grad has shape ", shape_str(gt->shape),
                       " but the tensor has shape ", shape_str(t->shape));
  if (!gt->is_contiguous()) {
    GradModeGuard no_grad(false);
    gt = clone(detach(gt));
  }
  t->grad = gt;
}

// p.data = src: same shape and dtype copies in place; otherwise p is rebound to src's storage and
// geometry, as PyTorch allows (ops that hold state of p's old shape, like optimizers, check it).
static void set_data(const Tensor& t, const py::object& src_obj) {
  if (!py::isinstance<TensorImpl>(src_obj))
    fail<TypeError>("data: the assigned data has to be a Tensor, but got ", type_name(src_obj));
  Tensor src = src_obj.cast<Tensor>();
  if (t->requires_grad && !is_floating(src->dtype))
    fail<RuntimeError>("data: data set to a tensor that requires gradients must be floating point, got ", dtype_name(src->dtype));
  if (src->shape == t->shape && src->dtype == t->dtype && src->device == t->device) {
    GradModeGuard g(false);
    copy_(t, src);
    return;
  }
  t->storage = src->storage;
  t->shape = src->shape;
  t->strides = src->strides;
  t->offset = src->offset;
  t->dtype = src->dtype;
  t->device = src->device;
}

static Tensor backward_gradient(const Tensor& t, const py::object& g) {
  if (g.is_none()) return Tensor{};
  return as_tensor_arg(g, t, "backward");
}

// bool ** True is itself and bool ** False all True, staying bool as in PyTorch.
static Tensor bool_power(const Tensor& a, bool e) { return e ? clone(a) : full(a->shape, 1.0, DType::Bool, a->device); }

// What Tensor.register_hook and register_post_accumulate_grad_hook return, as torch's RemovableHandle.
struct HookHandle {
  std::weak_ptr<GradHooks> hooks;
  int64_t id;
  void remove() const {
    if (auto h = hooks.lock()) h->remove(id);
  }
};

static HookHandle register_hook(const Tensor& t, py::function fn) {
  auto hook = std::make_shared<PyRef>(std::move(fn));
  int64_t id = add_grad_hook(t, [hook](const Tensor& g) -> Tensor {
    py::gil_scoped_acquire gil;
    py::object r = hook->obj(g);
    if (r.is_none()) return {};
    if (!py::isinstance<TensorImpl>(r))
      fail<TypeError>("backward: a hook registered with register_hook must return a Tensor or None, got ",
                      std::string(py::str(py::type::of(r).attr("__name__"))));
    return r.cast<Tensor>();
  });
  return {hooks_of(t), id};
}

static HookHandle register_post_accumulate_grad_hook(const Tensor& t, py::function fn) {
  auto hook = std::make_shared<PyRef>(std::move(fn));
  int64_t id = add_post_accumulate_grad_hook(t, [hook](const Tensor& leaf) {
    py::gil_scoped_acquire gil;
    hook->obj(leaf);
  });
  return {hooks_of(t), id};
}

void bind_tensor(py::module_& m, Cls& c) {
  py::class_<HookHandle>(m, "RemovableHandle")
      .def_readonly("id", &HookHandle::id)
      .def("remove", &HookHandle::remove, "Unregisters the hook (again: nothing)")
      .def("__enter__", [](const HookHandle& h) { return h; })
      .def("__exit__", [](const HookHandle& h, const py::args&) { h.remove(); });
  (void)m;
  c.def(py::init([](const Tensor& other) { return detach(other); }), py::arg("data"))
      // ---- geometry
      .def_property_readonly("shape", [](const Tensor& t) { return py::tuple(py::cast(t->shape)); })
      .def_property_readonly("ndim", [](const Tensor& t) { return t->ndim(); })
      .def_property_readonly("dtype", [](const Tensor& t) { return t->dtype; })
      .def_property_readonly("device", [](const Tensor& t) { return t->device; })
      .def_property_readonly("is_cuda", [](const Tensor& t) { return t->device.type == DeviceType::CUDA; })
      .def("dim", [](const Tensor& t) { return t->ndim(); })
      .def("numel", [](const Tensor& t) { return t->numel(); })
      .def("element_size", [](const Tensor& t) { return itemsize(t->dtype); })
      .def(
          "stride",
          [](const Tensor& t, py::object dim) -> py::object {
            if (dim.is_none()) return py::tuple(py::cast(t->strides));
            const int64_t d = int64_from(dim, "stride", "dim");
            if (t->ndim() == 0) fail<IndexError>("stride: dimension specified as ", d, " but tensor has no dimensions");
            return py::int_(t->strides[wrap_dim(d, t->ndim(), "stride")]);
          },
          py::arg("dim") = py::none())
      .def("is_contiguous", [](const Tensor& t) { return t->is_contiguous(); })
      .def("is_floating_point", [](const Tensor& t) { return is_floating(t->dtype); })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t->raw()); })
      // ---- autograd
      .def_property(
          "requires_grad", [](const Tensor& t) { return t->requires_grad; },
          [](const Tensor& t, bool on) {
            if (!t->is_leaf() && !on)
              fail<RuntimeError>(
                  "requires_grad: you can only change requires_grad flags of leaf tensors; use detach() for a non-leaf");
            if (on && !is_floating(t->dtype))
              fail<RuntimeError>("requires_grad: only tensors of floating point dtype can require gradients, got ",
                                 dtype_name(t->dtype));
            t->requires_grad = on;
          })
      .def_property(
          "grad", [](const Tensor& t) { return t->grad; }, &set_grad)
      .def_property_readonly("grad_fn", [](const Tensor& t) { return t->grad_fn; })
      .def_property_readonly("is_leaf", [](const Tensor& t) { return t->is_leaf(); })
      .def_property(
          "data", [](const Tensor& t) { return detach(t); }, &set_data)
      .def("detach", [](const Tensor& t) { return detach(t); })
      .def("detach_",
           [](const Tensor& t) {
             t->grad_fn.reset();
             t->requires_grad = false;
             return t;
           })
      .def(
          "requires_grad_",
          [](const Tensor& t, bool on) {
            if (!t->is_leaf() && !on)
              fail<RuntimeError>("requires_grad_: you can only change requires_grad flags of leaf tensors");
            if (on && !is_floating(t->dtype))
              fail<RuntimeError>("requires_grad_: only tensors of floating point dtype can require gradients, got ",
                                 dtype_name(t->dtype));
            t->requires_grad = on;
            return t;
          },
          py::arg("requires_grad") = true)
      .def("register_hook", &register_hook, py::arg("hook"),
           "hook(grad) runs each backward with this tensor's gradient, before it is accumulated into .grad or passed on;\n"
           "a Tensor it returns (same shape and dtype) replaces the gradient. Returns a handle whose remove() unregisters it.")
      .def("register_post_accumulate_grad_hook", &register_post_accumulate_grad_hook, py::arg("hook"),
           "hook(tensor) runs each backward after this leaf's .grad was updated. Returns a handle whose remove() unregisters it.")
      .def(
          "backward",
          [](const Tensor& t, py::object gradient, bool retain_graph) {
            Tensor g = backward_gradient(t, gradient);
            py::gil_scoped_release nogil;
            run_backward(t, g, retain_graph);
          },
          py::arg("gradient") = py::none(), py::arg("retain_graph") = false)
      // ---- conversion
      .def("item", &item)
      .def("numpy", &to_numpy)
      .def("clone", [](const Tensor& t) { return maybe_nogil(t, [&] { return clone(t); }); })
      .def("contiguous", [](const Tensor& t) { return maybe_nogil(t, [&] { return contiguous(t); }); })
      .def("_to_dtype", [](const Tensor& t, DType d) { return to_dtype(t, d); })
      .def("_to_device", [](const Tensor& t, Device d) { return maybe_nogil(t, [&] { return to_device(t, d); }); })
      .def("float", [](const Tensor& t) { return to_dtype(t, DType::Float32); })
      .def("double", [](const Tensor& t) { return to_dtype(t, DType::Float64); })
      .def("long", [](const Tensor& t) { return to_dtype(t, DType::Int64); })
      .def("bool", [](const Tensor& t) { return to_dtype(t, DType::Bool); })
      // ---- shape
      .def("reshape", [](const Tensor& t, py::args a) { return reshape(t, shape_from_args(a, "reshape")); })
      .def("view", [](const Tensor& t, py::args a) { return view(t, shape_from_args(a, "view")); })
      .def("expand", [](const Tensor& t, py::args a) { return expand(t, shape_from_args(a, "expand")); })
      .def("expand_as", [](const Tensor& t, const Tensor& o) { return expand(t, o->shape); })
      .def("reshape_as", [](const Tensor& t, const Tensor& o) { return reshape(t, o->shape); })
      .def("view_as", [](const Tensor& t, const Tensor& o) { return view(t, o->shape); })
      .def("permute", [](const Tensor& t, py::args a) { return permute(t, shape_from_args(a, "permute")); })
      .def("transpose", [](const Tensor& t, int64_t a, int64_t b) { return transpose(t, a, b); })
      .def("t",
           [](const Tensor& t) {
             if (t->ndim() > 2) fail<ValueError>("t: expects a tensor with <= 2 dimensions, but got shape ", shape_str(t->shape));
             return t->ndim() < 2 ? t : transpose(t, 0, 1);
           })
      .def_property_readonly("T",
                             [](const Tensor& t) {
                               Shape d;
                               for (int64_t i = t->ndim() - 1; i >= 0; --i) d.push_back(i);
                               return permute(t, d);
                             })
      .def_property_readonly("mT",
                             [](const Tensor& t) {
                               if (t->ndim() < 2)
                                 fail<ValueError>("mT: tensor must have at least 2 dimensions, got shape ", shape_str(t->shape));
                               return transpose(t, -2, -1);
                             })
      .def(
          "flatten", [](const Tensor& t, int64_t s, int64_t e) { return flatten(t, s, e); }, py::arg("start_dim") = 0,
          py::arg("end_dim") = -1)
      .def(
          "squeeze", [](const Tensor& t, std::optional<int64_t> d) { return squeeze(t, d); }, py::arg("dim") = py::none())
      .def("unsqueeze", [](const Tensor& t, int64_t d) { return unsqueeze(t, d); })
      .def("narrow",
           [](const Tensor& t, int64_t d, int64_t s, int64_t l) {
             if (t->ndim() == 0) fail<IndexError>("narrow: cannot narrow a 0-d tensor");
             int64_t n = t->shape[wrap_dim(d, t->ndim(), "narrow")];
             if (s < 0) s += n;
             if (s < 0 || l < 0 || s > n || l > n - s)
               fail<IndexError>("narrow: start (", s, ") + length (", l, ") exceeds dimension size (", n, ") of shape ",
                                shape_str(t->shape));
             return slice(t, d, s, s + l, 1);
           })
      .def("_slice", [](const Tensor& t, int64_t d, int64_t s, int64_t e, int64_t st) { return slice(t, d, s, e, st); })
      .def("select", [](const Tensor& t, int64_t d, int64_t i) { return select(t, d, i); })
      .def("index_select",
           [](const Tensor& t, int64_t d, const Tensor& i) { return maybe_nogil(t, [&] { return index_select(t, d, i); }); })
      .def(
          "gather", [](const Tensor& t, int64_t d, const Tensor& i) { return maybe_nogil(t, [&] { return gather(t, d, i); }); },
          py::arg("dim"), py::arg("index"))
      .def("_scatter",
           [](const Tensor& t, int64_t d, const Tensor& i, const py::object& src, bool accumulate) {
             if (py::isinstance<TensorImpl>(src))
               return accumulate ? scatter_add(t, d, i, src.cast<Tensor>()) : scatter(t, d, i, src.cast<Tensor>());
             if (accumulate || !is_operand(src))
               fail<TypeError>(accumulate ? "scatter_add" : "scatter", ": src must be a Tensor", accumulate ? "" : " or a number",
                               ", got ", type_name(src));
             return scatter_value(t, d, i, src.cast<double>());
           })
      .def("_sort", [](const Tensor& t, int64_t d, bool desc) { return maybe_nogil_pair(t, [&] { return sort(t, d, desc); }); })
      .def("_topk", [](const Tensor& t, int64_t k, int64_t d,
                       bool largest) { return maybe_nogil_pair(t, [&] { return topk(t, k, d, largest); }); })
      .def("_cumsum",
           [](const Tensor& t, int64_t d, std::optional<DType> dt) { return maybe_nogil(t, [&] { return cumsum(t, d, dt); }); })
      // ---- reductions
      .def(
          "sum",
          [](const Tensor& t, py::object dim, bool k) {
            auto d = dims_from_object(dim, "sum");
            return maybe_nogil(t, [&] { return sum(t, d, k); });
          },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "mean",
          [](const Tensor& t, py::object dim, bool k) {
            auto d = dims_from_object(dim, "mean");
            return maybe_nogil(t, [&] { return mean(t, d, k); });
          },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "var",
          [](const Tensor& t, py::object dim, py::object unbiased, py::object correction, bool k) {
            double c = 1.0;
            if (!correction.is_none()) c = correction.cast<double>();
            else if (!unbiased.is_none()) c = unbiased.cast<bool>() ? 1.0 : 0.0;
            return var(t, dims_from_object(dim, "var"), c, k);
          },
          py::arg("dim") = py::none(), py::arg("unbiased") = py::none(), py::kw_only(), py::arg("correction") = py::none(),
          py::arg("keepdim") = false)
      .def("_max_dim", [](const Tensor& t, int64_t d, bool k) { return max_dim(t, d, k); })
      .def("_min_dim", [](const Tensor& t, int64_t d, bool k) { return min_dim(t, d, k); })
      .def("_max_all", [](const Tensor& t) { return max_all(t); })
      .def("_min_all", [](const Tensor& t) { return min_all(t); })
      .def(
          "argmax", [](const Tensor& t, std::optional<int64_t> d, bool k) { return argmax(t, d, k); },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "argmin", [](const Tensor& t, std::optional<int64_t> d, bool k) { return argmin(t, d, k); },
          py::arg("dim") = py::none(), py::arg("keepdim") = false)
      .def(
          "softmax", [](const Tensor& t, int64_t d) { return maybe_nogil(t, [&] { return softmax(t, d); }); }, py::arg("dim"))
      .def(
          "log_softmax", [](const Tensor& t, int64_t d) { return maybe_nogil(t, [&] { return log_softmax(t, d); }); },
          py::arg("dim"))
      // ---- elementwise
      .def("neg", [](const Tensor& t) { return maybe_nogil(t, [&] { return neg(t); }); })
      .def("abs", [](const Tensor& t) { return maybe_nogil(t, [&] { return abs(t); }); })
      .def("exp", [](const Tensor& t) { return maybe_nogil(t, [&] { return exp(t); }); })
      .def("log", [](const Tensor& t) { return maybe_nogil(t, [&] { return log(t); }); })
      .def("sqrt", [](const Tensor& t) { return maybe_nogil(t, [&] { return sqrt(t); }); })
      .def("relu", [](const Tensor& t) { return maybe_nogil(t, [&] { return relu(t); }); })
      .def("sigmoid", [](const Tensor& t) { return maybe_nogil(t, [&] { return sigmoid(t); }); })
      .def("tanh", [](const Tensor& t) { return maybe_nogil(t, [&] { return tanh(t); }); })
      .def("sign", [](const Tensor& t) { return maybe_nogil(t, [&] { return sign(t); }); })
      .def("sin", [](const Tensor& t) { return maybe_nogil(t, [&] { return sin(t); }); })
      .def("cos", [](const Tensor& t) { return maybe_nogil(t, [&] { return cos(t); }); })
      .def("square", [](const Tensor& t) { return pow_scalar(t, 2.0); })
      .def(
          "clamp",
          [](const Tensor& t, const py::object& lo, const py::object& hi) {
             // A Python float bound makes an integer tensor's result float32, as in PyTorch, even when
             // its value is whole (clamp(-1.0, 5.0)): the C++ op only sees doubles, so decide here.
            auto bound = [](const py::object& v) {
              return v.is_none() ? std::optional<double>{} : std::optional<double>{v.cast<double>()};
            };
            bool float_bound = py::isinstance<py::float_>(lo) || py::isinstance<py::float_>(hi);
            return clamp(float_bound && !is_floating(t->dtype) ? to_dtype(t, DType::Float32) : t, bound(lo), bound(hi));
          },
          py::arg("min") = py::none(), py::arg("max") = py::none())
      .def(
          "matmul", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, GilRelease())
      .def("pow",
           [](const Tensor& a, py::object e) -> Tensor {
             if (py::isinstance<TensorImpl>(e)) return pow(a, e.cast<Tensor>());
             if (py::isinstance<py::bool_>(e) && a->dtype == DType::Bool) return bool_power(a, e.cast<bool>());
             if (py::isinstance<py::float_>(e) && !is_floating(a->dtype))
               return pow_scalar(to_dtype(a, DType::Float32), e.cast<double>());
             return pow_scalar(a, e.cast<double>());
           })
      // ---- in place (never recorded)
      .def("zero_",
           [](const Tensor& t) {
             fill_(t, 0.0);
             return t;
           })
      .def("fill_",
           [](const Tensor& t, double v) {
             fill_(t, v);
             return t;
           })
      .def("copy_",
           [](const Tensor& t, const Tensor& s) {
             copy_(t, s);
             return t;
           })
      .def(
          "uniform_",
          [](const Tensor& t, double a, double b) {
            random_fill_(t, false, a, b);
            return t;
          },
          py::arg("a") = 0.0, py::arg("b") = 1.0)
      .def(
          "normal_",
          [](const Tensor& t, double mean, double std) {
            random_fill_(t, true, mean, std);
            return t;
          },
          py::arg("mean") = 0.0, py::arg("std") = 1.0)
      .def("_index_copy_", [](const Tensor& t, int64_t d, const Tensor& i, const Tensor& s) { index_copy_(t, d, i, s); });

  // In-place arithmetic writes through a temporary (so broadcasting/promotion are checked once).
  auto inplace = [](const char* name, Tensor (*op)(const Tensor&, const Tensor&)) {
    return [name, op](const Tensor& t, py::object o) {
      check_inplace(t, name);
      check_no_internal_overlap(t, name);
      Tensor r;
      {
        GradModeGuard g(false);
        r = op(t, as_tensor_arg(o, t, name));
      }
      if (r->shape != t->shape)
        fail<ValueError>(name, ": output with shape ", shape_str(t->shape), " doesn't match the broadcast shape ",
                         shape_str(r->shape));
      if (promotion_rank(r->dtype) > promotion_rank(t->dtype))
        fail<TypeError>(name, ": result type ", dtype_name(r->dtype), " can't be cast to the desired output type ",
                        dtype_name(t->dtype));
      copy_(t, r);
      return t;
    };
  };
  // Formula ops placed as METHOD (unary_formulas.h); the NN ones are bound in nn.cpp.
#define RT_BIND_METHOD(name) c.def(#name, [](const Tensor& t) { return maybe_nogil(t, [&] { return name(t); }); });
#define RT_BIND_NN(name)
#define RT_FORMULA_BIND(Op, name, grad_fn, where, forward, backward) RT_BIND_##where(name)
  RT_FORMULA_UNARY_OPS(RT_FORMULA_BIND)
#undef RT_FORMULA_BIND
#undef RT_BIND_NN
#undef RT_BIND_METHOD
  c.def("add_", inplace("add_", &add))
      .def("sub_", inplace("sub_", &sub))
      .def("mul_", inplace("mul_", &mul))
      .def("div_", inplace("div_", &div));
  c.def("floor_divide_", inplace("floor_divide_", &floor_divide)).def("__ifloordiv__", inplace("floor_divide_", &floor_divide));
  c.def("__iadd__", inplace("add_", &add))
      .def("__isub__", inplace("sub_", &sub))
      .def("__imul__", inplace("mul_", &mul))
      .def("__itruediv__", inplace("div_", &div));

  // ---- operators (a Python scalar on either side becomes a 0-d tensor)
  auto binop = [](const char* name, Tensor (*op)(const Tensor&, const Tensor&), bool reflected, Form form = Form::Operator) {
    return [name, op, reflected, form](const Tensor& a, py::object b) -> py::object {
      if (!is_operand(b)) return unsupported(form, name, b);
      Tensor bt = as_tensor_arg(b, a, name);
      Tensor out;
      if (a->numel() + bt->numel() >= kNoGilElems) {  // big operands: let other Python threads run
        py::gil_scoped_release nogil;
        out = reflected ? op(bt, a) : op(a, bt);
      } else {
        out = reflected ? op(bt, a) : op(a, bt);
      }
      return py::cast(out);
    };
  };
  c.def("__add__", binop("add", &add, false)).def("__radd__", binop("add", &add, true));
  c.def("__sub__", binop("sub", &sub, false)).def("__rsub__", binop("sub", &sub, true));
  c.def("__mul__", binop("mul", &mul, false)).def("__rmul__", binop("mul", &mul, true));
  c.def("__truediv__", binop("div", &div, false)).def("__rtruediv__", binop("div", &div, true));
  c.def("__floordiv__", binop("floor_divide", &floor_divide, false))
      .def("__rfloordiv__", binop("floor_divide", &floor_divide, true));
  c.def("floor_divide", binop("floor_divide", &floor_divide, false, Form::Method));
  c.def("_trunc_divide", binop("div", &trunc_divide, false, Form::Method));
  c.def("add", binop("add", &add, false, Form::Method)).def("sub", binop("sub", &sub, false, Form::Method));
  c.def("mul", binop("mul", &mul, false, Form::Method)).def("_true_divide", binop("div", &div, false, Form::Method));
  c.def("maximum", [](const Tensor& a, const Tensor& b) {
     return maximum(a, b);
   }).def("minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); });
  c.def("__pow__", [](const Tensor& a, py::object e) -> py::object {
    if (py::isinstance<TensorImpl>(e)) return py::cast(pow(a, e.cast<Tensor>()));
    if (py::isinstance<py::bool_>(e) && a->dtype == DType::Bool) return py::cast(bool_power(a, e.cast<bool>()));
    if (py::isinstance<py::float_>(e) && !is_floating(a->dtype))
      return py::cast(pow_scalar(to_dtype(a, DType::Float32), e.cast<double>()));
    if (py::isinstance<py::int_>(e) || py::isinstance<py::float_>(e)) return py::cast(pow_scalar(a, e.cast<double>()));
    return py::reinterpret_borrow<py::object>(Py_NotImplemented);
  });
  c.def("__rpow__", [](const Tensor& a, py::object s) -> py::object {
    if (py::isinstance<py::int_>(s) || py::isinstance<py::float_>(s)) return py::cast(pow(scalar_like(s, a, "pow"), a));
    return py::reinterpret_borrow<py::object>(Py_NotImplemented);
  });
  c.def("__matmul__", [](const Tensor& a, const Tensor& b) { return matmul(a, b); }, GilRelease());
  c.def("__rmatmul__", [](const Tensor& a, const Tensor& b) { return matmul(b, a); }, GilRelease());
  c.def("__neg__", [](const Tensor& t) { return neg(t); });
  c.def("__abs__", [](const Tensor& t) { return abs(t); });
  c.def("__pos__", [](const Tensor& t) { return t; });

  auto cmp = [](CompareOp op, const char* name, Form form = Form::Operator) {
    return [op, name, form](const Tensor& a, py::object b) -> py::object {
      if (!is_operand(b)) return unsupported(form, name, b);
      return py::cast(compare(op, a, as_tensor_arg(b, a, name)));
    };
  };
  c.def("__eq__", cmp(CompareOp::Eq, "eq")).def("__ne__", cmp(CompareOp::Ne, "ne")).def("__lt__", cmp(CompareOp::Lt, "lt"));
  c.def("__le__", cmp(CompareOp::Le, "le")).def("__gt__", cmp(CompareOp::Gt, "gt")).def("__ge__", cmp(CompareOp::Ge, "ge"));
  c.def("eq", cmp(CompareOp::Eq, "eq", Form::Method))
      .def("ne", cmp(CompareOp::Ne, "ne", Form::Method))
      .def("lt", cmp(CompareOp::Lt, "lt", Form::Method));
  c.def("le", cmp(CompareOp::Le, "le", Form::Method))
      .def("gt", cmp(CompareOp::Gt, "gt", Form::Method))
      .def("ge", cmp(CompareOp::Ge, "ge", Form::Method));
  c.def("__hash__", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.get()); });
}

}  // namespace rt::bind
