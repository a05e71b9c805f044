// DistributedDataParallel's gradient reducer: the work it does for every parameter in every backward
// (marking the gradient ready, scaling it into its bucket or in place, and at the end handing the
// bucket's memory out as .grad views or copying the averages back) runs here, inside the
// post-accumulate hooks, without the GIL. Python is entered once per bucket, to all-reduce it with
// MPI (reticulum.distributed). Done in Python, the per-parameter work took 6.5 us per parameter and
// step (one GIL round trip, a NumPy copy and a view each); see bench/ddp.py --hooks.
//
// One backward at a time, as PyTorch's reducer: the lock only keeps a second thread from corrupting
// the state.
#include <chrono>
#include <mutex>
#include <unordered_set>
#include <string>
#include <utility>
#include <vector>

#include "common.h"
#include "reticulum/autograd.h"
#include "reticulum/backend.h"

namespace rt::bind {

namespace {

class GradReducer {
 public:
  // params: the parameters that require grad; names: theirs, for errors; buckets: lists of parameter
  // indices, reduced in list order; alone[b]: bucket b holds one parameter whose gradient, when this
  // backward created it, is scaled and reduced in place; scale: 1 / world size; reduce(b, tensor):
  // all-reduces (sums) the tensor in place on every rank.
  GradReducer(std::vector<Tensor> params, std::vector<std::string> names, const std::vector<std::vector<int64_t>>& buckets,
              const std::vector<bool>& alone, double scale, py::function reduce)
      : params_(std::move(params)), names_(std::move(names)), reduce_(std::make_shared<PyRef>(std::move(reduce))) {
    const char* op = "_GradReducer";
    if (names_.size() != params_.size()) fail<ValueError>(op, ": ", params_.size(), " parameters but ", names_.size(), " names");
    if (alone.size() != buckets.size()) fail<ValueError>(op, ": ", buckets.size(), " buckets but ", alone.size(), " alone flags");
    slot_.assign(params_.size(), {-1, -1});
    for (size_t b = 0; b < buckets.size(); ++b) {
      Bucket bucket;
      bucket.params = buckets[b];
      bucket.alone = alone[b];
      if (bucket.params.empty() || (bucket.alone && bucket.params.size() != 1))
        fail<ValueError>(op, ": bucket ", b, " must hold one parameter when alone, and at least one otherwise");
      bucket.offsets.push_back(0);
      for (size_t k = 0; k < bucket.params.size(); ++k) {
        const int64_t i = bucket.params[k];
        if (i < 0 || i >= static_cast<int64_t>(params_.size()) || slot_[i].first >= 0)
          fail<ValueError>(op, ": parameter index ", i, " is out of range or in two buckets");
        const Tensor& p = params_[i];
        if (p->device.type != DeviceType::CPU || !p->is_contiguous() || !is_floating(p->dtype) || !p->is_leaf())
          fail<ValueError>(op, ": parameter ", names_[i], " must be a contiguous floating-point CPU leaf tensor");
        if (k > 0 && p->dtype != params_[bucket.params[0]]->dtype) fail<ValueError>(op, ": bucket ", b, " mixes dtypes");
        slot_[i] = {static_cast<int64_t>(b), static_cast<int64_t>(k)};
        bucket.offsets.push_back(bucket.offsets.back() + p->numel());
      }
      bucket.dtype = params_[bucket.params[0]]->dtype;
      bucket.scale = scalar_tensor(scale, bucket.dtype, params_[bucket.params[0]]->device);
      buckets_.push_back(std::move(bucket));
    }
    for (size_t i = 0; i < params_.size(); ++i)
      if (slot_[i].first < 0) fail<ValueError>(op, ": parameter ", names_[i], " is in no bucket");
    ready_.assign(params_.size(), false);
    before_.resize(params_.size());
  }

  ~GradReducer() {
    for (auto& [hooks, id] : hook_ids_)
      if (auto h = hooks.lock()) h->remove(id);
  }

  // The post-accumulate hooks hold the reducer weakly: dropping DistributedDataParallel drops them.
  static std::shared_ptr<GradReducer> create(std::vector<Tensor> params, std::vector<std::string> names,
                                             const std::vector<std::vector<int64_t>>& buckets, const std::vector<bool>& alone,
                                             double scale, py::function reduce) {
    auto r = std::make_shared<GradReducer>(std::move(params), std::move(names), buckets, alone, scale, std::move(reduce));
    std::weak_ptr<GradReducer> weak = r;
    for (size_t i = 0; i < r->params_.size(); ++i) {
      const int64_t id = add_post_accumulate_grad_hook(r->params_[i], [weak, i](const Tensor&) {
        if (auto me = weak.lock()) me->on_grad(i);
      });
      r->hook_ids_.emplace_back(hooks_of(r->params_[i]), id);
    }
    return r;
  }

