"""DistributedDataParallel: one model replica per process, gradients averaged over processes during backward.

As PyTorch's, on reticulum.distributed (MPI):

- wrapping broadcasts rank 0's parameters and buffers, so every replica starts equal (after checking that
  every rank's model has the same parameter shapes and dtypes);
- the parameters' gradients are grouped into buckets of about `bucket_cap_mb` (25 MB; the first one 1 MB,
  so that communication starts early), in reverse registration order, which is roughly the order backward
  produces them. A post-accumulate-grad hook on each parameter copies its gradient, divided by the world
  size, into its bucket; a full bucket is all-reduced at once, as soon as it and the ones before it are
  full, in the same order on every rank (MPI requires it). The hooks and the bucket bookkeeping are C++
  (_C._GradReducer, cpp/bindings/reducer.cpp), which calls back into Python once per bucket for the
  all-reduce. After the last bucket's all-reduce every rank
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
raises RuntimeError naming the parameters that got none. With ``find_unused_parameters=True`` each such
forward walks the autograd graph back from the tensors in its output; the parameters it does not reach
are marked ready when backward delivers its first gradient, contributing their .grad or zeros, and one
more all-reduce counts the ranks that used each parameter: a parameter that no rank used keeps its
.grad as it was (None after zero_grad()), as in PyTorch.
"""
import contextlib
import functools
import hashlib
import time
import weakref

import numpy as np

from ... import _C, distributed as dist
from ..._grad_mode import no_grad
from ..modules.module import Module

__all__ = ["DistributedDataParallel"]

_FIRST_BUCKET_BYTES = 1 << 20  # as torch.distributed._DEFAULT_FIRST_BUCKET_BYTES
_IN_PLACE_BYTES = 1 << 20  # a gradient this large is reduced in its own tensor (see the module docs)


def _bucket_assignment(params, cap_bytes):
    """(parameter indices, alone) per bucket, last parameter first, each one dtype and at most cap_bytes (the
    first at most _FIRST_BUCKET_BYTES). A parameter of _IN_PLACE_BYTES or more gets a bucket of its own, with
    alone=True: its gradient is reduced in place."""
    buckets, open_ = [], {}
    for i in reversed(range(len(params))):
        p = params[i]
        nbytes = p.numel() * p.element_size()
        if nbytes >= _IN_PLACE_BYTES:  # its own bucket, reduced in place, after the open one of its dtype
            if p.dtype in open_:
                buckets.append((open_.pop(p.dtype)[0], False))
            buckets.append(([i], True))
            continue
        limit = min(cap_bytes, _FIRST_BUCKET_BYTES) if not buckets else cap_bytes
        current = open_.get(p.dtype)
        if current is not None and current[1] + nbytes > limit:
            buckets.append((current[0], False))
            current = None
        if current is None:
            current = open_[p.dtype] = [[], 0]
        current[0].append(i)
        current[1] += nbytes
    buckets.extend((c[0], False) for c in open_.values() if c[0])
    return buckets


def _reduce_bucket(ddp_ref, index, target):
    """The reducer's callback: all-reduces (sums) bucket `index`, the tensor `target`, in place."""
    ddp = ddp_ref()
    if ddp is not None:
        ddp._reduce_bucket(target)


