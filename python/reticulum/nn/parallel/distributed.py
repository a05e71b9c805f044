"""DistributedDataParallel: one model replica per process, gradients averaged over processes during backward.

As PyTorch's, on reticulum.distributed (MPI):

- wrapping broadcasts rank 0's parameters and buffers, so every replica starts equal (after checking that
  every rank's model has the same parameter shapes and dtypes);
- the parameters' gradients are grouped into buckets of about `bucket_cap_mb` (25 MB; the first one 1 MB,
  so that communication starts early), in reverse registration order, which is roughly the order backward
  produces them. A post-accumulate-grad hook on each parameter copies its gradient, divided by the world
  size, into its bucket; a full bucket is all-reduced at once, as soon as it and the ones before it are
  full, in the same order on every rank (MPI requires it). After the last bucket's all-reduce every rank
  holds the same averaged gradients in .grad when backward() returns. A gradient tensor this backward
  created (.grad was None, as after zero_grad(), or another tensor than at forward) is replaced by a view
  of its bucket instead of receiving a copy, and the bucket takes new memory for the next backward, so
  DDP never writes through a gradient it handed out (PyTorch's gradient_as_bucket_view without its
  aliasing; it saves a pass over the gradients). A .grad that existed before (zero_grad(set_to_none=False),
  or accumulated in no_sync()) keeps its tensor and gets the averages copied in, as in PyTorch.
  A parameter of _IN_PLACE_BYTES (1 MiB) or more gets a bucket of its own, and when this backward created
  its gradient (which autograd gives the parameter alone) that gradient is reduced where it is, without
  the copy into a bucket: one more MPI call of latency saves a pass over a megabyte or more, and MPI
  reduces memory that is still in cache.
  Each all-reduce is MPI's blocking one after a barrier that times out (distributed._gated): with one
  core per rank nothing could progress a non-blocking one during backward anyway, and Open MPI's
  non-blocking all-reduce moves a multi-megabyte bucket several times slower;
- ``no_sync()`` skips the all-reduce: gradients accumulate locally, and the first backward after it
  averages the accumulated sums;
- with ``broadcast_buffers`` (default) every forward first broadcasts rank 0's buffers (batch-norm
  running statistics), so all replicas evaluate alike.

Every parameter that requires grad must get a gradient in each backward that follows a forward outside
``no_sync()``, as PyTorch's default find_unused_parameters=False requires: otherwise the next forward
raises RuntimeError naming the parameters that got none.
"""
import contextlib
import functools
import hashlib
import itertools
import time
import weakref

import numpy as np

from ... import _C, distributed as dist
from ..._grad_mode import no_grad
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1 << 20  # as torch.distributed._DEFAULT_FIRST_BUCKET_BYTES
_IN_PLACE_BYTES = 1 << 20  # a gradient this large is reduced in its own tensor (see the module docs)


class _Bucket:
    """Gradients of some parameters of one dtype, laid end to end in one tensor MPI reduces in place."""

    def __init__(self, indices, params):
        self.indices = indices
        sizes = [params[i].numel() for i in indices]
        self.offsets = [0, *itertools.accumulate(sizes)]  # Python ints: the hooks slice with them every step
        self.dtype = params[indices[0]].dtype
        self.shapes = [tuple(params[i].shape) for i in indices]
        self.flat = self.view = None  # taken at the first gradient of each backward that needs new memory
        # One large parameter's bucket: its fresh gradient is reduced in place (_grad_ready).
        self.alone = len(indices) == 1 and sizes[0] * params[indices[0]].element_size() >= _IN_PLACE_BYTES
        self.target = None  # what this backward's all-reduce works on: `view`, or a lone gradient itself
        self.pending = len(indices)

    def memory(self):
        """The bucket's NumPy view, taking new memory if the last backward handed its memory out as .grad."""
        if self.view is None:
            self.flat = _C.empty((self.offsets[-1],), self.dtype)
            self.view = self.flat.numpy()  # the same memory: MPI writes the tensor
        return self.view

    def grad_view(self, k):
        """Slot k as a tensor of its parameter's shape that shares the bucket's memory (straight through the
        native slice: Tensor indexing parses its key in Python, which cost 7 us per parameter and step)."""
        return self.flat._slice(0, self.offsets[k], self.offsets[k + 1], 1).view(self.shapes[k])


