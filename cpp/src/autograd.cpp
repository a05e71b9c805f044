#include "reticulum/autograd.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "reticulum/ops.h"

namespace rt {

namespace {
thread_local bool g_grad_enabled = true;
std::atomic<bool> g_anomaly{false};
std::atomic<std::string (*)()> g_trace_hook{nullptr};

// Backward runs with the GIL released, so threads that share parameters accumulate into
// the same .grad at once. One lock per leaf serialises that, as PyTorch's AccumulateGrad
// does; a fixed table of locks chosen by address stands in for a mutex in every tensor.
std::mutex& leaf_lock(const TensorImpl* leaf) {
  static std::array<std::mutex, 64> locks;
  return locks[(reinterpret_cast<uintptr_t>(leaf) >> 6) % locks.size()];
}
}  // namespace

bool anomaly_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void set_anomaly_enabled(bool on) { g_anomaly.store(on); }
void set_forward_trace_hook(std::string (*hook)()) { g_trace_hook.store(hook); }

Node::~Node() {
  std::vector<std::shared_ptr<Node>> stack;
  auto detach_children = [&stack](Node& n) {
    for (auto& e : n.next)
      if (e.fn && e.fn.use_count() == 1) stack.push_back(std::move(e.fn));
    n.next.clear();
  };
  detach_children(*this);
  while (!stack.empty()) {
    std::shared_ptr<Node> n = std::move(stack.back());
    stack.pop_back();
    detach_children(*n);
  }  // each popped node dies here with no children left to recurse into
}

bool grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool on) { g_grad_enabled = on; }

bool any_requires_grad(std::initializer_list<Tensor> inputs) {
  for (auto& t : inputs)
    if (t && t->requires_grad) return true;
  return false;
}

template <class Range>
static Tensor record_impl(const char* name, const Tensor& out, const Range& inputs, Node::BackwardFn&& fn) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (auto& t : inputs) any = any || (t && t->requires_grad);
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->name = name;
  node->next.reserve(inputs.size());
  for (auto& t : inputs)
    if (t) node->versions.emplace_back(t->storage, t->storage->version);
  for (auto& t : inputs) {
    Edge e;
    if (t && t->requires_grad) {
      if (t->grad_fn) e.fn = t->grad_fn;
      else e.leaf = t;
      e.shape = t->shape;
      e.dtype = t->dtype;
      e.device = t->device;
    }
    node->next.push_back(std::move(e));
  }
  node->backward = std::move(fn);
  if (anomaly_enabled())
    if (auto hook = g_trace_hook.load()) node->forward_trace = std::make_shared<const std::string>(hook());
  out->requires_grad = true;
  out->grad_fn = std::move(node);
  return out;
}

Tensor record(const char* name, const Tensor& out, std::initializer_list<Tensor> inputs, Node::BackwardFn fn) {
  return record_impl(name, out, inputs, std::move(fn));
}
Tensor record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs, Node::BackwardFn fn) {
  return record_impl(name, out, inputs, std::move(fn));
}

// What PyTorch's engine does to every gradient a node returns (validate_outputs): a
// gradient of a broadcast shape is summed back to the input's shape, any other shape is an
// error naming the node, another device is an error, another dtype is cast to the input's.
// Without this a float64 gradient flowing into a float32 node's kernel is read as float32.
static Tensor validated(const Node& n, size_t i, Tensor g, const Edge& e) {
  if (g->device != e.device)
    fail<RuntimeError>("backward: ", n.name, " returned a gradient on ", device_str(g->device), " at index ", i,
                       " for an input on ", device_str(e.device));
  if (g->shape != e.shape) {
    bool reducible = g->shape.size() >= e.shape.size();
    for (size_t k = 0; reducible && k < e.shape.size(); ++k) {
      int64_t want = e.shape[e.shape.size() - 1 - k], got = g->shape[g->shape.size() - 1 - k];
      reducible = want == got || want == 1;
    }
    if (!reducible)
      fail<RuntimeError>("backward: ", n.name, " returned an invalid gradient at index ", i, " - got ", shape_str(g->shape),
                         " but expected shape compatible with ", shape_str(e.shape));
    g = sum_to(g, e.shape);
  }
  if (g->dtype != e.dtype) g = to_dtype(g, e.dtype);
  return g;
}

// Anomaly mode: the first node whose backward returns a NaN or an infinity is named, with
// the Python stack of the forward call that recorded it.
static void check_finite(const Node& n, size_t i, const Tensor& g) {
  if (!is_floating(g->dtype) || g->numel() == 0) return;
  Tensor probe = to_dtype(sum(mul_scalar(g, 0.0), {}, false), DType::Float64);  // 0 * x is NaN exactly where x is not finite
  if (std::isfinite(item_double(probe))) return;
  fail<RuntimeError>("backward: function '", n.name, "' returned non-finite values (NaN or inf) in its ", i,
                     "th output. The forward call that created it:\n",
                     n.forward_trace ? *n.forward_trace : std::string("(not recorded: it ran before anomaly mode was on)\n"));
}

