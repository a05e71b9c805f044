// CPU feature detection and the choice of the active kernel level (reticulum/cpu_capability.h).
#include "reticulum/cpu_capability.h"

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <tuple>

#include "cpu/simd.h"
#include "reticulum/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#define RT_X86_DISPATCH 1
#endif

namespace rt::cpu {

const char* capability_name(CpuCapability c) {
  switch (c) {
    case CpuCapability::Avx2: return "AVX2";
    case CpuCapability::Avx512: return "AVX512";
    default: return "DEFAULT";
  }
}

std::vector<CpuCapability> compiled_capabilities() {
#ifdef RT_X86_DISPATCH
  return {CpuCapability::Default, CpuCapability::Avx2, CpuCapability::Avx512};
#else
  return {CpuCapability::Default};
#endif
}

#ifdef RT_X86_DISPATCH
// The instruction sets need the CPU's cpuid bits and the OS's consent to save the wider
// registers on context switches (XCR0, read by xgetbv once cpuid reports OSXSAVE).
static CpuCapability detect() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return CpuCapability::Default;
  const bool fma = c & bit_FMA, avx = c & bit_AVX, osxsave = c & bit_OSXSAVE;
  if (!(fma && avx && osxsave)) return CpuCapability::Default;
  unsigned xlo, xhi;
  __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
  const bool ymm_state = (xlo & 0x6) == 0x6;     // SSE and AVX state
  const bool zmm_state = (xlo & 0xE6) == 0xE6;   // plus opmask and both halves of the zmm registers
  if (!ymm_state || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return CpuCapability::Default;
  if (!(b & bit_AVX2)) return CpuCapability::Default;
  const unsigned avx512 = bit_AVX512F | bit_AVX512DQ | bit_AVX512BW | bit_AVX512VL;
  return zmm_state && (b & avx512) == avx512 ? CpuCapability::Avx512 : CpuCapability::Avx2;
}
#endif

CpuCapability host_capability() {
#ifdef RT_X86_DISPATCH
  static const CpuCapability host = detect();
  return host;
#else
  return CpuCapability::Default;
#endif
}

CpuCapability parse_capability(const std::string& name, const char* what) {
  std::string lower;
  for (char ch : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (lower == "default") return CpuCapability::Default;
  if (lower == "avx2") return CpuCapability::Avx2;
  if (lower == "avx512") return CpuCapability::Avx512;
  fail<ValueError>(what, ": unknown CPU capability '", name, "'; expected one of default, avx2, avx512");
}

static const SimdKernels* kernels_of(CpuCapability c) {
#ifdef RT_X86_DISPATCH
  if (c == CpuCapability::Avx512) return &avx512::kernels;
  if (c == CpuCapability::Avx2) return &avx2::kernels;
#endif
  (void)c;
  return nullptr;
}

namespace {
std::atomic<int> active_level{-1};  // -1: not chosen yet
std::once_flag chosen;
std::string env_warning;
}  // namespace

std::pair<CpuCapability, std::string> resolve_capability(CpuCapability requested, CpuCapability host) {
  if (requested <= host) return {requested, ""};
  return {host, std::string("RETICULUM_CPU_CAPABILITY=") + capability_name(requested) +
                    ": this CPU (or this build) supports at most " + capability_name(host) + "; using " + capability_name(host)};
}

static void choose_from_env() {
  CpuCapability level = host_capability();
  const char* env = std::getenv("RETICULUM_CPU_CAPABILITY");
  if (env && *env) std::tie(level, env_warning) = resolve_capability(parse_capability(env, "RETICULUM_CPU_CAPABILITY"), level);
  active_level.store(static_cast<int>(level));
}

std::string init_cpu_capability() {
  std::call_once(chosen, choose_from_env);  // a ValueError leaves the flag unset: the next call throws again
  return env_warning;
}

CpuCapability active_capability() {
  const int level = active_level.load(std::memory_order_relaxed);
  if (level >= 0) return static_cast<CpuCapability>(level);
  init_cpu_capability();
  return static_cast<CpuCapability>(active_level.load());
}

void set_cpu_capability(CpuCapability c) {
  init_cpu_capability();
  if (c > host_capability())
    fail<ValueError>("set_cpu_capability: ", capability_name(c), " is above what this CPU (or this build) supports (",
                     capability_name(host_capability()), ")");
  active_level.store(static_cast<int>(c));
}

const SimdKernels* simd() { return kernels_of(active_capability()); }

BuildInfo build_info() {
  BuildInfo info;
  info.compiler = RT_BUILD_COMPILER;
  info.cxx_flags = RT_BUILD_CXX_FLAGS;
  info.native = RT_BUILD_NATIVE;
  for (CpuCapability c : compiled_capabilities()) {
    const char* flags = c == CpuCapability::Avx512 ? RT_BUILD_AVX512_FLAGS : c == CpuCapability::Avx2 ? RT_BUILD_AVX2_FLAGS : "";
    info.level_flags.emplace_back(capability_name(c), flags);
  }
  return info;
}

}  // namespace rt::cpu
