"""Vanishing gradients in a deep MLP, and two cures (seed eqs. 2.30-2.32, section on batch norm).

Three 16-layer MLPs (15 hidden layers of width 64 + the output layer) on the 8x8 digits:
  sigmoid      sigmoid units, weights N(0, 1/n_in) ("naive": variance-preserving for a linear
               unit, but blind to the sigmoid's derivative phi' <= 1/4), zero biases;
  relu_he      ReLU units, He init N(0, 2/n_in) (eq. 2.32);
  sigmoid_bn   the sigmoid net with the same init and BatchNorm1d before every sigmoid.
By eq. 2.31 the gradient reaching layer l is a product of phi'(z) W factors over the layers
above it; with phi' <= 1/4 it shrinks geometrically towards the input. Measured: the L2 norm
of each Linear layer's weight gradient (cross-entropy, batches of 256) at initialisation, and
its mean over the last training epoch as recorded by rt.train.GradientMonitor, plus the
training loss of each net under the same plain SGD (lr 0.01, momentum 0.9).
"""
import math
import time
import warnings

import numpy as np

from .. import manual_seed, nn, optim
from ..train import GradientMonitor, evaluate, fit
from ..utils.data import DataLoader, TensorDataset
from ..vision.datasets import Digits
from ._common import by_metric, figure, finish, prepare, threads

NAME = "vanishing_gradients"
DEPTH, WIDTH = 16, 64  # Linear layers in total, hidden width
LR = 0.01
CONFIGS = {
    "sigmoid": "sigmoid, naive init N(0, 1/n)",
    "relu_he": "ReLU, He init N(0, 2/n) (eq. 2.32)",
    "sigmoid_bn": "sigmoid, naive init + batch norm",
}
COLORS = {"sigmoid": "tab:red", "relu_he": "tab:blue", "sigmoid_bn": "tab:green"}


def build(config):
    """The 16-layer MLP of `config` (see module doc); returns (model, names of its Linear layers)."""
    layers, linear_names, fan_in = [], [], 64
    for i in range(DEPTH):
        out = 10 if i == DEPTH - 1 else WIDTH
        lin = nn.Linear(fan_in, out)
        if config == "relu_he":
            nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        else:
            nn.init.normal_(lin.weight, 0.0, 1.0 / math.sqrt(fan_in))
        nn.init.zeros_(lin.bias)
        linear_names.append(str(len(layers)))
        layers.append(lin)
        if i < DEPTH - 1:
            if config == "sigmoid_bn":
                layers.append(nn.BatchNorm1d(out))
            layers.append(nn.ReLU() if config == "relu_he" else nn.Sigmoid())
        fan_in = out
    return nn.Sequential(*layers), linear_names


def _weight_grad_norms(model, x, y, batches=4):
    """Mean over `batches` batches of 256 of each Linear layer's weight-gradient L2 norm."""
    loss_fn = nn.CrossEntropyLoss()
    lins = [m for m in model if isinstance(m, nn.Linear)]
    sums = np.zeros(len(lins))
    for b in range(batches):
        model.zero_grad()
        xb, yb = x[b * 256:(b + 1) * 256], y[b * 256:(b + 1) * 256]
        loss_fn(model(xb), yb).backward()
        sums += [math.sqrt(float((m.weight.grad.numpy().astype(np.float64) ** 2).sum())) for m in lins]
    model.zero_grad()
    return sums / batches


def summary(r):
    """Headline numbers of a run() result."""
    return by_metric(r["configs"], "init_first_over_last", "trained_first_over_last", "test_accuracy")


