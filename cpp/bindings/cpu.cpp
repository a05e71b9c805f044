// reticulum.backends.cpu: the CPU kernel level (runtime ISA dispatch) and the build's flags.
#include "common.h"
#include "reticulum/cpu_capability.h"
#include "reticulum/tensor.h"

namespace rt::bind {

void bind_cpu(py::module_& m) {
  using namespace rt::cpu;
  // Chooses the level from RETICULUM_CPU_CAPABILITY; returns the warning to show, if any.
  m.def("_init_cpu_capability", &init_cpu_capability);
  m.def("_get_cpu_capability", [] { return std::string(capability_name(active_capability())); });
  // Tests switch levels in one process with this; users cap the level with the environment variable.
  m.def("_set_cpu_capability",
        [](const std::string& name) { set_cpu_capability(parse_capability(name, "_set_cpu_capability")); });
  m.def("_resolve_cpu_capability", [](const std::string& requested, const std::string& host) {
    const auto [level, warning] = resolve_capability(parse_capability(requested, "_resolve_cpu_capability"),
                                                     parse_capability(host, "_resolve_cpu_capability"));
    return py::make_tuple(capability_name(level), warning);
  });
  m.def("_set_poison_allocations", &set_poison_allocations);
  m.def("_cpu_build_info", [] {
    const BuildInfo info = build_info();
    py::dict d, levels;
    d["compiler"] = info.compiler;
    d["cxx_flags"] = info.cxx_flags;
    d["native"] = info.native;
    for (const auto& [name, flags] : info.level_flags) levels[py::str(name)] = flags;
    d["compiled"] = levels;
    d["host"] = capability_name(host_capability());
    d["active"] = capability_name(active_capability());
    return d;
  });
}

}  // namespace rt::bind
