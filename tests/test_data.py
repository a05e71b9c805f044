"""reticulum.utils.data: datasets, random_split, default_collate and the DataLoader (coverage,
shapes, drop_last, seeding, per-epoch shuffles, threaded workers, early shutdown)."""
import os
import subprocess
import sys
import threading
import time
from collections import namedtuple

import numpy as np
import pytest

import reticulum as rt
from reticulum.utils.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset, default_collate,
                                  random_split)
from reticulum.vision import transforms as T
from helpers import hang_guard


def make_ds(n=103, feat=(3,)):
    x = rt.from_numpy(np.arange(n * int(np.prod(feat)), dtype=np.float32).reshape(n, *feat))
    y = rt.arange(n)
    return TensorDataset(x, y)


class ListDataset(Dataset):
    """A plain map-style dataset (forces the per-sample collate path)."""

    def __init__(self, n, feat=(3,), delay=0.0):
        self.x = np.arange(n * int(np.prod(feat)), dtype=np.float32).reshape(n, *feat)
        self.delay = delay

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        if self.delay:
            time.sleep(self.delay)
        return rt.tensor(self.x[i]), i


def labels_of(loader):
    return [yb.numpy().copy() for _, yb in loader]


def same_batches(a, b):
    assert len(a) == len(b)
    for ba, bb in zip(a, b):
        assert len(ba) == len(bb)
        for ta, tb in zip(ba, bb):
            np.testing.assert_array_equal(ta.numpy(), tb.numpy())


# ---------------------------------------------------------------- coverage, shapes, drop_last

@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("bs", [1, 7, 100, 103, 128])
def test_every_sample_exactly_once_per_epoch(shuffle, bs):
    loader = DataLoader(make_ds(103), batch_size=bs, shuffle=shuffle, seed=5)
    assert len(loader) == -(-103 // bs)
    for _ in range(2):
        labels = labels_of(loader)
        assert len(labels) == len(loader)
        allv = np.concatenate(labels)
        assert sorted(allv.tolist()) == list(range(103))
        if not shuffle:
            assert allv.tolist() == list(range(103))


def test_batch_shapes_dtypes_and_contiguity():
    ds = make_ds(50, feat=(1, 4, 4))
    batches = list(DataLoader(ds, batch_size=16, shuffle=True, seed=0))
    assert [tuple(x.shape) for x, _ in batches] == [(16, 1, 4, 4)] * 3 + [(2, 1, 4, 4)]
    for x, y in batches:
        assert x.dtype == rt.float32 and y.dtype == rt.int64
        assert x.is_contiguous() and y.is_contiguous()
        assert tuple(y.shape) == (x.shape[0],)
        # inputs still belong to their labels
        np.testing.assert_array_equal(x.numpy().reshape(len(y), -1)[:, 0], y.numpy() * 16)


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last(shuffle):
    loader = DataLoader(make_ds(103), batch_size=10, shuffle=shuffle, drop_last=True, seed=1)
    assert len(loader) == 10
    labels = labels_of(loader)
    assert [len(b) for b in labels] == [10] * 10
    allv = np.concatenate(labels)
    assert len(set(allv.tolist())) == 100
    assert DataLoader(make_ds(5), batch_size=10, drop_last=True).__len__() == 0
    assert list(DataLoader(make_ds(5), batch_size=10, drop_last=True)) == []


def test_generic_path_matches_fast_path():
    n = 37
    fast = list(DataLoader(make_ds(n), batch_size=8, shuffle=True, seed=3))
    slow = list(DataLoader(ListDataset(n), batch_size=8, shuffle=True, seed=3))
    same_batches(fast, slow)


def test_fast_path_gathers_without_per_sample_getitem(monkeypatch):
    def boom(self, i):
        raise AssertionError("per-sample __getitem__ called on the fast path")

    ds = make_ds(40)
    sub = Subset(Subset(ds, np.arange(40)[::-1]), [1, 3, 5, 7, 9, 11])  # nested: rows 38, 36, ..., 28
    monkeypatch.setattr(TensorDataset, "__getitem__", boom)
    (x, y), = list(DataLoader(sub, batch_size=6))
    assert y.numpy().tolist() == [38, 36, 34, 32, 30, 28]
    np.testing.assert_array_equal(x.numpy()[:, 0], np.array([38, 36, 34, 32, 30, 28]) * 3)


# ---------------------------------------------------------------- seeding

def test_same_seed_same_batches_different_seed_different_order():
    a = labels_of(DataLoader(make_ds(), batch_size=10, shuffle=True, seed=7))
    b = labels_of(DataLoader(make_ds(), batch_size=10, shuffle=True, seed=7))
    c = labels_of(DataLoader(make_ds(), batch_size=10, shuffle=True, seed=8))
    assert all((p == q).all() for p, q in zip(a, b))
    assert not np.array_equal(np.concatenate(a), np.concatenate(c))


def test_fresh_permutation_each_epoch_and_set_epoch():
    loader = DataLoader(make_ds(), batch_size=10, shuffle=True, seed=11)
    e0, e1, e2 = (np.concatenate(labels_of(loader)) for _ in range(3))
    assert not np.array_equal(e0, e1) and not np.array_equal(e1, e2)
    assert loader.epoch == 3
    loader.set_epoch(1)
    np.testing.assert_array_equal(np.concatenate(labels_of(loader)), e1)
    np.testing.assert_array_equal(loader.epoch_order(2), e2)
    # a new loader with the same seed replays the same epochs
    other = DataLoader(make_ds(), batch_size=10, shuffle=True, seed=11)
    np.testing.assert_array_equal(np.concatenate(labels_of(other)), e0)


def test_seed_none_follows_manual_seed():
    loader = DataLoader(make_ds(), batch_size=10, shuffle=True)
    rt.manual_seed(123)
    a = np.concatenate(labels_of(loader))
    rt.manual_seed(123)
    loader.set_epoch(0)
    b = np.concatenate(labels_of(loader))
    rt.manual_seed(124)
    loader.set_epoch(0)
    c = np.concatenate(labels_of(loader))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


# ---------------------------------------------------------------- workers

AUG = T.Compose([T.RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1)), T.RandomCrop(8, padding=2),
                 T.RandomHorizontalFlip()])