// Leaf .grad is always a contiguous tensor of the leaf's shape and dtype that the
// leaf owns alone, so later accumulation (and optimizers) can write it in place.
// g arrives validated (the leaf's shape and dtype).
static void accumulate(const Tensor& leaf, const Tensor& g) {
  std::lock_guard<std::mutex> lock(leaf_lock(leaf.get()));
  if (!leaf->grad) {
    bool owned = g.use_count() <= 2 && g->storage.use_count() == 1 && g->offset == 0 && g->is_contiguous();
    leaf->grad = owned ? detach(g) : clone(g);  // clone copies to a fresh contiguous tensor
    return;
  }
  Tensor acc = leaf->grad;
  if (acc->shape != leaf->shape)  // p.data or p.grad.data was rebound to another shape since
    fail<RuntimeError>("backward: the existing .grad (shape ", shape_str(acc->shape), ") does not match the tensor (shape ",
                       shape_str(leaf->shape), ")");
  if (acc->shape == g->shape && acc->dtype == g->dtype && acc->device == g->device && acc->is_contiguous()) {
    backend(acc).binary(BinaryOp::Add, acc, g, acc);
  } else {  // a .grad the user assigned (a view, say): never write through it
    leaf->grad = add(acc, g);
  }
}

// ---------------------------------------------------------------- gradient hooks

void GradHooks::remove(int64_t id) {
  std::lock_guard<std::mutex> guard(lock);
  auto has_id = [id](const auto& h) { return h.first == id; };
  pre.erase(std::remove_if(pre.begin(), pre.end(), has_id), pre.end());
  post.erase(std::remove_if(post.begin(), post.end(), has_id), post.end());
}

std::shared_ptr<GradHooks> hooks_of(const Tensor& t) {
  auto& slot = t->grad_fn ? t->grad_fn->hooks : t->hooks;
  if (!slot) slot = std::make_shared<GradHooks>();
  return slot;
}

int64_t add_grad_hook(const Tensor& t, GradHooks::Pre fn) {
  if (!t->requires_grad) fail<RuntimeError>("register_hook: cannot register a hook on a tensor that doesn't require gradient");
  auto h = hooks_of(t);
  std::lock_guard<std::mutex> guard(h->lock);
  h->pre.emplace_back(h->next_id, std::move(fn));
  return h->next_id++;
}

int64_t add_post_accumulate_grad_hook(const Tensor& t, GradHooks::Post fn) {
  const char* op = "register_post_accumulate_grad_hook";
  if (!t->requires_grad) fail<RuntimeError>(op, ": cannot register a hook on a tensor that doesn't require gradient");
  if (t->grad_fn) fail<RuntimeError>(op, ": post accumulate grad hooks cannot be registered on non-leaf tensors");
  auto h = hooks_of(t);
  std::lock_guard<std::mutex> guard(h->lock);
  h->post.emplace_back(h->next_id, std::move(fn));
  return h->next_id++;
}

// The gradient after the pre hooks. Copied out first: a hook may add or remove hooks.
static Tensor run_pre_hooks(GradHooks& h, Tensor g) {
  std::vector<std::pair<int64_t, GradHooks::Pre>> hooks;
  {
    std::lock_guard<std::mutex> guard(h.lock);
    hooks = h.pre;
  }
  for (auto& hook : hooks) {
    Tensor r = hook.second(g);
    if (!r) continue;
    if (r->shape != g->shape || r->dtype != g->dtype || r->device != g->device)
      fail<RuntimeError>("backward: a hook returned a gradient of shape ", shape_str(r->shape), ", dtype ", dtype_name(r->dtype),
                         " on ", device_str(r->device), " in place of one of shape ", shape_str(g->shape), ", dtype ",
                         dtype_name(g->dtype), " on ", device_str(g->device));
    g = std::move(r);
  }
  return g;
}

static void run_post_hooks(GradHooks& h, const Tensor& leaf) {
  std::vector<std::pair<int64_t, GradHooks::Post>> hooks;
  {
    std::lock_guard<std::mutex> guard(h.lock);
    hooks = h.post;
  }
  for (auto& hook : hooks) hook.second(leaf);
}

