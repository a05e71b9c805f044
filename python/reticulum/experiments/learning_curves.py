"""Learning curves of a low- and a high-capacity learner.

Train and test accuracy as a function of the training-set size on two moons (noise 0.25, so the
classes overlap): training sets are random subsets of a pool of 4096 points, the test set is 2000
fresh points, and every point of a curve is a mean over several random subsets (more for the small,
noisier and cheaper sizes), with its 95% confidence interval. The reference line is the Bayes
accuracy, the best any classifier can reach on fresh points, computed from the generating
distribution itself (each class is a half circle blurred by Gaussian noise, so the class densities
are averages of Gaussians along the arcs) and measured on 10000 fresh points.

The low-capacity learner is logistic regression (a straight boundary; at most ~88% here), the
high-capacity one an MLP 2-128-128-2 with ReLU. A learner with little capacity fits a tiny set but
its training accuracy falls to its ceiling, well below the Bayes accuracy, as data grows, while
its test accuracy rises to that same ceiling: more data does not help it (high bias). A learner with
much capacity keeps its training accuracy high at every size, at or above the Bayes accuracy (it
fits part of the noise), while its test accuracy climbs towards the Bayes accuracy with more data:
a large gap on small sets (high variance) that more data closes.

Each model is trained to convergence, not for a fixed number of updates (which would leave the
large sets under-trained): Adam (lr 1e-2, batch min(n, 64)) for a budget of max(EPOCHS epochs,
MIN_UPDATES updates), the learning rate annealed to zero by a cosine schedule, stopping early once
the training loss is below DONE_LOSS (the set is memorised) or has not improved by 0.1% in
PATIENCE epochs (a convex learner at its optimum). The training accuracy at three quarters of the
training is recorded too: its change over the last quarter shows how settled the runs are.
"""
import math
import time

import numpy as np

from .. import from_numpy, manual_seed, nn, no_grad, optim
from ..utils.data import DataLoader, TensorDataset
from ..vision.datasets import two_moons
from ._common import all_of, claim, difference, figure, finish, fmt_ci, mean_ci, prepare, threads, verdict, within

NAME = "learning_curves"
NOISE = 0.25
POOL = 4096
LR = 1e-2
EPOCHS, MIN_UPDATES = 300, 3000
DONE_LOSS, PATIENCE = 5e-3, 50


def bayes_accuracy(noise, n=10000, seed=2, arc_points=500):
    """Accuracy of the Bayes classifier of two_moons(noise) on n fresh points: the class whose
    density (the mean of Gaussians N(arc(t), noise^2 I) over the arc positions t) is larger."""
    x, y = two_moons(n=n, noise=noise, seed=seed)
    x, y = x.numpy().astype(np.float64), y.numpy()
    t = np.linspace(0, np.pi, arc_points)
    arcs = (np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 1 - np.sin(t) - 0.5], 1))
    right = 0
    for lo in range(0, n, 2000):  # chunks keep the [chunk, arc_points] distance matrices small
        xs = x[lo:lo + 2000, None, :]
        dens = [np.exp(-((xs - a) ** 2).sum(-1) / (2 * noise ** 2)).mean(1) for a in arcs]
        right += int(((dens[1] > dens[0]).astype(np.int64) == y[lo:lo + 2000]).sum())
    acc = right / n
    return {"accuracy": acc, "se": math.sqrt(acc * (1 - acc) / n), "points": n}


def _learners():
    return {
        "low": ("logistic regression (linear)", lambda: nn.Linear(2, 2)),
        "high": ("MLP 2-128-128-2 (ReLU)", lambda: nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128),
                                                                 nn.ReLU(), nn.Linear(128, 2))),
    }


def _accuracy(model, x, y):
    with no_grad():
        return float((model(x).argmax(1) == y).float().mean().item())


def train_to_convergence(model, x, y, seed):
    """Trains `model` on (x, y) by the protocol of the module doc; returns (updates made, train
    accuracy at 3/4 of the budget or at the early stop, final training loss)."""
    n = x.shape[0]
    loader = DataLoader(TensorDataset(x, y), batch_size=min(n, 64), shuffle=True, seed=seed)
    epochs = max(EPOCHS, math.ceil(MIN_UPDATES / len(loader)))
    opt = optim.Adam(model.parameters(), lr=LR)
    schedule = optim.lr_scheduler.CosineAnnealingLR(opt, epochs * len(loader))
    loss_fn = nn.CrossEntropyLoss()
    best, best_epoch, updates, acc_3q, loss = math.inf, 0, 0, None, math.inf
    for epoch in range(epochs):
        if epoch == 3 * epochs // 4:
            acc_3q = _accuracy(model, x, y)
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            batch_loss = loss_fn(model(xb), yb)
            batch_loss.backward()
            opt.step()
            schedule.step()
            updates += 1
            total += batch_loss.item() * xb.shape[0]
        loss = total / n
        if loss < best * (1 - 1e-3):
            best, best_epoch = loss, epoch
        if loss < DONE_LOSS or epoch - best_epoch >= PATIENCE:
            break
    if acc_3q is None:  # stopped early: the run had settled
        acc_3q = _accuracy(model, x, y)
    return updates, acc_3q, loss