@pytest.mark.parametrize("workers", [1, 3])
def test_workers_give_identical_batches(workers):
    ds = make_ds(203, feat=(1, 8, 8))
    for kw in (dict(), dict(transform=AUG)):
        ref = DataLoader(ds, batch_size=16, shuffle=True, seed=2, **kw)
        par = DataLoader(ds, batch_size=16, shuffle=True, seed=2, num_workers=workers, **kw)
        for _ in range(2):  # two epochs: each with its own permutation, still identical
            same_batches(list(ref), list(par))


def test_workers_identical_on_generic_path_with_seed_none():
    ds = ListDataset(45, feat=(1, 8, 8))
    rt.manual_seed(9)
    ref = list(DataLoader(ds, batch_size=4, shuffle=True, transform=AUG))
    rt.manual_seed(9)
    par = list(DataLoader(ds, batch_size=4, shuffle=True, transform=AUG, num_workers=2))
    same_batches(ref, par)


def test_transform_touches_inputs_only():
    ds = make_ds(30, feat=(1, 8, 8))
    plain = list(DataLoader(ds, batch_size=8, shuffle=True, seed=4))
    aug = list(DataLoader(ds, batch_size=8, shuffle=True, seed=4, transform=T.RandomHorizontalFlip(p=1.0)))
    for (x0, y0), (x1, y1) in zip(plain, aug):
        np.testing.assert_array_equal(y0.numpy(), y1.numpy())
        np.testing.assert_array_equal(x1.numpy(), x0.numpy()[..., ::-1])


def _loader_threads():
    return [t for t in threading.enumerate() if t.name.startswith("reticulum-loader")]


def _wait_for_loader_threads_to_exit(seconds=10):
    """Closing a loader does not wait for the workers: each exits after the fetch it is running."""
    deadline = time.perf_counter() + seconds
    while _loader_threads() and time.perf_counter() < deadline:
        time.sleep(0.01)
    return _loader_threads()


class CountingDataset(ListDataset):
    def __init__(self, n, delay):
        super().__init__(n, delay=delay)
        self.calls, self.lock = 0, threading.Lock()

    def __getitem__(self, i):
        with self.lock:
            self.calls += 1
        return super().__getitem__(i)


def test_early_break_shuts_down_cleanly():
    ds = CountingDataset(400, delay=0.002)
    loader = DataLoader(ds, batch_size=4, num_workers=3, prefetch_factor=4)  # at most 12 batches in flight
    for i, (x, y) in enumerate(loader):
        if i == 2:
            break
    assert not _wait_for_loader_threads_to_exit()
    calls = ds.calls
    assert calls <= (3 + 12) * 4  # bounded prefetch; queued batches were cancelled, not all 100 produced
    time.sleep(0.05)
    assert ds.calls == calls  # nothing runs after shutdown
    # an explicitly closed iterator stops; the loader itself stays usable
    it = iter(loader)
    next(it)
    it.close()
    with pytest.raises(StopIteration):
        next(it)
    assert not _wait_for_loader_threads_to_exit()
    assert len(list(loader)) == 100


