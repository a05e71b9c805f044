// Convolution as a GEMM whose patch operand is packed straight from a zero-padded copy of the
// image (no im2col buffer): every tap of every output position reads in bounds, so a patch row
// over consecutive output positions is a few runs of the image (contiguous at stride 1).
#pragma once
#include <cstdint>
#include <vector>

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

// The packers and the direct kernels for narrow convolutions (at most 16 output channels) are
// per ISA level: see the SimdKernels table (simd.h).

}  // namespace rt::cpu
