"""Foundation benchmark: y = (x @ w).relu().sum(); y.backward() with x 64x256,
w 256x256 — reticulum vs PyTorch, interleaved in one process.

Run: python bench/autograd_loop.py
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import compare, machine_load

try:
    import torch
except ImportError:
    torch = None
import reticulum as rt  # after torch: share its OpenMP runtime, see bench/README.md


def make_step(lib, x_np, w_np):
    x = lib.tensor(x_np)
    w = lib.tensor(w_np, requires_grad=True)

    def step():
        y = (x @ w).relu().sum()
        y.backward()
        w.grad = None
    return step


def main():
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((64, 256)).astype(np.float32)
    w_np = rng.standard_normal((256, 256)).astype(np.float32) * 0.06
    print(f"machine busy before timing: {machine_load():.0%}")
    r = compare(make_step(rt, x_np, w_np), make_step(torch, x_np, w_np) if torch else None)
    line = f"reticulum {r['ours'] * 1e6:8.1f} us/iter"
    if torch:
        line += (f"   pytorch {r['theirs'] * 1e6:8.1f} us/iter   time ratio (reticulum/pytorch) "
                 f"{r['ratio']:.2f} [IQR {r['q1']:.2f}-{r['q3']:.2f}]")
    print(line)


if __name__ == "__main__":
    main()
