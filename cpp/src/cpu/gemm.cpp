// GEMM dispatch: the active level's SGEMM (simd.h) for wide float products, Eigen otherwise.
// Eigen is only fast on maps with a unit inner stride, so each operand is viewed row- or
// column-major from whichever of its strides is 1 (transposed views need no copy).
#include "cpu/gemm.h"

#include <Eigen/Core>
#include <algorithm>
#include <type_traits>

#include "cpu/kernels.h"
#include "cpu/simd.h"

namespace rt::cpu {

template <class T>
void gemm(int64_t M, int64_t N, int64_t K, const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t bcs, T* c,
          bool accumulate) {
  if constexpr (std::is_same_v<T, float>) {
    const SimdKernels* k = simd();
    if (k && k->sgemm_fits(M, N)) {
      k->sgemm(M, N, K, a, ars, acs, b, brs, bcs, c, N, accumulate);
      return;
    }
  }
  using RM =
      Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned, Eigen::OuterStride<>>;
  using CM =
      Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>, Eigen::Unaligned, Eigen::OuterStride<>>;
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned> C(c, M, N);
  auto run = [&](const auto& A, const auto& B) {
    if (accumulate) C.noalias() += A * B;
    else C.noalias() = A * B;
  };
  // Row-major when the column stride is 1 (or there is one column), else column-major; a
  // degenerate leading dimension (one row/column) gets a safe nonzero stride (Eigen reads 0 as "default").
  const bool a_row = acs == 1 || K == 1, b_row = bcs == 1 || N == 1;
  const int64_t a_ld = a_row ? (M == 1 ? K : ars) : (K == 1 ? M : acs);
  const int64_t b_ld = b_row ? (K == 1 ? N : brs) : (N == 1 ? K : bcs);
  if (a_row && b_row) run(RM(a, M, K, Eigen::OuterStride<>(a_ld)), RM(b, K, N, Eigen::OuterStride<>(b_ld)));
  else if (a_row) run(RM(a, M, K, Eigen::OuterStride<>(a_ld)), CM(b, K, N, Eigen::OuterStride<>(b_ld)));
  else if (b_row) run(CM(a, M, K, Eigen::OuterStride<>(a_ld)), RM(b, K, N, Eigen::OuterStride<>(b_ld)));
  else run(CM(a, M, K, Eigen::OuterStride<>(a_ld)), CM(b, K, N, Eigen::OuterStride<>(b_ld)));
}

template void gemm<float>(int64_t, int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t, int64_t, float*,
                          bool);
template void gemm<double>(int64_t, int64_t, int64_t, const double*, int64_t, int64_t, const double*, int64_t, int64_t, double*,
                           bool);

void bmm(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t B = a->shape[0], M = a->shape[1], K = a->shape[2], N = b->shape[2];
  dispatch_float(a->dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < B; ++i)
      gemm<T>(M, N, K, a->data<T>() + i * a->strides[0], a->strides[1], a->strides[2], b->data<T>() + i * b->strides[0],
              b->strides[1], b->strides[2], out->data<T>() + i * M * N, false);
  });
}

}  // namespace rt::cpu