  // Before a backward that reduces: remembers which tensor each .grad is (a different one at its hook
  // was created by this backward, so nobody else holds it).
  void arm() {
    py::gil_scoped_release nogil;  // a hook may hold the lock while it waits for the GIL
    std::lock_guard<std::mutex> lock(m_);
    armed_ = true;
    ready_.assign(params_.size(), false);
    for (size_t i = 0; i < params_.size(); ++i) before_[i] = params_[i]->grad;
    for (auto& b : buckets_) b.pending = static_cast<int64_t>(b.params.size());
    next_ = 0;
    unused_.clear();
    locally_unused_.clear();
    track_use_ = false;
  }

  // find_unused_parameters: after the forward of an armed backward, the parameters that the autograd
  // graph of `outputs` does not reach. They are marked ready, contributing their .grad (or zeros), when
  // that backward delivers its first gradient: in backward on every rank, so that the all-reduces stay
  // in the same order among the collectives. Returns how many there are.
  int64_t find_unused(const std::vector<Tensor>& outputs) {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(m_);
    std::unordered_set<const TensorImpl*> reached;
    std::unordered_set<const Node*> seen;
    std::vector<const Node*> stack;
    for (const Tensor& t : outputs) {
      if (t->grad_fn) {
        if (seen.insert(t->grad_fn.get()).second) stack.push_back(t->grad_fn.get());
      } else if (t->requires_grad) {
        reached.insert(t.get());
      }
    }
    while (!stack.empty()) {
      const Node* n = stack.back();
      stack.pop_back();
      for (const Edge& e : n->next) {
        if (e.leaf) reached.insert(e.leaf.get());
        if (e.fn && seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
      }
    }
    unused_.clear();
    for (size_t i = 0; i < params_.size(); ++i)
      if (!reached.count(params_[i].get())) unused_.push_back(i);
    track_use_ = true;
    return static_cast<int64_t>(unused_.size());
  }

  // The parameters that got no gradient in a backward that got some and so never finished.
  std::vector<std::string> unfinished() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(m_);
    std::vector<std::string> missing;
    bool any = false;
    for (size_t i = 0; i < params_.size(); ++i) {
      any = any || ready_[i];
      if (!ready_[i]) missing.push_back(names_[i]);
    }
    return armed_ && any ? missing : std::vector<std::string>{};
  }

  double copy_seconds() const { return copy_seconds_; }
  int64_t reductions() const { return reductions_; }

 private:
  struct Bucket {
    std::vector<int64_t> params;
    std::vector<int64_t> offsets;  // in elements, one more than params
    DType dtype = DType::Float32;
    Tensor scale;  // 0-d, 1 / world size in the bucket's dtype
    bool alone = false;
    Tensor flat;    // the bucket's memory, taken when a gradient needs it; new after being handed out
    Tensor target;  // what this backward reduces: flat, or the lone gradient itself
    int64_t pending = 0;
  };

  // dst = src * scale (a bucket's), at the active kernel level (src and dst contiguous, same numel and dtype).
  static void scale_into(const Tensor& src, const Tensor& scale, const Tensor& dst) {
    const Shape flat{dst->numel()};
    backend(dst).binary(BinaryOp::Mul, make_view(src, flat, {1}, src->offset), make_view(scale, flat, {0}, scale->offset),
                        make_view(dst, flat, {1}, dst->offset));
  }

  void on_grad(size_t i) {
    std::lock_guard<std::mutex> lock(m_);
    if (!armed_) return;
    for (size_t u : unused_) {  // the first gradient of this backward: the unused parameters are ready too
      ready_[u] = true;
      add_to_bucket(u, true);
    }
    unused_.clear();
    if (ready_[i])
      fail<RuntimeError>("DistributedDataParallel: parameter ", names_[i],
                         " got its gradient twice after one forward (backward through the same graph again, or, with "
                         "find_unused_parameters, a parameter that the forward's output does not reach?)");
    ready_[i] = true;
    add_to_bucket(i, false);
    reduce_ready_buckets();
  }

