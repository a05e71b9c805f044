// bmm through cuBLAS's strided batched GEMM. cuBLAS is column-major, so the row-major product
// C = A @ B is computed as C^T = B^T @ A^T: a row-major operand is its transpose in column-major
// order as it lies in memory, and a column-major one (a transposed view) is read with op T.
#include <cublas_v2.h>

#include <climits>

#include "allocator.h"
#include "kernels.h"
#include "runtime.h"

namespace rt::cuda {

namespace {
// One operand X [R, Cc] (strides rs, cs) as cuBLAS reads X^T: the op to apply to the stored
// matrix and its leading dimension.
struct Operand {
  cublasOperation_t op;
  int64_t ld;
  bool ok;  // false: cuBLAS cannot read this layout (overlapping rows); copy it first
};

Operand describe(int64_t R, int64_t Cc, int64_t rs, int64_t cs) {
  if (cs == 1 || Cc == 1) {  // stored as X^T [Cc, R], column-major
    const int64_t ld = R == 1 ? std::max<int64_t>(1, Cc) : rs;
    return {CUBLAS_OP_N, ld, ld >= std::max<int64_t>(1, Cc)};
  }
  const int64_t ld = Cc == 1 ? std::max<int64_t>(1, R) : cs;  // stored as X [R, Cc], column-major
  return {CUBLAS_OP_T, ld, (rs == 1 || R == 1) && ld >= std::max<int64_t>(1, R)};
}

// A contiguous copy of t in a work buffer that lives as long as `keep`.
Tensor dense_copy(const Tensor& t, std::unique_ptr<Scratch>& keep) {
  const size_t nbytes = static_cast<size_t>(t->numel()) * itemsize(t->dtype);
  keep = std::make_unique<Scratch>(t->device, nbytes);
  auto s = std::make_shared<Storage>();  // no deleter: the Scratch owns the memory
  s->data = keep->get();
  s->nbytes = nbytes;
  s->device = t->device;
  auto c = std::make_shared<TensorImpl>();
  c->storage = s;
  c->shape = t->shape;
  c->strides = contiguous_strides(t->shape);
  c->dtype = t->dtype;
  c->device = t->device;
  copy(t, c);
  return c;
}

int as_int(int64_t v, const char* what) {
  if (v > INT_MAX) fail<RuntimeError>("bmm: ", what, " ", v, " exceeds cuBLAS's 32-bit limit");
  return static_cast<int>(v);
}

void check_blas(cublasStatus_t st) {
  if (st != CUBLAS_STATUS_SUCCESS) fail<RuntimeError>("bmm: cuBLAS error ", cublasGetStatusString(st));
}
}  // namespace

void bmm(const Tensor& a_in, const Tensor& b_in, const Tensor& out) {
  const int64_t B = a_in->shape[0], M = a_in->shape[1], K = a_in->shape[2], N = b_in->shape[2];
  DeviceGuard guard(out->device);
  std::unique_ptr<Scratch> keep_a, keep_b;
  Tensor a = a_in, b = b_in;
  Operand oa = describe(M, K, a->strides[1], a->strides[2]), ob = describe(K, N, b->strides[1], b->strides[2]);
  if (!oa.ok) {
    a = dense_copy(a_in, keep_a);
    oa = describe(M, K, K, 1);
  }
  if (!ob.ok) {
    b = dense_copy(b_in, keep_b);
    ob = describe(K, N, N, 1);
  }
  cublasHandle_t h = cublas(out->device);
  const int m = as_int(N, "size"), n = as_int(M, "size"), k = as_int(K, "size"), batch = as_int(B, "batch");
  const int lda = as_int(ob.ld, "leading dimension"), ldb = as_int(oa.ld, "leading dimension");
  const long long sa = a->strides[0], sb = b->strides[0], sc = M * N;
  if (a->dtype == DType::Float64) {
    const double one = 1, zero = 0;
    check_blas(cublasDgemmStridedBatched(h, ob.op, oa.op, m, n, k, &one, b->data<double>(), lda, sb, a->data<double>(), ldb, sa,
                                         &zero, out->data<double>(), m, sc, batch));
  } else {
    const float one = 1, zero = 0;
    check_blas(cublasSgemmStridedBatched(h, ob.op, oa.op, m, n, k, &one, b->data<float>(), lda, sb, a->data<float>(), ldb, sa,
                                         &zero, out->data<float>(), m, sc, batch));
  }
}

}  // namespace rt::cuda
