"""Regularization on a small training set: dropout, an L2 penalty and data augmentation.

An MLP 64-256-256-10 (ReLU) is trained on 10 images per class of the 8x8 digits until the
unregularized net memorizes them, then evaluated on the 359 held-out test images. Variants,
all with the same SGD (lr 0.03, momentum 0.9, batch 20, the lr annealed to zero by a cosine
schedule so the final weights have settled) and number of epochs:
  none          plain training;
  dropout       nn.Dropout(0.5) after each hidden layer (inverted dropout): every step trains a
                random sub-network, so no unit can rely on a few others to memorize an image;
  l2            weight decay 5e-3 in rt.optim.SGD, i.e. the penalty (5e-3 / 2) * ||w||^2 added to
                the loss: it keeps the weights small, so the outputs are less over-confident;
  augmentation  every batch randomly rotated (+-10 deg), shifted (+-1 px) and scaled (0.9-1.1)
                by rt.vision.transforms.RandomAffine (labels unchanged): more, varied data;
  all           the three together.
Train accuracy and loss are measured on the clean training images in eval mode (no dropout, no
augmentation); the generalization gap is train - test accuracy (and test - train loss). Each
variant is trained on the same random training subsets with the same seeds, so the effect of a
regularizer is measured as a paired difference to "none" over the repeats, with its 95% interval;
an interval that contains 0 means the effect is within the noise of this experiment.
"""
import time

import numpy as np

from .. import from_numpy, manual_seed, nn, optim
from ..train import Callback, evaluate, fit
from ..utils.data import DataLoader, TensorDataset
from ..vision import transforms
from ..vision.datasets import Digits
from ._common import claim, difference, figure, finish, fmt_ci, mean_ci, prepare, threads, verdict

NAME = "regularization"
PER_CLASS = 10
LR = 0.03
CURVE_EVERY = 10  # epochs between test-accuracy measurements for the curves
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
COLORS = {"none": "k", "dropout": "tab:blue", "l2": "tab:orange", "augmentation": "tab:green", "all": "tab:red"}
METRICS = ("train_accuracy", "test_accuracy", "train_loss", "test_loss", "accuracy_gap", "loss_gap")


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


class _TestCurve(Callback):
    """Test accuracy every CURVE_EVERY epochs."""

    def __init__(self, loader):
        self.loader, self.accuracy = loader, []

    def on_epoch_end(self, epoch, logs=None):
        if epoch % CURVE_EVERY == 0:
            self.accuracy.append(evaluate(self.model, self.loader)["accuracy"])


def summary(r):
    """Headline numbers of a run() result."""
    v = r["variants"]
    return {"repeats": r["setup"]["repeats"], "epochs": r["setup"]["epochs"],
            "test_accuracy": {k: d["test_accuracy"]["mean"] for k, d in v.items()},
            "test_accuracy_change_vs_none": {k: d["test_accuracy_change"]["mean"] for k, d in v.items() if k != "none"},
            "accuracy_gap": {k: d["accuracy_gap"]["mean"] for k, d in v.items()}}


