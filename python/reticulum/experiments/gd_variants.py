"""Variants of gradient descent on a 2-parameter problem (seed fig. 2.14, algorithms 1, 4, 5, 6).

Linear regression y = w x + b on N = 256 noisy points (x uniform in [1, 3], so the loss surface
is a long, tilted valley: condition number ~80). Every optimizer starts from the same point and
makes the same number of parameter updates:
  BGD   rt.optim.SGD, batch = N (algorithm 1 / 4)      MBGD  SGD, batch 32 (algorithm 4)
  SGD   SGD, batch 1 (algorithm 4)                     Momentum  SGD(momentum=0.9), batch 32 (alg. 5)
  Adam  rt.optim.Adam, batch 32 (PyTorch's Adam, with bias correction)
The full-data loss is recorded after every update and the (w, b) trajectory is drawn over the
loss contours; late_excess_loss is the mean full-data loss minus the minimum over the last 10%
of the updates (less noisy than the last value alone). Smoothness of a trajectory = mean cosine
between consecutive update steps (1: a straight or gently curving path, ~0: a random walk).
"""
import time

import numpy as np

from .. import from_numpy, manual_seed, nn, no_grad, optim, tensor
from ..utils.data import DataLoader, TensorDataset
from ._common import by_metric, figure, finish, prepare, threads

NAME = "gd_variants"
N = 256
TRUE_W, TRUE_B, NOISE = 2.0, -1.0, 0.5
START = (-0.5, 3.5)
LR = 0.05

METHODS = {  # name: (batch size or None for N, optimizer factory)
    "BGD": (None, lambda p: optim.SGD(p, lr=LR)),
    "MBGD": (32, lambda p: optim.SGD(p, lr=LR)),
    "SGD": (1, lambda p: optim.SGD(p, lr=LR)),
    "Momentum": (32, lambda p: optim.SGD(p, lr=LR, momentum=0.9)),
    "Adam": (32, lambda p: optim.Adam(p, lr=0.1)),
}
COLORS = {"BGD": "k", "MBGD": "tab:blue", "SGD": "tab:orange", "Momentum": "tab:green", "Adam": "tab:red"}


def _run_method(batch, make_opt, x, y, updates, seed):
    """Trains y = w x + b from START with `updates` optimizer steps; returns the (w, b) path and
    the full-data MSE after every step (index 0: the start)."""
    model = nn.Linear(1, 1)
    with no_grad():
        model.weight.copy_(tensor([[START[0]]]))
        model.bias.copy_(tensor([START[1]]))
    opt = make_opt(model.parameters())
    loader = DataLoader(TensorDataset(x, y), batch_size=batch or N, shuffle=True, seed=seed)
    loss_fn = nn.MSELoss()

    def state():
        with no_grad():
            full = loss_fn(model(x), y).item()
        return [model.weight.item(), model.bias.item()], full

    p, loss = state()
    path, losses = [p], [loss]
    while len(path) <= updates:
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
            p, loss = state()
            path.append(p)
            losses.append(loss)
            if len(path) > updates:
                break
    return np.asarray(path), np.asarray(losses)


def _smoothness(path):
    steps = np.diff(path, axis=0)
    norms = np.linalg.norm(steps, axis=1)
    ok = (norms[1:] > 0) & (norms[:-1] > 0)
    cos = (steps[1:] * steps[:-1]).sum(1)[ok] / (norms[1:] * norms[:-1])[ok]
    return float(cos.mean())


def summary(r):
    """Headline numbers of a run() result."""
    return by_metric(r["methods"], "late_excess_loss", "smoothness")


