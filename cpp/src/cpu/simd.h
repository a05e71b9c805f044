// The per-ISA kernel table behind runtime dispatch (reticulum/cpu_capability.h): each level's translation
// units fill one constant table; callers reach the kernels only through simd().
#pragma once
#include <cstdint>

#include "cpu/conv_stencil.h"
#include "cpu/float_loops.h"
#include "cpu/sgemm.h"
#include "reticulum/cpu_capability.h"

namespace rt::cpu {

struct SimdKernels {
  CpuCapability level;
  int64_t mr, nr;  // the SGEMM register tile: A panels are mr rows, B panels nr columns
  int64_t fit_rows;  // the fewest rows of C for which the SGEMM beats Eigen
  void (*sgemm_packed)(int64_t M, int64_t N, int64_t K, PanelPacker a, PanelPacker b, float* c, int64_t ldc, bool accumulate);
  PanelPacker (*strided_a)(const StridedOperand* op);
  PanelPacker (*strided_b)(const StridedOperand* op);
  // Stencil packers (conv_stencil.h).
  PanelPacker (*patch_columns)(const Stencil* s);
  PanelPacker (*patch_rows)(const Stencil* s);
  PanelPacker (*patch_rows_a)(const Stencil* s);
  // Direct (GEMM-free) kernels for at most 16 output channels, all held in registers:
  // out[o, p] = sum_t w_t[t, o] * patch[t, p] for o < outputs (w_t is [taps, 16], zero past outputs);
  // gw[o, t] += sum_p gy_t[p, o] * patch[t, p] (gy_t is [positions, 16], zero past outputs; gw is
  // [outputs, taps]); gy_t[p, o] = gy[o, p], zeros up to 16.
  void (*conv_narrow_forward)(const Stencil& s, int64_t taps, const float* w_t, int64_t outputs, float* out);
  void (*conv_narrow_weight_grad)(const Stencil& s, int64_t taps, const float* gy_t, int64_t outputs, float* gw);
  void (*transpose_channels16)(const float* gy, int64_t outputs, int64_t positions, float* gy_t);
  // One output row of the 2x2/stride-2 max pool (pool.cpp has the contract).
  void (*max_pool_2x2_row)(const float* r0, const float* r1, int64_t W, int64_t OW, int64_t base, float* o, int64_t* id);
  // The elementwise, activation, batch-norm and optimizer loops at this level (float_loops.h).
  const FloatLoops* loops;

  // Worth it when both output dims (nearly) fill the register tile; skinny products waste most of it.
  bool sgemm_fits(int64_t M, int64_t N) const { return M >= fit_rows && N >= nr; }
  // C[M x N] (leading dim ldc) = A * B (+ C), A(i, k) = a[i*ars + k*acs], B(k, j) = b[k*brs + j*bcs].
  void sgemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs, const float* b, int64_t brs, int64_t bcs,
             float* c, int64_t ldc, bool accumulate) const {
    const StridedOperand A{a, ars, acs}, B{b, brs, bcs};
    sgemm_packed(M, N, K, strided_a(&A), strided_b(&B), c, ldc, accumulate);
  }
};

// The active level's kernels (reticulum/cpu_capability.h); null at DEFAULT, where Eigen and the portable
// loops serve everything.
const SimdKernels* simd();

// Each compiled level's table (constant-initialized: no code of that level runs before it is chosen).
namespace avx2 {
extern const SimdKernels kernels;
}
namespace avx512 {
extern const SimdKernels kernels;
}

}  // namespace rt::cpu
