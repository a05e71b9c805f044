"""reticulum releases the GIL inside kernels, so Python threads run ops truly concurrently. These
tests drive the shared state from several threads at once: the process-wide intra-op thread count,
OpenMP pools started by different Python threads, the caching allocator and the global generator.
Each compares against the same work done on one thread."""
import os
import threading

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn as nn
import reticulum.nn.functional as F
from reticulum.utils.data import DataLoader, Dataset

N_THREADS = 4


@pytest.fixture(autouse=True)
def _restore_num_threads():
    before = rt.get_num_threads()
    yield
    rt.set_num_threads(before)


def run_threads(fn, n=N_THREADS):
    """fn(i) on n threads started together; returns the results in order, re-raising the first error."""
    results, errors = [None] * n, []
    start = threading.Barrier(n)

    def body(i):
        try:
            start.wait()
            results[i] = fn(i)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def in_new_thread(fn):
    return run_threads(lambda i: fn(), n=1)[0]


# ---------------------------------------------------------------- set_num_threads is process-wide

def test_set_num_threads_is_seen_by_new_threads():
    rt.set_num_threads(1)
    assert in_new_thread(rt.get_num_threads) == 1
    rt.set_num_threads(3)
    assert in_new_thread(rt.get_num_threads) == 3
    assert rt.get_num_threads() == 3


def test_set_num_threads_from_a_thread_is_seen_by_main_and_others():
    rt.set_num_threads(1)
    in_new_thread(lambda: rt.set_num_threads(2))
    assert rt.get_num_threads() == 2
    assert run_threads(lambda i: rt.get_num_threads()) == [2] * N_THREADS


def test_set_num_threads_rejects_non_positive():
    with pytest.raises(ValueError, match="set_num_threads.*positive.*0"):
        rt.set_num_threads(0)


def _os_threads():
    return set(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts OS threads through /proc")
def test_kernels_on_a_new_thread_use_the_process_wide_count():
    """A Python thread's first parallel kernel starts its own OpenMP pool: with one thread set
    process-wide it must start no worker, with two it starts one (which proves the count is seen)."""
    a = rt.randn(256, 256)

    def workers_started():
        # Threads that appeared, not the net change: a thread left over from an earlier test (a
        # DataLoader worker finishing) may exit meanwhile.
        before = _os_threads()
        (a @ a).sum().item()  # far above the GEMM's threading threshold
        return len(_os_threads() - before)

    rt.set_num_threads(2)
    assert in_new_thread(workers_started) >= 1
    rt.set_num_threads(1)
    assert in_new_thread(workers_started) == 0


class _ThreadCountDataset(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        return rt.tensor([float(rt.get_num_threads())])


def test_dataloader_workers_see_set_num_threads():
    rt.set_num_threads(1)
    seen = [b for batch in DataLoader(_ThreadCountDataset(), batch_size=2, num_workers=3) for b in batch.reshape(-1).tolist()]
    assert seen == [1.0] * 16


# ---------------------------------------------------------------- training and inference from several threads

def _data(seed):
    r = np.random.default_rng(seed)
    x = rt.tensor(r.standard_normal((32, 3, 12, 12)).astype(np.float32))
    y = rt.tensor(r.integers(0, 10, 32))
    return x, y


def _model(seed):
    rt.manual_seed(seed)
    # big enough for the threaded paths: convolution over a batch, GEMMs above the threading threshold
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(8 * 6 * 6, 256), nn.ReLU(), nn.Linear(256, 10))


def _train(model, data, steps=6):
    x, y = data
    opt = rt.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


def test_separate_models_trained_on_threads_match_training_alone():
    seeds = range(N_THREADS)
    alone = [_train(_model(s), _data(s)) for s in seeds]
    models, data = [_model(s) for s in seeds], [_data(s) for s in seeds]  # built on the main thread: same draws
    together = run_threads(lambda i: _train(models[i], data[i]))
    for s, ((l_a, p_a), (l_t, p_t)) in enumerate(zip(alone, together)):
        assert l_a == l_t, f"model {s}: losses {l_t} on a thread, {l_a} alone"
        for a, t in zip(p_a, p_t):
            np.testing.assert_array_equal(t, a, err_msg=f"model {s}")


def test_shared_model_inference_on_threads_matches_single_thread():
    model = _model(7).eval()
    inputs = [_data(100 + i)[0] for i in range(N_THREADS)]
    with rt.no_grad():
        expected = [model(x).numpy().copy() for x in inputs]

    def infer(i):
        with rt.no_grad():
            return [model(inputs[i]).numpy().copy() for _ in range(5)]

    for i, outs in enumerate(run_threads(infer)):
        for out in outs:
            np.testing.assert_array_equal(out, expected[i], err_msg=f"thread {i}")


# ---------------------------------------------------------------- caching allocator

@pytest.mark.skipif(os.environ.get("RETICULUM_NO_CACHE", "0") not in ("", "0"), reason="exercises the allocator's cache")
def test_allocator_storm_from_threads_never_shares_a_block():
    """backward() runs with the GIL released and allocates and frees a gradient buffer at every node,
    so eight threads differentiating long chains hit the allocator's cache together. Each chain's
    gradient is exactly 1 everywhere; a block handed to two threads at once, or a torn free list,
    shows up as a wrong value (or a crash)."""
    sizes = [16, 64, 1000, 5000]

    def storm(i):
        r = np.random.default_rng(i)
        for _ in range(40):
            x = rt.full((int(r.choice(sizes)),), 1.0 + i).requires_grad_(True)
            y = x
            for _ in range(150):
                y = y * 1.5 - y * 0.5  # exact in float32: d/dx = 1 at each step
            y.sum().backward()
            g = x.grad.numpy()
            assert (g == 1.0).all(), f"thread {i}: gradient of {x.numel()} values holds {sorted(set(g.tolist()))[:4]}"
        return True

    rt.empty_cache()
    assert run_threads(storm, n=8) == [True] * 8
    assert rt.cached_bytes() > 0  # the storm went through the cache
    rt.empty_cache()
    assert rt.cached_bytes() == 0


# ---------------------------------------------------------------- global generator

def test_dropout_masks_from_threads_are_whole_blocks_of_one_stream():
    """torch's guarantee, one generator behind a lock: each draw takes a contiguous block of the
    seeded stream, so threads together draw exactly the masks one thread would, in some order.
    dropout draws with the GIL released, so only the generator's lock keeps the blocks whole."""
    per_thread, n = 200, 1 << 15
    ones = rt.ones(n)
    rt.manual_seed(9)
    reference = [F.dropout(ones, 0.5).numpy().tobytes() for _ in range(per_thread * N_THREADS)]
    rt.manual_seed(9)
    drawn = run_threads(lambda i: [F.dropout(ones, 0.5).numpy().tobytes() for _ in range(per_thread)])
    assert sorted(b for blocks in drawn for b in blocks) == sorted(reference)