@threads(1)
def run(out_dir, quick=False):
    """Runs BGD, MBGD, SGD, momentum and Adam for the same number of updates; writes gd_variants.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    updates = 100 if quick else 300
    rng = np.random.default_rng(0)
    x_np = rng.uniform(1, 3, (N, 1)).astype(np.float32)
    y_np = (TRUE_W * x_np + TRUE_B + NOISE * rng.standard_normal((N, 1))).astype(np.float32)
    x, y = from_numpy(x_np), from_numpy(y_np)
    # the exact minimiser, for reference only (2x2 normal equations)
    a = np.hstack([x_np, np.ones_like(x_np)]).astype(np.float64)
    w_star, b_star = np.linalg.solve(a.T @ a, a.T @ y_np.astype(np.float64)).ravel()
    loss_star = float(np.mean((a @ [w_star, b_star] - y_np.ravel()) ** 2))
    hess = 2 * a.T @ a / N

    res = {"experiment": NAME, "quick": quick, "figure": "seed fig. 2.14; algorithms 1, 4, 5, 6",
           "setup": {"data": f"y = {TRUE_W} x + ({TRUE_B}) + {NOISE} * N(0, 1), x ~ U(1, 3), N = {N}",
                     "start": START, "updates": updates, "lr": LR, "adam_lr": 0.1, "momentum": 0.9,
                     "hessian_condition_number": float(np.linalg.cond(hess))},
           "optimum": {"w": float(w_star), "b": float(b_star), "loss": loss_star}, "methods": {}}
    manual_seed(0)
    for name, (batch, make_opt) in METHODS.items():
        path, losses = _run_method(batch, make_opt, x, y, updates, seed=1)
        res["methods"][name] = {
            "batch_size": batch or N, "final_loss": float(losses[-1]),
            "final_excess_loss": float(losses[-1] - loss_star),
            "final_w": float(path[-1, 0]), "final_b": float(path[-1, 1]),
            "distance_to_optimum": float(np.hypot(path[-1, 0] - w_star, path[-1, 1] - b_star)),
            "late_excess_loss": float(np.mean(losses[-max(updates // 10, 1):]) - loss_star),
            "smoothness": _smoothness(path),
            "loss_curve": losses, "path": path,
        }

    def plot(r):
        fig = figure(14, 5.6)
        if fig is None:
            return None
        ax, ax2 = fig.subplots(1, 2, width_ratios=[1.1, 1])
        ws, bs = np.linspace(-1.0, 3.5, 200), np.linspace(-3.0, 4.0, 200)
        gw, gb = np.meshgrid(ws, bs)
        # MSE(w, b) from the data's moments, on the grid
        m = dict(xx=np.mean(x_np ** 2), x=np.mean(x_np), xy=np.mean(x_np * y_np), y=np.mean(y_np),
                 yy=np.mean(y_np ** 2))
        grid_loss = gw ** 2 * m["xx"] + 2 * gw * gb * m["x"] + gb ** 2 - 2 * gw * m["xy"] - 2 * gb * m["y"] + m["yy"]
        levels = loss_star + np.geomspace(0.01, 40, 16)
        ax.contour(gw, gb, grid_loss, levels=levels, colors="0.6", linewidths=0.7)
        order = ["SGD", "MBGD", "Momentum", "Adam", "BGD"]  # noisiest first, underneath
        for name in order:
            d = r["methods"][name]
            pth = np.asarray(d["path"])
            lw, alpha = {"BGD": (2.4, 1.0), "SGD": (0.8, 0.55)}.get(name, (1.3, 0.9))
            ax.plot(pth[:, 0], pth[:, 1], "-", color=COLORS[name], lw=lw, alpha=alpha,
                    label=f"{name} (batch {d['batch_size']}), smoothness {d['smoothness']:.2f}")
            ax.plot(pth[-1, 0], pth[-1, 1], "o", color=COLORS[name], ms=5, mec="k", mew=0.5, zorder=4)
        ax.plot(*START, "ks", ms=7)
        ax.annotate("start", START, xytext=(-10, 8), textcoords="offset points")
        ax.plot(r["optimum"]["w"], r["optimum"]["b"], "*", color="gold", mec="k", ms=15, label="minimum", zorder=5)
        ax.set_xlabel("w (slope)")
        ax.set_ylabel("b (intercept)")
        ax.set_title(f"Trajectories over the MSE contours ({r['setup']['updates']} updates each)", fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        idx = [labels.index(next(lb for lb in labels if lb.startswith(n + " "))) for n in r["methods"]]
        idx.append(labels.index("minimum"))
        ax.legend([handles[i] for i in idx], [labels[i] for i in idx], fontsize=8, loc="lower left")
        ax.set_xlim(ws[0], ws[-1])
        ax.set_ylim(bs[0], bs[-1])
        win = 9
        for name in ["BGD", "SGD", "MBGD", "Momentum", "Adam"]:
            d = r["methods"][name]
            excess = np.maximum(np.asarray(d["loss_curve"]) - loss_star, 1e-8)
            steps = np.arange(excess.size)
            ax2.plot(steps, excess, color=COLORS[name], lw=0.6, alpha=0.3)
            smooth = np.convolve(excess, np.ones(win) / win, mode="valid")
            ax2.plot(steps[win // 2: win // 2 + smooth.size], smooth, color=COLORS[name],
                     lw=2.4 if name == "BGD" else 1.6, label=f"{name}: last-10% mean {d['late_excess_loss']:.2g}")
        handles, labels = ax2.get_legend_handles_labels()
        idx = [labels.index(next(lb for lb in labels if lb.startswith(n + ":"))) for n in r["methods"]]
        ax2.set_yscale("log")
        ax2.set_ylim(bottom=1e-4)
        ax2.set_xlabel("number of parameter updates")
        ax2.set_ylabel(f"full-data loss - minimum loss ({win}-update moving mean; faint: raw)")
        ax2.set_title(f"Loss vs updates (lr {LR}; Adam lr 0.1; momentum 0.9)", fontsize=10)
        ax2.grid(alpha=0.3, which="both")
        ax2.legend([handles[i] for i in idx], [labels[i] for i in idx], fontsize=8)
        fig.suptitle("Gradient-descent variants on y = w x + b (seed fig. 2.14)")
        return fig

    return finish(out_dir, NAME, res, plot, t0, summary)
