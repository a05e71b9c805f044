"""XOR with a 2-2-1 MLP (seed fig. 2.8, eq. 2.23).

Noisy XOR (400 points around the corners of the unit square). No line separates the classes
in the input space, so a linear classifier (logistic regression) fails. A 2-2-1 tanh MLP
learns a hidden map tau(x) = tanh(W1 x + b1) in which the classes *are* linearly separable,
and its output layer (a linear model on tau(x)) classifies every point correctly. A 2-unit hidden layer
is the smallest that works and lets us draw the hidden space; from some initialisations
gradient descent lands in a local minimum (about 77% accuracy), so the experiment restarts
from a fresh initialisation until the training accuracy is 100% and reports how many
starts that took. Logistic regression can get at most 3 of the 4 corners right; trained
by gradient descent on the balanced data it ends near chance.
"""
import time

import numpy as np

from .. import from_numpy, manual_seed, nn, no_grad, optim, tensor
from ..vision.datasets import xor as xor_data
from ._common import figure, finish, prepare, threads

NAME = "xor"
TARGET_LOSS = 0.05  # stop there once all points are right ...
HIDDEN_DECAY = 3e-3  # ... and a little L2 on the hidden layer: tanh units stay out of saturation, a readable plot


def _accuracy(model, x, y):
    with no_grad():
        return float(((model(x) > 0).float() == y).float().mean().item())


