"""XOR: the perceptron cannot learn it, a 2-2-1 MLP can.

The perceptron (a linear threshold unit) outputs yhat = H(w . x + b), with H the Heaviside step
(1 when w . x + b >= 0, else 0), and learns by the perceptron rule: after each example,
w += lr (y - yhat) x and b += lr (y - yhat), i.e. it moves the line towards a misclassified point
and does nothing on a correct one. When a line separates the classes, the rule reaches such a line
after finitely many mistakes (the perceptron convergence theorem: AND is shown as the control).
XOR's classes, {(0,0), (1,1)} against {(0,1), (1,0)}, are separated by no line: any line gets at
most 3 of the 4 corners right, so the rule never stops making mistakes. With a fixed order of the
four examples and lr = 1 the weights move on a bounded lattice, so they must return to an earlier
state and then repeat the same cycle forever; the experiment finds that cycle.

A 2-2-1 tanh MLP learns a hidden map h = tanh(W1 x + b1) in which the classes *are* linearly
separable, and its output layer (a linear model on h) classifies every point of a noisy XOR (400
points around the corners) correctly. Two hidden units are the fewest that work and let us draw
the hidden space; from some initialisations gradient descent lands in a local minimum (about 75%
accuracy), so the experiment trains from several initialisations and reports the success rate; the
figure shows the first success.
"""
import time

import numpy as np

from .. import cat, float64, from_numpy, heaviside, manual_seed, nn, no_grad, ones, optim, tensor
from ..vision.datasets import xor as xor_data
from ._common import claim, figure, finish, prepare, threads

NAME = "xor"
CORNERS = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
TARGETS = {"XOR": (0.0, 1.0, 1.0, 0.0), "AND": (0.0, 0.0, 0.0, 1.0)}
TARGET_LOSS = 0.05  # stop there once all points are right ...
HIDDEN_DECAY = 3e-3  # ... and a little L2 on the hidden layer: tanh units stay out of saturation, a readable plot


def perceptron(targets, w0, order, epochs, lr=1.0):
    """Trains a linear threshold unit on the four corners with the perceptron rule, presenting the
    corners in `order` every epoch, from weights w0 = (w1, w2, b) (float64 reticulum tensors).
    Returns (number of corners right after every update, whether each update was a mistake (y !=
    yhat, so the weights moved), the weights before the first and after every update)."""
    x = cat([tensor(CORNERS, dtype=float64), ones(4, 1, dtype=float64)], dim=1)  # bias as a third input
    y = tensor(targets, dtype=float64)
    step_at_zero = tensor(1.0, dtype=float64)
    w = w0.clone()
    correct, mistakes, weights = [], [], [w.numpy().copy()]
    for _ in range(epochs):
        for i in order:
            error = y[i] - heaviside((x[i] * w).sum(), step_at_zero)
            w = w + lr * error * x[i]
            mistakes.append(error.item() != 0)
            correct.append(int((heaviside(x @ w, step_at_zero) == y).sum().item()))
            weights.append(w.numpy().copy())
    return np.asarray(correct), np.asarray(mistakes), np.asarray(weights)


def find_cycle(weights, mistakes, tol=1e-9):
    """The first recurrence of the weights (after every update, from perceptron()) at an epoch's end:
    {"from_epoch", "period_epochs", "mistakes_per_period"} for the first end-of-epoch state that
    repeats an earlier one, or None. The examples come in the same order every epoch, so from there
    on the same epochs repeat forever: without mistakes that is a fixed point (the rule has
    converged), with mistakes a cycle that never ends."""
    per_epoch = mistakes.reshape(-1, len(CORNERS)).sum(1)
    states = weights[::len(CORNERS)]
    for j in range(1, len(states)):
        for i in range(j):
            if np.abs(states[j] - states[i]).max() < tol:
                return {"from_epoch": i, "period_epochs": j - i, "mistakes_per_period": int(per_epoch[i:j].sum())}
    return None


def _accuracy(model, x, y):
    with no_grad():
        return float(((model(x) > 0).float() == y).float().mean().item())


