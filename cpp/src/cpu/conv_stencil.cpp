// The ISA-independent half of the stencil convolutions: tap offsets and padded images.
#include "cpu/conv_stencil.h"

#include <cstring>

namespace rt::cpu {

std::vector<int32_t> stencil_taps(int64_t channels, const int64_t padded[3], const int64_t k[3], const int64_t dil[3]) {
  std::vector<int32_t> tap;
  tap.reserve(static_cast<size_t>(channels * k[0] * k[1] * k[2]));
  const int64_t plane = padded[0] * padded[1] * padded[2];
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t a = 0; a < k[0]; ++a)
      for (int64_t b = 0; b < k[1]; ++b)
        for (int64_t e = 0; e < k[2]; ++e)
          tap.push_back(static_cast<int32_t>(c * plane + (a * dil[0] * padded[1] + b * dil[1]) * padded[2] + e * dil[2]));
  return tap;
}

void pad_image(const float* x, int64_t channels, const int64_t in[3], const int64_t pad[3], float* dst) {
  const int64_t pd = in[0] + 2 * pad[0], ph = in[1] + 2 * pad[1], pw = in[2] + 2 * pad[2];
  auto zero = [](float* p, int64_t n) { std::memset(p, 0, sizeof(float) * static_cast<size_t>(n)); };
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t d = 0; d < pd; ++d) {
      float* slab = dst + (c * pd + d) * ph * pw;
      if (d < pad[0] || d >= pad[0] + in[0]) {
        zero(slab, ph * pw);
        continue;
      }
      zero(slab, pad[1] * pw);
      for (int64_t h = 0; h < in[1]; ++h) {
        float* row = slab + (h + pad[1]) * pw;
        zero(row, pad[2]);
        std::memcpy(row + pad[2], x + ((c * in[0] + d - pad[0]) * in[1] + h) * in[2], sizeof(float) * static_cast<size_t>(in[2]));
        zero(row + pad[2] + in[2], pad[2]);
      }
      zero(slab + (pad[1] + in[1]) * pw, pad[1] * pw);
    }
}

}  // namespace rt::cpu
