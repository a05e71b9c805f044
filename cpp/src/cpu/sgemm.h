// The interface shared by the per-ISA single-precision GEMMs (sgemm_avx512.cpp, sgemm_avx2.cpp),
// reached through the dispatch table (simd.h).
#pragma once
#include <cstdint>

namespace rt::cpu {
// Operands that are not matrices in memory (e.g. convolution patches read straight from the
// image) are packed by a callback: fn(ctx, i0, n, k0, kc, dst) fills one micro-panel, rows/columns
// [i0, i0 + n) (n <= the panel width: the level's mr for A, nr for B) by depth [k0, k0 + kc),
// as dst[k * width + i], zeros past n. dst is 64-byte aligned.
constexpr int64_t kSgemmKC = 256;  // the most depth one packed panel holds
struct PanelPacker {
  void (*fn)(const void* ctx, int64_t i0, int64_t n, int64_t k0, int64_t kc, float* dst);
  const void* ctx;
};
// The packer of a strided matrix X(i, k) = x[i*rs + k*cs] (for A) or X(k, j) = x[k*rs + j*cs] (for B).
struct StridedOperand {
  const float* x;
  int64_t rs, cs;
};
}  // namespace rt::cpu
