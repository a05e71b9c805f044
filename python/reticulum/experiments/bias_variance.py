"""Bias-variance trade-off of polynomial regression.

For labels y = f(x) + eps with zero-mean noise of variance sigma^2, and a model f_S fitted to a
random training set S, the expected squared error at an input x* splits into three parts:
  E_S,eps[(y* - f_S(x*))^2] = (f(x*) - E_S[f_S(x*)])^2 + Var_S[f_S(x*)] + sigma^2
                              bias^2                    variance           noise
Simple models are wrong on average (bias), flexible ones depend on the particular training set
(variance); the best complexity balances the two, and the noise is a floor no model goes below.

The true function is a Gaussian bump f(x) = exp(-(x - 0.4)^2 / (2 * 0.1^2)) on [0, 1] with
Gaussian label noise of std 0.3; unlike sin(2 pi x), whose polynomial approximation
error drops to ~1e-8 by degree 7, its bias keeps falling steadily over degrees 1..12. Many
training sets of 25 points are drawn (inputs stratified: one uniform point in each of 25 equal
bins, fresh noise every time), and a least-squares polynomial of each degree 1..12 is fitted
to every set. Features are Legendre polynomials of 2x - 1 (the same hypothesis
space as monomials, but well conditioned) and the least-squares problem is solved exactly with
reticulum: batched conjugate gradient on the normal equations in float64 (rt.bmm), for all
training sets at once; a NumPy lstsq check of a few sets is reported.

At test inputs x* (a grid over [0, 1]) the decomposition is estimated from the fits f_s:
bias^2 = (f(x*) - mean_s f_s(x*))^2 (minus the var/S finite-sample correction),
variance = var_s f_s(x*), noise = sigma^2; their sum is compared with the directly measured
expected squared error against fresh noisy labels y* = f(x*) + eps (mean over the training sets,
with its 95% interval).
"""
import time

import numpy as np

from .. import bmm, cat, from_numpy, matmul, ones_like, zeros_like
from ._common import claim, figure, finish, mean_ci, prepare, threads

NAME = "bias_variance"
SIGMA = 0.3
N_POINTS = 25
DEGREES = tuple(range(1, 13))


def true_f(x):
    return np.exp(-(x - 0.4) ** 2 / (2 * 0.1 ** 2))


def legendre_features(x, degree):
    """[..., 1] inputs in [0, 1] -> [..., degree + 1] features sqrt(2k+1) P_k(2x - 1), k = 0..degree
    (orthonormal for uniform x), by the three-term recurrence in reticulum ops."""
    t = 2 * x - 1
    p = [ones_like(t), t]
    for k in range(1, degree):
        p.append(((2 * k + 1) * t * p[k] - k * p[k - 1]) / (k + 1))
    return cat([p[k] * float(np.sqrt(2 * k + 1)) for k in range(degree + 1)], dim=-1)


def lstsq_cg(phi, y, iters):
    """Batched least squares min_w ||phi w - y||^2 for phi [S, n, p], y [S, n, 1]: conjugate
    gradient on the normal equations (phi^T phi) w = phi^T y, all S problems at once."""
    a = bmm(phi.transpose(1, 2), phi)
    b = bmm(phi.transpose(1, 2), y)
    w, r = zeros_like(b), b.clone()
    d = r.clone()
    rr = (r * r).sum(dim=1, keepdim=True)
    tiny = 1e-300  # 0/0 guard once a problem has converged exactly
    for _ in range(iters):
        ad = bmm(a, d)
        alpha = rr / ((d * ad).sum(dim=1, keepdim=True) + tiny)
        w = w + alpha * d
        r = r - alpha * ad
        rr_new = (r * r).sum(dim=1, keepdim=True)
        d = r + (rr_new / (rr + tiny)) * d
        rr = rr_new
    return w


def summary(r):
    """Headline numbers of a run() result."""
    i = r["degrees"].index(r["best_degree"])
    return {"bias2_degree1": r["bias2"][0], "bias2_degree12": r["bias2"][-1],
            "variance_degree1": r["variance"][0], "variance_degree12": r["variance"][-1],
            "best_degree": r["best_degree"], "best_expected_error": r["best_expected_error"],
            "best_measured_test_error": r["measured_test_error"][i], "noise": SIGMA ** 2}


