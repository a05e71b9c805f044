"""Learning curves of a low- and a high-capacity learner (seed fig. 2.3).

Train and test accuracy as a function of the training-set size on two moons (noise 0.25):
training sets are random subsets of a pool of 4096 points, the test set is 2000 fresh points,
and every point of the curve is a mean over several random subsets. The low-capacity learner
is logistic regression (a linear boundary; at most about 86% here), the high-capacity one an
MLP 2-128-128-2 with ReLU. As in fig. 2.3, the linear model fits tiny sets but its training
accuracy drops to its ceiling as data grows, while its test accuracy rises only to that same
ceiling; the MLP keeps its training accuracy high and its test accuracy climbs towards the
best achievable (~94% at this noise). The MLP has the larger train/test gap on small sets and
both gaps shrink with more data. (On the 8x8 digits every learner overfits 2 images per class,
so two moons shows the contrast between the learners more cleanly.)
"""
import time

import numpy as np

from .. import from_numpy, manual_seed, nn, optim
from ..train import evaluate, fit
from ..utils.data import DataLoader, TensorDataset
from ..vision.datasets import two_moons
from ._common import figure, finish, prepare, threads

NAME = "learning_curves"
NOISE = 0.25
POOL = 4096


def _learners():
    return {
        "low": ("logistic regression (linear)", lambda: nn.Linear(2, 2)),
        "high": ("MLP 2-128-128-2 (ReLU)", lambda: nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128),
                                                                 nn.ReLU(), nn.Linear(128, 2))),
    }


def _train_eval(make, x, y, test_loader, updates, seed):
    """Trains a fresh model with Adam (lr 1e-2, batch min(n, 64)) for about `updates` updates;
    returns (train accuracy, test accuracy)."""
    n = x.shape[0]
    manual_seed(seed)
    model = make()
    loader = DataLoader(TensorDataset(x, y), batch_size=min(n, 64), shuffle=True, seed=seed)
    epochs = -(-updates // len(loader))
    fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=1e-2), loader, epochs, verbose=False,
        seed=seed)
    train_acc = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=4096))["accuracy"]
    return train_acc, evaluate(model, test_loader)["accuracy"]


def summary(r):
    """Headline numbers of a run() result."""
    lo, hi, s = r["low"], r["high"], r["sizes"]
    return {f"gap_low_n{s[0]}": lo["gap"][0], f"gap_high_n{s[0]}": hi["gap"][0],
            f"gap_low_n{s[-1]}": lo["gap"][-1], f"gap_high_n{s[-1]}": hi["gap"][-1],
            f"test_accuracy_low_n{s[-1]}": lo["test_accuracy"][-1],
            f"test_accuracy_high_n{s[-1]}": hi["test_accuracy"][-1]}


@threads(1)
def run(out_dir, quick=False):
    """Learning curves of logistic regression vs an MLP on two moons; writes learning_curves.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    if quick:
        sizes, repeats, updates = [8, 64, 512], 3, 300
    else:
        sizes, repeats, updates = [8, 16, 32, 64, 128, 256, 512, 1024, 2048], 10, 500
    x_pool, y_pool = two_moons(n=POOL, noise=NOISE, seed=0)
    x_test, y_test = two_moons(n=2000, noise=NOISE, seed=1)
    test_loader = DataLoader(TensorDataset(x_test, y_test), batch_size=2000)

    res = {"experiment": NAME, "quick": quick, "figure": "seed fig. 2.3",
           "setup": {"data": f"two moons, noise {NOISE}; training sets: random subsets of a {POOL}-point pool; "
                             "test set: 2000 independent points",
                     "optimizer": "Adam lr 1e-2, batch min(n, 64), cross-entropy",
                     "updates": updates, "repeats_per_size": repeats},
           "sizes": sizes}
    for key, (label, make) in _learners().items():
        tr, te = np.zeros((len(sizes), repeats)), np.zeros((len(sizes), repeats))
        for i, n in enumerate(sizes):
            for rep in range(repeats):
                idx = from_numpy(np.random.default_rng([rep, n]).permutation(POOL)[:n].astype(np.int64))
                tr[i, rep], te[i, rep] = _train_eval(make, x_pool.index_select(0, idx), y_pool.index_select(0, idx),
                                                     test_loader, updates, seed=1000 * rep + n)
        res[key] = {"learner": label,
                    "train_accuracy": tr.mean(1), "test_accuracy": te.mean(1), "gap": (tr - te).mean(1),
                    "train_accuracy_std": tr.std(1), "test_accuracy_std": te.std(1)}

    def plot(r):
        fig = figure(15, 4.4)
        if fig is None:
            return None
        axes = fig.subplots(1, 3)
        s = np.asarray(r["sizes"])
        for ax, key, tag in ((axes[0], "low", "(A) low complexity"), (axes[1], "high", "(B) high complexity")):
            d = r[key]
            for what, color, marker in (("train", "tab:blue", "o"), ("test", "tab:orange", "s")):
                m, sd = np.asarray(d[f"{what}_accuracy"]), np.asarray(d[f"{what}_accuracy_std"])
                ax.plot(s, 100 * m, marker=marker, color=color, label=f"{what} accuracy")
                ax.fill_between(s, 100 * (m - sd), 100 * np.minimum(m + sd, 1), color=color, alpha=0.15)
            ax.set_xscale("log", base=2)
            ax.set_xticks(s, [str(v) for v in s])
            ax.set_ylim(60, 101)
            ax.set_xlabel("training-set size (experience)")
            ax.set_ylabel("accuracy (%)")
            ax.set_title(f"{tag}: {d['learner']}", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(loc="lower right", fontsize=9)
        ax = axes[2]
        for key, color in (("low", "tab:green"), ("high", "tab:red")):
            ax.plot(s, 100 * np.asarray(r[key]["gap"]), "o-", color=color, label=r[key]["learner"])
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(s, [str(v) for v in s])
        ax.set_xlabel("training-set size (experience)")
        ax.set_ylabel("train - test accuracy (percentage points)")
        ax.set_title("Generalization gap shrinks with more data", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
        fig.suptitle(f"Learning curves on two moons (mean ± std over {r['setup']['repeats_per_size']} random "
                     "training sets per size; seed fig. 2.3)")
        return fig

    return finish(out_dir, NAME, res, plot, t0, summary)
