// Define-by-run autograd: each differentiable op records a Node whose backward
// closure maps the output's gradient to its inputs' gradients.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "reticulum/tensor.h"

namespace rt {

// Where a gradient goes: into another node, or into a leaf's .grad. It also records what
// the input looked like in forward, so the engine can validate every gradient that a
// backward closure (or a user's custom Function) returns before passing it on: kernels
// downstream assume a buffer of exactly this shape, dtype and device.
struct Edge {
  std::shared_ptr<Node> fn;
  Tensor leaf;
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
  bool active() const { return fn || leaf; }
};

struct Node {
  using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out, const Node& self)>;
  const char* name = "";
  std::vector<Edge> next;  // one per input, inactive where the input needs no gradient
  BackwardFn backward;
  bool released = false;
  bool needs(size_t i) const { return i < next.size() && next[i].active(); }
  // Storages of the inputs and their versions at record time: backward refuses to run
  // if any was modified in place since (its saved values may be stale).
  std::vector<std::pair<std::weak_ptr<Storage>, int64_t>> versions;
  // Where the forward op was called from (Python stack), recorded only in anomaly mode.
  std::shared_ptr<const std::string> forward_trace;
  void release() { backward = nullptr; released = true; }
  Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;
  ~Node();  // iterative: a million-node chain must not overflow the stack when freed
};

// Thread-local grad mode, as torch.is_grad_enabled().
bool grad_enabled();
void set_grad_enabled(bool on);
struct GradModeGuard {
  bool prev;
  explicit GradModeGuard(bool on) : prev(grad_enabled()) { set_grad_enabled(on); }
  ~GradModeGuard() { set_grad_enabled(prev); }
};

// Anomaly mode (torch.autograd.detect_anomaly): process-wide, like PyTorch's. While on,
// record() stores each node's forward trace and backward raises at the first node that
// returns a NaN or infinite gradient, naming that node and quoting its forward trace.
bool anomaly_enabled();
void set_anomaly_enabled(bool on);
// Installed by the bindings: returns the current Python stack as text (takes the GIL).
void set_forward_trace_hook(std::string (*hook)());

// Attaches a Node to `out` when grad mode is on and any input requires grad.
// The closure must hold only detach()-ed tensors (never `out` itself with history).
Tensor record(const char* name, const Tensor& out, std::initializer_list<Tensor> inputs, Node::BackwardFn fn);
Tensor record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs, Node::BackwardFn fn);
bool any_requires_grad(std::initializer_list<Tensor> inputs);

// Runs backward from `root`; accumulates into leaves' .grad; frees the graph unless retain_graph.
void run_backward(const Tensor& root, Tensor grad, bool retain_graph);

}  // namespace rt
