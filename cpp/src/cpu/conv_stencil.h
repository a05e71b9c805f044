// Convolution as a GEMM whose patch operand is packed straight from a zero-padded copy of the
// image (no im2col buffer): every tap of every output position reads in bounds, so a patch row
// over consecutive output positions is a few runs of the image (contiguous at stride 1).
#pragma once
#include <cstdint>
#include <vector>

#include "cpu/sgemm.h"

#ifdef RT_HAVE_SGEMM
namespace rt::cpu {

struct Stencil {
  const float* x = nullptr;          // padded input of one group: [channels, pd, ph, pw]
  const int32_t* tap = nullptr;      // offset of patch row (c, kd, kh, kw) from a window's corner
  int64_t od = 1, oh = 1, ow = 1;    // output dims
  int64_t dstep = 1, hstep = 1, wstep = 1;  // input offset between neighbouring outputs (stride included)
  int64_t corner(int64_t d, int64_t h, int64_t w) const { return d * dstep + h * hstep + w * wstep; }
};

// Tap offsets for `channels` input channels of padded dims `padded`, kernel `k`, dilation `dil`.
std::vector<int32_t> stencil_taps(int64_t channels, const int64_t padded[3], const int64_t k[3], const int64_t dil[3]);
// dst[c, pd, ph, pw] = x[c, d, h, w] shifted by `pad`, zeros around it.
void pad_image(const float* x, int64_t channels, const int64_t in[3], const int64_t pad[3], float* dst);

// B[taps x positions] (forward, and input gradients as a convolution of the output gradient).
PanelPacker patch_columns(const Stencil* s);
// B[positions x taps] (weight gradients: gW = gy * patches^T; gathers, any stride).
PanelPacker patch_rows(const Stencil* s);
// A[taps x positions] (weight gradients: gW^T = patches * gy^T; register transposes, wstep 1 only).
PanelPacker patch_rows_a(const Stencil* s);

// Convolutions with at most 16 output channels skip the GEMM: one AVX-512 register holds every
// output channel, so 8 positions (or 8 taps) are accumulated directly from the padded image
// with broadcasts, with no packing.
// out[o, p] = sum_t w_t[t, o] * patch[t, p] for o < outputs; w_t is [taps, 16], zero past outputs.
void conv_narrow_forward(const Stencil& s, int64_t taps, const float* w_t, int64_t outputs, float* out);
// gw[o, t] += sum_p gy_t[p, o] * patch[t, p] for o < outputs; gy_t is [positions, 16], zero past
// outputs; gw is [outputs, taps].
void conv_narrow_weight_grad(const Stencil& s, int64_t taps, const float* gy_t, int64_t outputs, float* gw);
// gy_t[p, o] = gy[o, p] for o < outputs (<= 16), zeros up to 16; gy_t holds positions * 16 floats.
void transpose_channels16(const float* gy, int64_t outputs, int64_t positions, float* gy_t);

}  // namespace rt::cpu
#endif
