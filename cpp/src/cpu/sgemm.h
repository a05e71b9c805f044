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
}  // namespace rt::cpu
#endif
