// The per-device table: memory and kernels. Op code (src/ops) computes shapes, dtypes and autograd
// and calls only these entries; a device implements them over the memory of the tensors it is given,
// each of which carries its shape, strides and dtype, and registers the table (see register_backend
// below). CPU lives in src/cpu, the test-only device in src/testdev, CUDA in cuda/.
#pragma once
#include <type_traits>

#include "reticulum/tensor.h"
#include "reticulum/unary_formulas.h"

namespace rt {

// clang-format off
enum class UnaryOp : int8_t {
  Neg, Abs, Exp, Log, Sqrt, Relu, LeakyRelu, Sigmoid, Tanh, Clamp, PowScalar, Sign, Heaviside, Softplus,
  Sin, Cos, Gelu,  // Gelu: args.a = 0 exact (erf), 1 tanh approximation
#define RT_UNARY_ENUM(Op, ...) Op,
  RT_FORMULA_UNARY_OPS(RT_UNARY_ENUM)
#undef RT_UNARY_ENUM
};
// clang-format on
enum class BinaryOp : int8_t { Add, Sub, Mul, Div, Pow, Maximum, Minimum, FloorDiv, TruncDiv };  // integer divisors nonzero
enum class CompareOp : int8_t { Eq, Ne, Lt, Le, Gt, Ge };
enum class ReduceOp : int8_t { Sum, Max, Min, ArgMax, ArgMin };

// Scalar parameters of a unary op (leaky slope, clamp bounds, exponent, heaviside value, gelu's approximation).
struct UnaryArgs {
  double a = 0, b = 0;
};

// Convolution geometry, always 3 spatial dims (1-d/2-d convs pad the leading ones with 1s).
struct ConvGeom {
  int64_t N = 1, C = 1, O = 1, groups = 1;
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1};
  int64_t stride[3] = {1, 1, 1}, pad[3] = {0, 0, 0}, dil[3] = {1, 1, 1};
};

// Pooling geometry over [N*C planes, H, W].
struct PoolGeom {
  int64_t planes = 1, H = 1, W = 1, OH = 1, OW = 1;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0;
  bool count_include_pad = true;
};

enum class OptimKind : int8_t { SGD, Adam, RMSprop, Adagrad, Adadelta };
// Hyperparameters of one update; each optimizer reads the fields it uses.
struct OptimHyper {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, alpha = 0.99, lr_decay = 0;
  bool nesterov = false, maximize = false, amsgrad = false, decoupled = false, centered = false;
  double rho = 0.9;  // Adadelta's decay of both running averages
};

struct Backend {
  // ---- memory. Op code never touches a device's memory on the host: it allocates through the
  // table (allocate_storage) and moves bytes with the two transfers (to_device, copy_to_host).
  // nbytes of uninitialised device memory, 64-byte aligned; null when the device is out of memory.
  // nbytes may be 0 (an empty tensor): the block is then still a distinct, non-null pointer.
  void* (*allocate)(Device d, size_t nbytes);
  // Gives back a block from allocate, with the nbytes it was asked for.
  void (*release)(Device d, void* p, size_t nbytes);
  // Contiguous byte transfers between host memory and the device's memory; each returns once the
  // bytes have arrived (host_src may be reused, host_dst may be read).
  void (*copy_from_host)(Device d, void* dst, const void* host_src, size_t nbytes);
  void (*copy_to_host)(Device d, void* host_dst, const void* src, size_t nbytes);
  // Returns once all work queued on the device has finished.
  void (*synchronize)(Device d);

