// The CPU backend's one GEMM entry point (bmm and convolution both use it).
#pragma once
#include <cstdint>

namespace rt::cpu {

// C[M x N] (row-major, leading dimension N) = A[M x K] B[K x N] (+ C if accumulate), where
// A(i, k) = a[i*ars + k*acs] and B(k, j) = b[k*brs + j*bcs]; each operand needs a unit stride
// in one of its two dims (or a size-1 dim). Float products that fill the register tile go to
// the active ISA level's SGEMM (simd.h), the rest to Eigen. Instantiated for float and double.
template <class T>
void gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t bcs, T* c,
          bool accumulate);

}  // namespace rt::cpu