// The seed gradient of one root: ones for a one-element root, else checked as PyTorch does.
static Tensor root_gradient(const Tensor& root, Tensor grad, const char* op) {
  if (!root->requires_grad) fail<RuntimeError>(op, ": element 0 of tensors does not require grad and does not have a grad_fn");
  if (!grad) {
    if (root->numel() != 1)
      fail<RuntimeError>(op, ": grad can be implicitly created only for scalar outputs (got shape ", shape_str(root->shape), ")");
    return ones(root->shape, root->dtype, root->device);
  }
  if (grad->shape != root->shape)
    fail<RuntimeError>(op, ": gradient has shape ", shape_str(grad->shape), " but the tensor has shape ", shape_str(root->shape));
  if (grad->device != root->device)
    fail<RuntimeError>(op, ": gradient is on ", device_str(grad->device), " but the tensor is on ", device_str(root->device));
  return grad->dtype == root->dtype ? grad : to_dtype(grad, root->dtype);  // PyTorch casts a gradient of another dtype
}

namespace {
// Where the gradients go: into leaves' .grad (Tensor.backward), or, for autograd.grad, into
// one slot per requested tensor, leaving every .grad alone and running only the nodes that
// lead to a requested tensor.
struct Capture {
  std::unordered_map<const TensorImpl*, size_t> leaves;
  std::unordered_map<const Node*, size_t> nodes;  // a non-leaf tensor's gradient is its node's incoming one
  std::vector<Tensor> grads;
  void add(size_t slot, const Tensor& g) { grads[slot] = grads[slot] ? rt::add(grads[slot], g) : g; }
};

// A hooked leaf's gradient, summed here over its uses until the last one has run.
struct HeldGrad {
  int uses = 0;
  Tensor grad;
};
}  // namespace

// A leaf's whole gradient of this backward: through its pre hooks, then into .grad and its post
// hooks, or (autograd.grad) into the slot requested for it.
static void deliver(const Tensor& leaf, Tensor g, Capture* capture) {
  if (capture) {
    auto it = capture->leaves.find(leaf.get());
    if (it == capture->leaves.end()) return;
    if (leaf->hooks) g = run_pre_hooks(*leaf->hooks, std::move(g));
    capture->add(it->second, g);
    return;
  }
  if (leaf->hooks) g = run_pre_hooks(*leaf->hooks, std::move(g));
  accumulate(leaf, g);
  if (leaf->hooks) run_post_hooks(*leaf->hooks, leaf);
}

static void execute(const std::vector<Tensor>& roots, std::vector<Tensor> seeds, bool retain_graph, Capture* capture) {
  GradModeGuard no_grad(false);
  std::unordered_map<Node*, Tensor> buffers;
  std::vector<Node*> stack;
  std::unordered_map<const TensorImpl*, HeldGrad> held;  // leaves with hooks get their gradient once, summed
  auto offer = [&held, capture](const Tensor& leaf, Tensor g) {
    auto h = held.find(leaf.get());
    if (h == held.end()) {
      if (g) deliver(leaf, std::move(g), capture);
      return;
    }
    if (g) h->second.grad = h->second.grad ? add(h->second.grad, g) : std::move(g);
    if (--h->second.uses == 0 && h->second.grad) deliver(leaf, std::move(h->second.grad), capture);
  };
  std::vector<size_t> leaf_roots;  // a leaf root's gradient is the one given for it
  for (size_t r = 0; r < roots.size(); ++r) {
    const Tensor& root = roots[r];
    if (!root->grad_fn) {
      leaf_roots.push_back(r);
      if (root->hooks) ++held[root.get()].uses;
      continue;
    }
    auto& buf = buffers[root->grad_fn.get()];
    buf = buf ? add(buf, seeds[r]) : seeds[r];
    stack.push_back(root->grad_fn.get());
  }
  // Dependency counts over the reachable graph (iterative: deep graphs must not overflow the stack),
  // and a topological order of it, so capture mode can tell which nodes lead to a requested tensor.
  std::unordered_map<Node*, int> deps;
  for (Node* n : stack) deps.emplace(n, 0);
  std::vector<Node*> order;
  for (std::vector<Node*> todo = stack; !todo.empty();) {
    Node* n = todo.back();
    todo.pop_back();
    order.push_back(n);
    for (auto& e : n->next) {
      if (e.leaf && e.leaf->hooks) ++held[e.leaf.get()].uses;
      if (!e.fn) continue;
      auto [it, fresh] = deps.emplace(e.fn.get(), 0);
      ++it->second;
      if (fresh) todo.push_back(e.fn.get());
    }
  }
  std::unordered_map<Node*, bool> needed;
  if (capture) {
    // Children before parents: Kahn's order over a copy of the counts, then walked backwards.
    std::unordered_map<Node*, int> left = deps;
    std::vector<Node*> topo, ready;
    for (auto& [n, d] : left)
      if (d == 0) ready.push_back(n);
    while (!ready.empty()) {
      Node* n = ready.back();
      ready.pop_back();
      topo.push_back(n);
      for (auto& e : n->next)
        if (e.fn && --left[e.fn.get()] == 0) ready.push_back(e.fn.get());
    }
    for (auto it = topo.rbegin(); it != topo.rend(); ++it) {  // runs: some requested tensor lies below
      Node* n = *it;
      bool run = false;
      for (auto& e : n->next)
        run = run || (e.leaf && capture->leaves.count(e.leaf.get())) ||
              (e.fn && (capture->nodes.count(e.fn.get()) || needed[e.fn.get()]));
      needed[n] = run;
    }
  }
  for (size_t r : leaf_roots) offer(roots[r], seeds[r]);
  std::vector<std::shared_ptr<Node>> ready;
  for (size_t r = 0; r < roots.size(); ++r) {
    Node* n = roots[r]->grad_fn.get();
    if (n && deps[n] == 0 && std::none_of(ready.begin(), ready.end(), [n](auto& p) { return p.get() == n; }))
      ready.push_back(roots[r]->grad_fn);
  }
  const bool anomaly = anomaly_enabled();
  while (!ready.empty()) {
    std::shared_ptr<Node> n = std::move(ready.back());
    ready.pop_back();
    auto bit = buffers.find(n.get());
    Tensor g = bit == buffers.end() ? Tensor{} : std::move(bit->second);
    if (bit != buffers.end()) buffers.erase(bit);
    if (g && n->hooks) g = run_pre_hooks(*n->hooks, std::move(g));
    if (capture) {
      if (auto it = capture->nodes.find(n.get()); it != capture->nodes.end() && g) capture->add(it->second, g);
      if (!needed[n.get()]) continue;  // nothing requested lies below it
    }
    std::vector<Tensor> grads;
    if (g) {
      if (n->released)
        fail<RuntimeError>("backward: trying to backward through the graph a second time (through ", n->name,
                           "); its saved tensors were freed. Specify retain_graph=True on the first backward call.");
      for (auto& [weak, version] : n->versions) {
        auto s = weak.lock();
        if (s && s->version != version)
          fail<RuntimeError>("backward: an input of ", n->name,
                             " was modified by an in-place operation after it was used (version ", s->version, ", expected ",
                             version, "); its saved values are stale");
      }
      grads = n->backward(g, *n);
      if (!retain_graph) n->release();
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      Tensor gi = i < grads.size() && e.active() ? grads[i] : Tensor{};
      if (gi) {
        gi = validated(*n, i, std::move(gi), e);
        if (anomaly) check_finite(*n, i, gi);
      }
      if (e.leaf) {
        offer(e.leaf, std::move(gi));
      } else if (e.fn) {
        if (gi) {
          auto& buf = buffers[e.fn.get()];
          buf = buf ? add(buf, gi) : gi;
        }
        if (--deps[e.fn.get()] == 0) ready.push_back(e.fn);
      }
    }
  }
}

