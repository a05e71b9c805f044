// Convolution as GEMMs over each sample's patches. Threads split the batch: each sample's
// GEMM runs on one core, so no large shared buffers; with a single sample the GEMM threads
// itself. At the AVX2 and AVX-512 kernel levels (simd.h), float convolutions pack patches
// straight from a padded copy of the image (conv_stencil.h); float64, 1x1, (for input
// gradients) strided ones, and everything at the DEFAULT level go through an im2col/vol2col
// column buffer.
#include <Eigen/Core>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "cpu/conv_stencil.h"
#include "cpu/float_loops.h"
#include "cpu/gemm.h"
#include "cpu/kernels.h"
#include "cpu/simd.h"
#include "cpu/strided.h"

namespace rt::cpu {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using Map = Eigen::Map<RowMat<T>, Eigen::Unaligned>;
template <class T>
using CMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned>;

static int64_t col_rows(const ConvGeom& g) { return g.C / g.groups * g.k[0] * g.k[1] * g.k[2]; }
static int64_t out_len(const ConvGeom& g) { return g.out[0] * g.out[1] * g.out[2]; }
static int64_t in_len(const ConvGeom& g) { return g.in[0] * g.in[1] * g.in[2]; }
static bool is_pointwise(const ConvGeom& g) {
  for (int d = 0; d < 3; ++d)
    if (g.k[d] != 1 || g.stride[d] != 1 || g.pad[d] != 0) return false;
  return true;
}

// Output columns [lo, hi) whose input column ow*s + off lies inside [0, w).
static inline void valid_range(int64_t off, int64_t s, int64_t w, int64_t ow_count, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = (w - 1 - off) < 0 ? 0 : std::min(ow_count, (w - 1 - off) / s + 1);
  lo = std::min(lo, ow_count);
  hi = std::max(hi, lo);
}

// cols [C*kd*kh*kw, L] for the channels [c0, c0 + cn) of one sample.
template <class T>
static void im2col(const ConvGeom& g, const T* x, int64_t c0, int64_t cn, T* cols) {
  const int64_t L = out_len(g), OW = g.out[2];
  int64_t row = 0;
  for (int64_t c = c0; c < c0 + cn; ++c) {
    const T* xc = x + c * in_len(g);
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw, ++row) {
          T* dst = cols + row * L;
          // The valid output columns depend on kw only: computed once per row of cols.
          const int64_t off = kw * g.dil[2] - g.pad[2], s = g.stride[2];
          int64_t lo, hi;
          valid_range(off, s, g.in[2], OW, lo, hi);
          for (int64_t od = 0; od < g.out[0]; ++od) {
            int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
            for (int64_t oh = 0; oh < g.out[1]; ++oh) {
              int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dil[1];
              T* d = dst + (od * g.out[1] + oh) * OW;
              if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
                std::fill(d, d + OW, T(0));
                continue;
              }
              const T* src = xc + (id * g.in[1] + ih) * g.in[2];
              std::fill(d, d + lo, T(0));
              if (s == 1) {  // rows are short (often < 32): an inline loop beats a memcpy call
                const T* sp = src + off;
                for (int64_t ow = lo; ow < hi; ++ow) d[ow] = sp[ow];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow * s + off];
              }
              std::fill(d + hi, d + OW, T(0));
            }
          }
        }
  }
}

