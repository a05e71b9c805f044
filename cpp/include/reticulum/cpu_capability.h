// Runtime CPU dispatch: the hot float kernels (SGEMM, stencil and direct convolutions, 2x2 max
// pooling) are compiled once per ISA level, each in its own namespace (rt::cpu::avx2,
// rt::cpu::avx512) with its own target flags; everything else is built for baseline x86-64. The
// best level that the CPU and the OS support is chosen once, capped by RETICULUM_CPU_CAPABILITY.
// The kernels themselves are reached through cpu/simd.h.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace rt::cpu {

// PyTorch's names and order (torch.backends.cpu.get_cpu_capability()).
enum class CpuCapability : int { Default = 0, Avx2 = 1, Avx512 = 2 };
const char* capability_name(CpuCapability c);

// The levels built into this binary, lowest first (only DEFAULT off x86-64).
std::vector<CpuCapability> compiled_capabilities();
// The best compiled level that this CPU and OS can run (cpuid, and xgetbv for the saved register state).
CpuCapability host_capability();
// Chooses the level from RETICULUM_CPU_CAPABILITY on first use (unset: the host's best). Returns a
// warning when the request is above what the host supports (the host's best is used instead);
// an unknown name is a ValueError.
std::string init_cpu_capability();
CpuCapability active_capability();
// The level for a request of `requested` on a host whose best is `host`, and the warning to give
// when the request had to be lowered (empty otherwise).
std::pair<CpuCapability, std::string> resolve_capability(CpuCapability requested, CpuCapability host);
// For tests: switches the level (ValueError above the host's).
void set_cpu_capability(CpuCapability c);
// Parses "default" / "avx2" / "avx512" (any case); ValueError naming `what` otherwise.
CpuCapability parse_capability(const std::string& name, const char* what);

// Compiler, flags and the per-level target flags this binary was built with.
struct BuildInfo {
  std::string compiler, cxx_flags, native;
  std::vector<std::pair<std::string, std::string>> level_flags;  // level name, its extra flags
};
BuildInfo build_info();

}  // namespace rt::cpu
