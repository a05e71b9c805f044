#include "reticulum/autograd.h"

#include <unordered_map>

#include "reticulum/ops.h"

namespace rt {

namespace {
thread_local bool g_grad_enabled = true;
}

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
    }
    node->next.push_back(std::move(e));
  }
  node->backward = std::move(fn);
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

// Leaf .grad is always a contiguous tensor of the leaf's shape and dtype that the
// leaf owns alone, so later accumulation (and optimizers) can write it in place.
static void accumulate(const Tensor& leaf, const Tensor& g) {
  if (g->shape != leaf->shape)
    fail<RuntimeError>("backward: gradient shape ", shape_str(g->shape), " does not match tensor shape ", shape_str(leaf->shape));
  if (!leaf->grad) {
    bool owned = g.use_count() <= 2 && g->storage.use_count() == 1 && g->offset == 0 && g->is_contiguous() && g->dtype == leaf->dtype;
    leaf->grad = owned ? detach(g) : g->dtype == leaf->dtype ? clone(g) : to_dtype(g, leaf->dtype);  // both copy to a fresh contiguous tensor
    return;
  }
  Tensor acc = leaf->grad;
  if (acc->shape != leaf->shape || !acc->is_contiguous())  // p.data or p.grad.data was rebound since
    fail<RuntimeError>("backward: the existing .grad (shape ", shape_str(acc->shape), acc->is_contiguous() ? "" : ", not contiguous",
                       ") does not match the tensor (shape ", shape_str(leaf->shape), ")");
  Tensor src = g->dtype == acc->dtype ? g : to_dtype(g, acc->dtype);
  backend(acc).binary(BinaryOp::Add, acc, src, acc);
}

void run_backward(const Tensor& root, Tensor grad, bool retain_graph) {
  if (!root->requires_grad)
    fail<RuntimeError>("backward: element 0 of tensors does not require grad and does not have a grad_fn");
  if (!grad) {
    if (root->numel() != 1)
      fail<RuntimeError>("backward: grad can be implicitly created only for scalar outputs (got shape ", shape_str(root->shape), ")");
    grad = ones(root->shape, root->dtype);
  } else if (grad->shape != root->shape) {
    fail<RuntimeError>("backward: gradient has shape ", shape_str(grad->shape), " but the tensor has shape ", shape_str(root->shape));
  }
  GradModeGuard no_grad(false);
  if (!root->grad_fn) {
    accumulate(root, grad);
    return;
  }
  // Dependency counts over the reachable graph (iterative: deep graphs must not overflow the stack).
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> stack{root->grad_fn.get()};
  deps[root->grad_fn.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (auto& e : n->next) {
      if (!e.fn) continue;
      auto it = deps.find(e.fn.get());
      if (it == deps.end()) {
        deps.emplace(e.fn.get(), 1);
        stack.push_back(e.fn.get());
      } else {
        ++it->second;
      }
    }
  }
  std::unordered_map<Node*, Tensor> buffers;
  buffers[root->grad_fn.get()] = grad;
  std::vector<std::shared_ptr<Node>> ready{root->grad_fn};
  while (!ready.empty()) {
    std::shared_ptr<Node> n = std::move(ready.back());
    ready.pop_back();
    auto bit = buffers.find(n.get());
    Tensor g = bit == buffers.end() ? Tensor{} : std::move(bit->second);
    if (bit != buffers.end()) buffers.erase(bit);
    std::vector<Tensor> grads;
    if (g) {
      if (n->released)
        fail<RuntimeError>("backward: trying to backward through the graph a second time (through ", n->name,
                           "); its saved tensors were freed. Specify retain_graph=True on the first backward call.");
      for (auto& [weak, version] : n->versions) {
        auto s = weak.lock();
        if (s && s->version != version)
          fail<RuntimeError>("backward: an input of ", n->name, " was modified by an in-place operation after it was used (version ", s->version,
                             ", expected ", version, "); its saved values are stale");
      }
      grads = n->backward(g, *n);
      if (!retain_graph) n->release();
    }
    for (size_t i = 0; i < n->next.size(); ++i) {
      const Edge& e = n->next[i];
      Tensor gi = i < grads.size() ? grads[i] : Tensor{};
      if (e.leaf) {
        if (gi) accumulate(e.leaf, gi);
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

}  // namespace rt