// The adjoint of im2col: accumulates cols back into the sample's input gradient.
template <class T>
static void col2im(const ConvGeom& g, const T* cols, int64_t c0, int64_t cn, T* gx) {
  const int64_t L = out_len(g), OW = g.out[2];
  int64_t row = 0;
  for (int64_t c = c0; c < c0 + cn; ++c) {
    T* gc = gx + c * in_len(g);
    for (int64_t kd = 0; kd < g.k[0]; ++kd)
      for (int64_t kh = 0; kh < g.k[1]; ++kh)
        for (int64_t kw = 0; kw < g.k[2]; ++kw, ++row) {
          const T* src = cols + row * L;
          const int64_t off = kw * g.dil[2] - g.pad[2], st = g.stride[2];
          int64_t lo, hi;
          valid_range(off, st, g.in[2], OW, lo, hi);
          for (int64_t od = 0; od < g.out[0]; ++od) {
            int64_t id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
            if (id < 0 || id >= g.in[0]) continue;
            for (int64_t oh = 0; oh < g.out[1]; ++oh) {
              int64_t ih = oh * g.stride[1] - g.pad[1] + kh * g.dil[1];
              if (ih < 0 || ih >= g.in[1]) continue;
              const T* s = src + (od * g.out[1] + oh) * OW;
              T* d = gc + (id * g.in[1] + ih) * g.in[2];
              if (st == 1)
                for (int64_t ow = lo; ow < hi; ++ow) d[ow + off] += s[ow];
              else
                for (int64_t ow = lo; ow < hi; ++ow) d[ow * st + off] += s[ow];
            }
          }
        }
  }
}

// Runs body(n, scratch) over samples, threads splitting the batch when there are several.
template <class T, class F>
static void over_batch(const ConvGeom& g, int64_t scratch_elems, F&& body) {
  const bool threads = g.N > 1 && omp_get_max_threads() > 1 && !omp_in_parallel();
  // Uninitialized: every user writes its scratch before reading it.
  auto scratch = [scratch_elems] { return std::unique_ptr<T[]>(new T[static_cast<size_t>(scratch_elems)]); };
  if (!threads) {
    auto buf = scratch();
    for (int64_t n = 0; n < g.N; ++n) body(n, buf.get(), 0);
    return;
  }
#pragma omp parallel
  {
    auto buf = scratch();
    const int tid = omp_get_thread_num();
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g.N; ++n) body(n, buf.get(), tid);
  }
}

// The [K, L] column matrix of group gi of sample n: the input itself for 1x1 convolutions,
// else im2col into `cols`.
template <class T>
static const T* group_columns(const ConvGeom& g, const T* x, int64_t n, int64_t gi, T* cols) {
  const int64_t Cg = g.C / g.groups, IL = in_len(g);
  if (is_pointwise(g)) return x + (n * g.C + gi * Cg) * IL;
  im2col(g, x + n * g.C * IL, gi * Cg, Cg, cols);
  return cols;
}

// Float convolutions whose GEMMs (nearly) fill the register tile take the stencil path (input
// gradients only at stride 1).
static bool unit_stride(const ConvGeom& g) { return g.stride[0] == 1 && g.stride[1] == 1 && g.stride[2] == 1; }
static int64_t padded_len(const int64_t in[3], const int64_t pad[3]) {
  return (in[0] + 2 * pad[0]) * (in[1] + 2 * pad[1]) * (in[2] + 2 * pad[2]);
}
static bool offsets_fit(int64_t channels, int64_t len) { return channels * len < (int64_t(1) << 31); }  // int32 taps

// Geometry and tap offsets of a convolution (any stride) over padded images (one group of channels).
struct StencilConv {
  int64_t channels;  // per group
  int64_t in[3], pad[3], out[3], padded[3];
  std::vector<int32_t> tap;
  int64_t stride[3];
  StencilConv(int64_t channels_, const int64_t in_[3], const int64_t pad_[3], const int64_t k[3], const int64_t dil[3],
              const int64_t stride_[3])
      : channels(channels_) {
    for (int d = 0; d < 3; ++d) {
      in[d] = in_[d], pad[d] = pad_[d], stride[d] = stride_[d];
      padded[d] = in[d] + 2 * pad[d];
      out[d] = (padded[d] - dil[d] * (k[d] - 1) - 1) / stride[d] + 1;
    }
    tap = stencil_taps(channels, padded, k, dil);
  }
  int64_t plane() const { return padded[0] * padded[1] * padded[2]; }
  Stencil at(const float* xp) const {
    return Stencil{xp, tap.data(), out[0], out[1], out[2], stride[0] * padded[1] * padded[2], stride[1] * padded[2], stride[2]};
  }
};