  // ---- kernels. Every tensor argument is on the table's device (op code checks; see check_same_device).
  // dst[i] = src[i] with dtype conversion; both any strides, same shape.
  void (*copy)(const Tensor& src, const Tensor& dst);
  void (*fill)(const Tensor& dst, double value);
  // out = op(x); x and out same shape & dtype (out contiguous).
  void (*unary)(UnaryOp op, const Tensor& x, const Tensor& out, UnaryArgs args);
  // gx = dop(x, y) * gy, fused; all same shape, gx contiguous.
  void (*unary_backward)(UnaryOp op, const Tensor& gy, const Tensor& x, const Tensor& y, const Tensor& gx, UnaryArgs args);
  // a, b already expanded (strided) to out's shape; all one dtype.
  void (*binary)(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);
  void (*compare)(CompareOp op, const Tensor& a, const Tensor& b, const Tensor& out);
  void (*where)(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out);
  // x contiguous viewed as [outer, r, inner]; out (and idx) contiguous [outer, inner].
  void (*reduce)(ReduceOp op, const Tensor& x, int64_t outer, int64_t r, int64_t inner, const Tensor& out);
  // out[o, idx[o,i], i] += src[o, i] over [outer, r, inner] / [outer, inner].
  void (*scatter_add_dim)(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner);
  // softmax or log_softmax over the middle axis of contiguous [outer, r, inner].
  void (*softmax)(const Tensor& x, const Tensor& out, int64_t outer, int64_t r, int64_t inner, bool log);
  void (*softmax_backward)(const Tensor& gy, const Tensor& y, const Tensor& gx, int64_t outer, int64_t r, int64_t inner,
                           bool log);
  // out[b] = a[b] @ bm[b] for 3-d tensors whose last two dims have a unit stride somewhere.
  void (*bmm)(const Tensor& a, const Tensor& bm, const Tensor& out);
  // Gather/scatter of slices along the middle axis: out[o, j, i] = x[o, idx[j], i]; add-back for the gradient.
  void (*index_select)(const Tensor& x, const Tensor& idx, const Tensor& out, int64_t outer, int64_t r, int64_t inner);
  void (*index_add)(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner);
  // NN kernels (contiguous operands). Convolution: x [N,C,*in], w [O,C/g,*k], b [O] or null.
  void (*conv_forward)(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out);
  // Any of gx/gw/gb may be null (not needed); gw and gb are overwritten.
  void (*conv_backward)(const ConvGeom& g, const Tensor& x, const Tensor& w, const Tensor& gy, const Tensor& gx, const Tensor& gw,
                        const Tensor& gb);
  void (*max_pool2d)(const PoolGeom& g, const Tensor& x, const Tensor& out, const Tensor& idx);
  void (*max_pool2d_backward)(const PoolGeom& g, const Tensor& gy, const Tensor& idx, const Tensor& gx);
  void (*avg_pool2d)(const PoolGeom& g, const Tensor& x, const Tensor& out);
  void (*avg_pool2d_backward)(const PoolGeom& g, const Tensor& gy, const Tensor& gx);
  // Adaptive average pooling: windows [floor(i*H/OH), ceil((i+1)*H/OH)).
  void (*adaptive_avg_pool2d)(const PoolGeom& g, const Tensor& x, const Tensor& out);
  void (*adaptive_avg_pool2d_backward)(const PoolGeom& g, const Tensor& gy, const Tensor& gx);
  // Batch norm over x viewed as [N, C, L]. Training: batch stats into mean/invstd (and the
  // running stats, if given, updated in place); eval: running stats are used.
  void (*batch_norm)(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rmean, const Tensor& rvar, bool training,
                     double momentum, double eps, const Tensor& out, const Tensor& mean, const Tensor& invstd);
  void (*batch_norm_backward)(const Tensor& x, const Tensor& gy, const Tensor& w, const Tensor& mean, const Tensor& invstd,
                              bool training, const Tensor& gx, const Tensor& gw, const Tensor& gb);
  // Negative log-likelihood (with label smoothing) over logp [N, C, L] and target [N, L]:
  // per-element losses into `loss` [N, L] and per-element weights w[t] into `wt` [N, L].
  void (*nll_loss)(const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index, double smoothing,
                   const Tensor& loss, const Tensor& wt);
  // gx [N, C, L] from per-element upstream gradients g [N, L].
  void (*nll_loss_backward)(const Tensor& g, const Tensor& target, const Tensor& weight, int64_t ignore_index, double smoothing,
                            const Tensor& gx);
  // One optimizer update of parameter p (contiguous, in place) from gradient g; s0..s2 are
  // the optimizer's state tensors (see optim.h for which is which), null where unused.
  // `step` counts updates of p including this one (1 on its first update).
  void (*optim_update)(OptimKind kind, const OptimHyper& h, int64_t step, const Tensor& p, const Tensor& g, const Tensor& s0,
                       const Tensor& s1, const Tensor& s2);
  // Image warp for augmentation: out[n] samples x[n] ([N, C, H, W]) at theta[n] (a 2x3 affine map from
  // output pixel coordinates to input pixel coordinates), bilinear, zeros outside.
  void (*affine_warp)(const Tensor& x, const Tensor& theta, const Tensor& out);
  // Random fills from the global generator.
  void (*uniform)(const Tensor& dst, double low, double high);
  void (*normal)(const Tensor& dst, double mean, double std);
  void (*randint)(const Tensor& dst, int64_t low, int64_t high);
  void (*bernoulli)(const Tensor& dst, double p);
  // out[o, idx[j], i] = src[o, j, i] (index_add's assigning twin; the last of repeated indices wins).
  void (*index_copy)(const Tensor& out, const Tensor& idx, const Tensor& src, int64_t outer, int64_t r, int64_t inner);
  // int64 `indices` [outer, r, inner]: the stable sorted order of each line of x along the middle
  // axis, NaN above every number (x, indices contiguous).
  void (*sort)(const Tensor& x, const Tensor& indices, int64_t outer, int64_t r, int64_t inner, bool descending);
  // Inclusive prefix sums along the middle axis (x, out contiguous, same dtype).
  void (*cumsum)(const Tensor& x, const Tensor& out, int64_t outer, int64_t r, int64_t inner);
};

