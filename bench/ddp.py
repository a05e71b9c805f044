"""Data-parallel training on this machine: reticulum's DistributedDataParallel (MPI) against one process with
two threads and against PyTorch's DDP (gloo), plus all-reduce latency and bandwidth (see bench/README.md).

    python bench/ddp.py                       # mlp and mnist-cnn, 3 rounds each, and the all-reduce sweep
    python bench/ddp.py mlp --rounds 5 --json out.json
    python bench/ddp.py --rounds 0            # the all-reduce sweep only
    python bench/ddp.py --hooks               # DDP's per-parameter cost: 100 small parameters, one process

Needs reticulum[mpi] (mpirun) and torch. Every configuration uses both cores:
  single  one process, 2 threads, batch 2B (reticulum, and torch alternating with it in the same process);
  ddp     mpirun -np 2, 1 thread per rank, batch B per rank, so the same 2B samples per step. Inside that job,
          fixed-length blocks alternate: reticulum DDP steps, torch DDP (gloo over loopback) steps, the same
          steps under no_sync() (no communication: the compute part), the same again with a barrier after each
          step (what meeting the other rank every step costs), the same followed by one all-reduce of the
          model's gradient size (compute and communication in sequence, without DDP), and that all-reduce
          alone (the communication part), both back to back on a buffer in cache ("hot") and each after a
          pass over 64 MB that evicts it, as compute does in a real step ("cold"). Each rank runs the same
          number of steps per block.
The driver alternates the single and ddp jobs of each model for --rounds rounds and prints the load
average before each job: absolute times drift on a shared machine, ratios measured side by side don't.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

WORKLOADS_USED = ("mlp", "mnist-cnn")


def load_average():
    return float(open("/proc/loadavg").read().split()[0])


# ---------------------------------------------------------------- worker: one process, two threads

def worker_single(name, block, pairs):
    import numpy as np  # noqa: F401
    import compare  # torch first, then reticulum (one OpenMP runtime)
    from harness import compare as timed_pairs
    torch, rt = compare.torch, compare.rt
    torch.set_num_threads(2)
    rt.set_num_threads(2)
    make, shape, batch, opt = compare.WORKLOADS[name]
    compare.WORKLOADS[name] = (make, shape, 2 * batch, opt)  # the global batch of the 2-rank jobs
    _, rt_step, _, b = compare.build(rt, name)
    _, torch_step, _, _ = compare.build(torch, name)
    r = timed_pairs(rt_step, torch_step, pairs=pairs, block=block)
    return {"rt_step_s": r["ours"], "torch_step_s": r["theirs"], "global_batch": b}


# ---------------------------------------------------------------- worker: mpirun -np 2

def _fixed_steps(fn, block, dist, rt):
    """Steps that fill about `block` seconds on rank 0 (every rank runs the same count)."""
    t0 = time.perf_counter()
    for _ in range(2):
        fn()
    per = (time.perf_counter() - t0) / 2
    n = rt.tensor([max(2, int(block / per))])
    dist.broadcast(n, 0)
    return int(n.item())


_EVICT = None


def _cold(fn, barrier):
    """fn, timed alone, each call after a pass over more memory than the caches hold (the pass untimed)."""
    def timed_calls(n, barrier=barrier):
        global _EVICT
        import numpy as np
        if _EVICT is None:
            _EVICT = np.zeros(16 << 20, np.float32)
        total = 0.0
        for _ in range(n):
            _EVICT += 1.0
            barrier()
            t0 = time.perf_counter()
            fn()
            total += time.perf_counter() - t0
        return total / n
    return timed_calls


def _timed(fn, n, barrier):
    barrier()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    barrier()
    return (time.perf_counter() - t0) / n


def worker_ddp(name, block, pairs):
    import numpy as np
    import compare
    torch, rt = compare.torch, compare.rt
    import torch.distributed as tdist
    import reticulum.distributed as dist
    torch.set_num_threads(1)
    rt.set_num_threads(1)
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    port = rt.tensor([29500 + os.getpid() % 1000])
    dist.broadcast(port, 0)
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{int(port.item())}", rank=rank, world_size=world)

    make, shape, batch, opt = compare.WORKLOADS[name]
    rng = np.random.default_rng(rank)
    x = rng.standard_normal((batch, *shape)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    sides = {}
    for lib, wrap in ((rt, lambda m: rt.nn.parallel.DistributedDataParallel(m)),
                      (torch, lambda m: torch.nn.parallel.DistributedDataParallel(m))):
        lib.manual_seed(0)
        model = wrap(make(lib))
        optimizer = opt(lib, model.parameters())
        loss_fn = lib.nn.CrossEntropyLoss()
        xs, ys = lib.tensor(x), lib.tensor(y)

        def step(model=model, optimizer=optimizer, loss_fn=loss_fn, xs=xs, ys=ys):
            optimizer.zero_grad()
            loss_fn(model(xs), ys).backward()
            optimizer.step()

        def local_step(model=model, step=step):
            with model.no_sync():
                step()

        def forward(model=model, loss_fn=loss_fn, xs=xs, ys=ys):
            with model.no_sync():
                loss_fn(model(xs), ys)

        n_params = sum(p.numel() for p in model.parameters())
        flat = lib.zeros(n_params)
        reduce_alone = (lambda flat=flat: dist.all_reduce(flat)) if lib is rt else (lambda flat=flat: tdist.all_reduce(flat))

        def synced(local_step=local_step):
            local_step()
            dist.barrier()

        def then_reduce(local_step=local_step, reduce_alone=reduce_alone):
            local_step()
            reduce_alone()

        sides[lib.__name__] = {"model": model, "step": step, "local": local_step, "synced": synced, "then_reduce": then_reduce,
                               "forward": forward,
                               "allreduce": reduce_alone, "allreduce_cold": _cold(reduce_alone, dist.barrier),
                               "params": n_params}
    barrier = dist.barrier
    kinds = ("step", "local", "synced", "then_reduce", "forward", "allreduce", "allreduce_cold")
    counts = {(lib, kind): _fixed_steps(s["allreduce" if kind == "allreduce_cold" else kind], block, dist, rt)
              for lib, s in sides.items() for kind in kinds}
    samples = {key: [] for key in counts}
    waits, copies = [], []
    for p in range(pairs):
        order = list(counts) if p % 2 == 0 else list(reversed(list(counts)))
        for lib, kind in order:
            if (lib, kind) == ("reticulum", "step"):
                stats = sides[lib]["model"].comm_stats
                w0, c0 = stats["wait_s"], stats["copy_s"]
            if kind == "allreduce_cold":  # the eviction passes take most of the block: fewer calls
                samples[(lib, kind)].append(sides[lib][kind](max(5, counts[(lib, kind)] // 20)))
            else:
                samples[(lib, kind)].append(_timed(sides[lib][kind], counts[(lib, kind)], barrier))
            if (lib, kind) == ("reticulum", "step"):
                stats = sides[lib]["model"].comm_stats  # a snapshot: read it again
                waits.append((stats["wait_s"] - w0) / counts[(lib, kind)])
                copies.append((stats["copy_s"] - c0) / counts[(lib, kind)])
    out = {f"{lib}_{kind}_s": statistics.median(v) for (lib, kind), v in samples.items()}
    ratios = [a / b for a, b in zip(samples[("reticulum", "step")], samples[("torch", "step")])]
    out.update(rt_wait_s=statistics.median(waits), rt_copy_s=statistics.median(copies), params=sides["reticulum"]["params"],
               rt_over_torch_step=statistics.median(ratios), global_batch=world * batch)
    tdist.destroy_process_group()
    return out if rank == 0 else None


def worker_sweep(max_log2, reps_bytes):
    """All-reduce time against message size: reticulum's all_reduce, mpi4py's blocking Allreduce on the same
    NumPy memory (MPI itself), and torch gloo."""
    import torch
    import torch.distributed as tdist
    import reticulum as rt
    import reticulum.distributed as dist
    dist.init_process_group("mpi")
    group = dist._group
    port = rt.tensor([29500 + os.getpid() % 1000])
    dist.broadcast(port, 0)
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{int(port.item())}", rank=group.rank,
                             world_size=group.size)
    rows = []
    for k in range(0, max_log2 + 1, 2):
        n = 2 ** k
        reps = int(min(200, max(5, reps_bytes / (4 * n))))
        a, t = rt.ones(n), torch.ones(n)
        view = a.numpy()
        fns = {"reticulum": lambda: dist.all_reduce(a),
               "mpi4py": lambda: group.comm.Allreduce(group.mpi.IN_PLACE, view, op=group.mpi.SUM),
               "torch_gloo": lambda: tdist.all_reduce(t)}
        row = {"bytes": 4 * n}
        for name, fn in fns.items():
            fn()
            times = [_timed(fn, reps, dist.barrier) for _ in range(3)]
            row[name + "_s"] = statistics.median(times)
        rows.append(row)
    tdist.destroy_process_group()
    return rows if group.rank == 0 else None


def hook_overhead(rounds=7, steps=200):
    """DDP's own cost per parameter, without communication: one process (world size 1), 50 Linear(64, 64)
    layers (100 parameters, 0.8 MB), plain steps and DDP steps alternating; the best block of each."""
    import reticulum as rt
    import reticulum.distributed as dist
    rt.set_num_threads(1)
    dist.init_process_group("mpi")
    nn = rt.nn
    x = rt.randn(32, 64)
    steps_of = {}
    for kind in ("plain", "ddp"):
        rt.manual_seed(0)
        model = nn.Sequential(*[m for _ in range(50) for m in (nn.Linear(64, 64), nn.ReLU())])
        if kind == "ddp":
            model = rt.nn.parallel.DistributedDataParallel(model)
        opt = rt.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step(model=model, opt=opt):
            opt.zero_grad()
            model(x).sum().backward()
            opt.step()
        steps_of[kind] = step
    best = {kind: float("inf") for kind in steps_of}
    for _ in range(rounds):
        for kind, step in steps_of.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            best[kind] = min(best[kind], (time.perf_counter() - t0) / steps)
    extra = best["ddp"] - best["plain"]
    print(f"100 parameters, one rank: plain step {1e3 * best['plain']:.3f} ms, DDP step {1e3 * best['ddp']:.3f} ms: "
          f"{1e6 * extra / 100:.1f} us per parameter and step")


# ---------------------------------------------------------------- driver

def mpirun():
    local = os.path.join(os.path.dirname(sys.executable), "mpirun")
    cmd = [local if os.access(local, os.X_OK) else "mpirun", "-np", "2", "--bind-to", "core"]
    return cmd + (["--allow-run-as-root"] if os.geteuid() == 0 else [])


def run_job(cmd, what):
    load = load_average()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result = json.loads(lines[-1][len("RESULT "):])
    print(f"  {what:28s} load {load:5.2f}", flush=True)
    return result, load


def drive(args):
    me = [sys.executable, os.path.abspath(__file__)]
    results = {"models": {}, "loads": []}
    for name in args.models if args.rounds > 0 else ():
        single, ddp = [], []
        for r in range(args.rounds):
            jobs = [("single", me + ["--worker", "single", name]), ("ddp", mpirun() + me + ["--worker", "ddp", name])]
            for kind, cmd in (jobs if r % 2 == 0 else jobs[::-1]):
                res, load = run_job(cmd + ["--block", str(args.block), "--pairs", str(args.pairs)], f"{name} {kind} round {r + 1}")
                results["loads"].append(load)
                (single if kind == "single" else ddp).append(res)
        results["models"][name] = {"single": single, "ddp": ddp}
        report_model(name, single, ddp)
    if args.sweep:
        rows, load = run_job(mpirun() + me + ["--worker", "sweep", "--max-log2", str(args.max_log2)], "all-reduce sweep")
        results["sweep"] = rows
        report_sweep(rows, load)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def report_model(name, single, ddp):
    gb = ddp[0]["global_batch"]
    t = {k: med(ddp, k) for k in ddp[0] if k.endswith("_s")}
    rt1, th1 = med(single, "rt_step_s"), med(single, "torch_step_s")
    ideal = t["reticulum_local_s"] + t["reticulum_allreduce_s"]
    ideal_cold = t["reticulum_local_s"] + t["reticulum_allreduce_cold_s"]
    torch_ideal = t["torch_local_s"] + t["torch_allreduce_s"]
    compute = t["reticulum_step_s"] - t["rt_wait_s"] - t["rt_copy_s"]
    print(f"\n{name}: {ddp[0]['params']:,} parameters ({4 * ddp[0]['params'] / 2**20:.2f} MB of gradients), "
          f"global batch {gb}")
    print("  step time, ms (samples/s)       reticulum            torch")
    for label, a, b in (("1 process x 2 threads", rt1, th1),
                        ("2 ranks x 1 thread, DDP", t["reticulum_step_s"], t["torch_step_s"]),
                        ("  same steps in no_sync()", t["reticulum_local_s"], t["torch_local_s"]),
                        ("  same, barrier after each step", t["reticulum_synced_s"], t["torch_synced_s"]),
                        ("  same, then the gradients' all-reduce", t["reticulum_then_reduce_s"], t["torch_then_reduce_s"]),
                        ("  all-reduce of the gradients", t["reticulum_allreduce_s"], t["torch_allreduce_s"]),
                        ("  the same all-reduce, cold", t["reticulum_allreduce_cold_s"], t["torch_allreduce_cold_s"])):
        sa = f"{1e3 * a:8.2f} ({gb / a:7.0f})" if "all-reduce" not in label else f"{1e3 * a:8.2f}          "
        sb = f"{1e3 * b:8.2f} ({gb / b:7.0f})" if "all-reduce" not in label else f"{1e3 * b:8.2f}"
        print(f"  {label:31s} {sa}   {sb}")
    print(f"  reticulum DDP step: compute {1e3 * compute:.2f} ms + copies to/from buckets {1e3 * t['rt_copy_s']:.2f} ms + "
          f"all-reduces, waiting for the other rank included {1e3 * t['rt_wait_s']:.2f} ms")
    print(f"  ideal (no_sync step + all-reduce alone) {1e3 * ideal:.2f} ms: DDP step / ideal = "
          f"{t['reticulum_step_s'] / ideal:.3f}; with the cold all-reduce {t['reticulum_step_s'] / ideal_cold:.3f} "
          f"(torch DDP / its ideal: {t['torch_step_s'] / torch_ideal:.3f}, cold "
          f"{t['torch_step_s'] / (t['torch_local_s'] + t['torch_allreduce_cold_s']):.3f})")
    print(f"  DDP step / (no_sync step, then an all-reduce of the same size) = "
          f"{t['reticulum_step_s'] / t['reticulum_then_reduce_s']:.3f} (torch: {t['torch_step_s'] / t['torch_then_reduce_s']:.3f})")
    print(f"  reticulum DDP / torch DDP step time (paired) = "
          f"{med(ddp, 'rt_over_torch_step'):.3f}; DDP speed-up over 1 process x 2 threads = "
          f"{rt1 / t['reticulum_step_s']:.2f}x")
    report_model_scaling(name, ddp[0]["params"], t["reticulum_local_s"], t["reticulum_local_s"] - t["reticulum_forward_s"])


# The scaling model (bench/README.md states and discusses its assumptions).
LINK_BYTES_S = 25e9 / 8 * 0.9   # 25 Gb/s Ethernet, 90% of it achievable by MPI over TCP
LATENCY_S = 25e-6               # per message: MPI over TCP through one switch
REDUCE_BYTES_S = 4e9            # one core summing float32 vectors (memory bound)
BUCKET_BYTES, FIRST_BUCKET_BYTES = 25 * 2 ** 20, 2 ** 20


def ring_allreduce_s(nbytes, p):
    """Ring all-reduce (reduce-scatter, then all-gather) of nbytes over p nodes: 2(p-1) steps, each sending
    nbytes/p, with (p-1) of them reducing nbytes/p."""
    if p == 1:
        return 0.0
    return 2 * (p - 1) * LATENCY_S + 2 * (p - 1) / p * nbytes / LINK_BYTES_S + (p - 1) / p * nbytes / REDUCE_BYTES_S


def buckets(nbytes):
    sizes = [min(nbytes, FIRST_BUCKET_BYTES)]
    rest = nbytes - sizes[0]
    while rest > 0:
        sizes.append(min(rest, BUCKET_BYTES))
        rest -= sizes[-1]
    return sizes


def predicted_efficiency(nbytes, compute_s, backward_s, p):
    """(no overlap, full overlap) weak-scaling efficiency: compute / step time with p nodes, each computing its
    own batch in compute_s. Buckets are all-reduced one after another. Without overlap (no core free to progress
    MPI during backward, as on this 2-core machine) all of it adds to the step; with overlap a bucket's all-reduce
    runs during the rest of backward, the bucket becoming ready in proportion to the gradient bytes produced."""
    sizes = buckets(nbytes)
    total = sum(ring_allreduce_s(b, p) for b in sizes)
    finish, done_bytes = 0.0, 0
    for b in sizes:
        done_bytes += b
        ready = backward_s * done_bytes / nbytes  # from the start of backward
        finish = max(finish, ready) + ring_allreduce_s(b, p)
    exposed = max(0.0, finish - backward_s)
    return compute_s / (compute_s + total), compute_s / (compute_s + exposed)


def report_model_scaling(name, params, compute_s, backward_s):
    nbytes = 4 * params
    print(f"  scaling model for {name} ({nbytes / 2 ** 20:.2f} MB, compute {1e3 * compute_s:.1f} ms per step of which "
          f"backward {1e3 * backward_s:.1f} ms, one rank per node):")
    for p in (2, 8, 64):
        lo, hi = predicted_efficiency(nbytes, compute_s, backward_s, p)
        print(f"    {p:3d} nodes: all-reduce {1e3 * sum(ring_allreduce_s(b, p) for b in buckets(nbytes)):6.2f} ms, "
              f"efficiency {100 * lo:5.1f}% without overlap, {100 * hi:5.1f}% with full overlap")


def report_sweep(rows, load):
    print(f"\nall-reduce, 2 ranks on this machine (load {load:.2f}): time in us, algorithm bandwidth in MB/s")
    print(f"  {'bytes':>10s} {'reticulum':>18s} {'mpi4py Allreduce':>18s} {'torch gloo':>18s}")
    for r in rows:
        cells = [f"{1e6 * r[k]:9.1f} {r['bytes'] / r[k] / 1e6:8.0f}" for k in ("reticulum_s", "mpi4py_s", "torch_gloo_s")]
        print(f"  {r['bytes']:10d} " + " ".join(cells))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", default=list(WORKLOADS_USED))
    p.add_argument("--rounds", type=int, default=3, help="alternations of the single and ddp jobs (0: the sweep only)")
    p.add_argument("--block", type=float, default=1.0, help="seconds per timed block")
    p.add_argument("--pairs", type=int, default=3, help="alternations of the timed blocks inside a job")
    p.add_argument("--no-sweep", dest="sweep", action="store_false")
    p.add_argument("--max-log2", type=int, default=24, help="largest all-reduce: 2**N float32 (default 64 MB)")
    p.add_argument("--hooks", action="store_true", help="only DDP's per-parameter cost, in this process")
    p.add_argument("--json")
    p.add_argument("--worker", choices=("single", "ddp", "sweep"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.hooks:
        return hook_overhead()
    if args.worker == "single":
        res = worker_single(args.models[0], args.block, args.pairs)
    elif args.worker == "ddp":
        res = worker_ddp(args.models[0], args.block, args.pairs)
    elif args.worker == "sweep":
        res = worker_sweep(args.max_log2, 16e6)
    else:
        return drive(args)
    if res is not None:
        print("RESULT " + json.dumps(res), flush=True)
    if args.worker != "single":
        # torch's gloo threads can still be releasing Python objects while the interpreter shuts down (an abort
        # seen in 1 of 6 jobs): leave MPI properly, then exit without the interpreter's teardown.
        from mpi4py import MPI
        MPI.Finalize()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main()
