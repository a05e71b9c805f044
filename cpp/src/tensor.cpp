#include "reticulum/tensor.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "reticulum/backend.h"

namespace rt {

std::string device_str(const Device& d) { return d.type == DeviceType::CPU ? "cpu" : "cuda:" + std::to_string(d.index); }

// A caching allocator: freed blocks are kept per size class and reused, so a training
// loop that allocates the same shapes every step stops paying for mmap, page faults and
// zeroing of fresh pages. Size classes waste at most 25%; the cache is capped.
namespace {
class BlockCache {
 public:
  static BlockCache& get() {
    static BlockCache* c = new BlockCache();  // leaked on purpose: storages may die after static destructors
    return *c;
  }
  static size_t size_class(size_t n) {
    if (n <= 4096) return (n + 63) / 64 * 64;
    size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));  // largest power of two below n
    size_t step = p / 4;
    return (n + step - 1) / step * step;
  }
  void* take(size_t sz) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(m_);
      auto it = free_.find(sz);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= sz;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, sz);
    if (!p) {  // out of memory: give the cache back to the system and retry once
      release_all();
      p = std::aligned_alloc(64, sz);
    }
    return p;
  }
  void give(void* p, size_t sz) {
    if (enabled_) {
      std::lock_guard<std::mutex> lock(m_);
      if (cached_ + sz <= kMaxCached) {
        free_[sz].push_back(p);
        cached_ += sz;
        return;
      }
    }
    std::free(p);
  }
  void release_all() {
    std::lock_guard<std::mutex> lock(m_);
    for (auto& [sz, v] : free_)
      for (void* p : v) std::free(p);
    free_.clear();
    cached_ = 0;
  }
  size_t cached() {
    std::lock_guard<std::mutex> lock(m_);
    return cached_;
  }

 private:
  BlockCache() {
    const char* env = std::getenv("RETICULUM_NO_CACHE");
    enabled_ = !(env && *env && std::string(env) != "0");
  }
  static constexpr size_t kMaxCached = size_t(1) << 30;
  std::mutex m_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  bool enabled_ = true;
};
}  // namespace

static std::atomic<bool> poison_allocations{false};

void empty_cache() { BlockCache::get().release_all(); }
void set_poison_allocations(bool on) { poison_allocations.store(on); }
size_t cached_bytes() { return BlockCache::get().cached(); }

std::shared_ptr<Storage> allocate_storage(size_t nbytes, Device device) {
  if (device.type != DeviceType::CPU) fail<RuntimeError>("allocate: device ", device_str(device), " is not available in this build");
  auto s = std::make_shared<Storage>();
  const size_t sz = BlockCache::size_class(std::max<size_t>(nbytes, 1));
  s->data = BlockCache::get().take(sz);
  if (!s->data) fail<RuntimeError>("allocate: out of memory requesting ", nbytes, " bytes");
  if (poison_allocations.load(std::memory_order_relaxed)) std::memset(s->data, 0xFF, sz);
  s->nbytes = nbytes;
  s->device = device;
  s->deleter = [sz](void* p) { BlockCache::get().give(p, sz); };
  return s;
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

int64_t TensorImpl::numel() const { return numel_of(shape); }

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

bool TensorImpl::is_contiguous() const {
  int64_t acc = 1;
  for (int64_t i = ndim() - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (strides[i] != acc) return false;
    acc *= shape[i];
  }
  return true;
}

bool TensorImpl::has_internal_overlap() const {
  // Dims with more than one element, by increasing stride: memory is free of overlap when each
  // stride exceeds the farthest offset the smaller dims reach.
  std::vector<std::pair<int64_t, int64_t>> dims;  // (|stride|, size)
  for (int64_t i = 0; i < ndim(); ++i) {
    if (shape[i] == 0) return false;  // no elements at all
    if (shape[i] > 1) dims.emplace_back(strides[i] < 0 ? -strides[i] : strides[i], shape[i]);
  }
  std::sort(dims.begin(), dims.end());
  int64_t reach = 0;
  for (auto [stride, size] : dims) {
    if (stride <= reach) return true;
    if (__builtin_mul_overflow(stride, size - 1, &stride) || __builtin_add_overflow(reach, stride, &reach)) return true;
  }
  return false;
}

int64_t checked_numel(const Shape& shape, const char* op) {
  // The product skips zero sizes: an empty tensor's strides are still products of the other
  // sizes, and must not overflow either (as in PyTorch, which refuses [0, 3, 2^31, 2^31]).
  int64_t n = 1;
  bool empty = false;
  for (auto s : shape) {
    if (s < 0) fail<ValueError>(op, ": negative dimension in shape ", shape_str(shape));
    if (s == 0) empty = true;
    else if (__builtin_mul_overflow(n, s, &n)) fail<ValueError>(op, ": shape ", shape_str(shape), " has too many elements (the size overflows)");
  }
  return empty ? 0 : n;
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  int64_t n = checked_numel(shape, "empty"), nbytes;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(itemsize(dtype)), &nbytes))
    fail<ValueError>("empty: shape ", shape_str(shape), " needs more bytes than can be addressed");
  auto t = std::make_shared<TensorImpl>();
  t->storage = allocate_storage(static_cast<size_t>(nbytes), device);
  t->shape = shape;
  t->strides = contiguous_strides(shape);
  t->dtype = dtype;
  t->device = device;
  return t;
}

Tensor make_view(const Tensor& t, Shape shape, Shape strides, int64_t offset) {
  auto v = std::make_shared<TensorImpl>();
  v->storage = t->storage;
  v->shape = std::move(shape);
  v->strides = std::move(strides);
  v->offset = offset;
  v->dtype = t->dtype;
  v->device = t->device;
  return v;
}

Tensor detach(const Tensor& t) {
  if (!t) return t;
  return make_view(t, t->shape, t->strides, t->offset);
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = ndim == 0 ? 1 : ndim;  // a 0-d tensor accepts dim 0 and -1, as in PyTorch
  if (dim < -n || dim >= n)
    fail<IndexError>(op, ": dimension out of range (expected to be in range of [", -n, ", ", n - 1, "], but got ", dim, ")");
  return dim < 0 ? dim + n : dim;
}

}  // namespace rt
