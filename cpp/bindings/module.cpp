// The _C extension: types, exception mapping, module-level ops and autograd hooks.
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <pybind11/numpy.h>

#include <unordered_set>

#include "common.h"

namespace rt::bind {

static DType dtype_of_numpy(const py::array& a) {
  if (!a.dtype().attr("isnative").cast<bool>())
    fail<ValueError>("from_numpy: arrays with non-native byte order (", std::string(py::str(a.dtype())),
                     ") are not supported; use a.astype(a.dtype.newbyteorder('='))");
  auto k = a.dtype().kind();
  auto sz = a.dtype().itemsize();
  if (k == 'f' && sz == 4) return DType::Float32;
  if (k == 'f' && sz == 8) return DType::Float64;
  if (k == 'i' && sz == 8) return DType::Int64;
  if (k == 'b' && sz == 1) return DType::Bool;
  fail<TypeError>("from_numpy: can't convert a NumPy array of dtype ", std::string(py::str(a.dtype())),
                  "; supported dtypes are float32, float64, int64 and bool");
}

// Why a tensor may not alias the array's memory, or nullptr when it may: kernels write tensors
// in place and read them with typed (vector) loads, so the memory must be writable, aligned to
// the element size, and free of elements that share memory.
static const char* why_not_shareable(const py::array& a) {
  const auto es = static_cast<py::ssize_t>(a.itemsize());
  if (!a.writeable()) return "is not writable";
  bool aligned = reinterpret_cast<uintptr_t>(a.data()) % static_cast<uintptr_t>(es) == 0;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) aligned = aligned && a.strides(i) % es == 0;
  if (!aligned) return "is not aligned to its element size";
  TensorImpl geometry;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    geometry.shape.push_back(a.shape(i));
    geometry.strides.push_back(a.strides(i) / es);
  }
  if (geometry.has_internal_overlap()) return "has elements that share memory (e.g. from np.broadcast_to)";
  return nullptr;
}

// A tensor over the array's memory (the tensor keeps the array alive); the array must be shareable.
static Tensor wrap_numpy(const py::array& a, DType dt) {
  int64_t es = static_cast<int64_t>(itemsize(dt));
  auto t = std::make_shared<TensorImpl>();
  t->dtype = dt;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) {
    t->shape.push_back(a.shape(i));
    t->strides.push_back(a.strides(i) / es);
  }
  auto s = std::make_shared<Storage>();
  s->data = const_cast<void*>(a.data());
  s->nbytes = static_cast<size_t>(a.nbytes());
  auto* keep = new py::object(a);
  s->deleter = [keep](void*) {
    py::gil_scoped_acquire gil;
    delete keep;
  };
  t->storage = std::move(s);
  return t;
}

static DType checked_numpy_dtype(const py::array& a) {
  DType dt = dtype_of_numpy(a);
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    if (a.strides(i) < 0)
      fail<ValueError>("from_numpy: arrays with negative strides are not supported (shape ",
                       shape_str(Shape(a.shape(), a.shape() + a.ndim())), "); pass a.copy()");
  return dt;
}

// Copies a NumPy array into a new contiguous tensor of its dtype (what tensor() builds on).
static Tensor tensor_from_numpy_copy(const py::array& a) {
  DType dt = checked_numpy_dtype(a);
  // Memory the kernels may not read directly is first copied by NumPy (owned, aligned, dense).
  Tensor shared = wrap_numpy(why_not_shareable(a) ? py::array(a.attr("copy")()) : a, dt);
  Tensor out = empty(shared->shape, shared->dtype, Device{});
  backend(out).copy(shared, out);
  return out;
}

// Shares the array's memory, as torch.from_numpy, when tensors may: an array that is read-only,
// misaligned or has elements sharing memory is copied instead, with a UserWarning (PyTorch would
// share a read-only array and leave writes to it undefined).
static Tensor from_numpy(const py::array& a) {
  DType dt = checked_numpy_dtype(a);
  if (const char* why = why_not_shareable(a)) {
    if (PyErr_WarnFormat(PyExc_UserWarning, 1,
                         "from_numpy: the NumPy array %s, so the tensor is a copy of it (writes to one won't show in the other)",
                         why) < 0)
      throw py::error_already_set();  // warnings turned into errors
    return tensor_from_numpy_copy(a);
  }
  return wrap_numpy(a, dt);
}

