"""Regularization on a small training set (seed eq. 2.10; data augmentation and dropout).

An MLP 64-256-256-10 (ReLU) is trained on 10 images per class of the 8x8 digits until the
unregularized net memorizes them, then evaluated on the 359 held-out test images. Variants,
all with the same SGD (lr 0.01, momentum 0.9, batch 20) and number of epochs:
  none          plain training;
  dropout       nn.Dropout(0.5) after each hidden layer (inverted dropout);
  l2            weight decay 5e-3 in rt.optim.SGD, i.e. the L2 regularizer of eq. 2.10;
  augmentation  every batch randomly rotated (+-10 deg), shifted (+-1 px) and scaled (0.9-1.1)
                by rt.vision.transforms.RandomAffine (labels unchanged);
  all           the three together.
Train accuracy and loss are measured on the clean training images in eval mode (no dropout, no
augmentation); the generalization gap is train - test accuracy and test - train loss. Each
variant is averaged over several random training subsets. Typical outcome: augmentation and
dropout raise the test accuracy and shrink both gaps; L2 mainly shrinks the loss gap (small
weights, less over-confident wrong answers) and changes the accuracy little.
"""
import time

import numpy as np

from .. import from_numpy, manual_seed, nn, optim
from ..train import evaluate, fit
from ..utils.data import DataLoader, TensorDataset
from ..vision import transforms
from ..vision.datasets import Digits
from ._common import by_metric, figure, finish, prepare, threads

NAME = "regularization"
PER_CLASS = 10
VARIANTS = {
    "none": dict(dropout=0.0, weight_decay=0.0, augment=False),
    "dropout": dict(dropout=0.5, weight_decay=0.0, augment=False),
    "l2": dict(dropout=0.0, weight_decay=5e-3, augment=False),
    "augmentation": dict(dropout=0.0, weight_decay=0.0, augment=True),
    "all": dict(dropout=0.5, weight_decay=5e-3, augment=True),
}
LABELS = {"none": "no regularization", "dropout": "dropout 0.5", "l2": "L2 (weight decay 5e-3)",
          "augmentation": "data augmentation", "all": "all three"}
SHORT = {"none": "none", "dropout": "dropout\n0.5", "l2": "L2\n(wd 5e-3)", "augmentation": "data\naugmentation",
         "all": "all three"}


def build(dropout):
    """MLP 64-256-256-10 with ReLU and (when dropout > 0) Dropout after each hidden layer."""
    layers = [nn.Flatten()]
    for fan_in in (64, 256):
        layers += [nn.Linear(fan_in, 256), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(256, 10))
    return nn.Sequential(*layers)


def _subset(train, rng):
    labels = train.targets.numpy()
    idx = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), PER_CLASS, replace=False)
                                  for c in range(10)]))
    return from_numpy(idx.astype(np.int64))


def summary(r):
    """Headline numbers of a run() result."""
    return by_metric(r["variants"], "test_accuracy", "accuracy_gap", "loss_gap")


