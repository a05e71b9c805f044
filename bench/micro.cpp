// Microbenchmarks: GEMM, conv2d forward/backward on representative layers, max-pool,
// batch norm. Each case reports the median time of repeated timed blocks and GFLOP/s.
//   cmake -S . -B build/bench -DRETICULUM_BENCH=ON && cmake --build build/bench --target rt_micro
//   build/bench/bench/rt_micro [filter-substring]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "reticulum/nn_ops.h"
#include "reticulum/ops.h"

using namespace rt;

struct Case {
  std::string name;
  double flops;  // per call (0: report time only)
  std::function<void()> fn;
};

// Median seconds per call over `reps` blocks of ~0.2 s each.
static double time_case(const std::function<void()>& fn, int reps = 7) {
  using clk = std::chrono::steady_clock;
  fn();  // warm-up (allocations, page faults)
  int n = 1;
  for (;;) {
    auto t0 = clk::now();
    for (int i = 0; i < n; ++i) fn();
    double s = std::chrono::duration<double>(clk::now() - t0).count();
    if (s > 0.05) {
      n = std::max(1, static_cast<int>(n * 0.2 / s));
      break;
    }
    n *= 4;
  }
  std::vector<double> per;
  for (int r = 0; r < reps; ++r) {
    auto t0 = clk::now();
    for (int i = 0; i < n; ++i) fn();
    per.push_back(std::chrono::duration<double>(clk::now() - t0).count() / n);
  }
  std::sort(per.begin(), per.end());
  return per[per.size() / 2];
}

static Tensor param(const Shape& s) {
  Tensor t = randn(s, DType::Float32);
  t->requires_grad = true;
  return t;
}

static Case conv_case(const char* name, Shape x, Shape w, int64_t pad, bool backward) {
  Tensor xi = param(x), wi = param(w);
  ConvArgs a{{1, 1}, {pad, pad}, {1, 1}, 1};
  const int64_t oh = x[2] + 2 * pad - w[2] + 1, ow = x[3] + 2 * pad - w[3] + 1;
  const double f = 2.0 * x[0] * w[0] * w[1] * w[2] * w[3] * oh * ow;
  if (!backward)
    return {name, f, [=] {
              GradModeGuard g(false);
              conv_nd(2, xi, wi, Tensor{}, a, "conv2d");
            }};
  return {name, 3 * f, [=] {
            Tensor y = conv_nd(2, xi, wi, Tensor{}, a, "conv2d");
            run_backward(sum(y, {}, false), Tensor{}, false);
            xi->grad.reset();
            wi->grad.reset();
          }};
}

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : "";
  manual_seed(0);
  std::vector<Case> cases;
  for (int64_t n : {256, 512, 1024, 2048}) {
    Tensor a = randn({1, n, n}, DType::Float32), b = randn({1, n, n}, DType::Float32);
    cases.push_back({"gemm " + std::to_string(n), 2.0 * n * n * n, [=] { bmm(a, b); }});
  }
  cases.push_back(conv_case("conv2d fwd     lenet1 64x1x28x28 k5 1->6", {64, 1, 28, 28}, {6, 1, 5, 5}, 2, false));
  cases.push_back(conv_case("conv2d fwd+bwd lenet1 64x1x28x28 k5 1->6", {64, 1, 28, 28}, {6, 1, 5, 5}, 2, true));
  cases.push_back(conv_case("conv2d fwd     lenet2 64x6x14x14 k5 6->16", {64, 6, 14, 14}, {16, 6, 5, 5}, 0, false));
  cases.push_back(conv_case("conv2d fwd+bwd lenet2 64x6x14x14 k5 6->16", {64, 6, 14, 14}, {16, 6, 5, 5}, 0, true));
  cases.push_back(conv_case("conv2d fwd     64x64x32x32 k3 64->64", {64, 64, 32, 32}, {64, 64, 3, 3}, 1, false));
  cases.push_back(conv_case("conv2d fwd+bwd 64x64x32x32 k3 64->64", {64, 64, 32, 32}, {64, 64, 3, 3}, 1, true));
  cases.push_back(conv_case("conv2d fwd     64x64x32x32 1x1 64->128", {64, 64, 32, 32}, {128, 64, 1, 1}, 0, false));
  cases.push_back(conv_case("conv2d fwd+bwd 64x64x32x32 1x1 64->128", {64, 64, 32, 32}, {128, 64, 1, 1}, 0, true));
  {
    Tensor x = param({64, 32, 32, 32});
    cases.push_back({"max_pool2d fwd+bwd 64x32x32x32 k2", 0, [=] {
                       Tensor y = max_pool2d(x, PoolArgs{{2, 2}, {2, 2}, {0, 0}, false, true}, "max_pool2d");
                       run_backward(sum(y, {}, false), Tensor{}, false);
                       x->grad.reset();
                     }});
    Tensor rm = zeros({32}), rv = ones({32}), w = param({32}), b = param({32});
    cases.push_back({"batch_norm fwd+bwd 64x32x32x32 train", 0, [=] {
                       Tensor y = batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
                       run_backward(sum(y, {}, false), Tensor{}, false);
                       x->grad.reset();
                       w->grad.reset();
                       b->grad.reset();
                     }});
  }
  std::printf("%-46s %12s %10s\n", "case", "median", "GFLOP/s");
  for (auto& c : cases) {
    if (!std::strstr(c.name.c_str(), filter)) continue;
    double s = time_case(c.fn);
    if (c.flops > 0) std::printf("%-46s %9.3f ms %10.1f\n", c.name.c_str(), s * 1e3, c.flops / s * 1e-9);
    else std::printf("%-46s %9.3f ms %10s\n", c.name.c_str(), s * 1e3, "-");
  }
  return 0;
}