def summary(r):
    """Headline numbers of a run() result."""
    lo, hi, s = r["low"], r["high"], r["sizes"]
    return {"sizes": s, "repeats": r["setup"]["repeats_per_size"], "bayes_accuracy": r["bayes"]["accuracy"],
            "train_accuracy_high": [c["mean"] for c in hi["train"]], "test_accuracy_high": [c["mean"] for c in hi["test"]],
            "train_accuracy_low": [c["mean"] for c in lo["train"]], "test_accuracy_low": [c["mean"] for c in lo["test"]]}


@threads(1)
def run(out_dir, quick=False):
    """Learning curves of logistic regression vs an MLP on two moons; writes learning_curves.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    if quick:
        sizes, repeats = [8, 128, 512], [3, 3, 3]
    else:
        sizes, repeats = [8, 32, 128, 512, 2048], [20, 20, 20, 10, 10]
    x_pool, y_pool = two_moons(n=POOL, noise=NOISE, seed=0)
    x_test, y_test = two_moons(n=2000, noise=NOISE, seed=1)

    res = {"experiment": NAME, "quick": quick,
           "setup": {"data": f"two moons, noise {NOISE}; training sets: random subsets of a {POOL}-point pool; "
                             "test set: 2000 independent points",
                     "training": f"Adam lr {LR}, batch min(n, 64), cross-entropy, cosine-annealed over max({EPOCHS} "
                                 f"epochs, {MIN_UPDATES} updates); early stop at training loss < {DONE_LOSS:g} or no "
                                 f"0.1% improvement in {PATIENCE} epochs",
                     "repeats_per_size": repeats},
           "sizes": sizes, "bayes": bayes_accuracy(NOISE)}
    for key, (label, make) in _learners().items():
        tr, te, tr_3q, ups = ([np.zeros(k) for k in repeats] for _ in range(4))
        for i, n in enumerate(sizes):
            for rep in range(repeats[i]):
                idx = from_numpy(np.random.default_rng([rep, n]).permutation(POOL)[:n].astype(np.int64))
                x, y = x_pool.index_select(0, idx), y_pool.index_select(0, idx)
                manual_seed(1000 * rep + n)
                model = make()
                ups[i][rep], tr_3q[i][rep], _ = train_to_convergence(model, x, y, seed=1000 * rep + n)
                tr[i][rep], te[i][rep] = _accuracy(model, x, y), _accuracy(model, x_test, y_test)
        res[key] = {"learner": label,
                    "train": [mean_ci(v) for v in tr], "test": [mean_ci(v) for v in te],
                    "gap": [mean_ci(a - b) for a, b in zip(tr, te)],
                    "train_per_repeat": tr, "test_per_repeat": te,
                    "train_change_last_quarter": [mean_ci(a - b) for a, b in zip(tr, tr_3q)],
                    "updates_mean": [u.mean() for u in ups]}
    claims = _claims(res)
    return finish(out_dir, NAME, res, _plot, t0, summary, claims)


def _claims(r):
    lo, hi, s = r["low"], r["high"], r["sizes"]
    bayes = r["bayes"]["accuracy"]
    pct = dict(scale=100, digits=1)
    out = [claim(f"the high-capacity learner's training accuracy stays high: at or above the Bayes accuracy "
                 f"({100 * bayes:.1f}%) at every size (95% CI above it at n = {', '.join(map(str, s))})",
                 all_of(*(verdict(c["ci95"], bayes) for c in hi["train"])),
                 "train accuracy " + "; ".join(f"n={n}: {fmt_ci(c, **pct)}" for n, c in zip(s, hi["train"])))]
    low_train = lo["train"][-1]
    out.append(claim(f"high bias: the low-capacity learner's training accuracy at n = {s[-1]} stays below the Bayes "
                     "accuracy, and its train-test gap there is within +-2 points",
                     all_of(verdict([bayes - low_train["ci95"][1], bayes - low_train["ci95"][0]]),
                            within(lo["gap"][-1]["ci95"], -0.02, 0.02)),
                     f"train {fmt_ci(low_train, **pct)}, gap {fmt_ci(lo['gap'][-1], **pct)} points"))
    # the two learners see the same training sets: paired differences
    d = difference(np.subtract(hi["train_per_repeat"][0], hi["test_per_repeat"][0]),
                   np.subtract(lo["train_per_repeat"][0], lo["test_per_repeat"][0]), paired=True)
    out.append(claim(f"on the smallest set the high-capacity learner has the larger train-test gap (n = {s[0]})",
                     verdict(d["ci95"]), f"gap high {fmt_ci(hi['gap'][0], **pct)}, low {fmt_ci(lo['gap'][0], **pct)}; "
                                         f"difference {fmt_ci(d, **pct)} points"))
    d = difference(hi["test_per_repeat"][-1], hi["test_per_repeat"][0], paired=False)
    out.append(claim(f"more data raises the high-capacity learner's test accuracy (n = {s[0]} vs {s[-1]})",
                     verdict(d["ci95"]), f"test n={s[0]}: {fmt_ci(hi['test'][0], **pct)}, "
                                         f"n={s[-1]}: {fmt_ci(hi['test'][-1], **pct)}; rise {fmt_ci(d, **pct)} points"))
    d = difference(np.subtract(hi["train_per_repeat"][0], hi["test_per_repeat"][0]),
                   np.subtract(hi["train_per_repeat"][-1], hi["test_per_repeat"][-1]), paired=False)
    out.append(claim(f"more data shrinks the high-capacity learner's gap (n = {s[0]} vs {s[-1]})",
                     verdict(d["ci95"]), f"gap n={s[0]}: {fmt_ci(hi['gap'][0], **pct)}, "
                                         f"n={s[-1]}: {fmt_ci(hi['gap'][-1], **pct)} points"))
    d = difference(hi["test_per_repeat"][-1], lo["test_per_repeat"][-1], paired=True)
    out.append(claim(f"with enough data the high-capacity learner generalises better (test accuracy at n = {s[-1]})",
                     verdict(d["ci95"]), f"high {fmt_ci(hi['test'][-1], **pct)}, low {fmt_ci(lo['test'][-1], **pct)}; "
                                         f"difference {fmt_ci(d, **pct)} points"))
    return out


def _plot(r):
    fig = figure(15, 4.6)
    if fig is None:
        return None
    axes = fig.subplots(1, 3)
    s = np.asarray(r["sizes"])

    def band(ax, stats, color, marker, label, scale=100):
        m = np.asarray([c["mean"] for c in stats]) * scale
        lo = np.asarray([c["ci95"][0] if c["ci95"][0] is not None else c["mean"] for c in stats]) * scale
        hi = np.asarray([c["ci95"][1] if c["ci95"][1] is not None else c["mean"] for c in stats]) * scale
        ax.errorbar(s, m, yerr=[m - lo, hi - m], marker=marker, color=color, capsize=3, label=label)

    for ax, key, tag in ((axes[0], "low", "(A) low capacity"), (axes[1], "high", "(B) high capacity")):
        d = r[key]
        band(ax, d["train"], "tab:blue", "o", "train accuracy")
        band(ax, d["test"], "tab:orange", "s", "test accuracy")
        ax.set_xscale("log", base=2)
        ax.set_xticks(s, [str(v) for v in s])
        ax.set_ylim(50, 101)
        ax.set_xlabel("training-set size")
        ax.set_ylabel("accuracy (%; axis from 50% = chance)")
        ax.set_title(f"{tag}: {d['learner']}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=9)
    for ax in axes[:2]:
        ax.axhline(100 * r["bayes"]["accuracy"], color="0.3", ls="--", lw=1)
        ax.text(s[0], 100 * r["bayes"]["accuracy"] + 0.6, f"Bayes accuracy {100 * r['bayes']['accuracy']:.1f}%",
                fontsize=8, color="0.3")
    ax = axes[2]
    for key, color in (("low", "tab:green"), ("high", "tab:red")):
        band(ax, r[key]["gap"], color, "o", r[key]["learner"])
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xticks(s, [str(v) for v in s])
    ax.set_xlabel("training-set size")
    ax.set_ylabel("train - test accuracy (percentage points)")
    ax.set_title("Generalization gap shrinks with more data", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    reps = r["setup"]["repeats_per_size"]
    fig.suptitle(f"Learning curves on two moons, each model trained to convergence (mean and 95% CI over "
                 f"{min(reps)}-{max(reps)} random training sets per size)")
    return fig
