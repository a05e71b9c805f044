"""Datasets and the DataLoader, with torch.utils.data's names and semantics.

Fast path: a DataLoader over a TensorDataset (or a Subset of one, nested or not) gathers
each batch with one `index_select` per tensor; no per-sample Python runs.

Randomness: each epoch's shuffle comes from a NumPy generator seeded by (seed, epoch), and
every batch is produced (gathered, collated, transformed) inside `random_source()` with a
generator seeded by (seed, epoch, batch index). Random transforms that draw through
`random_uniform` / `random_integers` (all of reticulum.vision.transforms do) are therefore
reproducible and identical for any `num_workers`. With `seed=None`, a base seed is drawn
from reticulum's global generator at the start of each epoch, so `rt.manual_seed` decides it.
"""
import atexit
import bisect
import collections.abc
import concurrent.futures
import contextlib
import math
import operator
import queue
import threading
import time
import weakref
from collections import deque

import numpy as np

from .. import _C
from .._C import Tensor, dtype as _dtype

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader", "default_collate",
           "random_source", "random_uniform", "random_integers", "Sampler", "DistributedSampler"]


# ---------------------------------------------------------------- random source

_local = threading.local()


@contextlib.contextmanager
def random_source(generator):
    """Within the block, random_uniform/random_integers on this thread draw from `generator`
    (a numpy.random.Generator) instead of reticulum's global generator."""
    if not isinstance(generator, np.random.Generator):
        raise TypeError(f"random_source: expected a numpy.random.Generator, got {type(generator).__name__}")
    previous = getattr(_local, "generator", None)
    _local.generator = generator
    try:
        yield generator
    finally:
        _local.generator = previous


def random_uniform(n):
    """n float64 values in [0, 1) as a NumPy array: from the active random_source, else from
    reticulum's global generator (rt.rand, seeded by rt.manual_seed)."""
    gen = getattr(_local, "generator", None)
    if gen is not None:
        return gen.random(int(n))
    return _C.rand((int(n),), _dtype.float64).numpy().copy()


def random_integers(low, high, n):
    """n int64 values in [low, high) as a NumPy array, from the same source as random_uniform."""
    low, high = int(low), int(high)
    if high <= low:
        raise ValueError(f"random_integers: expected low < high, got low={low}, high={high}")
    gen = getattr(_local, "generator", None)
    if gen is not None:
        return gen.integers(low, high, int(n), dtype=np.int64)
    return _C.randint(low, high, (int(n),), _dtype.int64).numpy().copy()


def _draw_seed():
    """A base seed from reticulum's global generator (so rt.manual_seed controls it)."""
    return int(_C.randint(0, 2 ** 62, (1,), _dtype.int64).item())


def _check_seed(seed, name):
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{name}: seed must be a non-negative int or None, got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------- datasets

class Dataset:
    """Map-style dataset: subclasses define __getitem__(index) and __len__()."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other):
        return ConcatDataset([self, other])


def _normalize_index(index, n, name):
    try:
        i = operator.index(index)
    except TypeError:
        raise TypeError(f"{name}: indices must be integers, got {type(index).__name__}") from None
    if not -n <= i < n:
        raise IndexError(f"{name}: index {i} is out of range for a dataset of length {n}")
    return i + n if i < 0 else i


class TensorDataset(Dataset):
    """Samples are slices along dim 0 of the given tensors (all with the same first size);
    item i is the tuple (t[i] for t in tensors). NumPy arrays are converted."""

    def __init__(self, *tensors):
        from .._creation import as_tensor
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor")
        ts = tuple(t if isinstance(t, Tensor) else as_tensor(t) for t in tensors)
        for t in ts:
            if t.ndim == 0:
                raise ValueError("TensorDataset: tensors must have at least one dimension, got a 0-d tensor")
        if any(t.shape[0] != ts[0].shape[0] for t in ts):
            raise ValueError("TensorDataset: size mismatch between tensors along dim 0: shapes "
                             + ", ".join(str(tuple(t.shape)) for t in ts))
        self.tensors = ts

    def __getitem__(self, index):
        i = _normalize_index(index, len(self), "TensorDataset")
        return tuple(t.select(0, i) for t in self.tensors)

    def __len__(self):
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of `dataset` at `indices` (a sequence of ints)."""

    def __init__(self, dataset, indices):
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = idx.astype(np.int64)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise ValueError(f"Subset: indices must be a 1-D sequence of ints, got shape {idx.shape} of {idx.dtype}")
        n = len(dataset)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise IndexError(f"Subset: indices must lie in [0, {n}) for a dataset of length {n}, "
                             f"got values in [{idx.min()}, {idx.max()}]")
        self.dataset = dataset
        self.indices = np.ascontiguousarray(idx, dtype=np.int64)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_normalize_index(index, len(self), "Subset")])]

    def __len__(self):
        return int(self.indices.shape[0])