@threads(1)
def run(out_dir, quick=False):
    """Train/test gap of an MLP on 100 digits with no regularization, dropout, L2, augmentation; writes
    regularization.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    epochs, repeats = (150, 3) if quick else (150, 10)  # quick: the same training, fewer repeats
    train, test = Digits(train=True), Digits(train=False)
    test_loader = DataLoader(test.as_tensor_dataset(), batch_size=512)
    augment = transforms.RandomAffine(degrees=10, translate=(0.125, 0.125), scale=(0.9, 1.1))
    loss_fn = nn.CrossEntropyLoss()

    runs = {k: {m: [] for m in METRICS + ("curve",)} for k in VARIANTS}
    for rep in range(repeats):
        idx = _subset(train, np.random.default_rng(rep))
        data = TensorDataset(train.data.index_select(0, idx), train.targets.index_select(0, idx))
        clean_loader = DataLoader(data, batch_size=len(data))
        for key, v in VARIANTS.items():
            manual_seed(rep)
            model = build(v["dropout"])
            loader = DataLoader(data, batch_size=20, shuffle=True, seed=rep,
                                transform=augment if v["augment"] else None)
            opt = optim.SGD(model.parameters(), lr=LR, momentum=0.9, weight_decay=v["weight_decay"])
            curve = _TestCurve(test_loader)
            fit(model, loss_fn, opt, loader, epochs, scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, epochs),
                callbacks=[curve], verbose=False, seed=rep)
            tr = evaluate(model, clean_loader, loss_fn=loss_fn)
            te = evaluate(model, test_loader, loss_fn=loss_fn)
            one = runs[key]
            one["train_accuracy"].append(tr["accuracy"])
            one["test_accuracy"].append(te["accuracy"])
            one["train_loss"].append(tr["loss"])
            one["test_loss"].append(te["loss"])
            one["accuracy_gap"].append(tr["accuracy"] - te["accuracy"])
            one["loss_gap"].append(te["loss"] - tr["loss"])
            one["curve"].append(curve.accuracy)

    res = {"experiment": NAME, "quick": quick,
           "setup": {"data": f"8x8 digits: {PER_CLASS} training images per class ({10 * PER_CLASS}), 359 test images",
                     "model": "MLP 64-256-256-10, ReLU",
                     "optimizer": f"SGD lr {LR} momentum 0.9, batch 20, cosine-annealed to 0",
                     "epochs": epochs, "repeats": repeats, "augmentation": repr(augment),
                     "statistics": "mean and 95% CI (Student t) over the repeats; effects are paired differences to "
                                   "'none' (same training subset and seed)"},
           "variants": {}}
    base = runs["none"]
    for key, one in runs.items():
        d = {"label": LABELS[key], **{m: mean_ci(one[m]) for m in METRICS},
             **{m + "_per_repeat": one[m] for m in METRICS},
             # losses span decades: their geometric mean and its interval, from the log10 values
             **{f"{w}_loss_log10": mean_ci(np.log10(one[f"{w}_loss"])) for w in ("train", "test")},
             "test_accuracy_curve": np.mean(one["curve"], axis=0), "curve_every": CURVE_EVERY}
        if key != "none":
            d["test_accuracy_change"] = difference(one["test_accuracy"], base["test_accuracy"], paired=True)
            d["accuracy_gap_change"] = difference(one["accuracy_gap"], base["accuracy_gap"], paired=True)
            d["loss_gap_change"] = difference(one["loss_gap"], base["loss_gap"], paired=True)
        res["variants"][key] = d
    claims = _claims(res)
    return finish(out_dir, NAME, res, _plot, t0, summary, claims)


def _claims(r):
    v = r["variants"]
    pct = dict(scale=100, digits=1)
    out = [claim("without regularization the net memorizes its 100 training images (100% training accuracy in "
                 "every repeat)", min(v["none"]["train_accuracy_per_repeat"]) == 1.0,
                 f"train accuracy {fmt_ci(v['none']['train_accuracy'], **pct)}%, test "
                 f"{fmt_ci(v['none']['test_accuracy'], **pct)}%")]
    for key in ("dropout", "l2", "augmentation", "all"):
        d = v[key]
        out.append(claim(f"{LABELS[key]} raises the test accuracy (paired difference to none > 0)",
                         verdict(d["test_accuracy_change"]["ci95"]),
                         f"change {fmt_ci(d['test_accuracy_change'], **pct)} points"))
        out.append(claim(f"{LABELS[key]} shrinks the generalization gap in loss (test - train loss, paired "
                         "difference to none < 0)",
                         verdict([-d["loss_gap_change"]["ci95"][1], -d["loss_gap_change"]["ci95"][0]]),
                         f"change {fmt_ci(d['loss_gap_change'], digits=3)}"))
    return out


def _plot(r):
    fig = figure(15, 9.5)
    if fig is None:
        return None
    (ax1, ax2), (ax3, ax4) = fig.subplots(2, 2)
    v = r["variants"]
    keys = list(v)
    pos = np.arange(len(keys))

    def half(stats, scale=1.0):
        lo, hi = stats["ci95"]
        return 0.0 if lo is None else scale * (hi - lo) / 2

    # (a) accuracies from zero, with 95% CIs
    for shift, what, color in ((-0.2, "train", "tab:blue"), (0.2, "test", "tab:orange")):
        vals = [100 * v[k][f"{what}_accuracy"]["mean"] for k in keys]
        errs = [half(v[k][f"{what}_accuracy"], 100) for k in keys]
        ax1.bar(pos + shift, vals, 0.4, yerr=errs, capsize=3, color=color, label=f"{what} accuracy")
    for p, k in zip(pos, keys):
        te = v[k]["test_accuracy"]
        ax1.text(p + 0.2, 100 * te["mean"] - 12, f"{100 * te['mean']:.1f}\n+-{half(te, 100):.1f}", ha="center",
                 fontsize=7.5, color="w")
    ax1.set_ylim(0, 110)
    ax1.set_ylabel("accuracy (%), axis from 0")
    ax1.set_title("(a) Train and test accuracy (mean +- 95% CI)", fontsize=10)

    # (b) effect of each regularizer vs none: paired differences with 95% CIs
    others = [k for k in keys if k != "none"]
    for i, (what, marker, color) in enumerate((("test_accuracy_change", "o", "tab:orange"),
                                               ("accuracy_gap_change", "s", "tab:purple"))):
        y = np.arange(len(others)) + (0.15 if i else -0.15)
        m = [100 * v[k][what]["mean"] for k in others]
        e = [half(v[k][what], 100) for k in others]
        ax2.errorbar(m, y, xerr=e, fmt=marker, color=color, capsize=4,
                     label="test accuracy change" if i == 0 else "accuracy-gap change")
        for yy, mm, ee in zip(y, m, e):
            note = "within noise" if mm - ee <= 0 <= mm + ee else f"{mm:+.1f}"
            ax2.annotate(note, (mm + ee, yy), xytext=(4, 0), textcoords="offset points", va="center", fontsize=7.5,
                         color=color)
    ax2.axvline(0, color="k", lw=1)
    left, right = ax2.get_xlim()
    ax2.set_xlim(left, right + 0.25 * (right - left))  # room for the notes
    ax2.set_yticks(np.arange(len(others)), [LABELS[k] for k in others], fontsize=8)
    ax2.invert_yaxis()
    ax2.set_xlabel("difference to no regularization (percentage points), mean +- 95% CI of paired differences")
    ax2.set_title("(b) Effect of each regularizer (same subsets and seeds as 'none')", fontsize=10)
    ax2.grid(alpha=0.3, axis="x")
    ax2.legend(fontsize=8, loc="lower right")

    # (c) losses span decades: log scale, markers (not bars), geometric mean with the 95% CI of log10(loss)
    for shift, what, color, marker in ((-0.12, "train", "tab:blue", "o"), (0.12, "test", "tab:orange", "s")):
        stats = [v[k][f"{what}_loss_log10"] for k in keys]
        m = 10 ** np.asarray([st["mean"] for st in stats])
        lo = 10 ** np.asarray([st["ci95"][0] if st["ci95"][0] is not None else st["mean"] for st in stats])
        hi = 10 ** np.asarray([st["ci95"][1] if st["ci95"][1] is not None else st["mean"] for st in stats])
        ax3.errorbar(pos + shift, m, yerr=[m - lo, hi - m], fmt=marker, color=color, capsize=3, label=f"{what} loss")
        for p, mm in zip(pos + shift, m):
            ax3.annotate(f"{mm:.3g}", (p, mm), xytext=(5 if shift > 0 else -5, 0), textcoords="offset points",
                         ha="left" if shift > 0 else "right", va="center", fontsize=7)
    ax3.set_yscale("log")
    ax3.set_ylabel("cross-entropy loss (log scale)")
    ax3.set_title("(c) Train and test loss (geometric mean, 95% CI; log scale: they span decades)", fontsize=10)
    for ax in (ax1, ax3):
        ax.set_xticks(pos, [SHORT[k] for k in keys], fontsize=8)
        ax.grid(alpha=0.3, axis="y", which="both")
    ax1.legend(fontsize=8, loc="upper left")
    ax3.legend(fontsize=8, loc="lower right")

    # (d) test accuracy during training
    for k in keys:
        curve = 100 * np.asarray(v[k]["test_accuracy_curve"])
        ax4.plot(CURVE_EVERY * np.arange(1, curve.size + 1), curve, "o--" if k == "none" else "o-", ms=3,
                 color=COLORS[k], label=LABELS[k], zorder=3 if k == "none" else 2)
    ax4.set_ylim(0, 100)
    ax4.set_xlabel("epoch")
    ax4.set_ylabel("test accuracy (%), axis from 0")
    ax4.set_title(f"(d) Test accuracy during training (mean over {r['setup']['repeats']} repeats)", fontsize=10)
    ax4.grid(alpha=0.3)
    ax4.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Regularization on {10 * PER_CLASS} training digits, {r['setup']['repeats']} random subsets x "
                 f"{r['setup']['epochs']} epochs")
    return fig