// Up to this many output channels per group, the direct kernels of conv_stencil.h replace the GEMM.
constexpr int64_t kNarrow = 16;
// [groups][K][16]: each group's weights transposed, output channels zero-padded to 16.
static std::vector<float> narrow_weights(const float* w, int64_t groups, int64_t Og, int64_t K) {
  std::vector<float> out(static_cast<size_t>(groups * K * 16), 0.f);
  for (int64_t gi = 0; gi < groups; ++gi)
    for (int64_t o = 0; o < Og; ++o)
      for (int64_t t = 0; t < K; ++t) out[(gi * K + t) * 16 + o] = w[(gi * Og + o) * K + t];
  return out;
}

template <class T>
static void conv_forward_t(const ConvGeom& g, const Tensor& xt, const Tensor& wt, const Tensor& bt, const Tensor& outt) {
  const T* x = xt->data<T>();
  const T* w = wt->data<T>();
  const T* b = bt ? bt->data<T>() : nullptr;
  T* out = outt->data<T>();
  const int64_t L = out_len(g), K = col_rows(g), Og = g.O / g.groups;
  // At the active level's vector width: compiled here, for the baseline, this pass cost 3x the time.
  auto add_bias = [&, &loops = vec_loops<T>()](T* o, int64_t gi) {
    if (b)
      for (int64_t oc = 0; oc < Og; ++oc) loops.scale_shift(o + oc * L, o + oc * L, L, T(1), b[gi * Og + oc]);
  };
  if constexpr (std::is_same_v<T, float>) {
    // Even a half-empty register tile beats im2col plus Eigen here (LeNet's 1->6 layer: 0.22 vs 0.32 ms).
    const SimdKernels* k = simd();
    if (k && !is_pointwise(g) && Og >= 4 && L >= k->nr && offsets_fit(g.C, padded_len(g.in, g.pad))) {
      const StencilConv sc(g.C / g.groups, g.in, g.pad, g.k, g.dil, g.stride);
      const bool narrow = Og > k->mr && Og <= kNarrow;
      const std::vector<float> w_t = narrow ? narrow_weights(w, g.groups, Og, K) : std::vector<float>{};
      over_batch<T>(g, g.C * sc.plane(), [&](int64_t n, T* xp, int) {
        pad_image(x + n * g.C * in_len(g), g.C, g.in, g.pad, xp);
        for (int64_t gi = 0; gi < g.groups; ++gi) {
          const Stencil patches = sc.at(xp + gi * sc.channels * sc.plane());
          T* o = out + (n * g.O + gi * Og) * L;
          if (!w_t.empty()) {
            k->conv_narrow_forward(patches, K, w_t.data() + gi * K * 16, Og, o);
          } else {
            const StridedOperand wg{w + gi * Og * K, K, 1};
            k->sgemm_packed(Og, L, K, k->strided_a(&wg), k->patch_columns(&patches), o, L, false);
          }
          add_bias(o, gi);
        }
      });
      return;
    }
  }
  over_batch<T>(g, is_pointwise(g) ? 0 : K * L, [&](int64_t n, T* cols, int) {
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const T* src = group_columns(g, x, n, gi, cols);
      T* o = out + (n * g.O + gi * Og) * L;
      gemm<T>(Og, L, K, w + gi * Og * K, K, 1, src, L, 1, o, false);
      add_bias(o, gi);
    }
  });
}

