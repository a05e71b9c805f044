// AVX-512 single-precision GEMM (sgemm.cpp); only built where the compiler targets AVX-512F.
#pragma once
#include <cstdint>

#ifdef __AVX512F__
#define RT_HAVE_SGEMM 1
namespace rt::cpu {
// C[M x N] (row-major, leading dim ldc) = A[M x K] * B[K x N] (+ C if accumulate);
// A(i, k) = a[i*ars + k*acs], B(k, j) = b[k*brs + j*bcs]. Threads itself unless called from a parallel region.
// Worth it when both output dims fill the 8x32 register tile; skinny products waste most of it.
inline bool sgemm_fits(int64_t M, int64_t N) { return M >= 16 && N >= 32; }
void sgemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs, const float* b, int64_t brs, int64_t bcs, float* c,
           int64_t ldc, bool accumulate = false);

// Operands that are not matrices in memory (e.g. convolution patches read straight from the
// image) are packed by a callback: fn(ctx, i0, n, k0, kc, dst) fills one micro-panel, rows/columns
// [i0, i0 + n) (n <= the panel width) by depth [k0, k0 + kc), as dst[k * width + i], zeros past n.
constexpr int64_t kSgemmMR = 8, kSgemmNR = 32;  // panel widths of A and B
constexpr int64_t kSgemmKC = 256;                // the most depth one packed panel holds
struct PanelPacker {
  void (*fn)(const void* ctx, int64_t i0, int64_t n, int64_t k0, int64_t kc, float* dst);
  const void* ctx;
};
void sgemm_packed(int64_t M, int64_t N, int64_t K, PanelPacker a, PanelPacker b, float* c, int64_t ldc, bool accumulate);
// The packer of a strided matrix X(i, k) = x[i*rs + k*cs] (for A) or X(k, j) = x[k*rs + j*cs] (for B).
struct StridedOperand {
  const float* x;
  int64_t rs, cs;
};
// The A-panel layout from 8 row pointers: dst[k*8 + i] = rows[i][k] for k < len; a null row reads
// as zeros. Rows are loaded 16 at a time and transposed in registers.
void pack_a_rows(const float* const rows[kSgemmMR], int64_t len, float* dst);
// dst[c*ldd + r] = src[r*lds + c] for a 16x16 block, in registers.
void transpose16x16(const float* src, int64_t lds, float* dst, int64_t ldd);
PanelPacker strided_a(const StridedOperand* op);
PanelPacker strided_b(const StridedOperand* op);
}  // namespace rt::cpu
#endif
