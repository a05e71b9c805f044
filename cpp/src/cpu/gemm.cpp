// Batched GEMM through Eigen. Operands may be transposed views: each matrix is
// mapped row- or column-major from whichever of its last two strides is 1.
#include <Eigen/Core>

#include "cpu/kernels.h"
#include "cpu/sgemm.h"

namespace rt::cpu {

template <class T, int Order>
using MatMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Order>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class T, class A, class B>
static void gemm_one(const A& a, const B& b, T* o, int64_t m, int64_t n) {
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, Eigen::Unaligned> out(o, m, n);
  out.noalias() = a * b;
}

template <class T>
static void bmm_typed(const Tensor& a, const Tensor& b, const Tensor& out) {
  const int64_t B = a->shape[0], M = a->shape[1], K = a->shape[2], N = b->shape[2];
  for (int64_t i = 0; i < B; ++i) {
    const T* ap = a->data<T>() + i * a->strides[0];
    const T* bp = b->data<T>() + i * b->strides[0];
    T* op = out->data<T>() + i * M * N;
    // Row-major when the column stride is 1 (or there is one column), else column-major.
    bool a_row = a->strides[2] == 1 || K == 1, b_row = b->strides[2] == 1 || N == 1;
    int64_t a_ld = a_row ? (M == 1 ? K : a->strides[1]) : a->strides[2];
    int64_t b_ld = b_row ? (K == 1 ? N : b->strides[1]) : b->strides[2];
    if (a_row && b_row) gemm_one<T>(MatMap<T, Eigen::RowMajor>(ap, M, K, Eigen::OuterStride<>(a_ld)), MatMap<T, Eigen::RowMajor>(bp, K, N, Eigen::OuterStride<>(b_ld)), op, M, N);
    else if (a_row) gemm_one<T>(MatMap<T, Eigen::RowMajor>(ap, M, K, Eigen::OuterStride<>(a_ld)), MatMap<T, Eigen::ColMajor>(bp, K, N, Eigen::OuterStride<>(b_ld)), op, M, N);
    else if (b_row) gemm_one<T>(MatMap<T, Eigen::ColMajor>(ap, M, K, Eigen::OuterStride<>(a_ld)), MatMap<T, Eigen::RowMajor>(bp, K, N, Eigen::OuterStride<>(b_ld)), op, M, N);
    else gemm_one<T>(MatMap<T, Eigen::ColMajor>(ap, M, K, Eigen::OuterStride<>(a_ld)), MatMap<T, Eigen::ColMajor>(bp, K, N, Eigen::OuterStride<>(b_ld)), op, M, N);
  }
}

void bmm(const Tensor& a, const Tensor& b, const Tensor& out) {
  if (a->dtype == DType::Float64) return bmm_typed<double>(a, b, out);
#ifdef RT_HAVE_SGEMM
  const int64_t B = a->shape[0], M = a->shape[1], K = a->shape[2], N = b->shape[2];
  if (sgemm_fits(M, N)) {
    for (int64_t i = 0; i < B; ++i)
      sgemm(M, N, K, a->data<float>() + i * a->strides[0], a->strides[1], a->strides[2], b->data<float>() + i * b->strides[0], b->strides[1],
            b->strides[2], out->data<float>() + i * M * N, N);
    return;
  }
#endif
  bmm_typed<float>(a, b, out);
}

}  // namespace rt::cpu