template <class T>
static void conv_backward_t(const ConvGeom& g, const Tensor& xt, const Tensor& wt, const Tensor& gyt, const Tensor& gxt,
                            const Tensor& gwt, const Tensor& gbt) {
  const T* x = xt->data<T>();
  const T* w = wt->data<T>();
  const T* gy = gyt->data<T>();
  const int64_t L = out_len(g), K = col_rows(g), Og = g.O / g.groups, Cg = g.C / g.groups, IL = in_len(g);
  const bool pw = is_pointwise(g);
  const int nt = (g.N > 1 && !omp_in_parallel()) ? omp_get_max_threads() : 1;
  // Per-thread weight/bias gradient partials, summed at the end (deterministic order).
  std::vector<std::vector<T>> gw_part(gwt ? nt : 0, std::vector<T>(static_cast<size_t>(g.O * K), T(0)));
  std::vector<std::vector<T>> gb_part(gbt ? nt : 0, std::vector<T>(static_cast<size_t>(g.O), T(0)));
  // Which gradients take the stencil path (see conv_forward_t); the rest use column buffers.
  bool gw_stencil = false, gx_stencil = false;
  bool gw_transposed = false;  // partials hold gW^T, per group [K, Og]
  bool gw_narrow = false;  // direct kernel from gy transposed to [L, 16] (few output channels)
  std::unique_ptr<StencilConv> xs, gys;  // patches of x (for gW) and of the padded gy (for gx)
  std::vector<float> wflip;               // per group [Cg, Og * taps]: W transposed, kernel reversed
  const SimdKernels* k = std::is_same_v<T, float> ? simd() : nullptr;
  if (k) {
    // Weight gradient by output channels per group: up to 16, the direct kernel; from the
    // register tile's width up, gW^T = patches gy^T with patches packed by register transposes;
    // otherwise gW = gy patches^T with gathered patches.
    gw_narrow = Og <= kNarrow;
    gw_transposed = !gw_narrow && k->sgemm_fits(K, Og) && g.stride[2] == 1;  // its patch rows are contiguous runs
    if (gwt && !is_pointwise(g) && (gw_narrow || gw_transposed || k->sgemm_fits(Og, K)) &&
        offsets_fit(g.C, padded_len(g.in, g.pad))) {
      gw_stencil = true;
      xs = std::make_unique<StencilConv>(Cg, g.in, g.pad, g.k, g.dil, g.stride);
    }
    // gx is the stride-1 convolution of gy, padded by dil*(k-1) - pad, with the flipped, transposed kernel.
    int64_t gpad[3];
    bool pad_ok = true;
    for (int d = 0; d < 3; ++d) {
      gpad[d] = g.dil[d] * (g.k[d] - 1) - g.pad[d];
      pad_ok = pad_ok && gpad[d] >= 0;
    }
    if (gxt && unit_stride(g) && !is_pointwise(g) && pad_ok && k->sgemm_fits(Cg, IL) &&
        offsets_fit(g.O, padded_len(g.out, gpad))) {
      gx_stencil = true;
      const int64_t ones[3] = {1, 1, 1};
      gys = std::make_unique<StencilConv>(Og, g.out, gpad, g.k, g.dil, ones);
      const int64_t taps = g.k[0] * g.k[1] * g.k[2];
      wflip.resize(static_cast<size_t>(g.O * K));
      for (int64_t gi = 0; gi < g.groups; ++gi)
        for (int64_t o = 0; o < Og; ++o)
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t t = 0; t < taps; ++t)
              wflip[((gi * Cg + c) * Og + o) * taps + (taps - 1 - t)] = w[((gi * Og + o) * Cg + c) * taps + t];
    }
  }
  if (gxt && !gx_stencil) std::fill(gxt->data<T>(), gxt->data<T>() + gxt->numel(), T(0));  // col2im accumulates
  const bool need_cols = !pw && ((gwt && !gw_stencil) || (gxt && !gx_stencil));
  const int64_t cols_len = need_cols ? 2 * K * L : 0;
  // Per-thread scratch: [column buffers | padded x | padded gy | gy transposed to [L, 16]].
  const int64_t xpad_at = cols_len, gypad_at = xpad_at + (gw_stencil ? g.C * xs->plane() : 0);
  const int64_t gyt_at = gypad_at + (gx_stencil ? g.O * gys->plane() : 0);
  const int64_t scratch_len = gyt_at + (gw_stencil && gw_narrow ? L * 16 : 0);
  over_batch<T>(g, scratch_len, [&](int64_t n, T* scratch, int tid) {
    T* cols = scratch;
    T* gcols = scratch + K * L;
    if constexpr (std::is_same_v<T, float>) {
      if (gw_stencil) pad_image(x + n * g.C * IL, g.C, g.in, g.pad, scratch + xpad_at);
      if (gx_stencil) pad_image(gy + n * g.O * L, g.O, g.out, gys->pad, scratch + gypad_at);
    }
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const T* gyg = gy + (n * g.O + gi * Og) * L;  // [Og, L]
      const T* wg = w + gi * Og * K;                  // [Og, K]
      T* gxn = gxt ? gxt->data<T>() + (n * g.C + gi * Cg) * IL : nullptr;
      if constexpr (std::is_same_v<T, float>) {
        if (gw_stencil) {
          const Stencil patches = xs->at(scratch + xpad_at + gi * Cg * xs->plane());
          const StridedOperand gyo{gyg, L, 1}, gyo_t{gyg, 1, L};
          if (gw_narrow) {
            float* gy_t = scratch + gyt_at;
            k->transpose_channels16(gyg, Og, L, gy_t);
            k->conv_narrow_weight_grad(patches, K, gy_t, Og, gw_part[tid].data() + gi * Og * K);
          } else if (gw_transposed) {
            k->sgemm_packed(K, Og, L, k->patch_rows_a(&patches), k->strided_b(&gyo_t), gw_part[tid].data() + gi * Og * K, Og,
                            true);
          } else {
            k->sgemm_packed(Og, K, L, k->strided_a(&gyo), k->patch_rows(&patches), gw_part[tid].data() + gi * Og * K, K, true);
          }
        }
        if (gx_stencil) {
          const Stencil patches = gys->at(scratch + gypad_at + gi * Og * gys->plane());
          const StridedOperand a{wflip.data() + gi * Cg * Og * (K / Cg), Og * (K / Cg), 1};
          k->sgemm_packed(Cg, IL, Og * (K / Cg), k->strided_a(&a), k->patch_columns(&patches), gxn, IL, false);
        }
      }
      if (gwt && !gw_stencil) {  // gW += gy cols^T
        const T* src = group_columns(g, x, n, gi, cols);
        gemm<T>(Og, K, L, gyg, L, 1, src, 1, L, gw_part[tid].data() + gi * Og * K, true);
      }
      if (gbt)
        for (int64_t oc = 0; oc < Og; ++oc) gb_part[tid][gi * Og + oc] += vec_loops<T>().sum(gyg + oc * L, L);
      if (gxt && !gx_stencil) {  // d cols = W^T gy, then scattered back (1x1: straight into gx)
        if (pw) {
          gemm<T>(K, L, Og, wg, 1, K, gyg, L, 1, gxn, true);
        } else {
          gemm<T>(K, L, Og, wg, 1, K, gyg, L, 1, gcols, false);
          col2im(g, gcols, 0, Cg, gxn);
        }
      }
    }
  });
  if (gwt) {
    T* o = gwt->data<T>();
    std::fill(o, o + g.O * K, T(0));
    for (auto& p : gw_part) {
      if (!(gw_stencil && gw_transposed)) {
        for (int64_t i = 0; i < g.O * K; ++i) o[i] += p[i];
        continue;
      }
      for (int64_t gi = 0; gi < g.groups; ++gi)
        for (int64_t oc = 0; oc < Og; ++oc)
          for (int64_t t = 0; t < K; ++t) o[(gi * Og + oc) * K + t] += p[(gi * K + t) * Og + oc];
    }
  }
  if (gbt) {
    T* o = gbt->data<T>();
    std::fill(o, o + g.O, T(0));
    for (auto& p : gb_part)
      for (int64_t i = 0; i < g.O; ++i) o[i] += p[i];
  }
}

void conv_forward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) {
  if (x->dtype == DType::Float64) conv_forward_t<double>(g, x, w, b, out);
  else conv_forward_t<float>(g, x, w, b, out);
}

void conv_backward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                   const Tensor& gb) {
  if (x->dtype == DType::Float64) conv_backward_t<double>(g, x, w, gy, gx, gw, gb);
  else conv_backward_t<float>(g, x, w, gy, gx, gw, gb);
}

}  // namespace rt::cpu