// Every entry of the table, for code that treats them alike (the null check at registration, a
// backend that wraps another): X(name) for each member of Backend, in order; the memory entries,
// then the kernels.
// clang-format off
#define RT_MEMORY_ENTRIES(X) X(allocate) X(release) X(copy_from_host) X(copy_to_host) X(synchronize)
#define RT_KERNEL_ENTRIES(X)                                                                                               \
  X(copy) X(fill) X(unary) X(unary_backward) X(binary) X(compare) X(where) X(reduce) X(scatter_add_dim) X(softmax)       \
  X(softmax_backward) X(bmm) X(index_select) X(index_add) X(conv_forward) X(conv_backward) X(max_pool2d)                \
  X(max_pool2d_backward) X(avg_pool2d) X(avg_pool2d_backward) X(adaptive_avg_pool2d) X(adaptive_avg_pool2d_backward)   \
  X(batch_norm) X(batch_norm_backward) X(nll_loss) X(nll_loss_backward) X(optim_update) X(affine_warp) X(uniform)      \
  X(normal) X(randint) X(bernoulli) X(index_copy) X(sort) X(cumsum)
#define RT_BACKEND_ENTRIES(X) RT_MEMORY_ENTRIES(X) RT_KERNEL_ENTRIES(X)
// clang-format on

// Expanded in a backend's namespace over RT_KERNEL_ENTRIES, declares its kernel functions with the
// entries' exact signatures: the contracts above are then written once, and a backend whose
// definition drifts from its entry fails to compile there.
#define RT_DECLARE_KERNEL(entry) std::remove_pointer_t<decltype(::rt::Backend::entry)> entry;

// The device registry. A device type's table is installed once, by register_backend, which refuses
// a table with a missing (null) entry, naming it. backend() of a device type nobody registered is
// a RuntimeError naming the device.
void register_backend(DeviceType type, const Backend& table);
bool backend_registered(DeviceType type);

// Every kernel is reached through backend(), which first brings the calling thread's intra-op
// thread count up to date (see set_num_threads).
const Backend& backend(Device d);
inline const Backend& backend(const Tensor& t) { return backend(t->device); }

const Backend& cpu_backend();
// The test-only device (src/testdev/backend_testdev.cpp): registers it, once. Python reaches it
// through reticulum._C._enable_test_device(), or RETICULUM_TEST_DEVICE=1 at import.
void enable_test_device();
// For the test of register_backend's check: registers the test device's table with `entry` nulled.
void register_test_device_without(const std::string& entry);

// Intra-op threads for the whole process, as torch.set_num_threads. OpenMP's omp_set_num_threads
// only sets the calling thread's count, so the count is kept here and each thread adopts it when it
// next enters backend(): a new Python thread or a DataLoader worker sees the setting too.
void set_num_threads(int n);
int get_num_threads();
// Brings the calling thread's OpenMP thread count up to date with set_num_threads (backend() calls it).
void adopt_num_threads();

// Seeded generator shared by every random op.
void manual_seed(uint64_t seed);
// Devices with generators of their own (CUDA's Philox) are reseeded by every manual_seed, as
// torch.manual_seed seeds every device: each hook is called with the seed.
void add_seed_hook(void (*hook)(uint64_t seed));
uint64_t next_random();  // 64 random bits
void random_bits(uint64_t* out, int64_t n);  // n draws under one lock
// The same n draws (one lock, one stretch of the stream), handed to take(context, bits, begin, count)
// in consecutive chunks of kRandomChunk words (the last may be shorter): converting each chunk while
// it is in L1 spares a pass over an n-word buffer.
constexpr int64_t kRandomChunk = 2048;
void random_bits_chunked(int64_t n, void* context, void (*take)(void*, const uint64_t*, int64_t begin, int64_t count));
double next_uniform();   // [0, 1)

}  // namespace rt