class ConcatDataset(Dataset):
    """The concatenation of several datasets."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: expected at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        i = _normalize_index(index, len(self), "ConcatDataset")
        k = bisect.bisect_right(self.cumulative_sizes, i)
        return self.datasets[k][i - (self.cumulative_sizes[k - 1] if k else 0)]


def random_split(dataset, lengths, seed=None):
    """Splits `dataset` into disjoint random Subsets of the given lengths: ints summing to
    len(dataset), or fractions summing to 1 (remainders go one each to the first splits, as
    torch). `seed` makes the split reproducible; None draws it from rt's global generator."""
    seed = _check_seed(seed, "random_split")
    n = len(dataset)
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: expected at least one length")
    if any(isinstance(x, (float, np.floating)) for x in lengths):
        if any(not 0.0 <= x <= 1.0 for x in lengths) or not math.isclose(sum(lengths), 1.0, abs_tol=1e-9):
            raise ValueError(f"random_split: fractions must lie in [0, 1] and sum to 1, got {lengths}")
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):  # at most len(lengths) - 1 iterations
            sizes[i % len(sizes)] += 1
    else:
        if any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < 0 for x in lengths):
            raise ValueError(f"random_split: lengths must be non-negative ints or fractions, got {lengths}")
        sizes = [int(x) for x in lengths]
        if sum(sizes) != n:
            raise ValueError(f"random_split: sum of input lengths ({sum(sizes)}) does not equal the length of the "
                             f"dataset ({n})")
    perm = np.random.default_rng(_draw_seed() if seed is None else seed).permutation(n)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, perm[bounds[k]:bounds[k + 1]]) for k in range(len(sizes))]


# ---------------------------------------------------------------- collation

def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def default_collate(batch):
    """Stacks a list of samples into a batch: tensors and NumPy arrays are stacked along a new
    dim 0; Python ints -> int64, floats -> float32 (reticulum's default float; torch gives
    float64; NumPy float64 scalars stay float64), bools -> bool tensors; tuples, lists and dicts are collated field by field;
    strings are returned as a list."""
    if len(batch) == 0:
        raise ValueError("default_collate: cannot collate an empty batch")
    elem = batch[0]
    if isinstance(elem, Tensor):
        shape, dt = tuple(elem.shape), elem.dtype
        for k, s in enumerate(batch):
            if not isinstance(s, Tensor) or tuple(s.shape) != shape or s.dtype != dt:
                got = (f"{tuple(s.shape)} {s.dtype}" if isinstance(s, Tensor) else type(s).__name__)
                raise ValueError(f"default_collate: all samples must be tensors of the same shape and dtype; "
                                 f"sample 0 is {shape} {dt}, sample {k} is {got}")
        return _C.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: NumPy arrays of dtype {elem.dtype} cannot be collated")
        shapes = {a.shape for a in batch}
        if len(shapes) != 1:
            raise ValueError(f"default_collate: arrays must all have the same shape, got {sorted(shapes)}")
        from .._creation import tensor
        return tensor(np.stack(batch)) if elem.dtype.kind != "f" or elem.dtype.itemsize == 8 else \
            tensor(np.stack(batch), dtype=_dtype.float32)
    if isinstance(elem, (bool, np.bool_)):
        return _numbers(batch, _dtype.bool)
    if isinstance(elem, (int, np.integer)):
        return _numbers(batch, _dtype.int64)
    if isinstance(elem, (float, np.floating)):
        return _numbers(batch, _dtype.float64 if type(elem) is np.float64 else _dtype.float32)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        keys = set(elem)
        if any(not isinstance(s, collections.abc.Mapping) or set(s) != keys for s in batch):
            raise ValueError(f"default_collate: all dict samples must have the same keys {sorted(map(str, keys))}")
        return {k: default_collate([s[k] for s in batch]) for k in elem}
    if isinstance(elem, (tuple, list)):
        n = len(elem)
        if any(not isinstance(s, (tuple, list)) or len(s) != n for s in batch):
            raise ValueError(f"default_collate: each element in the batch must be a sequence of length {n}")
        fields = [default_collate(list(f)) for f in zip(*batch)]
        if _is_namedtuple(elem):
            return type(elem)(*fields)
        return tuple(fields) if isinstance(elem, tuple) else fields
    raise TypeError(f"default_collate: samples must be tensors, NumPy arrays, numbers, strings, dicts or "
                    f"sequences; found {type(elem).__name__}")