@threads(1)
def run(out_dir, quick=False):
    """Per-layer gradient norms of deep sigmoid / ReLU+He / sigmoid+BN MLPs; writes vanishing_gradients.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    epochs = 3 if quick else 20
    train, test = Digits(train=True), Digits(train=False)
    x = train.data.reshape(len(train), 64)
    mean, std = x.mean(dim=0), x.std(dim=0) + 0.1
    x, x_test = (x - mean) / std, (test.data.reshape(len(test), 64) - mean) / std
    y, y_test = train.targets, test.targets
    train_loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, seed=0)
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=512)

    res = {"experiment": NAME, "quick": quick, "figure": "seed eqs. 2.30-2.32 (and batch normalization)",
           "setup": {"data": "8x8 digits, standardized pixels", "depth": DEPTH, "width": WIDTH,
                     "init_measure": "mean weight-gradient norm over 4 batches of 256 at initialisation",
                     "training": f"SGD lr {LR} momentum 0.9, batch 64, {epochs} epochs, cross-entropy"},
           "configs": {}}
    for config, label in CONFIGS.items():
        manual_seed(0)
        model, names = build(config)
        init_norms = _weight_grad_norms(model, x, y)
        monitor = GradientMonitor()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            hist = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=LR, momentum=0.9),
                       train_loader, epochs, callbacks=[monitor], verbose=False, seed=0)
        trained_norms = np.array([hist.grad_norms[n][-1] for n in names])
        test_acc = evaluate(model, test_loader)["accuracy"]
        res["configs"][config] = {
            "label": label,
            "init_grad_norms": init_norms, "trained_grad_norms": trained_norms,
            "init_first_over_last": float(init_norms[0] / init_norms[-1]),
            "trained_first_over_last": float(trained_norms[0] / trained_norms[-1]),
            "init_min_over_max": float(init_norms.min() / init_norms.max()),
            "train_loss": hist["loss"], "train_accuracy": hist["accuracy"], "test_accuracy": test_acc,
            "gradient_monitor_warnings": sorted({str(w.message).split(" in epoch")[0] for w in caught}),
        }

    def plot(r):
        fig = figure(15, 4.6)
        if fig is None:
            return None
        ax1, ax2, ax3 = fig.subplots(1, 3)
        layers = np.arange(1, DEPTH + 1)
        for key, d in r["configs"].items():
            ax1.plot(layers, d["init_grad_norms"], "o-", color=COLORS[key], label=d["label"])
            ax2.plot(layers, d["trained_grad_norms"], "o-", color=COLORS[key], label=d["label"])
            ax3.plot(np.arange(1, len(d["train_loss"]) + 1), d["train_loss"], "o-", ms=3, color=COLORS[key],
                     label=f"{d['label']}: test acc {100 * d['test_accuracy']:.1f}%")
        for ax, when in ((ax1, "at initialisation"), (ax2, "last training epoch (GradientMonitor)")):
            ax.set_yscale("log")
            ax.set_xlabel("layer (1 = next to the input)")
            ax.set_ylabel("||dL/dW|| (L2 norm)")
            ax.set_xticks(layers[::3])
            ax.set_title(f"Weight-gradient norm per layer, {when}", fontsize=10)
            ax.grid(alpha=0.3, which="both")
        sig = r["configs"]["sigmoid"]
        ax1.annotate(f"first/last = {sig['init_first_over_last']:.1e}", (1, sig["init_grad_norms"][0]),
                     xytext=(3.5, sig["init_grad_norms"][0]), color=COLORS["sigmoid"], fontsize=9, va="center",
                     arrowprops=dict(arrowstyle="->", color=COLORS["sigmoid"]))
        ax1.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(0.0, 0.8))
        ax3.axhline(math.log(10), color="0.5", ls="--", lw=1, label="chance level (ln 10)")
        ax3.xaxis.get_major_locator().set_params(integer=True)
        ax3.set_xlabel("epoch")
        ax3.set_ylabel("training loss (cross-entropy)")
        ax3.set_title("Training with the same SGD", fontsize=10)
        ax3.grid(alpha=0.3)
        ax3.legend(fontsize=8, loc="best")
        fig.suptitle(f"Vanishing gradients in a {DEPTH}-layer MLP on 8x8 digits (seed eqs. 2.30-2.32)")
        return fig

    return finish(out_dir, NAME, res, plot, t0, summary)
