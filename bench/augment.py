"""Augmentation throughput on MNIST-shaped data (images/s): plain batch loading, the
RandomAffine + RandomCrop pipeline alone, the loader with that pipeline (0 and 2 worker
threads), and for scale one training step of a small CNN and an MLP (forward + backward).
Uses the real MNIST training set when ../shared/data/mnist exists, else random 60000x1x28x28.

Run: PYTHONPATH=python python bench/augment.py [--batch 128] [--seconds 1.0] [--threads N]
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from harness import machine_load, time_block

import reticulum as rt
import reticulum.nn.functional as F
from reticulum.utils.data import DataLoader, TensorDataset
from reticulum.vision import transforms as T
from reticulum.vision.datasets import MNIST

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def epoch_rate(loader):
    """Images/s of one full pass over the loader (best of 2)."""
    best = 0.0
    for _ in range(2):
        n, start = 0, time.perf_counter()
        for x, _ in loader:
            n += x.shape[0]
        best = max(best, n / (time.perf_counter() - start))
    return best


def train_step(kind, bs):
    rng = np.random.default_rng(0)
    x = rt.from_numpy(rng.random((bs, 1, 28, 28), dtype=np.float32))
    y = rt.from_numpy(rng.integers(0, 10, bs))
    if kind == "cnn":  # conv(1->16, 5) - pool2 - conv(16->32, 5) - pool2 - linear(512->10)
        ws = [rt.randn(16, 1, 5, 5) * 0.2, rt.zeros(16), rt.randn(32, 16, 5, 5) * 0.05, rt.zeros(32),
              rt.randn(10, 512) * 0.04, rt.zeros(10)]
    else:  # MLP 784-256-10
        ws = [rt.randn(256, 784) * 0.03, rt.zeros(256), rt.randn(10, 256) * 0.06, rt.zeros(10)]
    for w in ws:
        w.requires_grad_(True)

    def step():
        if kind == "cnn":
            h = F.max_pool2d(F.conv2d(x, ws[0], ws[1]).relu(), 2)
            h = F.max_pool2d(F.conv2d(h, ws[2], ws[3]).relu(), 2)
            out = F.linear(h.reshape(bs, -1), ws[4], ws[5])
        else:
            out = F.linear(F.linear(x.reshape(bs, -1), ws[0], ws[1]).relu(), ws[2], ws[3])
        F.cross_entropy(out, y).backward()
        for w in ws:
            w.grad = None
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=1.0, help="timing block per measurement")
    ap.add_argument("--threads", type=int, default=None, help="rt.set_num_threads (default: leave as is)")
    args = ap.parse_args()
    if args.threads:
        rt.set_num_threads(args.threads)
    bs = args.batch
    if MNIST_DIR.is_dir():
        ds, source = MNIST(MNIST_DIR).as_tensor_dataset(), "real MNIST train (60000)"
    else:
        rt.manual_seed(0)
        ds, source = TensorDataset(rt.rand(60000, 1, 28, 28), rt.randint(0, 10, (60000,))), "random 60000x1x28x28"
    aug = T.Compose([T.RandomAffine(10, translate=(0.1, 0.1), scale=(0.9, 1.1)), T.RandomCrop(28, padding=2)])
    print(f"data: {source}; batch {bs}; threads {rt.get_num_threads()}; machine busy: {machine_load():.0%}")

    x = ds.tensors[0].index_select(0, rt.arange(bs))
    rows = []
    for name, fn in [("RandomAffine only", lambda: aug.transforms[0](x)),
                     ("RandomCrop(28, padding=2) only", lambda: aug.transforms[1](x)),
                     ("RandomAffine + RandomCrop", lambda: aug(x))]:
        rows.append((name, bs / time_block(fn, args.seconds)))
    rows.append(("loader, no augmentation (shuffle)", epoch_rate(DataLoader(ds, bs, shuffle=True, seed=0))))
    rows.append(("loader + augmentation, 0 workers", epoch_rate(DataLoader(ds, bs, shuffle=True, seed=0, transform=aug))))
    rows.append(("loader + augmentation, 2 workers",
                 epoch_rate(DataLoader(ds, bs, shuffle=True, seed=0, transform=aug, num_workers=2))))
    for kind in ("mlp", "cnn"):
        step = train_step(kind, bs)
        rows.append((f"train step {kind.upper()} fwd+bwd (for scale)", bs / time_block(step, args.seconds)))
    for name, rate in rows:
        print(f"  {name:42s} {rate:12,.0f} images/s   ({60000 / rate:6.2f} s per 60k-image epoch)")


if __name__ == "__main__":
    main()