def _numbers(batch, dt):
    from .._creation import tensor
    try:
        return tensor(list(batch), dtype=dt)
    except (TypeError, ValueError) as e:
        raise TypeError(f"default_collate: could not collate numbers {list(batch)[:5]}...: {e}") from None


# ---------------------------------------------------------------- loader

def _tensor_source(ds):
    """(tensors, row_indices or None) when ds is a TensorDataset, possibly under Subsets; else None."""
    idx = None
    while isinstance(ds, Subset) and type(ds).__getitem__ is Subset.__getitem__:
        idx = ds.indices if idx is None else ds.indices[idx]
        ds = ds.dataset
    if isinstance(ds, TensorDataset) and type(ds).__getitem__ is TensorDataset.__getitem__:
        return ds.tensors, idx
    return None


def _apply_transform(transform, batch):
    if isinstance(batch, Tensor):
        return transform(batch)
    if isinstance(batch, (tuple, list)) and len(batch) > 0:
        first = transform(batch[0])
        if _is_namedtuple(batch):
            return type(batch)(first, *batch[1:])
        return type(batch)([first, *batch[1:]])
    raise TypeError(f"DataLoader: transform= is applied to the inputs, the first element of each batch, so batches "
                    f"must be tensors, tuples or lists; got {type(batch).__name__} (use collate_fn for other layouts)")


# ---------------------------------------------------------------- samplers

