// reticulum.cuda's native half, compiled only into a CUDA build (RETICULUM_CUDA=ON): registers the
// CUDA kernel table and binds the device functions as _C._cuda. A CPU build has no _C._cuda, and
// reticulum/cuda.py answers for it.
#include "common.h"
#include "reticulum_cuda.h"

namespace rt::bind {

void bind_cuda(py::module_& m) {
  rt::cuda::register_cuda_backend();
  py::module_ c = m.def_submodule("_cuda", "The CUDA backend of this build");
  c.def("device_count", &rt::cuda::device_count);
  c.def("synchronize", [](int index) {
    py::gil_scoped_release unlocked;  // other Python threads run while the device finishes
    rt::cuda::synchronize(Device{DeviceType::CUDA, index});
  });
  c.def("manual_seed", &rt::cuda::manual_seed);
  c.def("empty_cache", &rt::cuda::empty_cache);
  c.def("cached_bytes", &rt::cuda::cached_bytes);
}

}  // namespace rt::bind
