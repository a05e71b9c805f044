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
      : params_(std::move(params)), names_(std::move(names)), scale_(scale), reduce_(std::make_shared<PyRef>(std::move(reduce))) {
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
    bool alone = false;
    Tensor flat;    // the bucket's memory, taken when a gradient needs it; new after being handed out
    Tensor target;  // what this backward reduces: flat, or the lone gradient itself
    int64_t pending = 0;
  };

  // dst = src * scale, at the active kernel level (src and dst contiguous, same numel and dtype).
  void scale_into(const Tensor& src, const Tensor& dst) const {
    const Shape flat{dst->numel()};
    Tensor s = scalar_tensor(scale_, dst->dtype, dst->device);
    backend(dst).binary(BinaryOp::Mul, make_view(src, flat, {1}, src->offset), make_view(s, flat, {0}, s->offset),
                        make_view(dst, flat, {1}, dst->offset));
  }

  void on_grad(size_t i) {
    std::lock_guard<std::mutex> lock(m_);
    if (!armed_) return;
    if (ready_[i])
      fail<RuntimeError>("DistributedDataParallel: parameter ", names_[i],
                         " got its gradient twice after one forward (backward through the same graph again?)");
    ready_[i] = true;
    const auto t0 = std::chrono::steady_clock::now();
    auto [b, k] = slot_[i];
    Bucket& bucket = buckets_[b];
    const Tensor& grad = params_[i]->grad;  // autograd leaves it contiguous, of the parameter's shape and dtype
    if (bucket.alone && grad != before_[i]) {
      scale_into(grad, grad);
      bucket.target = grad;
    } else {
      if (!bucket.flat) bucket.flat = empty({bucket.offsets.back()}, bucket.dtype, grad->device);
      scale_into(grad, make_view(bucket.flat, {grad->numel()}, {1}, bucket.offsets[k]));
      bucket.target = bucket.flat;
    }
    copy_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (--bucket.pending == 0) reduce_ready_buckets();
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

  void finish() {
    const auto t0 = std::chrono::steady_clock::now();
    for (Bucket& bucket : buckets_) {
      Tensor target = std::move(bucket.target);
      if (target != bucket.flat) continue;  // a lone gradient, reduced where it is
      bool handed_out = false;
      for (size_t k = 0; k < bucket.params.size(); ++k) {
        const Tensor& p = params_[bucket.params[k]];
        Tensor view = make_view(bucket.flat, p->shape, contiguous_strides(p->shape), bucket.offsets[k]);
        if (p->grad != before_[bucket.params[k]]) {  // this backward's own tensor: hand out the bucket instead
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
    ++reductions_;
    copy_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  std::vector<Tensor> params_;
  std::vector<std::string> names_;
  double scale_;
  std::shared_ptr<PyRef> reduce_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<int64_t, int64_t>> slot_;  // parameter -> (bucket, position in it)
  std::vector<std::pair<std::weak_ptr<GradHooks>, int64_t>> hook_ids_;
  std::mutex m_;
  bool armed_ = false;
  std::vector<bool> ready_;
  std::vector<Tensor> before_;  // each .grad at arm(), held so that a new tensor cannot reuse its identity
  size_t next_ = 0;
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
      .def_property_readonly("copy_seconds", &GradReducer::copy_seconds)
      .def_property_readonly("reductions", &GradReducer::reductions);
}

}  // namespace rt::bind