class Sampler:
    """Yields dataset indices: subclasses define __iter__ and __len__ (torch.utils.data.Sampler)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


class DistributedSampler(Sampler):
    """The share of `dataset`'s indices for one rank of a data-parallel job, as torch's DistributedSampler.

    Each epoch, the indices (a permutation seeded by ``seed + epoch`` when shuffling, else in order) are
    padded by repeating the first ones until every rank gets the same count (drop_last=False), or cut to
    a multiple of the world size (drop_last=True); rank r takes every num_replicas-th index from r. So per
    epoch, the ranks together cover the data set exactly once, plus the padding. Call ``set_epoch(epoch)``
    before each epoch for a new shuffle (a DataLoader's set_epoch does it for its sampler). The
    permutation comes from NumPy's generator, so its values differ from torch's randperm; all ranks must
    use the same seed. num_replicas and rank default to the default process group's.
    """

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        if num_replicas is None or rank is None:
            from .. import distributed as dist
            if not dist.is_initialized():
                raise RuntimeError("DistributedSampler: without num_replicas and rank it needs the default process "
                                   "group; call reticulum.distributed.init_process_group first")
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        for name, v in (("num_replicas", num_replicas), ("rank", rank)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise TypeError(f"DistributedSampler: {name} must be an int, got {type(v).__name__}")
        if num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.seed = _check_seed(seed, "DistributedSampler")
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if not self.drop_last:
            padding = self.total_size - n
            if padding > 0:
                indices = np.concatenate([indices, np.resize(indices, padding)])  # np.resize repeats the indices
        else:
            indices = indices[:self.total_size]
        return iter(indices[self.rank:self.total_size:self.num_replicas].tolist())

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Sets the epoch that seeds the next shuffle (all ranks must pass the same)."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)


class DataLoader:
    """Iterates over `dataset` in batches.

    shuffle: a fresh permutation each epoch (without replacement), from a generator seeded by
    (seed, epoch); seed=None draws the base seed from rt's global generator each epoch.
    sampler: the order of the indices instead (an iterable of indices with __len__, e.g. a
    DistributedSampler); excludes shuffle, and the loader's set_epoch is passed on to its set_epoch.
    drop_last: drop a final incomplete batch. collate_fn: list of samples -> batch
    (default_collate). transform: applied to the inputs of each collated batch (the first
    element of a tuple batch, or the batch itself when it is a tensor); labels are untouched.
    num_workers > 0: that many daemon threads produce batches ahead (at most
    num_workers * prefetch_factor in flight), delivered in order and identical to
    num_workers=0. An error in a worker is raised as soon as its batch is the one requested,
    without waiting for the other fetches; breaking out of the loop (or an error) drops what is
    queued and returns at once, each worker exiting after the fetch it is running.
    timeout: with workers, the seconds to wait for a batch before raising RuntimeError (0: no
    limit; as in torch it does not apply to num_workers=0, where the fetch runs in the caller).
    A StopIteration raised while producing a batch (by the dataset, collate_fn or transform) is
    an error, raised as RuntimeError, instead of silently ending the epoch.
    pin_memory: accepted as in torch and kept as an attribute; batches are not page-locked (a copy to
    a device is synchronous, staged by the driver either way).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, num_workers=0, seed=None,
                 collate_fn=None, transform=None, prefetch_factor=2, timeout=0, pin_memory=False, sampler=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative int, got {num_workers!r}")
        if not isinstance(prefetch_factor, (int, np.integer)) or prefetch_factor < 1:
            raise ValueError(f"DataLoader: prefetch_factor must be a positive int, got {prefetch_factor!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)) or \
                not 0 <= timeout < math.inf:
            raise ValueError(f"DataLoader: timeout must be a non-negative number of seconds, got {timeout!r}")
        if sampler is not None:
            if shuffle:
                raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
            if not hasattr(sampler, "__iter__") or not hasattr(sampler, "__len__"):
                raise TypeError(f"DataLoader: sampler must be an iterable of indices with __len__, got "
                                f"{type(sampler).__name__}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError("DataLoader: collate_fn must be callable")
        if transform is not None and not callable(transform):
            raise TypeError("DataLoader: transform must be callable")
        try:
            len(dataset)
        except TypeError:
            raise TypeError(f"DataLoader: dataset must define __len__ (map-style), got {type(dataset).__name__}") from None
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.num_workers = int(num_workers)
        self.prefetch_factor = int(prefetch_factor)
        self.seed = _check_seed(seed, "DataLoader")
        self.collate_fn = collate_fn or default_collate
        self.transform = transform
        self.timeout = float(timeout)
        self.pin_memory = bool(pin_memory)
        self.sampler = sampler
        self.epoch = 0

    def __len__(self):
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch):
        """Sets the epoch number that the next iteration uses (it then counts up from there)."""
        if not isinstance(epoch, (int, np.integer)) or epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be a non-negative int, got {epoch!r}")
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)

    def epoch_order(self, epoch, base_seed=None):
        """The sample order of an epoch (a NumPy int64 array): arange, the permutation seeded by
        (base_seed or seed, epoch) when shuffling, or the sampler's order."""
        if self.sampler is not None:
            if hasattr(self.sampler, "set_epoch"):
                self.sampler.set_epoch(int(epoch))
            return self._sampler_order()
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n, dtype=np.int64)
        base = self.seed if base_seed is None else base_seed
        if base is None:
            raise ValueError("DataLoader.epoch_order: this loader has seed=None; pass base_seed")
        return np.random.default_rng([base, int(epoch)]).permutation(n).astype(np.int64)

    def _sampler_order(self):
        return np.fromiter(iter(self.sampler), dtype=np.int64, count=len(self.sampler))

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        base = self.seed if self.seed is not None else _draw_seed()
        order = self.epoch_order(epoch, base) if self.sampler is None else self._sampler_order()
        n, bs = order.shape[0], self.batch_size
        stop = n - n % bs if self.drop_last else n
        starts = range(0, stop, bs)
        source = _tensor_source(self.dataset)
        if source is not None:
            tensors, rows = source
            order = order if rows is None else rows[order]

        def produce(b):
            idx = order[starts[b]:starts[b] + bs]
            with random_source(np.random.default_rng([base, epoch, b])):
                if source is not None:
                    it = _C.from_numpy(np.ascontiguousarray(idx))
                    batch = tuple(t.index_select(0, it) for t in tensors)
                else:
                    batch = self.collate_fn([self.dataset[int(i)] for i in idx])
                if self.transform is not None:
                    batch = _apply_transform(self.transform, batch)
            return batch

        def fetch(b):
            try:
                return produce(b)
            except StopIteration as e:  # would end the caller's for-loop: the rest of the epoch silently lost
                raise RuntimeError(f"DataLoader: StopIteration raised while producing batch {b} (by the dataset's "
                                   f"__getitem__, collate_fn or transform)") from e

        return _LoaderIter(fetch, len(starts), self.num_workers, self.num_workers * self.prefetch_factor,
                           self.timeout)

    def __repr__(self):
        return (f"DataLoader(dataset={type(self.dataset).__name__}(len={len(self.dataset)}), batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, num_workers={self.num_workers}, seed={self.seed})")