// A custom autograd.Function's node: backward calls back into Python under the GIL.
static Tensor attach_custom(const Tensor& out, const std::vector<Tensor>& inputs, py::function backward,
                            const std::string& name) {
  auto holder = std::make_shared<PyRef>(std::move(backward));
  static std::unordered_set<std::string> names;  // interned: nodes keep a const char*; the GIL guards the set
  const char* cname = names.insert(name).first->c_str();
  size_t n_in = inputs.size();
  return record(cname, out, inputs, [holder, n_in, cname](const Tensor& g, const Node&) {
    py::gil_scoped_acquire gil;
    py::object res = holder->obj(g);
    std::vector<Tensor> grads(n_in);
    py::tuple tup = py::isinstance<py::tuple>(res) ? res.cast<py::tuple>() : py::make_tuple(res);
    if (tup.size() != n_in)
      fail<RuntimeError>(cname, ".backward returned ", tup.size(), " gradients but forward had ", n_in, " tensor inputs");
    for (size_t i = 0; i < n_in; ++i) {
      if (tup[i].is_none()) continue;
      if (!py::isinstance<TensorImpl>(tup[i]))
        fail<TypeError>(cname, ".backward returned ", std::string(py::str(py::type::of(tup[i]).attr("__name__"))),
                        " as gradient ", i, "; expected a Tensor or None");
      grads[i] = tup[i].cast<Tensor>();
    }
    return grads;
  });
}

// Pins each OpenMP worker (not the calling thread) to its own allowed CPU. Left to the
// scheduler, the worker was sometimes parked on the main thread's CPU for a whole process:
// measured on this 2-vCPU VM, two-thread GEMMs then ran no faster than one (94 vs 166 GFLOP/s
// for 128x784x512), making whole runs bimodal. The main thread stays free to move (and the
// threads it starts later inherit nothing). RETICULUM_NO_PIN=1 leaves placement alone.
static void place_openmp_workers() {
  const char* env = std::getenv("RETICULUM_NO_PIN");
  if (env && *env && std::string(env) != "0") return;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.size() < 2 || omp_get_max_threads() < 2) return;
  // Workers start after the CPU the main thread is on now (where it tends to stay).
  const int here = sched_getcpu();
  size_t base = 0;
  for (size_t i = 0; i < cpus.size(); ++i)
    if (cpus[i] == here) base = i;
#pragma omp parallel
  {
    const int t = omp_get_thread_num();
    if (t > 0) {
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(cpus[(base + static_cast<size_t>(t)) % cpus.size()], &one);
      pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
    }
  }
}

// The Python stack of the op being recorded, for anomaly mode's error messages.
static std::string python_stack() {
  py::gil_scoped_acquire gil;
  try {
    return py::str("").attr("join")(py::module_::import("traceback").attr("format_stack")()).cast<std::string>();
  } catch (const py::error_already_set&) {
    return "(the Python stack could not be formatted)\n";
  }
}

// A Python sequence of tensors (None allowed where `none_ok`), for the engine entry points.
static std::vector<Tensor> tensor_list(const py::handle& seq, const char* op, const char* what, bool none_ok) {
  std::vector<Tensor> out;
  for (auto item : py::reinterpret_borrow<py::sequence>(seq)) {
    if (item.is_none() && none_ok) {
      out.emplace_back();
    } else if (py::isinstance<TensorImpl>(item)) {
      out.push_back(item.cast<Tensor>());
    } else {
      fail<TypeError>(op, ": ", what, " must be Tensors", none_ok ? " or None" : "", ", got ",
                      std::string(py::str(py::type::of(item).attr("__name__"))));
    }
  }
  return out;
}