@threads(1)
def run(out_dir, quick=False):
    """Train/test gap of an MLP on 100 digits with no regularization, dropout, L2, augmentation; writes
    regularization.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    epochs, repeats = (120, 1) if quick else (400, 3)
    train, test = Digits(train=True), Digits(train=False)
    test_loader = DataLoader(test.as_tensor_dataset(), batch_size=512)
    augment = transforms.RandomAffine(degrees=10, translate=(0.125, 0.125), scale=(0.9, 1.1))
    loss_fn = nn.CrossEntropyLoss()

    runs = {k: [] for k in VARIANTS}
    for rep in range(repeats):
        idx = _subset(train, np.random.default_rng(rep))
        data = TensorDataset(train.data.index_select(0, idx), train.targets.index_select(0, idx))
        clean_loader = DataLoader(data, batch_size=len(data))
        for key, v in VARIANTS.items():
            manual_seed(rep)
            model = build(v["dropout"])
            loader = DataLoader(data, batch_size=20, shuffle=True, seed=rep,
                                transform=augment if v["augment"] else None)
            opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=v["weight_decay"])
            hist = fit(model, loss_fn, opt, loader, epochs, val_loader=test_loader, verbose=False, seed=rep)
            tr = evaluate(model, clean_loader, loss_fn=loss_fn)
            te = evaluate(model, test_loader, loss_fn=loss_fn)
            runs[key].append({"train_accuracy": tr["accuracy"], "test_accuracy": te["accuracy"],
                              "train_loss": tr["loss"], "test_loss": te["loss"],
                              "val_accuracy_curve": hist["val_accuracy"]})

    res = {"experiment": NAME, "quick": quick, "figure": "seed eq. 2.10, data augmentation and dropout",
           "setup": {"data": f"8x8 digits: {PER_CLASS} training images per class ({10 * PER_CLASS}), 359 test images",
                     "model": "MLP 64-256-256-10, ReLU", "optimizer": "SGD lr 0.01 momentum 0.9, batch 20",
                     "epochs": epochs, "repeats": repeats, "augmentation": repr(augment)},
           "variants": {}}
    for key, rs in runs.items():
        mean = {m: float(np.mean([r[m] for r in rs])) for m in ("train_accuracy", "test_accuracy", "train_loss",
                                                                 "test_loss")}
        mean["accuracy_gap"] = mean["train_accuracy"] - mean["test_accuracy"]
        mean["loss_gap"] = mean["test_loss"] - mean["train_loss"]
        mean["accuracy_gap_per_repeat"] = [r["train_accuracy"] - r["test_accuracy"] for r in rs]
        mean["test_accuracy_curve"] = np.mean([r["val_accuracy_curve"] for r in rs], axis=0)
        res["variants"][key] = {"label": LABELS[key], **mean}
    base = res["variants"]["none"]
    res["gap_reduction_vs_none"] = {k: base["accuracy_gap"] - v["accuracy_gap"] for k, v in res["variants"].items()
                                    if k != "none"}

    def plot(r):
        fig = figure(15, 4.6)
        if fig is None:
            return None
        ax1, ax2, ax3 = fig.subplots(1, 3)
        keys = list(r["variants"])
        pos = np.arange(len(keys))
        v = r["variants"]
        tr = [100 * v[k]["train_accuracy"] for k in keys]
        te = [100 * v[k]["test_accuracy"] for k in keys]
        ax1.bar(pos - 0.2, tr, 0.4, label="train", color="tab:blue")
        ax1.bar(pos + 0.2, te, 0.4, label="test", color="tab:orange")
        for p, a, b in zip(pos, tr, te):
            ax1.text(p, max(a, b) + 0.5, f"gap\n{a - b:.1f}", ha="center", fontsize=8)
        ax1.set_ylim(min(te) - 10, 106)
        ax1.set_ylabel("accuracy (%)")
        ax1.set_title("Train vs test accuracy (gap in percentage points)", fontsize=10)
        trl, tel = [v[k]["train_loss"] for k in keys], [v[k]["test_loss"] for k in keys]
        ax2.bar(pos - 0.2, trl, 0.4, label="train", color="tab:blue")
        ax2.bar(pos + 0.2, tel, 0.4, label="test", color="tab:orange")
        for p, a, b in zip(pos, trl, tel):
            ax2.text(p, max(a, b) + 0.01, f"gap\n{b - a:.2f}", ha="center", fontsize=8)
        ax2.set_ylim(0, 1.2 * max(tel) + 0.05)
        ax2.set_ylabel("cross-entropy loss")
        ax2.set_title("Train vs test loss", fontsize=10)
        for ax in (ax1, ax2):
            ax.set_xticks(pos, [SHORT[k] for k in keys], fontsize=8)
            ax.legend(fontsize=8, loc="upper right")
            ax.grid(alpha=0.3, axis="y")
        for k in keys:
            curve = 100 * np.asarray(v[k]["test_accuracy_curve"])
            ax3.plot(np.arange(1, curve.size + 1), curve, label=LABELS[k])
        ax3.set_ylim(max(0, min(float(np.max(v[k]["test_accuracy_curve"])) for k in keys) * 100 - 15), 100)
        ax3.set_xlabel("epoch")
        ax3.set_ylabel("test accuracy (%)")
        ax3.set_title("Test accuracy during training", fontsize=10)
        ax3.grid(alpha=0.3)
        ax3.legend(fontsize=8, loc="lower right")
        fig.suptitle(f"Regularization on {10 * PER_CLASS} training digits (mean of {r['setup']['repeats']} random "
                     "subsets): regularization shrinks the train-test gap")
        return fig

    return finish(out_dir, NAME, res, plot, t0, summary)