def _bucket_assignment(params, cap_bytes):
    """Lists of parameter indices, last parameter first, each list one dtype and at most cap_bytes (the first
    at most _FIRST_BUCKET_BYTES; a parameter of _IN_PLACE_BYTES or more gets a bucket of its own)."""
    buckets, open_ = [], {}
    for i in reversed(range(len(params))):
        p = params[i]
        nbytes = p.numel() * p.element_size()
        if nbytes >= _IN_PLACE_BYTES:  # its own bucket, reduced in place, after the open one of its dtype
            if p.dtype in open_:
                buckets.append(open_.pop(p.dtype)[0])
            buckets.append([i])
            continue
        limit = min(cap_bytes, _FIRST_BUCKET_BYTES) if not buckets else cap_bytes
        current = open_.get(p.dtype)
        if current is not None and current[1] + nbytes > limit:
            buckets.append(current[0])
            current = None
        if current is None:
            current = open_[p.dtype] = [[], 0]
        current[0].append(i)
        current[1] += nbytes
    buckets.extend(c[0] for c in open_.values() if c[0])
    return buckets


def _on_grad_ready(ddp_ref, index, param):
    ddp = ddp_ref()
    if ddp is not None:
        ddp._grad_ready(index, param)


def _broadcast_coalesced(tensors, what):
    """Rank 0's values of `tensors` into every rank's, one broadcast per dtype."""
    by_dtype = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for group in by_dtype.values():
        views = [dist._buffer(t, what) for t in group]
        flat = np.concatenate(views)
        dist.broadcast(_C.from_numpy(flat), 0)
        offset = 0
        for v in views:
            v[:] = flat[offset:offset + v.size]
            offset += v.size


