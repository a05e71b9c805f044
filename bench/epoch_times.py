"""Epoch time on real MNIST / Fashion-MNIST: reticulum's models (reticulum.models) and the
same architectures in PyTorch, one epoch each, alternating frameworks, same data order,
batch size and optimizer. Reports the median epoch time of each and their ratio.

    python bench/epoch_times.py --data-root ../shared/data/mnist --model lenet [--repeats 3]
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np

try:
    import torch
except ImportError:
    sys.exit("epoch_times.py compares against PyTorch: pip install torch==2.13.0")
import reticulum as rt  # after torch: one OpenMP runtime
from reticulum import models
from reticulum.vision import datasets


def to_torch(seq):
    """The PyTorch twin of a reticulum nn.Sequential (same layers, same weights)."""
    layers = []
    for m in seq:
        name = type(m).__name__
        if name == "Linear":
            layers.append(torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None))
        elif name == "Conv2d":
            layers.append(torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=m.bias is not None))
        elif name == "BatchNorm2d":
            layers.append(torch.nn.BatchNorm2d(m.num_features, m.eps, m.momentum))
        elif name == "MaxPool2d":
            layers.append(torch.nn.MaxPool2d(m.kernel_size, m.stride))
        elif name == "Dropout":
            layers.append(torch.nn.Dropout(m.p))
        else:
            layers.append(getattr(torch.nn, name)())
    twin = torch.nn.Sequential(*layers)
    twin.load_state_dict({k: torch.tensor(v.numpy()) for k, v in seq.state_dict().items()})
    return twin


def epoch(lib, model, opt, x, y, batch, order):
    model.train()
    loss_fn = lib.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for i in range(0, len(order) - batch + 1, batch):
        idx = lib.tensor(order[i:i + batch])
        xb, yb = x.index_select(0, idx), y.index_select(0, idx)
        opt.zero_grad()
        loss_fn(model(xb), yb).backward()
        opt.step()
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist"))
    ap.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist"])
    ap.add_argument("--model", default="lenet", choices=list(models.MODELS))
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    ds = (datasets.MNIST if args.dataset == "mnist" else datasets.FashionMNIST)(args.data_root, train=True)
    x_np, y_np = ds.as_tensor_dataset().tensors[0].numpy(), ds.targets.numpy()
    rt.manual_seed(0)
    ours = models.get_model(args.model, in_channels=1, image_size=28, num_classes=10)
    theirs = to_torch(ours)
    opt_r = rt.optim.SGD(ours.parameters(), lr=0.01, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.01, momentum=0.9)
    xr, yr, xt, yt = rt.tensor(x_np), rt.tensor(y_np), torch.tensor(x_np), torch.tensor(y_np)
    times = {"reticulum": [], "pytorch": []}
    rng = np.random.default_rng(0)
    for r in range(args.repeats):
        order = rng.permutation(len(y_np))
        pair = [("reticulum", rt, ours, opt_r, xr, yr), ("pytorch", torch, theirs, opt_t, xt, yt)]
        for name, lib, model, opt, x, y in (pair if r % 2 == 0 else pair[::-1]):
            times[name].append(epoch(lib, model, opt, x, y, args.batch_size, order))
            print(f"  {name:9s} epoch {r + 1}: {times[name][-1]:.1f} s", flush=True)
    a, b = statistics.median(times["reticulum"]), statistics.median(times["pytorch"])
    print(f"{args.dataset} {args.model} batch {args.batch_size}: reticulum {a:.1f} s/epoch, pytorch {b:.1f} s/epoch, "
          f"speedup {b / a:.2f}")


if __name__ == "__main__":
    main()