_open_iterators = weakref.WeakSet()  # for the exit hook
_workers = set()  # the running worker threads of all loaders, each removing itself when it exits
_EXIT_GRACE_S = 5.0  # as long as torch's DataLoader gives its worker processes at exit


def _work(tasks, fetch):
    """A worker thread: runs (batch, future) tasks until it gets None; skips the futures cancelled by close()."""
    try:
        while True:
            task = tasks.get()
            if task is None:
                return
            b, future = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fetch(b))
            except BaseException as e:  # noqa: BLE001  (raised in the consumer's thread by __next__)
                future.set_exception(e)
    finally:
        _workers.discard(threading.current_thread())


@atexit.register
def _stop_workers_at_exit():
    """Workers must not be inside C++ code when the interpreter finalizes: a daemon thread that takes the GIL then
    is ended with pthread_exit, whose unwinding through C++ frames aborts the process ("terminate called without an
    active exception"). So at exit the open loaders are closed and the workers get _EXIT_GRACE_S to finish the fetch
    they are running; one still blocked after that (waiting forever, say) is left behind, and the process exits."""
    for it in list(_open_iterators):
        it.close()
    deadline = time.monotonic() + _EXIT_GRACE_S
    for thread in list(_workers):
        thread.join(max(0.0, deadline - time.monotonic()))


class _LoaderIter:
    """Yields fetch(0), fetch(1), ... in order; with workers, daemon threads run ahead by up to `depth` batches.
    close() (also on exhaustion, error, timeout, or garbage collection) cancels the queued batches and returns
    without waiting: a worker exits after the fetch it is running, so a fetch that never returns costs one thread
    but blocks neither the caller nor interpreter exit (see _stop_workers_at_exit). The workers hold no reference
    to the iterator, so dropping it (breaking out of a loop) collects it and closes it."""

    def __init__(self, fetch, n_batches, num_workers, depth, timeout):
        self._fetch, self._n, self._next, self._timeout = fetch, n_batches, 0, timeout or None
        self._tasks, self._pending, self._depth, self._num_workers = None, deque(), depth, num_workers
        if num_workers > 0 and n_batches > 0:
            self._tasks = queue.SimpleQueue()
            for k in range(num_workers):
                thread = threading.Thread(target=_work, args=(self._tasks, fetch), name=f"reticulum-loader-{k}",
                                          daemon=True)
                _workers.add(thread)
                thread.start()
            _open_iterators.add(self)
            self._fill()

    def _fill(self):
        while self._next < self._n and len(self._pending) < self._depth:
            future = concurrent.futures.Future()
            self._tasks.put((self._next, future))
            self._pending.append((self._next, future))
            self._next += 1

    def __iter__(self):
        return self

    def __len__(self):
        return self._n

    def __next__(self):
        if self._tasks is None:
            if self._next >= self._n:
                raise StopIteration
            self._next += 1
            return self._fetch(self._next - 1)
        if not self._pending:
            self.close()
            raise StopIteration
        b, future = self._pending.popleft()
        self._fill()
        try:
            done, _ = concurrent.futures.wait([future], timeout=self._timeout)
            if not done:
                raise RuntimeError(f"DataLoader timed out after {self._timeout:g} seconds waiting for batch {b}")
            return future.result()
        except BaseException:
            self.close()
            raise

    def close(self):
        """Stops the workers (each after the fetch it is running); later next() calls raise StopIteration."""
        tasks, self._tasks = self._tasks, None
        self._next = self._n
        if tasks is not None:
            for _, future in self._pending:
                future.cancel()
            self._pending.clear()
            for _ in range(self._num_workers):
                tasks.put(None)

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001  (interpreter shutdown)
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