def _train(model, x, y, steps, lr, target_loss=0.0, hidden_decay=0.0):
    """Full-batch Adam on BCE-with-logits for `steps` updates, or until every training point is
    classified correctly and the loss is below target_loss. hidden_decay: L2 weight decay on all
    but the last layer."""
    layers = list(model) if isinstance(model, nn.Sequential) else [model]
    groups = [{"params": list(m.parameters()), "weight_decay": hidden_decay} for m in layers[:-1]]
    opt = optim.Adam(groups + [{"params": list(layers[-1].parameters())}], lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        out = model(x)
        loss = loss_fn(out, y)
        losses.append(loss.item())
        if losses[-1] < target_loss and ((out > 0).float() == y).float().min().item() == 1.0:
            break
        loss.backward()
        opt.step()
    return losses


def summary(r):
    """Headline numbers of a run() result."""
    m, lin = r["mlp"], r["linear"]
    return {"mlp_train_accuracy": m["train_accuracy"], "mlp_test_accuracy": m["test_accuracy"],
            "mlp_corner_accuracy": m["corner_accuracy"], "starts_needed": m["starts_needed"],
            "hidden_space_margin": m["hidden_space_margin"], "linear_train_accuracy": lin["train_accuracy"],
            "linear_corner_accuracy": lin["corner_accuracy"]}


@threads(1)
def run(out_dir, quick=False):
    """Trains logistic regression and a 2-2-1 tanh MLP on noisy XOR; writes xor.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    n, steps, max_starts = (200, 400, 20) if quick else (400, 1000, 20)
    x, y = xor_data(n=n, noise=0.1, seed=0)
    x_test, y_test = xor_data(n=n, noise=0.1, seed=1)
    y, y_test = y.float().unsqueeze(1), y_test.float().unsqueeze(1)
    corners = tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    corner_y = tensor([[0.0], [1.0], [1.0], [0.0]])

    manual_seed(0)
    linear = nn.Linear(2, 1)
    lin_losses = _train(linear, x, y, steps, lr=0.05)

    starts = []
    for start in range(max_starts):
        manual_seed(start)
        hidden = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
        mlp = nn.Sequential(hidden, nn.Linear(2, 1))
        losses = _train(mlp, x, y, steps, lr=0.05, target_loss=TARGET_LOSS, hidden_decay=HIDDEN_DECAY)
        acc = _accuracy(mlp, x, y)
        starts.append({"seed": start, "final_loss": losses[-1], "train_accuracy": acc})
        if acc == 1.0:
            break
    else:
        raise RuntimeError(f"xor: no 2-2-1 MLP reached 100% training accuracy in {max_starts} starts")

    with no_grad():
        h_train = hidden(x).numpy()
        h_corners = hidden(corners).numpy()
    w_out = mlp[1].weight.detach().numpy().reshape(-1)
    b_out = float(mlp[1].bias.detach().numpy()[0])

    res = {
        "experiment": NAME, "quick": quick, "figure": "seed fig. 2.8",
        "model": f"MLP 2-2-1, tanh hidden layer, BCE-with-logits, full-batch Adam lr 0.05 (weight decay "
                 f"{HIDDEN_DECAY:g} on the hidden layer), stopped at 100% train accuracy and loss < {TARGET_LOSS:g}",
        "n_train": n, "n_test": n, "noise": 0.1, "steps": steps,
        "linear": {"train_accuracy": _accuracy(linear, x, y), "test_accuracy": _accuracy(linear, x_test, y_test),
                   "corner_accuracy": _accuracy(linear, corners, corner_y), "final_loss": lin_losses[-1]},
        "mlp": {"train_accuracy": _accuracy(mlp, x, y), "test_accuracy": _accuracy(mlp, x_test, y_test),
                "corner_accuracy": _accuracy(mlp, corners, corner_y), "final_loss": losses[-1],
                "starts_needed": len(starts), "starts": starts,
                "hidden_corners": h_corners.tolist(), "output_weight": w_out.tolist(), "output_bias": b_out},
        "loss_curves": {"linear": lin_losses[::10], "mlp": losses[::10], "every": 10},
    }
    # hidden-space separability: the output layer's linear score separates the classes there
    score = h_train @ w_out + b_out
    yn = y.numpy().reshape(-1)
    res["mlp"]["hidden_space_margin"] = float(min(score[yn == 1].min(), -score[yn == 0].max()))

    def plot(r):
        fig = figure(16.5, 4.8)
        if fig is None:
            return None
        axes = fig.subplots(1, 3)
        xn = x.numpy()
        g = np.linspace(-0.5, 1.5, 241, dtype=np.float32)
        gx, gy = np.meshgrid(g, g)
        grid = from_numpy(np.ascontiguousarray(np.stack([gx.ravel(), gy.ravel()], 1)))
        for ax, model, title in ((axes[0], linear, "Linear classifier (logistic regression)"),
                                 (axes[1], mlp, "2-2-1 tanh MLP")):
            with no_grad():
                p = model(grid).sigmoid().numpy().reshape(gx.shape)
            ax.contourf(gx, gy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
            ax.contour(gx, gy, p, levels=[0.5], colors="k", linewidths=2)
            for cls, c, m in ((0, "tab:blue", "o"), (1, "tab:red", "^")):
                sel = yn == cls
                ax.scatter(xn[sel, 0], xn[sel, 1], s=12, c=c, marker=m, edgecolors="k", linewidths=0.3,
                           label=f"class {cls}")
            key = "linear" if model is linear else "mlp"
            ax.set_title(f"{title}\ntrain acc {100 * r[key]['train_accuracy']:.1f}%, "
                         f"test acc {100 * r[key]['test_accuracy']:.1f}%")
            ax.set_xlabel("$x_1$")
            ax.set_ylabel("$x_2$")
            ax.set_aspect("equal")
            ax.legend(loc="upper center", fontsize=8, ncol=2)
        ax = axes[2]
        hg = np.linspace(-1.2, 1.2, 121)
        hx, hy = np.meshgrid(hg, hg)
        ph = 1.0 / (1.0 + np.exp(-(w_out[0] * hx + w_out[1] * hy + b_out)))
        ax.contourf(hx, hy, ph, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
        ax.contour(hx, hy, ph, levels=[0.5], colors="k", linewidths=2)
        with no_grad():  # the input grid's lines, mapped into the hidden space
            for v in np.linspace(-0.5, 1.5, 9, dtype=np.float32):
                line = np.stack([np.full_like(g, v), g], 1)
                for pts in (line, line[:, ::-1]):
                    hp = hidden(from_numpy(np.ascontiguousarray(pts))).numpy()
                    ax.plot(hp[:, 0], hp[:, 1], color="0.45", lw=0.6, zorder=1)
        for cls, c, m in ((0, "tab:blue", "o"), (1, "tab:red", "^")):
            sel = yn == cls
            ax.scatter(h_train[sel, 0], h_train[sel, 1], s=22, c=c, marker=m, edgecolors="k", linewidths=0.3,
                       label=f"class {cls}", zorder=2)
        groups = []  # corners whose hidden images (nearly) coincide share one label
        for corner, hc in zip(["(0,0)", "(0,1)", "(1,0)", "(1,1)"], h_corners):
            near = next((grp for grp in groups if np.abs(grp[1] - hc).max() < 0.2), None)
            if near is None:
                groups.append([[corner], np.asarray(hc)])
            else:
                near[0].append(corner)
        for names, (hx0, hy0) in groups:
            ax.annotate("x=" + " & ".join(names), (hx0, hy0), xytext=(0.45 * hx0, 0.45 * hy0), ha="center", fontsize=8,
                        zorder=3, arrowprops=dict(arrowstyle="->", color="0.2", lw=0.8),
                        bbox=dict(boxstyle="round,pad=0.15", fc="w", ec="0.6", alpha=0.9))
        ax.plot([], [], "k-", lw=2, label="output layer: $w^T h + b = 0$")
        ax.plot([], [], color="0.45", lw=0.6, label="input grid lines, mapped")
        ax.set_xlim(-1.2, 1.2)
        ax.set_ylim(-1.2, 1.2)
        ax.set_aspect("equal")
        ax.set_xlabel("$h_1$")
        ax.set_ylabel("$h_2$")
        ax.set_title("Learned hidden space $h = \\tanh(W_1 x + b_1)$\nclasses become linearly separable")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
        fig.suptitle("XOR (seed fig. 2.8): nonlinear in the input space, linear in the learned space")
        return fig

    return finish(out_dir, NAME, res, plot, t0, summary)