void bind_functions(py::module_& m) {
  place_openmp_workers();
  m.def("_backward", [](const py::sequence& roots, const py::sequence& grads, bool retain_graph) {
    std::vector<Tensor> r = tensor_list(roots, "backward", "tensors", false),
                        g = tensor_list(grads, "backward", "grad_tensors", true);
    py::gil_scoped_release nogil;
    run_backward(r, g, retain_graph);
  });
  m.def("_grad", [](const py::sequence& outputs, const py::sequence& grad_outputs, const py::sequence& inputs, bool retain_graph,
                    bool allow_unused) {
    std::vector<Tensor> o = tensor_list(outputs, "grad", "outputs", false),
                        go = tensor_list(grad_outputs, "grad", "grad_outputs", true),
                        in = tensor_list(inputs, "grad", "inputs", false);
    py::gil_scoped_release nogil;
    return run_grad(o, go, in, retain_graph, allow_unused);
  });
  // The shape the given shapes broadcast to (NumPy's rule, as every elementwise op applies it), or a
  // ValueError naming `op` and the two shapes that do not broadcast.
  m.def(
      "_broadcast_shapes",
      [](const std::vector<Shape>& shapes, const std::string& op) {
        Shape out;
        for (const Shape& s : shapes) out = broadcast_shapes(out, s, op.c_str());
        return py::tuple(py::cast(out));
      },
      py::arg("shapes"), py::arg("op"));
  set_forward_trace_hook(&python_stack);
  m.def("_set_anomaly_enabled", &set_anomaly_enabled);
  m.def("_is_anomaly_enabled", &anomaly_enabled);
  using GilRelease = py::call_guard<py::gil_scoped_release>;
  m.def(
      "from_numpy", &from_numpy, py::arg("ndarray"),
      "A tensor sharing the NumPy array's memory (float32, float64, int64 or bool; native byte order; no negative strides).\n"
      "An array that is not writable (np.frombuffer, a read-only memmap, np.broadcast_to), not aligned to its element size, or\n"
      "whose elements share memory is copied instead, with a UserWarning: tensors are written in place and read with vector "
      "loads.");
  m.def("_from_numpy_copy", &tensor_from_numpy_copy);
  // Creation ops make their tensor on `device` (the CPU unless given).
  const auto cpu = py::arg("device") = Device{};
  m.def(
      "full", [](py::object shape, double v, DType d, Device dev) { return full(shape_from_object(shape, "full"), v, d, dev); },
      py::arg("size"), py::arg("fill_value"), py::arg("dtype"), cpu);
  m.def(
      "empty", [](py::object shape, DType d, Device dev) { return empty(shape_from_object(shape, "empty"), d, dev); },
      py::arg("size"), py::arg("dtype"), cpu);
  m.def("arange", &arange, py::arg("start"), py::arg("end"), py::arg("step"), py::arg("dtype"), cpu);
  m.def("linspace", &linspace, py::arg("start"), py::arg("end"), py::arg("steps"), py::arg("dtype"), cpu);
  m.def("eye", &eye, py::arg("n"), py::arg("m"), py::arg("dtype"), cpu);
  m.def(
      "rand", [](py::object shape, DType d, Device dev) { return rand(shape_from_object(shape, "rand"), d, dev); },
      py::arg("size"), py::arg("dtype"), cpu);
  m.def(
      "randn", [](py::object shape, DType d, Device dev) { return randn(shape_from_object(shape, "randn"), d, dev); },
      py::arg("size"), py::arg("dtype"), cpu);
  m.def(
      "randint",
      [](int64_t lo, int64_t hi, py::object shape, DType d, Device dev) {
        return randint(lo, hi, shape_from_object(shape, "randint"), d, dev);
      },
      py::arg("low"), py::arg("high"), py::arg("size"), py::arg("dtype"), cpu);
  m.def(
      "bernoulli_mask",
      [](py::object shape, double p, DType d, Device dev) {
        return bernoulli_mask(shape_from_object(shape, "bernoulli"), p, d, dev);
      },
      py::arg("size"), py::arg("p"), py::arg("dtype"), cpu);
  m.def("manual_seed", &manual_seed);
  m.def("empty_cache", &empty_cache, "Frees the memory blocks cached for reuse by freed tensors");
  m.def("cached_bytes", &cached_bytes, "Bytes held in the allocator's cache of freed blocks");
  m.def("set_num_threads", [](int n) {
    set_num_threads(n);
    place_openmp_workers();
  });
  m.def("get_num_threads", &get_num_threads);
  m.def("_enable_test_device", &enable_test_device, "Registers the test-only device 'testdev' (see src/testdev)");
  m.def("_register_test_device_without", &register_test_device_without);
  m.def(
      "_checked_device",
      [](Device d, const std::string& op) {
        if (!backend_registered(d.type)) {
          try {
            backend(d);  // its message says why the device is missing
          } catch (const RuntimeError& e) {
            fail<RuntimeError>(op, "(): ", e.what());
          }
        }
        return d;
      },
      "The device, or a RuntimeError naming the op when this build or process lacks it");
  m.def("_is_device_available", [](const std::string& type) { return backend_registered(parse_device(type).type); });
  const char* test_device = std::getenv("RETICULUM_TEST_DEVICE");
  if (test_device && *test_device && std::string(test_device) != "0") enable_test_device();
  m.def("is_grad_enabled", &grad_enabled);
  m.def("set_grad_enabled", &set_grad_enabled);

  m.def("matmul", &matmul, py::arg("input"), py::arg("other"), GilRelease());
  m.def("bmm", &bmm, py::arg("input"), py::arg("mat2"), GilRelease());
  m.def("cat", &cat, py::arg("tensors"), py::arg("dim") = 0, GilRelease());
  m.def("stack", &stack, py::arg("tensors"), py::arg("dim") = 0, GilRelease());
  m.def("where", [](const Tensor& c, py::object a, py::object b) {
    Tensor like = py::isinstance<TensorImpl>(a) ? a.cast<Tensor>() : py::isinstance<TensorImpl>(b) ? b.cast<Tensor>() : Tensor{};
    if (!like) fail<TypeError>("where: at least one of the two value arguments must be a Tensor");
    Tensor ta = as_tensor_arg(a, like, "where"), tb = as_tensor_arg(b, like, "where");
    py::gil_scoped_release nogil;
    return where(c, ta, tb);
  });
  m.def("maximum", &maximum, py::arg("input"), py::arg("other"));
  m.def("minimum", &minimum, py::arg("input"), py::arg("other"));
  m.def("leaky_relu", &leaky_relu, py::arg("input"), py::arg("negative_slope") = 0.01);
  m.def("heaviside", [](const Tensor& x, py::object v) { return heaviside(x, as_tensor_arg(v, x, "heaviside")); });
  m.def("_attach_custom", &attach_custom);

  py::class_<Node, std::shared_ptr<Node>>(m, "Node")
      .def("name", [](const Node& n) { return std::string(n.name); })
      .def_property_readonly("next_functions",
                             [](const Node& n) {
                               py::list out;
                               for (auto& e : n.next) out.append(py::make_tuple(e.fn ? py::cast(e.fn) : py::none(), 0));
                               return py::tuple(out);
                             })
      .def("__repr__", [](const Node& n) { return "<" + std::string(n.name) + ">"; });
}

}  // namespace rt::bind