  // Parameter i's contribution, divided by the world size: its .grad (in place when `alone` and this
  // backward created it), or zeros for an unused parameter without one.
  void add_to_bucket(size_t i, bool unused) {
    const auto t0 = std::chrono::steady_clock::now();
    auto [b, k] = slot_[i];
    Bucket& bucket = buckets_[b];
    const Tensor& p = params_[i];
    const Tensor& grad = p->grad;  // autograd leaves it contiguous, of the parameter's shape and dtype
    if (bucket.alone && !unused && grad != before_[i]) {
      scale_into(grad, bucket.scale, grad);
      bucket.target = grad;
    } else {
      if (!bucket.flat) bucket.flat = empty({bucket.offsets.back()}, bucket.dtype, p->device);
      Tensor slot = make_view(bucket.flat, {p->numel()}, {1}, bucket.offsets[k]);
      if (grad) scale_into(grad, bucket.scale, slot);
      else backend(slot).fill(slot, 0.0);
      bucket.target = bucket.flat;
    }
    if (unused && !grad) locally_unused_.insert(i);  // a .grad from before (no_sync) counts as a use
    copy_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    --bucket.pending;
  }

  // Every full bucket whose predecessors are reduced, in order (MPI needs the same order on every rank).
  void reduce_ready_buckets() {
    while (next_ < buckets_.size() && buckets_[next_].pending == 0) {
      {
        py::gil_scoped_acquire gil;
        reduce_->obj(next_, buckets_[next_].target);
      }
      ++next_;
    }
    if (next_ == buckets_.size()) finish();
  }

  // With find_unused_parameters, how many ranks used each parameter (one more all-reduce): a parameter
  // that no rank used keeps its .grad as it was, as in PyTorch.
  std::vector<double> use_counts() {
    if (!track_use_) return {};
    Tensor used = empty({static_cast<int64_t>(params_.size())}, DType::Float64, params_[0]->device);
    double* u = used->data<double>();
    for (size_t i = 0; i < params_.size(); ++i) u[i] = locally_unused_.count(i) ? 0.0 : 1.0;
    {
      py::gil_scoped_acquire gil;
      reduce_->obj(buckets_.size(), used);
    }
    return std::vector<double>(u, u + params_.size());
  }

  void finish() {
    const std::vector<double> used = use_counts();
    const auto t0 = std::chrono::steady_clock::now();
    for (Bucket& bucket : buckets_) {
      Tensor target = std::move(bucket.target);
      if (target != bucket.flat) continue;  // a lone gradient, reduced where it is
      bool handed_out = false;
      for (size_t k = 0; k < bucket.params.size(); ++k) {
        const int64_t i = bucket.params[k];
        const Tensor& p = params_[i];
        if (!used.empty() && used[i] == 0.0) continue;  // no rank used it
        Tensor view = make_view(bucket.flat, p->shape, contiguous_strides(p->shape), bucket.offsets[k]);
        if (!p->grad || p->grad != before_[i]) {  // this backward's own tensor (or none): hand out the bucket
          p->grad = view;
          handed_out = true;
        } else {  // a .grad from before (zeroed in place, or accumulated in no_sync): it keeps its tensor
          backend(p->grad).copy(view, p->grad);
        }
      }
      if (handed_out) bucket.flat.reset();  // never write through a gradient handed out
    }
    for (Tensor& t : before_) t.reset();
    armed_ = false;
    track_use_ = false;
    locally_unused_.clear();
    ++reductions_;
    copy_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  std::vector<Tensor> params_;
  std::vector<std::string> names_;
  std::shared_ptr<PyRef> reduce_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<int64_t, int64_t>> slot_;  // parameter -> (bucket, position in it)
  std::vector<std::pair<std::weak_ptr<GradHooks>, int64_t>> hook_ids_;
  std::mutex m_;
  bool armed_ = false;
  std::vector<bool> ready_;
  std::vector<Tensor> before_;  // each .grad at arm(), held so that a new tensor cannot reuse its identity
  size_t next_ = 0;
  std::vector<size_t> unused_;                // found unused by find_unused(), not yet marked ready
  std::unordered_set<size_t> locally_unused_;  // marked ready without any gradient
  bool track_use_ = false;                    // find_unused() ran for this backward
  double copy_seconds_ = 0.0;
  int64_t reductions_ = 0;
};

}  // namespace

void bind_reducer(py::module_& m) {
  py::class_<GradReducer, std::shared_ptr<GradReducer>>(m, "_GradReducer")
      .def(py::init(&GradReducer::create), py::arg("params"), py::arg("names"), py::arg("buckets"), py::arg("alone"),
           py::arg("scale"), py::arg("reduce"))
      .def("arm", &GradReducer::arm)
      .def("unfinished", &GradReducer::unfinished)
      .def("find_unused", &GradReducer::find_unused, py::arg("outputs"))
      .def_property_readonly("copy_seconds", &GradReducer::copy_seconds)
      .def_property_readonly("reductions", &GradReducer::reductions);
}

}  // namespace rt::bind