void run_backward(const Tensor& root, Tensor grad, bool retain_graph) {
  Tensor seed = root_gradient(root, std::move(grad), "backward");
  execute({root}, {seed}, retain_graph, nullptr);
}

void run_backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grads, bool retain_graph) {
  if (grads.size() != roots.size())
    fail<RuntimeError>("backward: got ", grads.size(), " gradients for ", roots.size(), " tensors");
  std::vector<Tensor> seeds;
  for (size_t r = 0; r < roots.size(); ++r) seeds.push_back(root_gradient(roots[r], grads[r], "backward"));
  execute(roots, std::move(seeds), retain_graph, nullptr);
}

std::vector<Tensor> run_grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                             const std::vector<Tensor>& inputs, bool retain_graph, bool allow_unused) {
  if (grad_outputs.size() != outputs.size())
    fail<RuntimeError>("grad: got ", grad_outputs.size(), " grad_outputs for ", outputs.size(), " outputs");
  Capture capture;
  capture.grads.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (!t->requires_grad) fail<RuntimeError>("grad: input ", i, " (shape ", shape_str(t->shape), ") does not require grad");
    if (t->grad_fn) capture.nodes.emplace(t->grad_fn.get(), i);
    else capture.leaves.emplace(t.get(), i);
  }
  std::vector<Tensor> seeds;
  for (size_t r = 0; r < outputs.size(); ++r) seeds.push_back(root_gradient(outputs[r], grad_outputs[r], "grad"));
  execute(outputs, std::move(seeds), retain_graph, &capture);
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!capture.grads[i] && !allow_unused)
      fail<RuntimeError>("grad: input ", i, " (shape ", shape_str(inputs[i]->shape),
                         ") was not used in the graph of the outputs; "
                         "pass allow_unused=True to get None for it");
  }
  // The same tensor requested twice gets the same gradient twice (the maps kept its first slot).
  for (size_t i = 0; i < inputs.size(); ++i)
    for (size_t j = 0; j < inputs.size(); ++j)
      if (!capture.grads[i] && capture.grads[j] && inputs[i] == inputs[j]) capture.grads[i] = capture.grads[j];
  return capture.grads;
}

}  // namespace rt
