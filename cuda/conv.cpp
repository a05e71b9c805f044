// Convolutions through cuDNN's convolution API: forward, data and filter gradients, bias. A
// geometry whose leading spatial dim is trivial (every 1-d and 2-d conv) is described to cuDNN
// as 2-d, where it has the most algorithms. Each pass's algorithm is cuDNN's first heuristic
// choice, remembered per geometry so a training loop asks once. Math is full FP32 (no TF32), so
// results match the CPU's at float tolerance.
#include <cudnn.h>

#include <array>
#include <map>
#include <mutex>
#include <vector>

#include "allocator.h"
#include "kernels.h"
#include "runtime.h"

namespace rt::cuda {

namespace {
void check_dnn(cudnnStatus_t st, const char* what) {
  if (st != CUDNN_STATUS_SUCCESS) fail<RuntimeError>("conv: cuDNN error while ", what, ": ", cudnnGetErrorString(st));
}

// The descriptors of one convolution, destroyed with it.
struct ConvDescs {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  ConvDescs(const ConvGeom& g, DType dt) {
    const cudnnDataType_t type = dt == DType::Float64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    const bool flat = g.in[0] == 1 && g.k[0] == 1 && g.out[0] == 1 && g.stride[0] == 1 && g.pad[0] == 0 && g.dil[0] == 1;
    const int first = flat ? 1 : 0, ns = 3 - first;  // spatial dims handed to cuDNN
    std::vector<int> xd{dim(g.N), dim(g.C)}, yd{dim(g.N), dim(g.O)}, wd{dim(g.O), dim(g.C / g.groups)}, bd{1, dim(g.O)};
    std::vector<int> pad, stride, dil;
    for (int d = first; d < 3; ++d) {
      xd.push_back(dim(g.in[d]));
      yd.push_back(dim(g.out[d]));
      wd.push_back(dim(g.k[d]));
      bd.push_back(1);
      pad.push_back(dim(g.pad[d]));
      stride.push_back(dim(g.stride[d]));
      dil.push_back(dim(g.dil[d]));
    }
    check_dnn(cudnnCreateTensorDescriptor(&x), "creating a descriptor");
    check_dnn(cudnnCreateTensorDescriptor(&y), "creating a descriptor");
    check_dnn(cudnnCreateTensorDescriptor(&bias), "creating a descriptor");
    check_dnn(cudnnCreateFilterDescriptor(&w), "creating a descriptor");
    check_dnn(cudnnCreateConvolutionDescriptor(&conv), "creating a descriptor");
    set_dense(x, type, xd);
    set_dense(y, type, yd);
    set_dense(bias, type, bd);
    check_dnn(cudnnSetFilterNdDescriptor(w, type, CUDNN_TENSOR_NCHW, static_cast<int>(wd.size()), wd.data()),
              "describing the weight");
    check_dnn(cudnnSetConvolutionNdDescriptor(conv, ns, pad.data(), stride.data(), dil.data(), CUDNN_CROSS_CORRELATION, type),
              "describing the convolution");
    check_dnn(cudnnSetConvolutionGroupCount(conv, dim(g.groups)), "setting the groups");
    check_dnn(cudnnSetConvolutionMathType(conv, CUDNN_FMA_MATH), "setting the math type");
  }
  ~ConvDescs() {
    cudnnDestroyTensorDescriptor(x);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(bias);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyConvolutionDescriptor(conv);
  }
  ConvDescs(const ConvDescs&) = delete;
  ConvDescs& operator=(const ConvDescs&) = delete;

