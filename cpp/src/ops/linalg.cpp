// matmul with NumPy semantics (1-D promotion, broadcast batch dims) built on one
// differentiable primitive, bmm, whose kernel is the device GEMM.
#include "reticulum/ops.h"

namespace rt {

// A 3-d operand the GEMM kernel can read in place: one of its last two strides is 1
// (or the matching size is 1) and none is 0.
static bool gemm_readable(const Tensor& t) {
  int64_t r = t->shape[1], c = t->shape[2], sr = t->strides[1], sc = t->strides[2];
  bool row = (sc == 1 || c == 1) && (sr != 0 || r == 1);
  bool col = (sr == 1 || r == 1) && (sc != 0 || c == 1);
  return row || col;
}

Tensor bmm(const Tensor& a_in, const Tensor& b_in) {
  if (a_in->ndim() != 3 || b_in->ndim() != 3)
    fail<ValueError>("bmm: expected 3-d tensors, got shapes ", shape_str(a_in->shape), " and ", shape_str(b_in->shape));
  if (a_in->shape[0] != b_in->shape[0] || a_in->shape[2] != b_in->shape[1])
    fail<ValueError>("bmm: shapes ", shape_str(a_in->shape), " and ", shape_str(b_in->shape), " cannot be multiplied");
  check_same_dtype("matmul", "both operands", a_in, "", b_in);
  check_same_device("matmul", a_in, b_in);
  DType dt = a_in->dtype;
  if (!is_floating(dt))
    fail<TypeError>("matmul: expected floating point tensors, got ", dtype_name(a_in->dtype), " and ", dtype_name(b_in->dtype));
  Tensor a = detach(a_in), b = detach(b_in);
  if (!gemm_readable(a)) a = contiguous(a);
  if (!gemm_readable(b)) b = contiguous(b);
  Tensor out = empty({a->shape[0], a->shape[1], b->shape[2]}, dt, a->device);
  if (a->shape[2] == 0) backend(out).fill(out, 0);
  else if (out->numel() > 0) backend(out).bmm(a, b, out);
  return record("BmmBackward0", out, {a_in, b_in}, [a, b](const Tensor& g, const Node& n) {
    Tensor ga, gb;
    if (n.needs(0)) ga = bmm(g, transpose(b, 1, 2));
    if (n.needs(1)) gb = bmm(transpose(a, 1, 2), g);
    return std::vector<Tensor>{ga, gb};
  });
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  int64_t da = a->ndim(), db = b->ndim();
  if (da == 0 || db == 0)
    fail<ValueError>("matmul: both arguments need at least 1 dimension, got shapes ", shape_str(a->shape), " and ",
                     shape_str(b->shape));
  Tensor A = da == 1 ? unsqueeze(a, 0) : a;   // (k) -> (1, k)
  Tensor B = db == 1 ? unsqueeze(b, 1) : b;   // (k) -> (k, 1)
  int64_t m = A->shape[A->ndim() - 2], k = A->shape[A->ndim() - 1], k2 = B->shape[B->ndim() - 2], n = B->shape[B->ndim() - 1];
  if (k != k2)
    fail<ValueError>("matmul: shapes ", shape_str(a->shape), " and ", shape_str(b->shape), " cannot be multiplied (", k,
                     " != ", k2, ")");
  Shape ba(A->shape.begin(), A->shape.end() - 2), bb(B->shape.begin(), B->shape.end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  int64_t nb = numel_of(batch);
  Tensor out;
  if (B->ndim() == 2 && A->ndim() > 2 && batch == ba) {
    // (..., m, k) @ (k, n): fold the batch into the rows — one large GEMM.
    Shape s = batch;
    s.push_back(m);
    s.push_back(n);
    out = reshape(squeeze(bmm(unsqueeze(reshape(A, {nb * m, k}), 0), unsqueeze(B, 0)), 0), s);
  } else {
    Shape sa = batch, sb = batch;
    sa.insert(sa.end(), {m, k});
    sb.insert(sb.end(), {k, n});
    Tensor A3 = reshape(expand(A, sa), {nb, m, k}), B3 = reshape(expand(B, sb), {nb, k, n});
    Shape s = batch;
    s.insert(s.end(), {m, n});
    out = reshape(bmm(A3, B3), s);
  }
  if (da == 1) out = squeeze(out, out->ndim() - 2);
  if (db == 1) out = squeeze(out, out->ndim() - 1);
  return out;
}

}  // namespace rt
