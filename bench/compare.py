"""Side-by-side benchmarks: reticulum vs PyTorch (CPU eager), same process, interleaved.

    python bench/compare.py                 # all workloads
    python bench/compare.py mlp lenet       # some
    python bench/compare.py --json out.json
    python bench/compare.py --cpu-capability avx2   # the AVX2 kernels, on an AVX-512 host too
    python bench/compare.py --device cuda   # the models on the GPU at batch 256, vs PyTorch CUDA (a CUDA build)

Throughput workloads alternate timed blocks of both frameworks (see bench/README.md) and
report the median of per-pair ratios; "speedup" > 1 means reticulum is faster. Synthetic
data, identical models, shapes, batches, initial weights and optimizers.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import compare, machine_load

# --cpu-capability must reach the environment before either library is imported: both choose
# their kernels once, at import (and the startup workload's child processes inherit it). PyTorch
# is capped the same way (ATen, MKL, oneDNN), so that an AVX-512 host measures both libraries as
# an AVX2 host would run them.
TORCH_CPU_CAPS = {"default": ("default", "SSE4_2", "SSE41"), "avx2": ("avx2", "AVX2", "AVX2"), "avx512": ("avx512", "AVX512", "AVX512_CORE")}
_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--cpu-capability")
_cap = _pre.parse_known_args()[0].cpu_capability
if _cap in TORCH_CPU_CAPS:
    os.environ["RETICULUM_CPU_CAPABILITY"] = _cap
    os.environ["ATEN_CPU_CAPABILITY"], os.environ["MKL_ENABLE_INSTRUCTIONS"], os.environ["ONEDNN_MAX_CPU_ISA"] = TORCH_CPU_CAPS[_cap]

try:
    import torch
except ImportError:
    torch = None
import reticulum as rt  # noqa: E402  (after torch: one OpenMP runtime, see bench/README.md)

LIBS = {"reticulum": rt, "pytorch": torch}
DEVICE = "cpu"  # --device: where the model workloads run (both libraries)
CUDA_BATCH = 256  # on a GPU the models run at this batch: the small CPU batches would time launches alone


# ---------------------------------------------------------------- models (same code for both libraries)

def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))


def lenet(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def mnist_cnn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                         nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def cnn_bn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 8 * 8, 10))


WORKLOADS = {
    # name: (model, input shape without batch, batch, optimizer factory)
    "mlp": (mlp, (1, 28, 28), 128, lambda lib, p: lib.optim.SGD(p, lr=0.01, momentum=0.9)),
    "lenet": (lenet, (1, 28, 28), 64, lambda lib, p: lib.optim.SGD(p, lr=0.01, momentum=0.9)),
    "mnist-cnn": (mnist_cnn, (1, 28, 28), 64, lambda lib, p: lib.optim.Adam(p, lr=1e-3)),
    "cnn-bn": (cnn_bn, (3, 32, 32), 128, lambda lib, p: lib.optim.SGD(p, lr=0.01, momentum=0.9)),
}


def build(lib, name, seed=0):
    make, shape, batch, opt = WORKLOADS[name]
    model = make(lib)
    ref = make(torch) if torch else None
    if ref is not None and lib is not torch:  # identical initial weights
        torch.manual_seed(seed)
        ref = make(torch)
        model.load_state_dict({k: rt.tensor(v.detach().numpy()) for k, v in ref.state_dict().items()})
    elif lib is torch:
        torch.manual_seed(seed)
        model = make(torch)
    if DEVICE != "cpu":
        batch = CUDA_BATCH
        model.to(DEVICE)
    rng = np.random.default_rng(seed)
    x = lib.tensor(rng.standard_normal((batch, *shape)).astype(np.float32)).to(DEVICE)
    y = lib.tensor(rng.integers(0, 10, batch)).to(DEVICE)
    optimizer = opt(lib, model.parameters())
    loss_fn = lib.nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    def eval_step():
        with lib.no_grad():
            model(x)
    return model, train_step, eval_step, batch


def run_models(names, pairs, block, results):
    for name in names:
        if torch is None:
            print(f"{name}: torch not importable; reticulum only")
        for mode in ("train", "eval"):
            ours = build(rt, name)
            theirs = build(torch, name) if torch else None
            if mode == "train":
                ours[0].train(), theirs and theirs[0].train()
            else:
                ours[0].eval(), theirs and theirs[0].eval()
            fa = ours[1] if mode == "train" else ours[2]
            fb = (theirs[1] if mode == "train" else theirs[2]) if theirs else None
            sync = (rt.cuda.synchronize, torch and torch.cuda.synchronize) if DEVICE != "cpu" else (None, None)
            r = compare(fa, fb, pairs=pairs, block=block, sync=sync)
            batch = ours[3]
            row = {"workload": name, "mode": mode, "reticulum_samples_s": batch / r["ours"]}
            if fb:
                row.update(pytorch_samples_s=batch / r["theirs"], speedup=1 / r["ratio"], speedup_q1=1 / r["q3"], speedup_q3=1 / r["q1"])
            results.append(row)
            _print_row(row)


def _print_row(row):
    if "speedup" in row:
        print(f"{row['workload']:10s} {row['mode']:5s}  reticulum {row['reticulum_samples_s']:9.0f}/s  pytorch {row['pytorch_samples_s']:9.0f}/s"
              f"  speedup {row['speedup']:5.2f} [IQR {row['speedup_q1']:.2f}-{row['speedup_q3']:.2f}]", flush=True)
    else:
        print(f"{row['workload']:10s} {row['mode']:5s}  reticulum {row['reticulum_samples_s']:9.0f}/s", flush=True)


def _time_row(results, workload, mode, r, unit, has_torch):
    """Records and prints a per-call time row (in "us" or "ms"); speedup = PyTorch time / ours."""
    scale = {"us": 1e6, "ms": 1e3}[unit]
    row = {"workload": workload, "mode": mode, f"reticulum_{unit}": r["ours"] * scale}
    if has_torch:
        row.update({f"pytorch_{unit}": r["theirs"] * scale, "speedup": 1 / r["ratio"]})
    results.append(row)
    print(f"{workload:10s} {mode:34s} reticulum {row[f'reticulum_{unit}']:8.2f} {unit}" +
          (f"  pytorch {row[f'pytorch_{unit}']:8.2f} {unit}  speedup {row['speedup']:5.2f}" if has_torch else ""), flush=True)


def run_tiny(pairs, block, results):
    def make(lib):
        a, b = lib.tensor([1.0]), lib.tensor([2.0])
        s = [lib.tensor(v, requires_grad=True) for v in (1.0, 2.0, 3.0)]

        def graph():
            ((s[0] * s[1] + s[2]).sum()).backward()
        return (lambda: a + b), graph
    ours, theirs = make(rt), make(torch) if torch else (None, None)
    for i, label in enumerate(("add 1-element", "tiny graph fwd+bwd")):
        r = compare(ours[i], theirs[i], pairs=pairs, block=block)
        _time_row(results, "tiny-ops", label, r, "us", theirs[i] is not None)


def run_gemm(pairs, block, results):
    for n in (256, 512, 1024, 2048):
        rng = np.random.default_rng(0)
        a_np, b_np = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)
        fa = (lambda a, b: (lambda: a @ b))(rt.tensor(a_np), rt.tensor(b_np))
        fb = (lambda a, b: (lambda: a @ b))(torch.tensor(a_np), torch.tensor(b_np)) if torch else None
        r = compare(fa, fb, pairs=max(4, pairs // 2), block=block)
        flop = 2.0 * n ** 3
        row = {"workload": "gemm", "mode": str(n), "reticulum_gflops": flop / r["ours"] / 1e9}
        if fb:
            row.update(pytorch_gflops=flop / r["theirs"] / 1e9, speedup=1 / r["ratio"])
        results.append(row)
        print(f"gemm {n:5d}  reticulum {row['reticulum_gflops']:6.1f} GFLOP/s" +
              (f"  pytorch {row['pytorch_gflops']:6.1f} GFLOP/s  ratio {row['speedup']:5.2f}" if fb else ""), flush=True)


CONV_LAYERS = [  # (label, input shape, weight shape, padding)
    ("lenet conv1 64x1x28x28 5x5 1->6", (64, 1, 28, 28), (6, 1, 5, 5), 2),
    ("lenet conv2 64x6x14x14 5x5 6->16", (64, 6, 14, 14), (16, 6, 5, 5), 0),
    ("conv 64x64x32x32 3x3 64->64", (64, 64, 32, 32), (64, 64, 3, 3), 1),
]


def run_conv(pairs, block, results):
    """conv2d forward+backward (input, weight and bias gradients) on representative layers."""
    for label, xs, ws, pad in CONV_LAYERS:
        rng = np.random.default_rng(0)
        x_np, w_np = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32) * 0.1
        b_np = rng.standard_normal(ws[0]).astype(np.float32)

        def make(lib, F):
            x, w, b = (lib.tensor(a, requires_grad=True) for a in (x_np, w_np, b_np))

            def step():
                F.conv2d(x, w, b, padding=pad).sum().backward()
                x.grad = w.grad = b.grad = None
            return step
        fb = make(torch, torch.nn.functional) if torch else None
        r = compare(make(rt, rt.nn.functional), fb, pairs=max(4, pairs // 2), block=block)
        _time_row(results, "conv", label, r, "ms", fb is not None)


def run_optim(pairs, block, results):
    """optimizer.step() on a 1M-parameter model (4 x Linear(500, 500)) with gradients in place."""
    for opt_name, kw in (("SGD", dict(lr=0.01, momentum=0.9)), ("Adam", dict(lr=1e-3))):
        def make(lib):
            model = lib.nn.Sequential(*[lib.nn.Linear(500, 500) for _ in range(4)])
            for p in model.parameters():
                p.grad = lib.ones_like(p) * 0.01
            opt = getattr(lib.optim, opt_name)(model.parameters(), **kw)
            opt.step()
            return opt.step
        fb = make(torch) if torch else None
        r = compare(make(rt), fb, pairs=pairs, block=block)
        _time_row(results, "optim-step", opt_name, r, "us", fb is not None)


_STARTUP = r"""
import sys, time
t0 = time.perf_counter()
import {lib} as L
t_import = time.perf_counter() - t0
import numpy as np
rng = np.random.default_rng(0)
nn = L.nn
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
opt = L.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = L.tensor(rng.standard_normal((128, 1, 28, 28)).astype(np.float32)); y = L.tensor(rng.integers(0, 10, 128))
loss_fn = nn.CrossEntropyLoss()
for _ in range(200):
    opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
