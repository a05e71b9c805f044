"""Two reticulum builds against each other on a compare.py workload: the regression check against an older
commit (bench/README.md, run N). Each build runs in its own long-lived process (two builds of the same module
cannot share one); the driver asks them for timed blocks in turn, flipping which goes first, and reports the
median of the per-round time ratios with their interquartile range.

    git worktree add /tmp/old <commit> && (build it there, its _C next to /tmp/old/python/reticulum)
    python bench/ab_builds.py /tmp/old/python python cnn-bn eval --rounds 20 --steps 12

A ratio below 1 means the second build (B) takes less time than the first (A).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def worker(name, mode, threads):
    """Builds the workload, then times `n` steps for each number read from stdin."""
    sys.path.insert(0, HERE)
    import compare  # torch first when it is installed, then reticulum (one OpenMP runtime)
    compare.rt.set_num_threads(threads)
    if compare.torch is not None:
        compare.torch.set_num_threads(threads)
    _, train_step, eval_step, _ = compare.build(compare.rt, name)
    step = train_step if mode == "train" else eval_step
    for _ in range(3):
        step()
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        print((time.perf_counter() - t0) / n, flush=True)


def drive(args):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", args.workload, args.mode, "--threads", str(args.threads)]
    procs = {}
    for label, path in (("A", args.build_a), ("B", args.build_b)):
        env = {**os.environ, "PYTHONPATH": os.path.abspath(path)}
        procs[label] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    for label, p in procs.items():
        if p.stdout.readline().strip() != "ready":
            raise SystemExit(f"build {label} ({args.build_a if label == 'A' else args.build_b}) failed to start")
    times = {label: [] for label in procs}
    for r in range(args.rounds):
        for label in ("A", "B") if r % 2 == 0 else ("B", "A"):
            procs[label].stdin.write(f"{args.steps}\n")
            procs[label].stdin.flush()
            times[label].append(float(procs[label].stdout.readline()))
    for p in procs.values():
        p.stdin.close()
        p.wait()
    ratios = [b / a for a, b in zip(times["A"], times["B"])]
    q = statistics.quantiles(ratios, n=4)
    print(f"{args.workload} {args.mode}, {args.threads} threads: A {1e3 * statistics.median(times['A']):.3f} ms, "
          f"B {1e3 * statistics.median(times['B']):.3f} ms per step; B/A time {statistics.median(ratios):.3f} "
          f"[IQR {q[0]:.3f}-{q[2]:.3f}] over {args.rounds} rounds")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build_a", nargs="?", help="the python/ folder of build A (its reticulum package)")
    p.add_argument("build_b", nargs="?", help="the python/ folder of build B")
    p.add_argument("workload", nargs="?", default="mlp", help="a compare.py workload (default mlp)")
    p.add_argument("mode", nargs="?", default="train", choices=("train", "eval"))
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--steps", type=int, default=20, help="steps per timed block")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args.worker[0], args.worker[1], args.threads)
    if not (args.build_a and args.build_b):
        p.error("give the python/ folders of the two builds")
    if args.rounds < 2:
        p.error("--rounds must be at least 2")
    return drive(args)


if __name__ == "__main__":
    main()