PYBIND11_MODULE(_C, m) {
  using namespace rt;
  namespace py = pybind11;
  m.doc() = "reticulum C++ core";

  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what());
    } catch (const RuntimeError& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(PyExc_MemoryError, "reticulum: out of memory");
    }
  });

  py::enum_<DType>(m, "dtype")
      .value("float32", DType::Float32)
      .value("float64", DType::Float64)
      .value("int64", DType::Int64)
      .value("bool", DType::Bool)
      .def("__repr__", [](DType d) { return std::string("reticulum.") + dtype_name(d); })
      .def("__str__", [](DType d) { return std::string("reticulum.") + dtype_name(d); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });

  py::class_<Device>(m, "device")
      .def(py::init(&parse_device))
      .def_property_readonly("type", [](const Device& d) { return device_type_name(d.type); })
      .def_property_readonly("index", [](const Device& d) { return d.index; })
      .def("__eq__", [](const Device& a, const Device& b) { return a == b; })
      .def("__hash__", [](const Device& d) { return static_cast<int>(d.type) * 1000 + d.index; })
      .def("__str__", [](const Device& d) { return device_str(d); })
      .def("__repr__", [](const Device& d) {
        std::string r = "device(type='" + std::string(device_type_name(d.type)) + "'";
        if (d.type == DeviceType::CUDA) r += ", index=" + std::to_string(d.index);
        return r + ")";
      });

  py::class_<TensorImpl, std::shared_ptr<TensorImpl>> cls(m, "Tensor");
  rt::bind::bind_tensor(m, cls);
  rt::bind::bind_functions(m);
  rt::bind::bind_nn(m);
  rt::bind::bind_optim(m);
  rt::bind::bind_cpu(m);
  rt::bind::bind_reducer(m);
#ifdef RETICULUM_WITH_CUDA
  rt::bind::bind_cuda(m);
#endif
}