# VmHWM, not ru_maxrss: ru_maxrss survives fork+exec, so a child would report the parent's peak.
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(t_import, hwm / 1024)
"""


def run_startup(repeats, results):
    libs = ["reticulum"] + (["torch"] if torch else [])
    samples = {k: [] for k in libs}
    for i in range(repeats):
        for lib in (libs if i % 2 == 0 else libs[::-1]):
            out = subprocess.run([sys.executable, "-c", _STARTUP.format(lib=lib)], capture_output=True, text=True, check=True)
            t, rss = map(float, out.stdout.split())
            samples[lib].append((t, rss))
    for lib, vals in samples.items():
        t = float(np.median([v[0] for v in vals]))
        rss = float(np.median([v[1] for v in vals]))
        row = {"workload": "startup", "mode": lib, "import_s": t, "peak_rss_mib": rss}
        results.append(row)
        print(f"startup {lib:10s} import {t:6.3f} s   peak RSS of a 200-step mlp run {rss:6.1f} MiB", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workloads", nargs="*", help="default: all; with --device cuda, the models")
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--block", type=float, default=0.4)
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--cpu-capability", choices=["default", "avx2", "avx512"],
                    help="cap the kernel level of both libraries (RETICULUM_CPU_CAPABILITY; PyTorch: ATEN_CPU_CAPABILITY, "
                         "MKL_ENABLE_INSTRUCTIONS, ONEDNN_MAX_CPU_ISA), e.g. to measure the AVX2 path on an AVX-512 host")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where the model workloads run, for both libraries (cuda: batch 256; needs reticulum's CUDA build "
                         "and a PyTorch with CUDA)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda":
        if not rt.cuda.is_available():
            ap.error("--device cuda: " + ("no CUDA device was found" if rt.cuda.is_built() else rt.cuda.NOT_BUILT))
        if torch is not None and not torch.cuda.is_available():
            ap.error("--device cuda: this PyTorch has no CUDA device; install a CUDA build of torch to compare")
        others = [w for w in args.workloads if w not in WORKLOADS]
        if others:
            ap.error(f"--device cuda times the model workloads ({', '.join(WORKLOADS)}) only, not {', '.join(others)}")
    print(f"CPU kernels: reticulum {rt.backends.cpu.get_cpu_capability()} (host best {rt.backends.cpu.build_info()['host']})"
          + (f", pytorch {torch.backends.cpu.get_cpu_capability()}" if torch else ""), flush=True)
    print(f"machine busy before timing: {machine_load():.0%}; threads: reticulum {rt.get_num_threads()}"
          + (f", pytorch {torch.get_num_threads()}" if torch else ""), flush=True)
    results = []
    if not args.workloads:
        args.workloads = list(WORKLOADS) if DEVICE == "cuda" else [*WORKLOADS, "tiny-ops", "gemm", "conv", "optim-step", "startup"]
    models = [w for w in args.workloads if w in WORKLOADS]
    run_models(models, args.pairs, args.block, results)
    if "tiny-ops" in args.workloads:
        run_tiny(args.pairs, args.block, results)
    if "gemm" in args.workloads:
        run_gemm(args.pairs, args.block, results)
    if "conv" in args.workloads:
        run_conv(args.pairs, args.block, results)
    if "optim-step" in args.workloads:
        run_optim(args.pairs, args.block, results)
    if "startup" in args.workloads:
        run_startup(5, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"time": time.strftime("%Y-%m-%d %H:%M"), "cpu_capability": rt.backends.cpu.get_cpu_capability(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