def test_worker_errors_propagate():
    class Bad(ListDataset):
        def __getitem__(self, i):
            if i == 13:
                raise RuntimeError("bad sample 13")
            return super().__getitem__(i)

    with pytest.raises(RuntimeError, match="bad sample 13"):
        list(DataLoader(Bad(40), batch_size=4, num_workers=2))
    assert not _wait_for_loader_threads_to_exit()


class BlockingDataset(ListDataset):
    """Item `blocked` waits for `release` (an Event), item `bad` raises ValueError."""

    def __init__(self, n, blocked=None, bad=None):
        super().__init__(n)
        self.blocked, self.bad, self.release = blocked, bad, threading.Event()

    def __getitem__(self, i):
        if i == self.blocked:
            self.release.wait()
        if i == self.bad:
            raise ValueError(f"bad sample {i}")
        return super().__getitem__(i)


@pytest.mark.parametrize("workers", [2, 4])
def test_worker_error_is_raised_without_waiting_for_a_hung_fetch(workers):
    ds = BlockingDataset(40, blocked=5, bad=1)  # batch 1 hangs while batch 0 fails
    try:
        with hang_guard(10, "DataLoader after a worker error"):
            with pytest.raises(ValueError, match="bad sample 1"):
                list(DataLoader(ds, batch_size=4, num_workers=workers))
    finally:
        ds.release.set()
    assert not _wait_for_loader_threads_to_exit()


def test_close_does_not_wait_for_a_hung_fetch():
    # (breaking out of a loop closes the iterator from __del__, which swallows errors: tested through exit below)
    ds = BlockingDataset(40, blocked=5)
    it = iter(DataLoader(ds, batch_size=4, num_workers=2))
    try:
        with hang_guard(10, "closing a DataLoader iterator"):
            assert next(it)[1].numpy().tolist() == [0, 1, 2, 3]
            it.close()
    finally:
        ds.release.set()
    assert not _wait_for_loader_threads_to_exit()


def test_timeout_raises_when_a_fetch_takes_too_long():
    ds = BlockingDataset(40, blocked=9)  # batch 2
    loader = DataLoader(ds, batch_size=4, num_workers=2, timeout=0.5)
    got = []
    try:
        with hang_guard(10, "DataLoader with timeout=0.5"):
            with pytest.raises(RuntimeError, match=r"DataLoader timed out after 0.5 seconds waiting for batch 2"):
                for x, y in loader:
                    got.append(y.numpy().tolist())
    finally:
        ds.release.set()
    assert got == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert not _wait_for_loader_threads_to_exit()
    assert len(list(loader)) == 10  # a slow fetch within the limit is fine; the loader stays usable


def test_timeout_argument_is_checked():
    for bad in (-1, -0.5, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="timeout"):
            DataLoader(make_ds(4), timeout=bad)
    assert DataLoader(make_ds(4), timeout=2).timeout == 2.0


def test_interpreter_exits_while_a_fetch_hangs():
    # A worker blocked forever (batch 1) must not keep the process alive (non-daemon workers are joined at exit),
    # and a worker busy in GIL-releasing C++ ops at exit (batch 2, for a second) must not abort the process
    # ("terminate called without an active exception": a daemon thread taking the GIL after finalization began).
    code = ("import threading, time, reticulum as rt\n"
            "from reticulum.utils.data import DataLoader, Dataset\n"
            "class Hangs(Dataset):\n"
            "    def __len__(self): return 40\n"
            "    def __getitem__(self, i):\n"
            "        if i == 5: threading.Event().wait()\n"
            "        if i == 8:\n"
            "            t, end = rt.tensor([1.0]), time.monotonic() + 1\n"
            "            while time.monotonic() < end: rt.stack([t, t])\n"
            "        return rt.tensor([float(i)])\n"
            "for batch in DataLoader(Hangs(), batch_size=4, num_workers=2):\n"
            "    break\n"
            "print('done', flush=True)\n")
    python_dir = os.path.dirname(os.path.dirname(os.path.abspath(rt.__file__)))
    env = dict(os.environ, PYTHONPATH=python_dir + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"the process did not exit (hung at interpreter exit); printed {out!r}")
    assert proc.returncode == 0 and out == "done\n", err


class StopsAt(ListDataset):
    def __getitem__(self, i):
        if i == 6:
            raise StopIteration
        return super().__getitem__(i)


@pytest.mark.parametrize("workers", [0, 2])
def test_stop_iteration_in_getitem_is_an_error_not_the_end_of_the_epoch(workers):
    with pytest.raises(RuntimeError, match="StopIteration raised while producing batch 1") as info:
        list(DataLoader(StopsAt(20), batch_size=4, num_workers=workers))
    assert isinstance(info.value.__cause__, StopIteration)


