"""Variants of gradient descent on a 2-parameter least-squares problem.

Linear regression y = w x + b on N = 256 noisy points, x uniform in [1, 3]: the mean-squared-error
surface is a long, tilted valley (Hessian eigenvalues ~11 and ~0.13, condition number ~90), and
because the loss is quadratic, the excess loss is exactly (1/2) d^T H d for the offset d from the
minimiser, so the distance |d| to the optimum tells everything. Two questions, two halves:

Batch size and the noise floor (same lr 0.05, same start, UPDATES parameter updates each):
  BGD   the full data per step: a deterministic descent that converges to the minimum;
  MBGD  batches of 32; SGD  single points.
A minibatch gradient is the full gradient plus zero-mean noise whose variance shrinks as 1/batch
and does not vanish at the minimum, so with a constant learning rate the iterates cannot settle:
they reach a stationary cloud around the optimum whose size grows with lr and with the gradient
noise. Measured: the distance to the optimum after every update; its mean over the last quarter
of the updates is the noise floor, reported over independent repeats (different shuffles).

Momentum and the zig-zag (full batch, lr = 1.9 / lambda_max, just below the stability limit
2 / lambda_max of plain gradient descent):
  GD        each step overshoots the steep direction and the path zig-zags across the valley,
            while it creeps along the shallow valley floor;
  Momentum  heavy ball v <- beta v + g, theta <- theta - lr v with beta = 0.5: the alternating
            across-valley components of consecutive gradients cancel in v, the consistent
            along-valley component adds up (to g / (1 - beta)), so the path runs down the valley;
  Adam      per-parameter step sizes from running gradient moments (lr 0.1).
Smoothness of a path = mean cosine of the angle between consecutive update steps over its first
SMOOTH_UPDATES updates (the descent, before the steps become rounding noise): 1 for a straight
line, about 0 for a random walk, negative for a zig-zag.
"""
import time

import numpy as np

from .. import from_numpy, manual_seed, nn, no_grad, optim, tensor
from ..utils.data import DataLoader, TensorDataset
from ._common import CONTRADICTED, claim, figure, finish, fmt_ci, mean_ci, prepare, threads, verdict

NAME = "gd_variants"
N = 256
TRUE_W, TRUE_B, NOISE = 2.0, -1.0, 0.5
START = (-0.5, 3.5)
LR = 0.05
BETA = 0.5
ADAM_LR = 0.1
UPDATES = 2000          # at lr 0.05 BGD needs ~1300 updates to come within 1e-3 of the optimum
ZIGZAG_UPDATES = 500
SMOOTH_UPDATES = 50
CONVERGED = 1e-3        # distance to the optimum that counts as "at the minimum"
CURVE_EVERY, PATH_EVERY = 4, 2  # the JSON keeps every 4th distance and every 2nd point of the drawn paths
ZIGZAG_DRAWN = 120      # updates of the zig-zag paths drawn (and kept)

NOISY = {"BGD": None, "MBGD": 32, "SGD": 1}  # name: batch size (None: all N points)
COLORS = {"BGD": "k", "MBGD": "tab:blue", "SGD": "tab:orange", "GD": "tab:purple", "Momentum": "tab:green",
          "Adam": "tab:red"}


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 3, (N, 1)).astype(np.float32)
    y = (TRUE_W * x + TRUE_B + NOISE * rng.standard_normal((N, 1))).astype(np.float32)
    return x, y


def _path(batch, opt_factory, x, y, updates, seed):
    """Trains y = w x + b from START with `updates` optimizer steps on batches of `batch` points
    (reshuffled every epoch); returns the [updates + 1, 2] array of (w, b), row 0 the start."""
    manual_seed(seed)
    model = nn.Linear(1, 1)
    with no_grad():
        model.weight.copy_(tensor([[START[0]]]))
        model.bias.copy_(tensor([START[1]]))
    opt = opt_factory(model.parameters())
    loader = DataLoader(TensorDataset(x, y), batch_size=batch or N, shuffle=True, seed=seed)
    loss_fn = nn.MSELoss()
    path = [START]
    while len(path) <= updates:
        for xb, yb in loader:
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
            path.append((model.weight.item(), model.bias.item()))
            if len(path) > updates:
                break
    return np.asarray(path, dtype=np.float64)


def smoothness(path, updates=SMOOTH_UPDATES):
    """Mean cosine between consecutive update steps over the first `updates` updates of `path`."""
    steps = np.diff(path[:updates + 1], axis=0)
    norms = np.linalg.norm(steps, axis=1)
    ok = (norms[1:] > 0) & (norms[:-1] > 0)
    return float(((steps[1:] * steps[:-1]).sum(1)[ok] / (norms[1:] * norms[:-1])[ok]).mean())