  static int dim(int64_t v) {
    if (v > INT32_MAX) fail<RuntimeError>("conv: size ", v, " exceeds cuDNN's 32-bit limit");
    return static_cast<int>(v);
  }
  static void set_dense(cudnnTensorDescriptor_t t, cudnnDataType_t type, const std::vector<int>& dims) {
    std::vector<int> strides(dims.size());
    int64_t acc = 1;
    for (size_t i = dims.size(); i-- > 0;) {
      strides[i] = dim(acc);
      acc *= dims[i];
    }
    check_dnn(cudnnSetTensorNdDescriptor(t, type, static_cast<int>(dims.size()), dims.data(), strides.data()),
              "describing a tensor");
  }
};

enum class Pass { Forward, Data, Filter };

// Heuristic algorithm choices, per pass, device, dtype and geometry.
std::mutex g_algo_mutex;
std::map<std::vector<int64_t>, int> g_algos;

std::vector<int64_t> algo_key(Pass pass, const ConvGeom& g, DType dt, Device d) {
  std::vector<int64_t> k{static_cast<int64_t>(pass), static_cast<int64_t>(dt), d.index, g.N, g.C, g.O, g.groups};
  for (int i = 0; i < 3; ++i) k.insert(k.end(), {g.in[i], g.out[i], g.k[i], g.stride[i], g.pad[i], g.dil[i]});
  return k;
}

// cuDNN's first heuristic choice that it can run (status success), remembered.
template <class Perf, class Query>
int choose(Pass pass, const ConvGeom& g, DType dt, Device d, Query query) {
  const auto key = algo_key(pass, g, dt, d);
  {
    std::lock_guard<std::mutex> lock(g_algo_mutex);
    auto it = g_algos.find(key);
    if (it != g_algos.end()) return it->second;
  }
  std::array<Perf, 16> perf;
  int found = 0;
  check_dnn(query(static_cast<int>(perf.size()), &found, perf.data()), "choosing an algorithm");
  for (int i = 0; i < found; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS) {
      std::lock_guard<std::mutex> lock(g_algo_mutex);
      g_algos[key] = static_cast<int>(perf[i].algo);
      return static_cast<int>(perf[i].algo);
    }
  fail<RuntimeError>("conv: cuDNN has no algorithm for this convolution (N=", g.N, ", C=", g.C, ", O=", g.O,
                     ", groups=", g.groups, ")");
}

// alpha/beta in the type cuDNN expects for the data type.
struct Scalars {
  explicit Scalars(DType dt) : dbl(dt == DType::Float64) {}
  double d1 = 1, d0 = 0;
  float f1 = 1, f0 = 0;
  bool dbl;
  const void* one() const { return dbl ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* zero() const { return dbl ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0); }
};

void zero_fill(const Tensor& t) {
  if (t)
    check(cudaMemsetAsync(t->raw(), 0, static_cast<size_t>(t->numel()) * itemsize(t->dtype), stream(t->device)),
          "zeroing a gradient");
}

bool is_empty(const ConvGeom& g) {
  return g.N * g.C * g.O == 0 || g.out[0] * g.out[1] * g.out[2] == 0 || g.in[0] * g.in[1] * g.in[2] == 0;
}
}  // namespace

void conv_forward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) {
  DeviceGuard guard(out->device);
  if (out->numel() == 0) return;
  if (is_empty(g)) {  // no input channels or pixels: every output is the bias alone (cuDNN refuses empty tensors)
    if (!b) return zero_fill(out);
    Shape st(out->shape.size(), 0);
    st[1] = b->strides[0];
    return copy(make_view(b, out->shape, st, b->offset), out);
  }
  const Device d = out->device;
  cudnnHandle_t h = cudnn(d);
  ConvDescs desc(g, x->dtype);
  const Scalars s(x->dtype);
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(
      choose<cudnnConvolutionFwdAlgoPerf_t>(Pass::Forward, g, x->dtype, d, [&](int n, int* found, auto* perf) {
        return cudnnGetConvolutionForwardAlgorithm_v7(h, desc.x, desc.w, desc.conv, desc.y, n, found, perf);
      }));
  size_t ws = 0;
  check_dnn(cudnnGetConvolutionForwardWorkspaceSize(h, desc.x, desc.w, desc.conv, desc.y, algo, &ws), "sizing the workspace");
  Scratch work(d, ws);
  check_dnn(cudnnConvolutionForward(h, s.one(), desc.x, x->raw(), desc.w, w->raw(), desc.conv, algo, work.get(), ws, s.zero(),
                                    desc.y, out->raw()),
            "running the forward convolution");
  if (b) check_dnn(cudnnAddTensor(h, s.one(), desc.bias, b->raw(), s.one(), desc.y, out->raw()), "adding the bias");
}

void conv_backward(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                   const Tensor& gb) {
  DeviceGuard guard(gy->device);
  if (is_empty(g)) {  // nothing flows: every gradient is zero
    zero_fill(gx);
    zero_fill(gw);
    zero_fill(gb);
    return;
  }
  const Device d = gy->device;
  cudnnHandle_t h = cudnn(d);
  ConvDescs desc(g, x->dtype);
  const Scalars s(x->dtype);
  if (gx) {
    const auto algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(
        choose<cudnnConvolutionBwdDataAlgoPerf_t>(Pass::Data, g, x->dtype, d, [&](int n, int* found, auto* perf) {
          return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, desc.w, desc.y, desc.conv, desc.x, n, found, perf);
        }));
    size_t ws = 0;
    check_dnn(cudnnGetConvolutionBackwardDataWorkspaceSize(h, desc.w, desc.y, desc.conv, desc.x, algo, &ws),
              "sizing the workspace");
    Scratch work(d, ws);
    check_dnn(cudnnConvolutionBackwardData(h, s.one(), desc.w, w->raw(), desc.y, gy->raw(), desc.conv, algo, work.get(), ws,
                                           s.zero(), desc.x, gx->raw()),
              "computing the input gradient");
  }
  if (gw) {
    const auto algo = static_cast<cudnnConvolutionBwdFilterAlgo_t>(
        choose<cudnnConvolutionBwdFilterAlgoPerf_t>(Pass::Filter, g, x->dtype, d, [&](int n, int* found, auto* perf) {
          return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, desc.x, desc.y, desc.conv, desc.w, n, found, perf);
        }));
    size_t ws = 0;
    check_dnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, desc.x, desc.y, desc.conv, desc.w, algo, &ws),
              "sizing the workspace");
    Scratch work(d, ws);
    check_dnn(cudnnConvolutionBackwardFilter(h, s.one(), desc.x, x->raw(), desc.y, gy->raw(), desc.conv, algo, work.get(), ws,
                                             s.zero(), desc.w, gw->raw()),
              "computing the weight gradient");
  }
  if (gb)
    check_dnn(cudnnConvolutionBackwardBias(h, s.one(), desc.y, gy->raw(), s.zero(), desc.bias, gb->raw()),
              "computing the bias gradient");
}

}  // namespace rt::cuda