@pytest.mark.parametrize("where", ["collate_fn", "transform"])
def test_stop_iteration_in_collate_fn_or_transform_is_an_error(where):
    def stop(x):
        raise StopIteration

    kwargs = {where: stop} if where == "collate_fn" else {"transform": stop}
    with pytest.raises(RuntimeError, match="StopIteration raised while producing batch 0"):
        list(DataLoader(ListDataset(8), batch_size=4, **kwargs))


def test_loader_argument_errors():
    ds = make_ds(10)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(ds, seed=-3)
    with pytest.raises(TypeError, match="transform"):
        DataLoader(ds, transform=3)
    with pytest.raises(TypeError, match="transform"):
        list(DataLoader(ListDataset(4), batch_size=2, collate_fn=lambda s: {"a": 1}, transform=lambda x: x))


# ---------------------------------------------------------------- datasets and random_split

def test_tensor_dataset_and_subset_indexing():
    ds = make_ds(10)
    x, y = ds[-1]
    assert int(y) == 9 and x.numpy().tolist() == [27.0, 28.0, 29.0]
    with pytest.raises(IndexError, match="out of range"):
        ds[10]
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(rt.zeros(3, 2), rt.zeros(4))
    sub = Subset(ds, [4, 2])
    assert len(sub) == 2 and int(sub[1][1]) == 2
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        Subset(ds, [0, 10])
    cat = ConcatDataset([ds, Subset(ds, [7])])
    assert len(cat) == 11 and int(cat[10][1]) == 7 and int(cat[3][1]) == 3
    assert len(ds + ds) == 20


def test_random_split_sizes_disjoint_deterministic():
    ds = make_ds(103)
    parts = random_split(ds, [0.8, 0.1, 0.1], seed=0)
    assert [len(p) for p in parts] == [83, 10, 10]  # torch: floor, then remainder round-robin
    idx = np.concatenate([p.indices for p in parts])
    assert sorted(idx.tolist()) == list(range(103))
    again = random_split(ds, [0.8, 0.1, 0.1], seed=0)
    for p, q in zip(parts, again):
        np.testing.assert_array_equal(p.indices, q.indices)
    other = random_split(ds, [0.8, 0.1, 0.1], seed=1)
    assert not np.array_equal(parts[0].indices, other[0].indices)
    ints = random_split(ds, [50, 50, 3], seed=0)
    assert [len(p) for p in ints] == [50, 50, 3]
    # splits are Subsets of a TensorDataset: the loader's fast path reads them
    labels = np.concatenate(labels_of(DataLoader(parts[1], batch_size=4)))
    np.testing.assert_array_equal(labels, parts[1].indices)
    with pytest.raises(ValueError, match="does not equal the length"):
        random_split(ds, [50, 50], seed=0)
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.4], seed=0)


# ---------------------------------------------------------------- collate

def test_collate_tensors_numbers_tuples_dicts():
    Pair = namedtuple("Pair", "a b")
    samples = [{"img": rt.full((2, 2), float(i)), "label": i, "w": 0.5 * i, "meta": (i, [True, "s"]), "p": Pair(i, 2.0)}
               for i in range(3)]
    out = default_collate(samples)
    assert tuple(out["img"].shape) == (3, 2, 2) and out["img"].numpy()[:, 0, 0].tolist() == [0.0, 1.0, 2.0]
    assert out["label"].dtype == rt.int64 and out["label"].tolist() == [0, 1, 2]
    assert out["w"].dtype == rt.float32 and out["w"].tolist() == [0.0, 0.5, 1.0]
    assert isinstance(out["meta"], tuple) and out["meta"][0].tolist() == [0, 1, 2]
    assert isinstance(out["meta"][1], list) and out["meta"][1][0].dtype == rt.bool and out["meta"][1][1] == ["s"] * 3
    assert isinstance(out["p"], Pair) and out["p"].b.tolist() == [2.0] * 3
    arrs = default_collate([np.ones((2,), np.float64), np.zeros((2,), np.float64)])
    assert arrs.dtype == rt.float64 and tuple(arrs.shape) == (2, 2)


def test_collate_errors():
    with pytest.raises(ValueError, match="same shape"):
        default_collate([rt.zeros(2), rt.zeros(3)])
    with pytest.raises(ValueError, match="same keys"):
        default_collate([{"a": 1}, {"b": 1}])
    with pytest.raises(TypeError, match="found object"):
        default_collate([object(), object()])
    with pytest.raises(ValueError, match="empty batch"):
        default_collate([])