def _first_below(dist, tol):
    hit = np.flatnonzero(dist < tol)
    return int(hit[0]) if hit.size else None


def summary(r):
    """Headline numbers of a run() result."""
    n = r["noise_floor"]
    z = r["zigzag"]
    return {"bgd_final_distance": n["BGD"]["final_distance"],
            "noise_floor_mbgd": n["MBGD"]["floor"]["mean"], "noise_floor_sgd": n["SGD"]["floor"]["mean"],
            "repeats": r["setup"]["repeats"],
            "smoothness": {k: z[k]["smoothness"] for k in z},
            "updates_to_1e-3": {k: z[k]["updates_to_converge"] for k in z}}


@threads(1)
def run(out_dir, quick=False):
    """BGD vs MBGD vs SGD (noise floor) and GD vs momentum vs Adam (zig-zag); writes gd_variants.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    repeats = 3 if quick else 10  # the stochastic methods; BGD and the zig-zag runs are deterministic
    x_np, y_np = _data()
    x, y = from_numpy(x_np), from_numpy(y_np)
    a = np.hstack([x_np, np.ones_like(x_np)]).astype(np.float64)
    optimum = np.linalg.solve(a.T @ a, a.T @ y_np.astype(np.float64)).ravel()
    hess = 2 * a.T @ a / N
    lam = np.linalg.eigvalsh(hess)
    zig_lr = 1.9 / lam[-1]

    def distance(path):
        return np.linalg.norm(path - optimum, axis=1)

    res = {"experiment": NAME, "quick": quick,
           "setup": {"data": f"y = {TRUE_W} x + ({TRUE_B}) + {NOISE} * N(0, 1), x ~ U(1, 3), N = {N}",
                     "start": START, "hessian_eigenvalues": lam, "hessian_condition_number": lam[-1] / lam[0],
                     "noise_floor_part": f"lr {LR}, {UPDATES} updates, batch sizes {NOISY}, floor = mean "
                                         f"distance over the last {UPDATES // 4} updates",
                     "zigzag_part": f"full batch, lr 1.9 / lambda_max, momentum beta {BETA}, "
                                    f"Adam lr {ADAM_LR}, {ZIGZAG_UPDATES} updates",
                     "zigzag_lr": zig_lr,
                     "repeats": repeats},
           "optimum": {"w": optimum[0], "b": optimum[1]}}

    floors = {}
    for name, batch in NOISY.items():
        reps = 1 if batch is None else repeats
        paths = [_path(batch, lambda p: optim.SGD(p, lr=LR), x, y, UPDATES, seed=rep) for rep in range(reps)]
        dists = np.stack([distance(p) for p in paths])
        late = dists[:, -UPDATES // 4:].mean(1)
        floors[name] = {"batch_size": batch or N, "repeats": reps,
                        "final_distance": float(dists[:, -1].mean()),
                        "floor": mean_ci(late), "floor_per_repeat": late,
                        # the floor is stationary: the third quarter's mean distance over the last quarter's
                        "third_over_last_quarter": float(dists[:, UPDATES // 2:3 * UPDATES // 4].mean() / late.mean()),
                        "updates_to_converge": _first_below(dists.mean(0), CONVERGED),
                        "smoothness": smoothness(paths[0]),
                        "distance_mean": dists.mean(0)[::CURVE_EVERY], "distance_lo": dists.min(0)[::CURVE_EVERY],
                        "distance_hi": dists.max(0)[::CURVE_EVERY], "path": paths[0][::PATH_EVERY]}
    res["noise_floor"] = floors

    zig = {"GD": lambda p: optim.SGD(p, lr=zig_lr), "Momentum": lambda p: optim.SGD(p, lr=zig_lr, momentum=BETA),
           "Adam": lambda p: optim.Adam(p, lr=ADAM_LR)}
    res["zigzag"] = {}
    for name, factory in zig.items():
        path = _path(None, factory, x, y, ZIGZAG_UPDATES, seed=0)
        dist = distance(path)
        res["zigzag"][name] = {"smoothness": smoothness(path), "updates_to_converge": _first_below(dist, CONVERGED),
                               "final_distance": float(dist[-1]), "distance": dist, "path": path[:ZIGZAG_DRAWN + 1]}

    claims = _claims(res)

    def plot(r):
        return _plot(r, x_np, y_np)

    return finish(out_dir, NAME, res, plot, t0, summary, claims)


def _claims(r):
    f, z = r["noise_floor"], r["zigzag"]
    bgd = f["BGD"]["final_distance"]
    out = [claim(f"with a constant learning rate, full-batch gradient descent converges to the minimum "
                 f"(distance < {CONVERGED:g} after {UPDATES} updates)", bgd < CONVERGED,
                 f"BGD distance after {UPDATES} updates: {bgd:.2g}")]
    for name in ("MBGD", "SGD"):
        s = f[name]
        stalls = verdict(s["floor"]["ci95"], threshold=10 * CONVERGED)
        if not 0.5 < s["third_over_last_quarter"] < 2:  # still descending (or diverging): no floor yet
            stalls = CONTRADICTED
        out.append(claim(f"{name} (batch {s['batch_size']}) does not settle at the minimum: its distance to "
                         f"the optimum stays at a noise floor (mean over the last quarter > {10 * CONVERGED:g}, and "
                         "the third quarter's mean is within a factor 2 of it)",
                         stalls,
                         f"floor {fmt_ci(s['floor'], digits=4)}; third/last quarter "
                         f"{s['third_over_last_quarter']:.2f}"))
    diff = mean_ci(np.asarray(f["SGD"]["floor_per_repeat"]) - np.asarray(f["MBGD"]["floor_per_repeat"]))
    out.append(claim("smaller batches have the higher noise floor (SGD's floor minus MBGD's > 0)",
                     verdict(diff["ci95"]), f"difference {fmt_ci(diff, digits=4)}"))
    out.append(claim(f"at lr = 1.9 / lambda_max plain gradient descent zig-zags and momentum (beta {BETA}) cancels "
                     f"the zig-zag: momentum's smoothness (first {SMOOTH_UPDATES} updates) is higher",
                     z["Momentum"]["smoothness"] > z["GD"]["smoothness"],
                     f"smoothness GD {z['GD']['smoothness']:.2f}, momentum {z['Momentum']['smoothness']:.2f}"))
    gd_n, mom_n = z["GD"]["updates_to_converge"], z["Momentum"]["updates_to_converge"]
    out.append(claim(f"momentum reaches the minimum (distance < {CONVERGED:g}) in fewer updates than GD",
                     mom_n is not None and (gd_n is None or mom_n < gd_n),
                     f"updates to distance {CONVERGED:g}: GD {gd_n}, momentum {mom_n}"))
    return out


def _plot(r, x_np, y_np):
    fig = figure(14, 10.5)
    if fig is None:
        return None
    (ax_a, ax_b), (ax_c, ax_d) = fig.subplots(2, 2)
    opt = np.array([r["optimum"]["w"], r["optimum"]["b"]])
    ws, bs = np.linspace(-1.0, 3.5, 200), np.linspace(-3.0, 4.0, 200)
    gw, gb = np.meshgrid(ws, bs)
    m = dict(xx=np.mean(x_np ** 2), x=np.mean(x_np), xy=np.mean(x_np * y_np), y=np.mean(y_np), yy=np.mean(y_np ** 2))
    grid_loss = gw ** 2 * m["xx"] + 2 * gw * gb * m["x"] + gb ** 2 - 2 * gw * m["xy"] - 2 * gb * m["y"] + m["yy"]
    levels = grid_loss.min() + np.geomspace(0.01, 40, 16)
    f, z = r["noise_floor"], r["zigzag"]

    def contours(ax, title):
        ax.contour(gw, gb, grid_loss, levels=levels, colors="0.7", linewidths=0.7)
        ax.plot(*START, "ks", ms=7)
        ax.annotate("start", START, xytext=(-10, 8), textcoords="offset points")
        ax.plot(*opt, "*", color="gold", mec="k", ms=15, label="minimum", zorder=5)
        ax.set_xlim(ws[0], ws[-1])
        ax.set_ylim(bs[0], bs[-1])
        ax.set_xlabel("w (slope)")
        ax.set_ylabel("b (intercept)")
        ax.set_title(title, fontsize=10)

    contours(ax_a, f"(a) Same lr {LR}, different batch sizes: paths over the loss contours")
    for name in ("SGD", "MBGD", "BGD"):
        p = np.asarray(f[name]["path"])
        ax_a.plot(p[:, 0], p[:, 1], "-", color=COLORS[name], lw={"BGD": 2.2, "SGD": 0.5}.get(name, 0.9),
                  alpha={"SGD": 0.6}.get(name, 1.0), label=f"{name} (batch {f[name]['batch_size']})")
    inset = ax_a.inset_axes([0.56, 0.56, 0.42, 0.42])
    half = 3 * f["SGD"]["floor"]["mean"]
    for name in ("SGD", "MBGD"):
        p = np.asarray(f[name]["path"])[-UPDATES // (4 * PATH_EVERY):]
        inset.plot(p[:, 0], p[:, 1], ".", color=COLORS[name], ms=1.5, alpha=0.6)
    inset.plot(*np.asarray(f["BGD"]["path"])[-1], "o", color="k", ms=4)
    inset.plot(*opt, "*", color="gold", mec="k", ms=10)
    inset.set_xlim(opt[0] - half, opt[0] + half)
    inset.set_ylim(opt[1] - 2 * half, opt[1] + 2 * half)
    inset.set_title(f"last {UPDATES // 4} updates, zoomed", fontsize=7)
    inset.tick_params(labelsize=6)
    ax_a.indicate_inset_zoom(inset, edgecolor="0.3")
    ax_a.legend(fontsize=8, loc="lower left")

    steps = np.arange(0, UPDATES + 1, CURVE_EVERY)
    for name in ("SGD", "MBGD", "BGD"):
        d = f[name]
        label = f"{name}: "
        if d["repeats"] > 1:
            ax_b.fill_between(steps, d["distance_lo"], d["distance_hi"], color=COLORS[name], alpha=0.2, lw=0)
            label += f"floor {fmt_ci(d['floor'], digits=4)}"
        else:
            label += f"deterministic, {d['final_distance']:.1e} after {UPDATES}"
        ax_b.plot(steps, d["distance_mean"], color=COLORS[name], lw=2.2 if name == "BGD" else 1.2, label=label)
        if d["repeats"] > 1:
            ax_b.hlines(d["floor"]["mean"], 3 * UPDATES // 4, UPDATES, color="k", ls="--", lw=1.3, zorder=5)
    ax_b.axhline(CONVERGED, color="0.5", ls=":", lw=1)
    ax_b.text(5, CONVERGED * 1.2, f"converged: {CONVERGED:g}", fontsize=8, color="0.4")
    ax_b.set_yscale("log")
    ax_b.set_xlabel("parameter updates")
    ax_b.set_ylabel("distance to the optimum |(w, b) - (w*, b*)|")
    ax_b.set_title(f"(b) Distance to the optimum (log scale). Lines: mean over {f['SGD']['repeats']} repeats, "
                   "band: min-max,\ndashed: noise floor = mean over the last quarter (mean +- 95% CI over repeats)",
                   fontsize=9)
    ax_b.grid(alpha=0.3, which="both")
    ax_b.legend(fontsize=8, loc="lower left")

    contours(ax_c, f"(c) Full batch, lr = 1.9/lambda_max = {r['setup']['zigzag_lr']:.3f}: "
                   "the zig-zag and momentum")
    for name in ("GD", "Momentum", "Adam"):
        p = np.asarray(z[name]["path"])
        ax_c.plot(p[:, 0], p[:, 1], ".-", color=COLORS[name], lw=1.2, ms=3,
                  label=f"{name}: smoothness {z[name]['smoothness']:.2f}")
    ax_c.legend(fontsize=8, loc="lower left", title=f"first {ZIGZAG_DRAWN} updates", title_fontsize=8)
    ax_c.text(0.99, 0.99, f"smoothness = mean cos(angle between consecutive\nupdate steps) over the first "
                          f"{SMOOTH_UPDATES} updates:\n1 straight, ~0 random walk, < 0 zig-zag",
              transform=ax_c.transAxes, ha="right", va="top", fontsize=8,
              bbox=dict(boxstyle="round", fc="w", ec="0.6", alpha=0.9))

    for name in ("GD", "Momentum", "Adam"):
        d = np.maximum(np.asarray(z[name]["distance"]), 1e-12)
        n = z[name]["updates_to_converge"]
        ax_d.plot(np.arange(d.size), d, color=COLORS[name], lw=1.5,
                  label=f"{name}: below {CONVERGED:g} after {n if n is not None else '>' + str(d.size - 1)} updates")
    ax_d.axhline(CONVERGED, color="0.5", ls=":", lw=1)
    ax_d.set_yscale("log")
    ax_d.set_xlabel("parameter updates")
    ax_d.set_ylabel("distance to the optimum")
    ax_d.set_title(f"(d) Distance to the optimum (log scale), full batch, momentum beta {BETA}, Adam lr {ADAM_LR}",
                   fontsize=9)
    ax_d.grid(alpha=0.3, which="both")
    ax_d.legend(fontsize=8, loc="lower left")
    fig.suptitle("Gradient-descent variants on y = w x + b: noisy gradients stall at a floor; momentum cancels "
                 "the zig-zag")
    return fig
