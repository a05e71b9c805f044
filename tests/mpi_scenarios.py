"""What each rank runs in the tests of test_distributed.py: ``mpirun -np 2 python mpi_scenarios.py NAME [ARGS]``.

Each scenario asserts on every rank and prints "<NAME> ok on rank R" when all its checks passed; an assertion
that fails raises, which (through reticulum.distributed's excepthook) aborts the whole job with a non-zero exit.
"""
import copy
import datetime
import os
import signal
import sys
import time
import weakref

import numpy as np

import reticulum as rt
import reticulum.distributed as dist
from reticulum import nn
from reticulum.nn.parallel import DistributedDataParallel as DDP
from reticulum.nn.parallel import distributed as ddp_module
from reticulum.utils.data import DataLoader, DistributedSampler, TensorDataset


def expect_error(error, fn, match):
    try:
        fn()
    except error as e:
        assert match in str(e), f"expected {match!r} in the error message, got {e!r}"
        return
    raise AssertionError(f"expected {error.__name__} ({match})")


def collectives():
    rank, world = dist.get_rank(), dist.get_world_size()
    assert dist.is_initialized() and dist.get_backend() == "mpi" and world == 2
    for dtype in (rt.float32, rt.float64, rt.int64):
        t = rt.arange(6).to(dtype).reshape(2, 3) * (rank + 1)
        ptr = t.data_ptr()
        dist.all_reduce(t)
        assert t.data_ptr() == ptr and t.dtype == dtype  # in place, in the tensor's own memory
        np.testing.assert_array_equal(t.numpy(), np.arange(6).reshape(2, 3) * 3)
    for op, want in ((dist.ReduceOp.MAX, [2, 20]), (dist.ReduceOp.MIN, [1, 10]), (dist.ReduceOp.PRODUCT, [2, 200]),
                     (dist.ReduceOp.AVG, [1.5, 15])):
        t = rt.tensor([1.0, 10.0]) * (rank + 1) if op != dist.ReduceOp.PRODUCT else rt.tensor([1.0 + rank, 10.0 * (rank + 1)])
        dist.all_reduce(t, op=op)
        np.testing.assert_allclose(t.numpy(), want)
    # Larger than one 1 MiB piece of the blocking all-reduce, and not a whole number of pieces, in
    # float32 and float64 (different piece lengths), with MAX too: every element, the last piece's included.
    for dtype in (rt.float32, rt.float64):
        n = 3 * (1 << 20) // 4 + 5
        t = rt.arange(n, dtype=dtype) * (rank + 1)
        dist.all_reduce(t)
        np.testing.assert_array_equal(t.numpy(), np.arange(n) * 3)
        t = rt.arange(n, dtype=dtype) * (rank + 1) - rank * n
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        np.testing.assert_array_equal(t.numpy(), np.maximum(np.arange(n), 2 * np.arange(n) - n))
    view = rt.zeros(4)
    part = view[1:3]  # a contiguous view: the reduction lands in the base tensor's memory
    part += rank + 1
    dist.all_reduce(part)
    np.testing.assert_array_equal(view.numpy(), [0, 3, 3, 0])

    b = rt.full((3,), float(rank + 7))
    dist.broadcast(b, src=1)
    np.testing.assert_array_equal(b.numpy(), [8, 8, 8])
    out = [rt.zeros(2, 2) for _ in range(world)]
    dist.all_gather(out, rt.full((2, 2), float(rank)))
    for r in range(world):
        np.testing.assert_array_equal(out[r].numpy(), np.full((2, 2), r))
    got = rt.zeros(3)
    dist.reduce_scatter(got, [rt.full((3,), float(10 * r + rank)) for r in range(world)])
    np.testing.assert_array_equal(got.numpy(), np.full(3, 20 * rank + 1))
    work = dist.all_reduce(rt.ones(5), async_op=True)
    assert work.wait() and work.is_completed()
    dist.barrier()

    expect_error(ValueError, lambda: dist.all_reduce(rt.ones(3, 4).t()), "must be contiguous")
    expect_error(TypeError, lambda: dist.all_reduce(rt.ones(3) > 0), "dtype reticulum.bool")
    expect_error(TypeError, lambda: dist.all_reduce([1.0]), "must be a Tensor, got list")
    expect_error(TypeError, lambda: dist.all_reduce(rt.ones(3, dtype=rt.int64), op=dist.ReduceOp.AVG), "AVG needs a floating")
    expect_error(ValueError, lambda: dist.all_reduce(rt.ones(3), op="xor"), "op must be a ReduceOp")
    expect_error(ValueError, lambda: dist.broadcast(rt.ones(3), src=2), "src must be a rank in [0, 1]")
    expect_error(ValueError, lambda: dist.all_gather([rt.zeros(2)], rt.zeros(2)), "must hold world size (2) tensors")
    expect_error(ValueError, lambda: dist.all_gather([rt.zeros(2), rt.zeros(3)], rt.zeros(2)), "tensor_list[1] has shape (3,)")
    expect_error(RuntimeError, lambda: dist.init_process_group("mpi"), "twice")