@threads(1)
def run(out_dir, quick=False):
    """Fits polynomials of degree 1..12 to many noisy training sets; writes bias_variance.png/.json."""
    t0 = time.perf_counter()
    out_dir = prepare(out_dir)
    n_sets = 500 if quick else 10000
    rng = np.random.default_rng(0)
    x_np = (np.arange(N_POINTS)[None, :, None] + rng.uniform(0, 1, (n_sets, N_POINTS, 1))) / N_POINTS
    y_np = true_f(x_np) + SIGMA * rng.standard_normal(x_np.shape)
    x, y = from_numpy(x_np), from_numpy(y_np)
    x_star_np = np.linspace(0, 1, 201)
    x_star = from_numpy(x_star_np.reshape(-1, 1))
    f_star = true_f(x_star_np)
    y_star = f_star[None, :] + SIGMA * rng.standard_normal((n_sets, x_star_np.size))  # fresh test labels per set

    curves = {k: [] for k in ("bias2", "variance", "noise", "expected_error", "measured_test_error",
                              "measured_test_error_ci95", "train_error", "cg_check_rel_diff")}
    examples = {}
    for degree in DEGREES:
        phi = legendre_features(x, degree)                      # [S, n, p] float64
        w = lstsq_cg(phi, y, iters=4 * (degree + 1))            # [S, p, 1]
        train_err = ((bmm(phi, w) - y) ** 2).mean().item()
        preds = matmul(w.reshape(n_sets, degree + 1), legendre_features(x_star, degree).transpose(0, 1))  # [S, m]
        p = preds.numpy()
        mean_fit = p.mean(axis=0)
        var = p.var(axis=0, ddof=1)
        bias2 = (f_star - mean_fit) ** 2 - var / n_sets         # unbiased estimate of (f - E f_hat)^2
        curves["bias2"].append(max(float(bias2.mean()), 0.0))
        curves["variance"].append(float(var.mean()))
        curves["noise"].append(SIGMA ** 2)
        curves["expected_error"].append(curves["bias2"][-1] + curves["variance"][-1] + SIGMA ** 2)
        per_set = ((y_star - p) ** 2).mean(axis=1)
        curves["measured_test_error"].append(float(per_set.mean()))
        curves["measured_test_error_ci95"].append(mean_ci(per_set)["ci95"])
        curves["train_error"].append(train_err)
        k = min(8, n_sets)
        phi_k = phi[:k].numpy()
        ref = np.stack([np.linalg.lstsq(phi_k[s], y_np[s], rcond=None)[0] for s in range(k)])
        curves["cg_check_rel_diff"].append(float(np.abs(w.numpy()[:k] - ref).max() / np.abs(ref).max()))
        examples[degree] = {"mean_fit": mean_fit[::4].copy(), "fits": p[:15, ::4].copy()}  # copies: p is big

    best = int(np.argmin(curves["expected_error"]))
    shown = (DEGREES[0], DEGREES[best], DEGREES[-1])
    res = {
        "experiment": NAME, "quick": quick,
        "setup": {"true_function": "exp(-(x - 0.4)^2 / (2 * 0.1^2)), x in [0, 1]", "noise_std": SIGMA,
                  "points_per_set": N_POINTS, "training_sets": n_sets, "test_points": int(x_star_np.size),
                  "fit": "least squares on Legendre features, batched conjugate gradient (float64 rt ops)"},
        "degrees": list(DEGREES), **curves,
        "best_degree": DEGREES[best], "best_expected_error": curves["expected_error"][best],
        "examples": {"x": x_star_np[::4], **{str(d): examples[d] for d in shown}},
    }

    def plot(r):
        fig = figure(15, 4.8)
        if fig is None:
            return None
        gs = fig.add_gridspec(2, 3, width_ratios=[1.6, 1, 1])
        ax = fig.add_subplot(gs[:, 0])
        deg = r["degrees"]
        ax.plot(deg, r["bias2"], "o-", color="tab:blue", label="bias$^2$")
        ax.plot(deg, r["variance"], "s-", color="tab:orange", label="variance")
        ax.plot(deg, r["noise"], "--", color="0.4", label="noise $\\sigma^2$ (irreducible)")
        ax.plot(deg, r["expected_error"], "-", color="k", lw=2.2, label="bias$^2$ + variance + $\\sigma^2$")
        meas, ci = np.asarray(r["measured_test_error"]), np.asarray(r["measured_test_error_ci95"])
        ax.errorbar(deg, meas, yerr=[meas - ci[:, 0], ci[:, 1] - meas], fmt="x", color="tab:red", ms=8, mew=2,
                    capsize=3, label="measured test MSE (fresh labels), 95% CI")
        ax.plot(deg, r["train_error"], "^:", color="tab:green", label="training MSE")
        ax.axvline(r["best_degree"], color="tab:purple", ls=":", lw=1.5)
        ax.annotate(f"sweet spot\n(degree {r['best_degree']})", (r["best_degree"], r["best_expected_error"]),
                    xytext=(r["best_degree"] + 0.4, 2.6 * r["best_expected_error"]), color="tab:purple",
                    arrowprops=dict(arrowstyle="->", color="tab:purple"))
        ax.set_yscale("log")
        ax.set_xlabel("polynomial degree (complexity)")
        ax.set_ylabel("squared error (mean over test inputs)")
        ax.set_xticks(deg)
        ax.set_title(f"Bias-variance decomposition\n{r['setup']['training_sets']} training sets "
                     f"of {N_POINTS} noisy points each", fontsize=10)
        ax.legend(fontsize=8, loc="lower left")
        ax.grid(alpha=0.3, which="both")
        ex = r["examples"]
        xs = np.asarray(ex["x"])
        xf = np.linspace(0, 1, 200)
        names = [str(d) for d in (deg[0], r["best_degree"], deg[-1])]
        for i, d in enumerate(names):
            a = fig.add_subplot(gs[i // 2, 1 + i % 2]) if i < 2 else fig.add_subplot(gs[1, 1])
            for fit in ex[d]["fits"]:
                a.plot(xs, fit, color="tab:orange", alpha=0.35, lw=0.8)
            a.plot(xf, true_f(xf), "k-", lw=1.5, label="true $f$")
            a.plot(xs, ex[d]["mean_fit"], color="tab:blue", lw=2, label="mean fit $E[\\hat f]$")
            a.set_ylim(-0.9, 1.6)
            a.set_title(f"degree {d}: " + ("high bias" if i == 0 else "sweet spot" if i == 1 else "high variance"),
                        fontsize=9)
            a.tick_params(labelsize=7)
            if i == 0:
                a.plot([], [], color="tab:orange", alpha=0.6, label="15 individual fits")
                a.legend(fontsize=7, loc="lower left")
        a = fig.add_subplot(gs[1, 2])
        a.axis("off")
        i = r["degrees"].index(r["best_degree"])
        a.text(0.0, 0.95, "Numbers (mean over x*):\n"
               f"degree 1:  bias$^2$ {r['bias2'][0]:.3f}, var {r['variance'][0]:.4f}\n"
               f"degree {r['best_degree']}:  bias$^2$ {r['bias2'][i]:.4f}, var {r['variance'][i]:.4f}\n"
               f"degree 12: bias$^2$ {r['bias2'][-1]:.5f}, var {r['variance'][-1]:.3f}\n"
               f"noise $\\sigma^2$ = {SIGMA ** 2:.2f}", va="top", fontsize=8.5, family="monospace")
        return fig

    return finish(out_dir, NAME, res, plot, t0, summary, _claims(res))


def _claims(r):
    pred, meas = np.asarray(r["expected_error"]), np.asarray(r["measured_test_error"])
    worst = float(np.max(np.abs(pred - meas) / meas))
    var, bias2 = np.asarray(r["variance"]), np.asarray(r["bias2"])
    return [
        claim("bias^2 + variance + noise equals the measured expected test error (within 2% at every degree)",
              worst < 0.02, f"largest relative difference {100 * worst:.2f}%; measured 95% CI half-width at degree 12: "
              f"{(r['measured_test_error_ci95'][-1][1] - r['measured_test_error_ci95'][-1][0]) / 2:.4f}"),
        claim("variance rises with the degree (at every step, and more than 10-fold from degree 1 to 12)",
              bool(np.all(np.diff(var) > 0) and var[-1] > 10 * var[0]),
              f"variance degree 1: {var[0]:.4f}, degree 12: {var[-1]:.4f}"),
        claim("bias^2 falls with the degree (degree 12 below 5% of degree 1)", bool(bias2[-1] < 0.05 * bias2[0]),
              f"bias^2 degree 1: {bias2[0]:.4f}, degree 12: {bias2[-1]:.6f}"),
        claim("the expected error has a sweet spot strictly between the simplest and the most flexible model",
              1 < r["best_degree"] < r["degrees"][-1], f"best degree {r['best_degree']}"),
    ]
