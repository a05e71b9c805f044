// 2-d pooling ops (1-d pooling is 2-d with a height-1 window, in the Python layer).
#include "reticulum/checked.h"
#include "reticulum/nn_ops.h"

namespace rt {

// Computed in 128 bits: with 0 <= p <= k/2 and k, s >= 1 no step can overflow there, and the
// result (at most in + p) fits 64 bits again.
static int64_t pooled_size(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil_mode) {
  using Wide = __int128;
  Wide num = Wide(in) + 2 * Wide(p) - k + (ceil_mode ? Wide(s) - 1 : 0);
  Wide out = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;  // floor division: a too-large kernel gives <= 0
  if (ceil_mode && (out - 1) * s >= Wide(in) + p) --out;  // the last window must start inside the input or left padding
  return static_cast<int64_t>(out);
}

// Validates and returns the geometry; x becomes a contiguous [N, C, H, W] tensor.
static PoolGeom pool_geom(const Tensor& x_in, const PoolArgs& a, const char* name, Tensor& x, bool& unbatched) {
  if (x_in->ndim() != 3 && x_in->ndim() != 4)
    fail<ValueError>(name, ": expected a 3-d (unbatched) or 4-d input, got shape ", shape_str(x_in->shape));
  if (!is_floating(x_in->dtype)) fail<TypeError>(name, ": expected a floating point input, got ", dtype_name(x_in->dtype));
  unbatched = x_in->ndim() == 3;
  x = contiguous(detach(unbatched ? unsqueeze(x_in, 0) : x_in));
  PoolGeom g;
  g.planes = x->shape[0] * x->shape[1];
  g.H = x->shape[2];
  g.W = x->shape[3];
  g.kh = a.kernel[0];
  g.kw = a.kernel[1];
  g.sh = a.stride[0];
  g.sw = a.stride[1];
  g.ph = a.padding[0];
  g.pw = a.padding[1];
  g.count_include_pad = a.count_include_pad;
  if (g.kh < 1 || g.kw < 1 || g.sh < 1 || g.sw < 1) fail<ValueError>(name, ": kernel_size and stride must be positive");
  if (g.ph < 0 || g.pw < 0 || g.ph > g.kh / 2 || g.pw > g.kw / 2)
    fail<ValueError>(name, ": padding (", g.ph, ", ", g.pw, ") should be at most half of kernel size (", g.kh, ", ", g.kw, ")");
  g.OH = pooled_size(g.H, g.kh, g.sh, g.ph, a.ceil_mode);
  g.OW = pooled_size(g.W, g.kw, g.sw, g.pw, a.ceil_mode);
  if (g.OH < 1 || g.OW < 1)
    fail<ValueError>(name, ": kernel (", g.kh, ", ", g.kw, ") is larger than the padded input of shape ", shape_str(x_in->shape));
  // The kernels form window ends (start + kernel), padded extents and the window-by-output work.
  checked_add(g.H, checked_mul(2, g.ph, name, "padded input height"), name, "padded input height");
  checked_add(g.W, checked_mul(2, g.pw, name, "padded input width"), name, "padded input width");
  checked_numel({g.planes, g.OH, g.OW, g.kh, g.kw}, name);
  return g;
}

static Tensor finish(Tensor out, bool unbatched) { return unbatched ? squeeze(out, 0) : out; }

Tensor max_pool2d(const Tensor& x_in, const PoolArgs& a, const char* name) {
  Tensor x;
  bool unb;
  PoolGeom g = pool_geom(x_in, a, name, x, unb);
  Tensor out = empty({x->shape[0], x->shape[1], g.OH, g.OW}, x->dtype, x->device);
  Tensor idx = empty(out->shape, DType::Int64, x->device);
  backend(x).max_pool2d(g, x, out, idx);
  Shape xs = x->shape;
  out = record("MaxPool2DBackward0", out, {unb ? unsqueeze(x_in, 0) : x_in}, [g, idx, xs](const Tensor& gy, const Node&) {
    Tensor gx = empty(xs, gy->dtype, gy->device);
    backend(gy).max_pool2d_backward(g, contiguous(gy), idx, gx);
    return std::vector<Tensor>{gx};
  });
  return finish(out, unb);
}

Tensor avg_pool2d(const Tensor& x_in, const PoolArgs& a, const char* name) {
  Tensor x;
  bool unb;
  PoolGeom g = pool_geom(x_in, a, name, x, unb);
  Tensor out = empty({x->shape[0], x->shape[1], g.OH, g.OW}, x->dtype, x->device);
  backend(x).avg_pool2d(g, x, out);
  Shape xs = x->shape;
  out = record("AvgPool2DBackward0", out, {unb ? unsqueeze(x_in, 0) : x_in}, [g, xs](const Tensor& gy, const Node&) {
    Tensor gx = empty(xs, gy->dtype, gy->device);
    backend(gy).avg_pool2d_backward(g, contiguous(gy), gx);
    return std::vector<Tensor>{gx};
  });
  return finish(out, unb);
}

Tensor adaptive_avg_pool2d(const Tensor& x_in, int64_t oh, int64_t ow) {
  if (x_in->ndim() != 3 && x_in->ndim() != 4)
    fail<ValueError>("adaptive_avg_pool2d: expected a 3-d or 4-d input, got shape ", shape_str(x_in->shape));
  if (!is_floating(x_in->dtype))
    fail<TypeError>("adaptive_avg_pool2d: expected a floating point input, got ", dtype_name(x_in->dtype));
  if (oh < 1 || ow < 1) fail<ValueError>("adaptive_avg_pool2d: output size must be positive, got (", oh, ", ", ow, ")");
  const bool unb = x_in->ndim() == 3;
  Tensor xb = unb ? unsqueeze(x_in, 0) : x_in;
  Tensor x = contiguous(detach(xb));
  if (x->shape[2] == 0 || x->shape[3] == 0)
    fail<ValueError>("adaptive_avg_pool2d: input of shape ", shape_str(x_in->shape), " has an empty spatial dim");
  PoolGeom g;
  g.planes = x->shape[0] * x->shape[1];
  g.H = x->shape[2];
  g.W = x->shape[3];
  g.OH = oh;
  g.OW = ow;
  Tensor out = empty({x->shape[0], x->shape[1], oh, ow}, x->dtype, x->device);
  backend(x).adaptive_avg_pool2d(g, x, out);
  Shape xs = x->shape;
  out = record("AdaptiveAvgPool2DBackward0", out, {xb}, [g, xs](const Tensor& gy, const Node&) {
    Tensor gx = empty(xs, gy->dtype, gy->device);
    backend(gy).adaptive_avg_pool2d_backward(g, contiguous(gy), gx);
    return std::vector<Tensor>{gx};
  });
  return finish(out, unb);
}

}  // namespace rt