def _mlp(seed):
    rt.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


def _data(n, seed=0):
    g = np.random.default_rng(seed)
    return rt.from_numpy(g.standard_normal((n, 6)).astype(np.float32)), rt.from_numpy(g.integers(0, 3, n))


def _params(model):
    return [p.detach().numpy().copy() for p in model.parameters()]


def _same_on_all_ranks(arrays):
    """Every rank's arrays equal rank 0's, bit for bit."""
    for a in arrays:
        theirs = rt.from_numpy(a.copy())
        dist.broadcast(theirs, 0)
        np.testing.assert_array_equal(a, theirs.numpy())


def ddp_equivalence(steps="4", bucket_cap_mb="25", set_to_none="1", in_place_bytes=None):
    """DDP over 2 ranks with per-rank batch B, after K SGD steps (momentum), equals one process stepping on batch
    2B in the same sample order; and every rank holds the same weights. set_to_none="0" zeroes the gradients in
    place instead, so DDP copies the averages into the existing .grad tensors rather than handing out bucket
    memory. in_place_bytes lowers the size from which a parameter's gradient is reduced in its own tensor (1 MiB;
    "1000" picks the 16x16 weight alone, "0" every parameter), so the small model takes that path too."""
    if in_place_bytes is not None:
        ddp_module._IN_PLACE_BYTES = int(in_place_bytes)
    rank, world, steps, B = dist.get_rank(), dist.get_world_size(), int(steps), 8
    reference = _mlp(seed=0)
    model = _mlp(seed=0 if rank == 0 else 100 + rank)
    at_hook = {}  # which tensor each .grad is when autograd made it: these hooks run before DDP's
    for i, p in enumerate(model.parameters()):
        p.register_post_accumulate_grad_hook(lambda p, i=i: at_hook.__setitem__(i, p.grad.data_ptr()))
    ddp = DDP(model, bucket_cap_mb=float(bucket_cap_mb))  # rank 0 broadcasts its weights
    for a, b in zip(_params(ddp.module), _params(reference)):
        np.testing.assert_array_equal(a, b)
    x, y = _data(world * B * steps)
    loss_fn = nn.CrossEntropyLoss()
    opt = rt.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    ref_opt = rt.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for k in range(steps):
        big = slice(k * world * B, (k + 1) * world * B)
        mine = slice(k * world * B + rank * B, k * world * B + (rank + 1) * B)
        opt.zero_grad(set_to_none=set_to_none == "1")
        loss_fn(ddp(x[mine]), y[mine]).backward()
        opt.step()
        ref_opt.zero_grad()
        loss_fn(reference(x[big]), y[big]).backward()
        ref_opt.step()
    assert ddp.comm_stats["reductions"] == steps
    moved = max(float(np.abs(a - b).max()) for a, b in zip(_params(reference), _params(_mlp(seed=0))))
    assert moved > 1e-2, moved  # the steps changed the weights: the comparison below is not trivially true
    for a, b in zip(_params(ddp.module), _params(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    _same_on_all_ranks(_params(ddp.module))
    sizes = [p.numel() * 4 for p in ddp.parameters()]  # the buckets, last parameter first: W3 b3 | W2 | b2 W1 b1
    alone = [s >= ddp_module._IN_PLACE_BYTES for s in sizes]
    expected = 6 if float(bucket_cap_mb) < 1 or all(alone) else 1 + 2 * any(alone)
    assert len(ddp._buckets) == expected, (len(ddp._buckets), expected)
    assert sum(lone for _, lone in ddp._buckets) == sum(alone)
    # The last backward's .grad tensors, against the ones autograd made: a lone gradient created by backward
    # is reduced where it is, the others become bucket views (or, when .grad existed before, stay the same
    # tensor and receive a copy).
    for i, (p, lone) in enumerate(zip(ddp.parameters(), alone)):
        kept = lone or set_to_none == "0"
        assert (p.grad.data_ptr() == at_hook[i]) == kept, (i, lone, set_to_none)


def ddp_grad_memory():
    """A .grad the backward created is handed the bucket's memory; the next backward reduces into new memory,
    so gradients kept from an earlier step never change. A .grad that existed before backward (zeroed in
    place) stays the same tensor and receives the averages."""
    rank, world, B = dist.get_rank(), dist.get_world_size(), 4
    reference = _mlp(seed=0)
    ddp = DDP(_mlp(seed=0))
    x, y = _data(3 * world * B, seed=2)
    loss_fn = nn.CrossEntropyLoss()

    def step(k, set_to_none):
        for model in (ddp, reference):
            for p in model.parameters():
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()
        mine = slice(k * world * B + rank * B, k * world * B + (rank + 1) * B)
        loss_fn(ddp(x[mine]), y[mine]).backward()
        loss_fn(reference(x[k * world * B:(k + 1) * world * B]), y[k * world * B:(k + 1) * world * B]).backward()
        for p, q in zip(ddp.parameters(), reference.parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)

    step(0, set_to_none=True)
    kept = [p.grad for p in ddp.parameters()]
    values = [g.numpy().copy() for g in kept]
    step(1, set_to_none=True)
    for g, v, p in zip(kept, values, ddp.parameters()):
        np.testing.assert_array_equal(g.numpy(), v)  # not written through by the second step
        assert not np.array_equal(p.grad.numpy(), v)  # the second step's gradients are other values
    tensors = [p.grad.data_ptr() for p in ddp.parameters()]
    step(2, set_to_none=False)
    assert [p.grad.data_ptr() for p in ddp.parameters()] == tensors
    _same_on_all_ranks([p.grad.numpy() for p in ddp.parameters()])


def ddp_no_sync():
    """Accumulating over two micro-batches (the first inside no_sync) gives the gradient of one step over all
    the micro-batches of all ranks, and no_sync itself leaves each rank's local gradient alone."""
    rank, world, B = dist.get_rank(), dist.get_world_size(), 5
    reference = _mlp(seed=0)
    ddp = DDP(_mlp(seed=0))
    x, y = _data(2 * world * B, seed=1)
    loss_fn = nn.CrossEntropyLoss()
    micro = [slice((2 * rank + m) * B, (2 * rank + m + 1) * B) for m in range(2)]
    with ddp.no_sync():
        (loss_fn(ddp(x[micro[0]]), y[micro[0]]) / 2).backward()
    local = [p.grad.numpy().copy() for p in ddp.parameters()]
    only_mine = copy.deepcopy(reference)
    (loss_fn(only_mine(x[micro[0]]), y[micro[0]]) / 2).backward()
    for a, p in zip(local, only_mine.parameters()):
        np.testing.assert_allclose(a, p.grad.numpy(), rtol=1e-5, atol=1e-7)  # not averaged with the other rank
    (loss_fn(ddp(x[micro[1]]), y[micro[1]]) / 2).backward()
    loss_fn(reference(x), y).backward()
    for p, q in zip(ddp.parameters(), reference.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
    _same_on_all_ranks([p.grad.numpy() for p in ddp.parameters()])


def ddp_buffers():
    """Batch-norm buffers: rank 0's are broadcast at every forward, so ranks that diverged agree again."""
    rank = dist.get_rank()
    rt.manual_seed(rank)
    ddp = DDP(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)))
    bn = ddp.module[1]
    ddp(rt.randn(16, 4) * (rank + 1) + rank)  # train mode: each rank updates its running stats from its own batch
    stats = [bn.running_mean.numpy().copy(), bn.running_var.numpy().copy()]
    theirs = [rt.from_numpy(s.copy()) for s in stats]
    for t in theirs:
        dist.broadcast(t, 0)
    if rank == 1:
        assert not np.allclose(stats[0], theirs[0].numpy())  # they diverged
    ddp.eval()
    with rt.no_grad():
        ddp(rt.randn(3, 4))
    for s, t in zip((bn.running_mean, bn.running_var), theirs):
        np.testing.assert_array_equal(s.numpy(), t.numpy())
    assert int(bn.num_batches_tracked.item()) == 1
    assert list(ddp.state_dict())[0].startswith("module.")


class _Half(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

    def forward(self, x):
        return self.a(x)  # b takes no part


class _Branches(nn.Module):
    """a always; b only when asked; c never."""
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(6, 3), nn.Linear(6, 3), nn.Linear(6, 3)

    def forward(self, x, use_b):
        return self.a(x) + self.b(x) if use_b else self.a(x)


def ddp_unused(in_place_bytes="1048576", flag="find_unused_parameters"):
    """find_unused_parameters=True (or static_graph=True): rank 0 uses b, rank 1 does not, nobody uses c. After K
    SGD steps the weights equal one process stepping on the mean of both ranks' losses, and c.grad stays None."""
    ddp_module._IN_PLACE_BYTES = int(in_place_bytes)
    rt._C._set_poison_allocations(True)  # new memory reads as NaN: an unused parameter's slot must be zeroed
    rank, world, steps, B = dist.get_rank(), dist.get_world_size(), 3, 4
    rt.manual_seed(0)
    reference = _Branches()
    ddp = DDP(copy.deepcopy(reference), **{flag: True})
    x, y = _data(world * B * steps)
    loss_fn = nn.CrossEntropyLoss()
    opt = rt.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    ref_opt = rt.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for k in range(steps):
        part = [slice((k * world + r) * B, (k * world + r + 1) * B) for r in range(world)]
        opt.zero_grad()
        loss_fn(ddp(x[part[rank]], use_b=rank == 0), y[part[rank]]).backward()
        assert ddp.module.c.weight.grad is None and ddp.module.c.bias.grad is None  # used by no rank
        if rank != 0:  # used on rank 0 only: this rank holds rank 0's gradient, halved
            assert float(np.abs(ddp.module.b.weight.grad.numpy()).max()) > 0
        opt.step()
        ref_opt.zero_grad()
        (sum(loss_fn(reference(x[part[r]], use_b=r == 0), y[part[r]]) for r in range(world)) / world).backward()
        ref_opt.step()
    for a, b in zip(_params(ddp.module), _params(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    _same_on_all_ranks(_params(ddp.module))
    assert ddp.comm_stats["reductions"] == steps


class _MixedDtypes(nn.Module):
    """A float64 layer feeding a float32 one: DDP buckets each dtype on its own."""
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(6, 16).double(), nn.Linear(16, 3)

    def forward(self, x):
        return self.b(rt.tanh(self.a(x.double())).float())


def ddp_mixed_dtypes(in_place_bytes="1048576"):
    """A model with float64 and float32 parameters: after K SGD steps DDP over 2 ranks equals one process on the
    whole batch, every gradient keeps its parameter's dtype, and the ranks agree bit for bit."""
    ddp_module._IN_PLACE_BYTES = int(in_place_bytes)
    rank, world, steps, B = dist.get_rank(), dist.get_world_size(), 3, 4
    rt.manual_seed(0)
    reference = _MixedDtypes()
    ddp = DDP(copy.deepcopy(reference))
    for ix, _ in ddp._buckets:  # one dtype per bucket (the C++ reducer refuses mixed ones)
        assert len({ddp._params[i].dtype for i in ix}) == 1
    x, y = _data(world * B * steps, seed=4)
    loss_fn = nn.CrossEntropyLoss()
    opt = rt.optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    ref_opt = rt.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9)
    for k in range(steps):
        mine = slice((k * world + rank) * B, (k * world + rank + 1) * B)
        opt.zero_grad()
        loss_fn(ddp(x[mine]), y[mine]).backward()
        for p in ddp.parameters():
            assert p.grad.dtype == p.dtype, (p.grad.dtype, p.dtype)
        opt.step()
        ref_opt.zero_grad()
        loss_fn(reference(x[k * world * B:(k + 1) * world * B]), y[k * world * B:(k + 1) * world * B]).backward()
        ref_opt.step()
    for a, b in zip(_params(ddp.module), _params(reference)):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    _same_on_all_ranks(_params(ddp.module))


def ddp_unused_after_no_sync():
    """find_unused_parameters with accumulation: b is used only in the no_sync() micro-step, by every rank. In the
    synced backward no rank reaches b, but its accumulated .grad still counts as a use and gets averaged."""
    rank, world, B = dist.get_rank(), dist.get_world_size(), 4
    rt.manual_seed(0)
    reference = _Branches()
    ddp = DDP(copy.deepcopy(reference), find_unused_parameters=True)
    x, y = _data(2 * world * B, seed=3)
    loss_fn = nn.CrossEntropyLoss()
    micro = [slice((2 * rank + m) * B, (2 * rank + m + 1) * B) for m in range(2)]
    with ddp.no_sync():
        loss_fn(ddp(x[micro[0]], use_b=True), y[micro[0]]).backward()
    loss_fn(ddp(x[micro[1]], use_b=False), y[micro[1]]).backward()
    for r in range(world):
        for m, use_b in ((0, True), (1, False)):
            part = slice((2 * r + m) * B, (2 * r + m + 1) * B)
            (loss_fn(reference(x[part], use_b=use_b), y[part]) / world).backward()
    for name, p in ddp.module.named_parameters():
        q = dict(reference.named_parameters())[name]
        if q.grad is None:
            assert p.grad is None, name
        else:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7, err_msg=name)
    _same_on_all_ranks([p.grad.numpy() for p in ddp.parameters() if p.grad is not None])


def ddp_errors():
    rank = dist.get_rank()
    expect_error(TypeError, lambda: DDP(lambda x: x), "must be an nn.Module")
    expect_error(ValueError, lambda: DDP(_mlp(0), device_ids=[0]), "device_ids and output_device must be None")
    expect_error(ValueError, lambda: DDP(_mlp(0), bucket_cap_mb=0), "bucket_cap_mb must be a positive number")
    expect_error(RuntimeError, lambda: DDP(nn.Linear(3, 3 + rank)), "differs from rank(s)")
    expect_error(ValueError, lambda: DDP(_mlp(0), process_group=object()), "process_group must be None")
    mine = DDP(_mlp(seed=rank), init_sync=False)  # no broadcast: each rank keeps its own weights
    np.testing.assert_array_equal(_params(mine.module)[0], _params(_mlp(seed=rank))[0])
    ddp = DDP(_Half())
    out = ddp(rt.ones(1, 3)).sum()
    out.backward(retain_graph=True)  # b gets no gradient, so the reduction cannot finish
    expect_error(RuntimeError, lambda: out.backward(), "parameter a.weight got its gradient twice")
    expect_error(RuntimeError, lambda m=ddp: m(rt.ones(1, 3)), "got no gradient: ['b.weight', 'b.bias']")
    gone = weakref.ref(ddp)
    del ddp
    assert gone() is None  # no reference cycle through the C++ reducer's callback


def sampler_cover(n="23", drop_last="0"):
    """Over the ranks, each epoch's indices cover the data set exactly once (plus PyTorch's padding)."""
    n, drop_last, world = int(n), drop_last == "1", dist.get_world_size()
    sampler = DistributedSampler(TensorDataset(rt.arange(n)), shuffle=True, seed=3, drop_last=drop_last)
    orders = []
    for epoch in range(2):
        sampler.set_epoch(epoch)
        mine = np.asarray(list(sampler), dtype=np.int64)
        assert len(mine) == len(sampler)
        everyone = [rt.zeros(len(mine), dtype=rt.int64) for _ in range(world)]
        dist.all_gather(everyone, rt.from_numpy(mine))
        seen = np.concatenate([e.numpy() for e in everyone])
        counts = np.bincount(seen, minlength=n)
        if drop_last:
            assert counts.max() == 1 and counts.sum() == n - n % world
        else:
            assert counts.min() == 1 and counts.sum() == len(sampler) * world and counts.max() <= 2
        orders.append(seen)
    assert not np.array_equal(orders[0], orders[1])  # set_epoch reshuffles


def fit_job(out):
    """rt.train.fit under mpirun: logged losses and metrics are those of the whole data set, every rank's
    History is the same, progress is printed and checkpoints are written by rank 0 alone."""
    import reticulum.train.loop as loop
    from reticulum.train import ModelCheckpoint, evaluate, fit
    rank, world = dist.get_rank(), dist.get_world_size()
    saves = []
    real_save = loop.save
    loop.save = lambda obj, path: (saves.append(path), real_save(obj, path))
    x, y = _data(40, seed=2)
    train = TensorDataset(x, y)
    val = TensorDataset(*_data(13, seed=4))
    model = _mlp(seed=0)
    whole = evaluate(model, DataLoader(train, batch_size=40), ("accuracy",), nn.CrossEntropyLoss())
    whole_val = evaluate(model, DataLoader(val, batch_size=13), ("accuracy",), nn.CrossEntropyLoss())
    ddp = DDP(model)
    loader = DataLoader(train, batch_size=4, sampler=DistributedSampler(train, seed=1))
    val_loader = DataLoader(rt.utils.data.Subset(val, range(rank, len(val), world)), batch_size=5)
    path = os.path.join(out, "ckpt.rtc")
    history = fit(ddp, nn.CrossEntropyLoss(), rt.optim.SGD(ddp.parameters(), lr=0.0), loader, 2, val_loader=val_loader,
                  callbacks=[ModelCheckpoint(path)], verbose=True, seed=5)
    for key, want in (("loss", whole["loss"]), ("accuracy", whole["accuracy"]), ("val_loss", whole_val["loss"]),
                      ("val_accuracy", whole_val["accuracy"])):
        np.testing.assert_allclose(history[key], [want, want], rtol=1e-6)  # lr 0: the model never changes
    _same_on_all_ranks([np.asarray(history["loss"] + history["val_accuracy"])])
    assert saves == ([path, path] if rank == 0 else []), saves
    assert sorted(loop.load_checkpoint(path)["model"]) == sorted(model.state_dict())  # no "module." prefix


def fail(how, timeout_s="600"):
    """Rank 1 fails in the middle of DDP training; rank 0 keeps training and must be stopped."""
    dist.barrier()  # in step (under the default timeout), so that a short timeout cannot expire at start-up
    dist.destroy_process_group()
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=float(timeout_s)))
    rank = dist.get_rank()
    ddp = DDP(_mlp(0))
    opt = rt.optim.SGD(ddp.parameters(), lr=0.01)
    x, y = _data(8)
    for step in range(10 ** 6):
        if rank == 1 and step == 3:
            print(f"rank 1 fails now ({how})", flush=True)
            if how == "raise":
                raise ValueError("rank 1 lost its data")
            if how == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if how == "stall":
                time.sleep(120)
        opt.zero_grad()
        nn.functional.cross_entropy(ddp(x), y).backward()
        opt.step()


if __name__ == "__main__":
    rt.set_num_threads(1)
    dist.init_process_group(backend="mpi")
    name, args = sys.argv[1], sys.argv[2:]
    globals()[name](*args)
    dist.barrier()
    print(f"{name} ok on rank {dist.get_rank()}", flush=True)