class DistributedDataParallel(Module):
    """Wraps `module` for data-parallel training over the default process group (see the module docs).

    module: the model (its parameters must be contiguous CPU tensors of float32/float64).
    device_ids, output_device: must be None (CPU modules, as in PyTorch).
    broadcast_buffers: broadcast rank 0's buffers at the start of each forward.
    bucket_cap_mb: the gradient bucket size in megabytes (default 25).
    The wrapped model is ``.module``; the state dict's keys start with ``module.`` as in PyTorch.
    ``comm_stats`` counts, for profiling: seconds spent copying gradients into and out of buckets
    ("copy_s"), in the all-reduces, waiting for the other ranks included ("wait_s"), and reductions done.
    """

    def __init__(self, module, device_ids=None, output_device=None, broadcast_buffers=True, bucket_cap_mb=25):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got {type(module).__name__}")
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel: device_ids and output_device must be None for CPU modules")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        self._group = dist._require_group("DistributedDataParallel")
        self.module = module
        self.broadcast_buffers = bool(broadcast_buffers)
        self.require_backward_grad_sync = True
        self.comm_stats = {"copy_s": 0.0, "wait_s": 0.0, "reductions": 0}
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._param_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        for name, p in named:
            if p.dtype not in (_C.dtype.float32, _C.dtype.float64):
                raise TypeError(f"DistributedDataParallel: parameter {name} has dtype {p.dtype}; expected float32 or float64")
        self._check_same_model_everywhere()
        with no_grad():
            _broadcast_coalesced(list(module.parameters()) + list(module.buffers()), "DistributedDataParallel")
        self._buckets = [_Bucket(ix, self._params) for ix in _bucket_assignment(self._params, bucket_cap_mb * 2 ** 20)
                         ] if self._params else []
        self._slot_of = [None] * len(self._params)  # parameter index -> (its bucket, its slot there)
        for bucket in self._buckets:
            for k, i in enumerate(bucket.indices):
                self._slot_of[i] = (bucket, k)
        self._scale = 1.0 / self._group.size
        self._armed = False
        self._ready = [False] * len(self._params)
        self._next_bucket = 0
        me = weakref.ref(self)
        handles = [p.register_post_accumulate_grad_hook(functools.partial(_on_grad_ready, me, i))
                   for i, p in enumerate(self._params)]
        weakref.finalize(self, _remove_hooks, handles)

    def _check_same_model_everywhere(self):
        """Raises on every rank when the ranks' models differ in parameter names, shapes or dtypes (broadcasting
        rank 0's values would otherwise fail inside MPI or pair the wrong tensors)."""
        layout = [(n, tuple(p.shape), str(p.dtype)) for n, p in self.module.named_parameters()]
        digest = np.frombuffer(hashlib.sha256(repr(layout).encode()).digest()[:8], dtype=np.int64).copy()
        everyone = [_C.from_numpy(np.zeros(1, np.int64)) for _ in range(self._group.size)]
        dist.all_gather(everyone, _C.from_numpy(digest))
        differing = [r for r, d in enumerate(everyone) if int(d.item()) != int(digest[0])]
        if differing:
            raise RuntimeError(f"DistributedDataParallel: rank {self._group.rank}'s model differs from rank(s) "
                               f"{differing} in its parameters' names, shapes or dtypes; every rank must build the same "
                               f"model. This rank's: {layout}")

    def forward(self, *inputs, **kwargs):
        if self.broadcast_buffers and self._group.size > 1:
            buffers = list(self.module.buffers())
            if buffers:
                with no_grad():
                    _broadcast_coalesced(buffers, "DistributedDataParallel (buffers)")
        if _C.is_grad_enabled() and self.require_backward_grad_sync:
            self._prepare_for_backward()
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Within the block, backward accumulates gradients locally without all-reducing them."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ------------------------------------------------------------ the reducer

    def _prepare_for_backward(self):
        if self._armed and any(self._ready):
            missing = [n for n, r in zip(self._param_names, self._ready) if not r]
            raise RuntimeError(
                "DistributedDataParallel: the previous backward did not finish reducing gradients: these parameters "
                f"got no gradient: {missing}. Every parameter that requires grad must take part in computing the "
                "loss (set requires_grad=False on the ones that do not)")
        self._armed = True
        self._ready = [False] * len(self._params)
        # Which tensor each .grad is now: a different one at its hook was created by this backward.
        self._grad_before = [None if p.grad is None else p.grad.data_ptr() for p in self._params]
        self._next_bucket = 0
        for bucket in self._buckets:
            bucket.pending = len(bucket.indices)

    def _grad_ready(self, index, param):
        if not self._armed:
            return
        if self._ready[index]:
            raise RuntimeError(f"DistributedDataParallel: parameter {self._param_names[index]} got its gradient twice "
                               "after one forward (backward through the same graph again?)")
        self._ready[index] = True
        t0 = time.perf_counter()
        bucket, k = self._slot_of[index]
        grad = param.grad.numpy().reshape(-1)
        if bucket.alone and param.grad.data_ptr() != self._grad_before[index]:
            np.multiply(grad, self._scale, out=grad)  # this backward's own tensor: nobody else holds it
            bucket.target = grad
        else:
            bucket.target = view = bucket.view if bucket.view is not None else bucket.memory()
            np.multiply(grad, self._scale, out=view[bucket.offsets[k]:bucket.offsets[k + 1]])
        self.comm_stats["copy_s"] += time.perf_counter() - t0
        bucket.pending -= 1
        if bucket.pending == 0:
            self._reduce_ready_buckets()

    def _reduce_ready_buckets(self):
        group = self._group
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
            t0 = time.perf_counter()
            bucket = self._buckets[self._next_bucket]
            dist._gated(group, "DistributedDataParallel: gradient all-reduce")
            dist._all_reduce_blocking(group, bucket.target, group.mpi.SUM)
            self.comm_stats["wait_s"] += time.perf_counter() - t0
            self._next_bucket += 1
        if self._next_bucket == len(self._buckets):
            self._finish_reduction()

    def _finish_reduction(self):
        t0 = time.perf_counter()
        for bucket in self._buckets:
            reduced_in_place, bucket.target = bucket.target is not bucket.view, None
            if reduced_in_place:
                continue
            handed_out = False
            for k, i in enumerate(bucket.indices):
                param = self._params[i]
                if param.grad.data_ptr() != self._grad_before[i]:  # this backward's own tensor: nobody else holds it
                    param.grad = bucket.grad_view(k)
                    handed_out = True
                else:
                    param.grad.numpy().reshape(-1)[:] = bucket.view[bucket.offsets[k]:bucket.offsets[k + 1]]
            if handed_out:
                bucket.flat = bucket.view = None
        self._armed = False
        self.comm_stats["copy_s"] += time.perf_counter() - t0
        self.comm_stats["reductions"] += 1


def _remove_hooks(handles):
    for h in handles:
        h.remove()
