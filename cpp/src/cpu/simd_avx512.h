// Declarations shared by the AVX-512 translation units. Everything they define lives in
// rt::cpu::avx512 (the build checks that they define no shared inline or template code, which
// the linker could pick for baseline callers).
#pragma once
#include <immintrin.h>

#include <cstdint>

#include "cpu/simd.h"

namespace rt::cpu::avx512 {

constexpr int64_t MR = 8, NR = 32;  // SGEMM register tile: 16 zmm accumulators

// The first n of 16 lanes (n clamped to 0..16): the mask of a partial float vector.
inline __mmask16 lanes16(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : static_cast<__mmask16>((1u << n) - 1);
}

// 64-byte-aligned per-thread packing buffer `which` (0 or 1) of at least n floats, kept between calls.
float* scratch(int which, int64_t n);

// The A-panel layout from 8 row pointers: dst[k*8 + i] = rows[i][k] for k < len; a null row reads
// as zeros. Rows are loaded 16 at a time and transposed in registers.
void pack_a_rows(const float* const rows[MR], int64_t len, float* dst);
// dst[c*ldd + r] = src[r*lds + c] for a 16x16 block, in registers.
void transpose16x16(const float* src, int64_t lds, float* dst, int64_t ldd);

void sgemm_packed(int64_t M, int64_t N, int64_t K, PanelPacker a, PanelPacker b, float* c, int64_t ldc, bool accumulate);
PanelPacker strided_a(const StridedOperand* op);
PanelPacker strided_b(const StridedOperand* op);
PanelPacker patch_columns(const Stencil* s);
PanelPacker patch_rows(const Stencil* s);
PanelPacker patch_rows_a(const Stencil* s);
void conv_narrow_forward(const Stencil& s, int64_t taps, const float* w_t, int64_t outputs, float* out);
void conv_narrow_weight_grad(const Stencil& s, int64_t taps, const float* gy_t, int64_t outputs, float* gw);
void transpose_channels16(const float* gy, int64_t outputs, int64_t positions, float* gy_t);
void max_pool_2x2_row(const float* r0, const float* r1, int64_t W, int64_t OW, int64_t base, float* o, int64_t* id);

}  // namespace rt::cpu::avx512
