// Define-by-run autograd: each differentiable op records a Node whose backward
// closure maps the output's gradient to its inputs' gradients.
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
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

// The gradient hooks of one tensor, as PyTorch's Tensor.register_hook (`pre`: called with the
// tensor's gradient before it is accumulated or passed on; a non-null result replaces it) and
// Tensor.register_post_accumulate_grad_hook (`post`: called with a leaf after its .grad was
// updated). Each runs once per backward with the tensor's whole gradient, summed over all its
// uses. A leaf's hooks live in its TensorImpl, a non-leaf's in its grad_fn (where its gradient
// arrives). They run on the thread that runs backward; hooks that call Python take the GIL.
struct GradHooks {
  using Pre = std::function<Tensor(const Tensor& grad)>;
  using Post = std::function<void(const Tensor& leaf)>;
  std::mutex lock;  // guards the lists: backward copies them out before calling any hook
  int64_t next_id = 0;
  std::vector<std::pair<int64_t, Pre>> pre;
  std::vector<std::pair<int64_t, Post>> post;
  void remove(int64_t id);
};
// Register a hook on `t` (which must require grad; a post hook needs a leaf) and return its id
// for GradHooks::remove on *hooks_of(t).
int64_t add_grad_hook(const Tensor& t, GradHooks::Pre fn);
int64_t add_post_accumulate_grad_hook(const Tensor& t, GradHooks::Post fn);
std::shared_ptr<GradHooks> hooks_of(const Tensor& t);

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
  std::shared_ptr<GradHooks> hooks;  // the output tensor's gradient hooks (register_hook on a non-leaf)
  void release() {
    backward = nullptr;
    released = true;
  }
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
// Several roots at once (torch.autograd.backward); a null gradient means ones for a one-element root.
void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph);
// torch.autograd.grad: the gradients of `outputs` with respect to `inputs`, returned instead of
// accumulated into .grad; only the nodes that lead to an input run. A null entry is an input the
// outputs don't depend on (an error unless allow_unused).
std::vector<Tensor> run_grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                             const std::vector<Tensor>& inputs, bool retain_graph, bool allow_unused);

}  // namespace rt