def _train(model, x, y, steps, lr, target_loss=0.0, hidden_decay=0.0):
    """Full-batch Adam on BCE-with-logits for `steps` updates, or until every training point is
    classified correctly and the loss is below target_loss. hidden_decay: L2 weight decay on all
    but the last layer."""
    layers = list(model)
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
    p, m = r["perceptron"], r["mlp"]
    return {"perceptron_xor_best_corners_right": p["XOR"]["best_correct"],
            "perceptron_xor_runs_cycling": p["XOR"]["runs_cycling"],
            "perceptron_and_runs_solved": p["AND"]["runs_solved"], "perceptron_runs": p["runs"],
            "mlp_starts_solved": m["starts_solved"], "mlp_starts": len(m["starts"]),
            "mlp_train_accuracy": m["train_accuracy"], "mlp_test_accuracy": m["test_accuracy"],
            "hidden_space_margin": m["hidden_space_margin"]}


@threads(1)
def run(out_dir, quick=False):
    """The perceptron rule on XOR and AND, and a 2-2-1 tanh MLP on noisy XOR; writes xor.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    n, steps, mlp_starts = (200, 400, 5) if quick else (400, 1000, 10)
    runs, epochs = (10, 30) if quick else (20, 50)

    # the perceptron: run 0 from zero weights in the natural order (drawn), the others from random
    # weights N(0, 1) and a random order of the corners
    rng = np.random.default_rng(0)
    perc = {"runs": runs, "epochs": epochs, "lr": 1.0}
    for task, targets in TARGETS.items():
        correct, cycles, solved_at, shown = [], [], [], None
        for k in range(runs):
            w0 = np.zeros(3) if k == 0 else rng.standard_normal(3)
            order = [0, 1, 2, 3] if k == 0 else rng.permutation(4).tolist()
            c, mistakes, weights = perceptron(targets, from_numpy(w0), order, epochs)
            correct.append(c)
            cycles.append(find_cycle(weights, mistakes))
            hit = np.flatnonzero(c == 4)
            solved_at.append(int(hit[0]) + 1 if hit.size else None)
            if k == 0:
                cyc = cycles[0]
                first = len(CORNERS) * (cyc["from_epoch"] if cyc else epochs)
                last = first + len(CORNERS) * (cyc["period_epochs"] if cyc else 0)
                shown = {"correct": c, "cycle": cyc, "cycle_weights": weights[first:last + 1]}
        correct = np.stack(correct)
        perc[task] = {"best_correct": int(correct.max()), "best_correct_per_run": correct.max(1),
                      "final_correct_per_run": correct[:, -1],
                      "runs_solved": sum(s is not None for s in solved_at), "updates_to_solve": solved_at,
                      "runs_cycling": sum(c is not None and c["mistakes_per_period"] > 0 for c in cycles),
                      "runs_converged": sum(c is not None and c["mistakes_per_period"] == 0 for c in cycles),
                      "cycle_per_run": cycles, "shown_run": shown}

    x, y = xor_data(n=n, noise=0.1, seed=0)
    x_test, y_test = xor_data(n=n, noise=0.1, seed=1)
    y, y_test = y.float().unsqueeze(1), y_test.float().unsqueeze(1)
    corners = tensor(CORNERS)
    corner_y = tensor(TARGETS["XOR"]).unsqueeze(1)
    starts, solved = [], None
    for start in range(mlp_starts):
        manual_seed(start)
        hidden = nn.Sequential(nn.Linear(2, 2), nn.Tanh())
        mlp = nn.Sequential(hidden, nn.Linear(2, 1))
        losses = _train(mlp, x, y, steps, lr=0.05, target_loss=TARGET_LOSS, hidden_decay=HIDDEN_DECAY)
        acc = _accuracy(mlp, x, y)
        starts.append({"seed": start, "final_loss": losses[-1], "train_accuracy": acc, "updates": len(losses),
                       "corner_accuracy": _accuracy(mlp, corners, corner_y)})
        if acc == 1.0 and solved is None:
            solved = (hidden, mlp, losses)
    if solved is None:
        raise RuntimeError(f"xor: no 2-2-1 MLP reached 100% training accuracy in {mlp_starts} starts")
    hidden, mlp, losses = solved
    with no_grad():
        h_train = hidden(x).numpy()
        h_corners = hidden(corners).numpy()
    w_out = mlp[1].weight.detach().numpy().reshape(-1)
    b_out = float(mlp[1].bias.detach().numpy()[0])
    score = h_train @ w_out + b_out  # the output layer's linear score separates the classes in the hidden space
    yn = y.numpy().reshape(-1)

    res = {
        "experiment": NAME, "quick": quick,
        "perceptron": perc,
        "mlp": {"model": f"MLP 2-2-1, tanh hidden layer, BCE-with-logits, full-batch Adam lr 0.05 (weight decay "
                         f"{HIDDEN_DECAY:g} on the hidden layer), at most {steps} updates, stopped at 100% train "
                         f"accuracy and loss < {TARGET_LOSS:g}",
                "max_updates": steps,
                "data": f"noisy XOR: {n} training and {n} test points, noise std 0.1 around the corners",
                "train_accuracy": _accuracy(mlp, x, y), "test_accuracy": _accuracy(mlp, x_test, y_test),
                "corner_accuracy": _accuracy(mlp, corners, corner_y), "final_loss": losses[-1],
                "starts": starts, "starts_solved": sum(s["corner_accuracy"] == 1.0 for s in starts),
                "starts_all_points_right": sum(s["train_accuracy"] == 1.0 for s in starts),
                "hidden_corners": h_corners, "output_weight": w_out, "output_bias": b_out,
                "hidden_space_margin": float(min(score[yn == 1].min(), -score[yn == 0].max())),
                "loss_curve": losses[::10], "loss_curve_every": 10},
    }
    claims = _claims(res)

    def plot(r):
        return _plot(r, x, yn, hidden, mlp, h_train)

    return finish(out_dir, NAME, res, plot, t0, summary, claims)


def _claims(r):
    p, m = r["perceptron"], r["mlp"]
    xor, and_ = p["XOR"], p["AND"]
    return [
        claim("the perceptron rule never classifies all four XOR corners correctly (no line separates them)",
              xor["best_correct"] <= 3,
              f"most corners right after any update, over {p['runs']} runs x {p['epochs']} epochs: "
              f"{xor['best_correct']} of 4"),
        claim("on XOR the perceptron's weights cycle: an end-of-epoch state recurs, so it never settles",
              xor["runs_cycling"] == p["runs"],
              f"{xor['runs_cycling']} of {p['runs']} runs entered a cycle within {p['epochs']} epochs"),
        claim("control: the same rule learns AND (linearly separable) in every run",
              and_["runs_solved"] == p["runs"] and min(and_["final_correct_per_run"]) == 4,
              f"{and_['runs_solved']} of {p['runs']} runs reached 4 of 4, after at most "
              f"{max(u for u in and_['updates_to_solve'] if u is not None) if and_['runs_solved'] else None} updates"),
        claim("a 2-2-1 tanh MLP classifies noisy XOR correctly (training and fresh test points)",
              m["train_accuracy"] == 1.0 and m["test_accuracy"] >= 0.98 and m["corner_accuracy"] == 1.0,
              f"train {100 * m['train_accuracy']:.1f}%, test {100 * m['test_accuracy']:.1f}%, corners "
              f"{100 * m['corner_accuracy']:.0f}%; {m['starts_solved']} of {len(m['starts'])} initialisations "
              f"got the four corners right, {m['starts_all_points_right']} every training point"),
        claim("in the MLP's learned hidden space the classes are linearly separable (the output layer's margin > 0)",
              m["hidden_space_margin"] > 0, f"margin {m['hidden_space_margin']:.3f}"),
    ]


def _corners_scatter(ax, targets):
    for (cx, cy), t in zip(CORNERS, targets):
        ax.scatter(cx, cy, s=160, c="tab:red" if t else "tab:blue", marker="^" if t else "o", edgecolors="k",
                   zorder=5)


def _plot(r, x, yn, hidden, mlp, h_train):
    fig = figure(16, 9.5)
    if fig is None:
        return None
    (ax_a, ax_b, ax_c), (ax_d, ax_e, ax_f) = fig.subplots(2, 3)
    p = r["perceptron"]

    # (a) the perceptron's line after every mistake over one period of its cycle
    shown = p["XOR"]["shown_run"]
    cyc = shown["cycle"]
    weights = np.asarray(shown["cycle_weights"])
    distinct = [w for i, w in enumerate(weights[:-1]) if i == 0 or np.abs(w - weights[i - 1]).max() > 0]
    g = np.linspace(-1.5, 2.0, 2)
    for i, (w1, w2, b) in enumerate(distinct):
        right = int(sum((w1 * cx + w2 * cy + b >= 0) == t for (cx, cy), t in zip(CORNERS, TARGETS["XOR"])))
        label = f"w = ({w1:g}, {w2:g}), b = {b:g}: {right} of 4 right"
        if abs(w2) > 0:
            ax_a.plot(g, -(w1 * g + b) / w2, color=f"C{i}", lw=2, label=label)
        elif abs(w1) > 0:
            ax_a.axvline(-b / w1, color=f"C{i}", lw=2, label=label)
        else:
            ax_a.plot([], [], color=f"C{i}", lw=2, label=label + f" (no line: all {'1' if b >= 0 else '0'})")
    _corners_scatter(ax_a, TARGETS["XOR"])
    ax_a.set_xlim(-1.5, 2.0)
    ax_a.set_ylim(-1.5, 2.0)
    ax_a.set_aspect("equal")
    ax_a.set_xlabel("$x_1$")
    ax_a.set_ylabel("$x_2$")
    ax_a.set_title(f"(a) Perceptron on XOR from w = 0 (lr 1): from epoch {cyc['from_epoch']} the same "
                   f"{len(distinct)} lines\nrepeat every {cyc['period_epochs']} epoch(s), "
                   f"{cyc['mistakes_per_period']} mistakes per period" if cyc else
                   "(a) Perceptron on XOR: no cycle found", fontsize=9)
    ax_a.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13))

    # (b) corners right after every update: XOR never 4, AND reaches 4 and stays
    for task, color in (("XOR", "tab:red"), ("AND", "tab:blue")):
        c = np.asarray(p[task]["shown_run"]["correct"])
        ax_b.step(np.arange(1, c.size + 1), c, where="post", color=color, lw=1.5,
                  label=f"{task} (run from w = 0); best over {p['runs']} runs: {p[task]['best_correct']} of 4")
    ax_b.axhline(4, color="0.4", ls=":", lw=1)
    ax_b.set_ylim(0, 4.3)
    ax_b.set_xlim(0, 60)
    ax_b.set_yticks(range(5))
    ax_b.set_xlabel("perceptron updates (one example each)")
    ax_b.set_ylabel("corners classified correctly (of 4)")
    ax_b.set_title("(b) Perceptron rule w += lr (y - yhat) x: AND is learned,\nXOR never gets past 3 of 4 "
                   f"({p['XOR']['runs_cycling']} of {p['runs']} runs cycle)", fontsize=9)
    ax_b.legend(fontsize=7.5, loc="lower right")
    ax_b.grid(alpha=0.3)

    # (c) MLP starts: final training accuracy per initialisation
    m = r["mlp"]
    accs = [100 * s["train_accuracy"] for s in m["starts"]]
    solved = [s["corner_accuracy"] == 1.0 for s in m["starts"]]
    for ok, color, label in ((True, "tab:green", "all four corners right"),
                             (False, "0.6", "local minimum: a corner wrong")):
        idx = [i for i, s in enumerate(solved) if s == ok]
        ax_c.bar(idx, [accs[i] for i in idx], color=color, label=label)
    for i, a in enumerate(accs):
        ax_c.text(i, a + 1, f"{a:.4g}", ha="center", fontsize=7)
    ax_c.legend(fontsize=7.5, loc="lower right")
    ax_c.set_ylim(0, 108)
    ax_c.set_xticks(np.arange(len(accs)))
    ax_c.set_xlabel("initialisation (seed)")
    ax_c.set_ylabel("final training accuracy (%)")
    ax_c.set_title(f"(c) 2-2-1 MLP from {len(accs)} initialisations (at most {r['mlp']['max_updates']} updates):\n"
                   f"{m['starts_solved']} solve XOR, {m['starts_all_points_right']} of them with every noisy point "
                   "right", fontsize=9)
    ax_c.grid(alpha=0.3, axis="y")

    # (d) the MLP's decision regions in the input space
    xn = x.numpy()
    gg = np.linspace(-0.5, 1.5, 241, dtype=np.float32)
    gx, gy = np.meshgrid(gg, gg)
    grid = from_numpy(np.ascontiguousarray(np.stack([gx.ravel(), gy.ravel()], 1)))
    with no_grad():
        prob = mlp(grid).sigmoid().numpy().reshape(gx.shape)
    ax_d.contourf(gx, gy, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
    ax_d.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=2)
    for cls, c, mk in ((0, "tab:blue", "o"), (1, "tab:red", "^")):
        sel = yn == cls
        ax_d.scatter(xn[sel, 0], xn[sel, 1], s=12, c=c, marker=mk, edgecolors="k", linewidths=0.3, label=f"class {cls}")
    ax_d.set_title(f"(d) 2-2-1 tanh MLP on noisy XOR (first successful start)\ntrain acc "
                   f"{100 * m['train_accuracy']:.1f}%, test acc {100 * m['test_accuracy']:.1f}%", fontsize=9)
    ax_d.set_xlabel("$x_1$")
    ax_d.set_ylabel("$x_2$")
    ax_d.set_aspect("equal")
    ax_d.legend(loc="upper center", fontsize=8, ncol=2)

    # (e) the hidden space, where a line separates the classes
    w_out, b_out = np.asarray(m["output_weight"]), m["output_bias"]
    hg = np.linspace(-1.2, 1.2, 121)
    hx, hy = np.meshgrid(hg, hg)
    ph = 1.0 / (1.0 + np.exp(-(w_out[0] * hx + w_out[1] * hy + b_out)))
    ax_e.contourf(hx, hy, ph, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.45)
    ax_e.contour(hx, hy, ph, levels=[0.5], colors="k", linewidths=2)
    with no_grad():  # the input grid's lines, mapped into the hidden space
        for v in np.linspace(-0.5, 1.5, 9, dtype=np.float32):
            line = np.stack([np.full_like(gg, v), gg], 1)
            for pts in (line, line[:, ::-1]):
                hp = hidden(from_numpy(np.ascontiguousarray(pts))).numpy()
                ax_e.plot(hp[:, 0], hp[:, 1], color="0.45", lw=0.6, zorder=1)
    for cls, c, mk in ((0, "tab:blue", "o"), (1, "tab:red", "^")):
        sel = yn == cls
        ax_e.scatter(h_train[sel, 0], h_train[sel, 1], s=22, c=c, marker=mk, edgecolors="k", linewidths=0.3,
                     label=f"class {cls}", zorder=2)
    groups = []  # corners whose hidden images (nearly) coincide share one label
    for corner, hc in zip(["(0,0)", "(0,1)", "(1,0)", "(1,1)"], np.asarray(m["hidden_corners"])):
        near = next((grp for grp in groups if np.abs(grp[1] - hc).max() < 0.2), None)
        if near is None:
            groups.append([[corner], hc])
        else:
            near[0].append(corner)
    for names, (hx0, hy0) in groups:
        ax_e.annotate("x=" + " & ".join(names), (hx0, hy0), xytext=(0.45 * hx0, 0.45 * hy0), ha="center", fontsize=8,
                      zorder=3, arrowprops=dict(arrowstyle="->", color="0.2", lw=0.8),
                      bbox=dict(boxstyle="round,pad=0.15", fc="w", ec="0.6", alpha=0.9))
    ax_e.plot([], [], "k-", lw=2, label="output layer: $w^T h + b = 0$")
    ax_e.plot([], [], color="0.45", lw=0.6, label="input grid lines, mapped")
    ax_e.set_xlim(-1.2, 1.2)
    ax_e.set_ylim(-1.2, 1.2)
    ax_e.set_aspect("equal")
    ax_e.set_xlabel("$h_1$")
    ax_e.set_ylabel("$h_2$")
    ax_e.set_title(f"(e) Learned hidden space h = tanh(W1 x + b1): the classes are\nlinearly separable "
                   f"(margin {m['hidden_space_margin']:.2f})", fontsize=9)
    ax_e.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, ncol=2)

    # (f) the MLP's training loss
    every = m["loss_curve_every"]
    ax_f.plot(every * np.arange(len(m["loss_curve"])), m["loss_curve"], color="tab:green")
    ax_f.set_yscale("log")
    ax_f.set_xlabel("full-batch Adam updates")
    ax_f.set_ylabel("training loss (binary cross-entropy)")
    ax_f.set_title("(f) MLP training loss (first successful start)", fontsize=9)
    ax_f.grid(alpha=0.3, which="both")
    fig.suptitle("XOR: the perceptron rule can never fit it (left); a 2-2-1 MLP maps it to a separable hidden "
                 "space (right)")
    return fig