def _tensors_in(out):
    """The tensors in a forward's output: itself, or those inside its (nested) tuples, lists and dicts."""
    if isinstance(out, _C.Tensor):
        yield out
    elif isinstance(out, (tuple, list)):
        for item in out:
            yield from _tensors_in(item)
    elif isinstance(out, dict):
        for item in out.values():
            yield from _tensors_in(item)


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

    PyTorch's signature, for CPU modules:
    module: the model (its parameters must be contiguous CPU tensors of float32/float64).
    device_ids, output_device: must be None (CPU modules); dim is used only with device_ids, as in PyTorch.
    broadcast_buffers: broadcast rank 0's buffers at the start of each forward (None: True).
    init_sync: check that every rank has the same model and broadcast rank 0's parameters and buffers now.
    process_group: must be None (reticulum.distributed has the default group only).
    bucket_cap_mb: the gradient bucket size in megabytes (None: 25).
    find_unused_parameters: allow parameters that get no gradient (see the module docs). static_graph=True
    allows them too (PyTorch finds them once; this walks the graph at every forward).
    gradient_as_bucket_view: gradients that backward creates always become views of their bucket here
    (without PyTorch's aliasing of a bucket across steps), either way. check_reduction: deprecated in
    PyTorch and without effect, as there.
    The wrapped model is ``.module``; the state dict's keys start with ``module.`` as in PyTorch.
    ``comm_stats`` counts, for profiling: seconds spent copying gradients into and out of buckets
    ("copy_s"), in the all-reduces, waiting for the other ranks included ("wait_s"), and reductions done.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True, init_sync=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got {type(module).__name__}")
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel: device_ids and output_device must be None for CPU modules")
        if process_group is not None:
            raise ValueError("DistributedDataParallel: process_group must be None: reticulum.distributed has the "
                             "default group only")
        bucket_cap_mb = 25 if bucket_cap_mb is None else bucket_cap_mb
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be a positive number, got {bucket_cap_mb!r}")
        del dim, check_reduction, gradient_as_bucket_view  # no effect here (see above)
        self._group = dist._require_group("DistributedDataParallel")
        self.module = module
        self.broadcast_buffers = True if broadcast_buffers is None else bool(broadcast_buffers)
        self.find_unused_parameters = bool(find_unused_parameters) or bool(static_graph)
        self.require_backward_grad_sync = True
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        self._param_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        for name, p in named:
            if p.dtype not in (_C.dtype.float32, _C.dtype.float64):
                raise TypeError(f"DistributedDataParallel: parameter {name} has dtype {p.dtype}; expected float32 or float64")
        if init_sync:
            self._check_same_model_everywhere()
            with no_grad():
                _broadcast_coalesced(list(module.parameters()) + list(module.buffers()), "DistributedDataParallel")
        # (parameter indices, reduced in place) per bucket
        self._buckets = _bucket_assignment(self._params, bucket_cap_mb * 2 ** 20) if self._params else []
        self._wait_s = 0.0
        self._reducer = _C._GradReducer(self._params, self._param_names, [ix for ix, _ in self._buckets],
                                        [alone for _, alone in self._buckets], 1.0 / self._group.size,
                                        functools.partial(_reduce_bucket, weakref.ref(self))) if self._params else None

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
        reducing = _C.is_grad_enabled() and self.require_backward_grad_sync
        if reducing:
            self._prepare_for_backward()
        out = self.module(*inputs, **kwargs)
        if reducing and self.find_unused_parameters and self._reducer is not None:
            self._reducer.find_unused(list(_tensors_in(out)))
        return out

    @contextlib.contextmanager
    def no_sync(self):
        """Within the block, backward accumulates gradients locally without all-reducing them."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    @property
    def comm_stats(self):
        """For profiling: seconds spent copying gradients into and out of buckets ("copy_s"), in the
        all-reduces, waiting for the other ranks included ("wait_s"), and the backward passes reduced."""
        r = self._reducer
        return {"copy_s": r.copy_seconds if r else 0.0, "wait_s": self._wait_s, "reductions": r.reductions if r else 0}

    # ------------------------------------------------------------ the reducer's Python side

    def _prepare_for_backward(self):
        if self._reducer is None:
            return
        missing = self._reducer.unfinished()
        if missing:
            raise RuntimeError(
                "DistributedDataParallel: the previous backward did not finish reducing gradients: these parameters "
                f"got no gradient: {missing}. Every parameter that requires grad must take part in computing the "
                "loss: set requires_grad=False on the ones that do not, or pass find_unused_parameters=True")
        self._reducer.arm()

    def _reduce_bucket(self, target):
        t0 = time.perf_counter()
        group = self._group
        dist._gated(group, "DistributedDataParallel: gradient all-reduce")
        dist._all_reduce_blocking(group, target.numpy().reshape(-1), group.mpi.SUM)
        self._wait_s += time.perf_counter() - t0
