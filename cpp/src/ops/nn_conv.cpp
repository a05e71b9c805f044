// Convolution (1-d/2-d/3-d, stride/padding/dilation/groups) and the fused linear layer.
#include <algorithm>

#include "reticulum/checked.h"
#include "reticulum/nn_ops.h"

namespace rt {

static std::string dims_str(const std::vector<int64_t>& v) { return shape_str(v); }

Tensor conv_nd(int nd, const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const ConvArgs& a, const char* name) {
  const int64_t xd = x_in->ndim();
  if (xd != nd + 1 && xd != nd + 2)
    fail<ValueError>(name, ": expected a ", nd + 1, "-d (unbatched) or ", nd + 2, "-d (batched) input, got shape ",
                     shape_str(x_in->shape));
  if (w_in->ndim() != nd + 2)
    fail<ValueError>(name, ": expected a ", nd + 2, "-d weight [out, in/groups, *kernel], got shape ", shape_str(w_in->shape));
  const bool unbatched = xd == nd + 1;
  Tensor x = unbatched ? unsqueeze(x_in, 0) : x_in;
  for (auto* v : {&a.stride, &a.padding, &a.dilation})
    if (static_cast<int>(v->size()) != nd) fail<ValueError>(name, ": stride/padding/dilation need ", nd, " values each");
  ConvGeom g;
  g.N = x->shape[0];
  g.C = x->shape[1];
  g.O = w_in->shape[0];
  g.groups = a.groups;
  if (g.groups < 1) fail<ValueError>(name, ": groups must be positive, got ", g.groups);
  if (g.C != w_in->shape[1] * g.groups)
    fail<ValueError>(name, ": input has ", g.C, " channels but weight ", shape_str(w_in->shape), " expects ",
                     w_in->shape[1] * g.groups, " (in_channels/groups = ", w_in->shape[1], ", groups = ", g.groups, ")");
  if (g.O % g.groups != 0) fail<ValueError>(name, ": out_channels ", g.O, " must be divisible by groups ", g.groups);
  if (b_in && (b_in->ndim() != 1 || b_in->shape[0] != g.O))
    fail<ValueError>(name, ": bias must have shape [", g.O, "], got ", shape_str(b_in->shape));
  Shape out_shape{g.N, g.O};
  Shape padded_input{g.C, 1, 1, 1}, padded_grad{g.O, 1, 1, 1};  // volumes the kernels index, checked below
  for (int d = 0; d < nd; ++d) {
    const int s = 3 - nd + d;
    g.in[s] = x->shape[2 + d];
    g.k[s] = w_in->shape[2 + d];
    g.stride[s] = a.stride[d];
    g.pad[s] = a.padding[d];
    g.dil[s] = a.dilation[d];
    if (g.stride[s] < 1 || g.dil[s] < 1 || g.pad[s] < 0)
      fail<ValueError>(name, ": stride and dilation must be positive and padding non-negative (stride ", dims_str(a.stride),
                       ", padding ", dims_str(a.padding), ", dilation ", dims_str(a.dilation), ")");
    const int64_t eff =
        checked_add(checked_mul(g.dil[s], g.k[s] - 1, name, "dilated kernel size"), 1, name, "dilated kernel size");
    const int64_t padded = checked_add(g.in[s], checked_mul(2, g.pad[s], name, "padded input size"), name, "padded input size");
    if (eff > padded)
      fail<ValueError>(name, ": kernel size ", shape_str(Shape(w_in->shape.begin() + 2, w_in->shape.end())), " (dilated ", eff,
                       ") is larger than the padded input ", padded, " in spatial dim ", d, " (input shape ",
                       shape_str(x_in->shape), ")");
    g.out[s] = (padded - eff) / g.stride[s] + 1;
    out_shape.push_back(g.out[s]);
    padded_input[1 + s] = padded;
    // The input gradient is a convolution of gy padded by dil * (k - 1) - pad on each side.
    padded_grad[1 + s] =
        checked_add(g.out[s], checked_mul(2, std::max<int64_t>(eff - 1 - g.pad[s], 0), name, "padded gradient size"), name,
                    "padded gradient size");
  }
  // The kernels index column buffers [C/groups * kernel volume] x [output volume] and padded
  // images; their sizes must not wrap either.
  checked_numel({g.C, g.k[0], g.k[1], g.k[2], g.out[0], g.out[1], g.out[2]}, name);
  checked_numel(padded_input, name);
  checked_numel(padded_grad, name);
  check_same_dtype(name, "input", x, "weight", w_in);
  check_same_dtype(name, "input", x, "bias", b_in);
  DType dt = promote(x->dtype, w_in->dtype);
  if (!is_floating(dt))
    fail<TypeError>(name, ": expected floating point input and weight, got ", dtype_name(x->dtype), " and ",
                    dtype_name(w_in->dtype));
  Tensor xc = contiguous(to_dtype(detach(x), dt)), wc = contiguous(to_dtype(detach(w_in), dt));
  Tensor bc = b_in ? contiguous(to_dtype(detach(b_in), dt)) : Tensor{};
  check_same_device(name, x, w_in, b_in);
  Tensor out = empty(out_shape, dt, x->device);
  backend(out).conv_forward(g, xc, wc, bc, out);
  const bool has_b = static_cast<bool>(b_in);
  out = record("ConvolutionBackward0", out, {x, w_in, b_in}, [g, xc, wc, has_b](const Tensor& gy, const Node& n) {
    Tensor gx = n.needs(0) ? empty(xc->shape, xc->dtype, gy->device) : Tensor{};
    Tensor gw = n.needs(1) ? empty(wc->shape, wc->dtype, gy->device) : Tensor{};
    Tensor gb = has_b && n.needs(2) ? empty({g.O}, wc->dtype, gy->device) : Tensor{};
    backend(gy).conv_backward(g, xc, wc, contiguous(gy), gx, gw, gb);
    return std::vector<Tensor>{gx, gw, gb};
  });
  return unbatched ? squeeze(out, 0) : out;
}

// y = x @ w^T + b as one node: one GEMM forward, two in backward, bias summed directly.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  if (w->ndim() != 2) fail<ValueError>("linear: weight must be 2-d [out_features, in_features], got shape ", shape_str(w->shape));
  if (x->ndim() < 1 || x->shape.back() != w->shape[1])
    fail<ValueError>("linear: input shape ", shape_str(x->shape), " does not match weight ", shape_str(w->shape),
                     " (expected last dim ", w->shape[1], ")");
  if (b && (b->ndim() != 1 || b->shape[0] != w->shape[0]))
    fail<ValueError>("linear: bias must have shape [", w->shape[0], "], got ", shape_str(b->shape));
  check_same_dtype("linear", "input", x, "weight", w);
  check_same_dtype("linear", "input", x, "bias", b);
  check_same_device("linear", x, w, b);
  DType dt = promote(x->dtype, w->dtype);
  if (!is_floating(dt))
    fail<TypeError>("linear: expected floating point tensors, got ", dtype_name(x->dtype), " and ", dtype_name(w->dtype));
  const int64_t in = w->shape[1], outf = w->shape[0];
  Tensor x2 = contiguous(to_dtype(detach(x), dt)), wd = contiguous(to_dtype(detach(w), dt));
  const int64_t rows = in ? x2->numel() / in : numel_of(Shape(x->shape.begin(), x->shape.end() - 1));
  Tensor x3 = make_view(x2, {1, rows, in}, {rows * in, in, 1}, x2->offset);
  Tensor wt3 = make_view(wd, {1, in, outf}, {0, wd->strides[1], wd->strides[0]}, wd->offset);
  Tensor out = empty({1, rows, outf}, dt, x->device);
  if (in == 0) backend(out).fill(out, 0);
  else if (rows > 0) backend(out).bmm(x3, wt3, out);
  Tensor bd = b ? contiguous(to_dtype(detach(b), dt)) : Tensor{};
  if (bd) backend(out).binary(BinaryOp::Add, out, make_view(bd, {1, rows, outf}, {0, 0, 1}, bd->offset), out);
  Shape oshape(x->shape.begin(), x->shape.end() - 1);
  oshape.push_back(outf);
  out = make_view(out, oshape, contiguous_strides(oshape), 0);
  Shape xs = x->shape;
  const bool has_b = static_cast<bool>(b);
  return record("LinearBackward0", out, {x, w, b}, [x3, wd, xs, rows, in, outf, has_b](const Tensor& gy, const Node& n) {
    Tensor g = contiguous(gy);
    Tensor g3 = make_view(g, {1, rows, outf}, {rows * outf, outf, 1}, g->offset);
    Tensor gx, gw, gb;
    if (n.needs(0)) {
      gx = empty({1, rows, in}, g->dtype, g->device);
      backend(g).bmm(g3, make_view(wd, {1, outf, in}, {0, wd->strides[0], wd->strides[1]}, wd->offset), gx);
      gx = make_view(gx, xs, contiguous_strides(xs), 0);
    }
    if (n.needs(1)) {
      gw = empty({1, outf, in}, g->dtype, g->device);
      backend(g).bmm(make_view(g3, {1, outf, rows}, {0, 1, outf}, g3->offset), x3, gw);
      gw = make_view(gw, {outf, in}, {in, 1}, 0);
    }
    if (has_b && n.needs(2)) gb = sum(make_view(g3, {rows, outf}, {outf, 1}, g3->offset), {0}, false);
    return std::vector<Tensor>{gx, gw, gb};
  });
}

}  // namespace rt
