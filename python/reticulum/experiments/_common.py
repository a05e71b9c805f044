"""Shared plumbing for the experiments: output folder, JSON, optional matplotlib figures, and the
statistics every compared quantity is reported with (mean, standard error, 95% interval, verdict)."""
import contextlib
import functools
import json
import math
import os
import time

import numpy as np

from .. import get_num_threads, set_num_threads

PLOT_HINT = ('matplotlib is not installed, so no PNG was written (the JSON has all the numbers); '
             'install it with  pip install "reticulum[plot]"  (or pip install matplotlib) and rerun for the plot')


def prepare(out_dir):
    """Creates `out_dir` (and parents) and returns it as a str."""
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    return out_dir


@contextlib.contextmanager
def num_threads(n):
    """Runs the block with rt.set_num_threads(n), restoring the previous count afterwards. The
    experiments' models are tiny: one thread is faster than two for them (no OpenMP fork/join per
    op, no collapse when another process holds a core) and makes runs bit-reproducible."""
    old = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(old)


def threads(n):
    """Decorator: the wrapped run() executes under num_threads(n)."""
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            with num_threads(n):
                return fn(*args, **kwargs)
        return inner
    return wrap


def figure(width, height):
    """A matplotlib Figure drawn with the Agg canvas (no pyplot, no display), or None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def by_metric(runs, *metrics):
    """{metric: {run name: value}} from {run name: {metric: value, ...}}: the headline table of
    experiments that compare several variants."""
    return {m: {name: r[m] for name, r in runs.items()} for m in metrics}


# Student-t quantiles t(0.975, df) for df = 1..30: a 95% confidence interval of the mean of n repeats
# is mean +- t(0.975, n - 1) * standard error. The normal 1.96 would understate it for few repeats
# (n = 3: 4.30, not 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"


def t975(df):
    """The 97.5% quantile of Student's t with `df` degrees of freedom (df >= 1)."""
    if df < 1:
        raise ValueError(f"t975: need df >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964  # Cornish-Fisher expansion around the normal quantile: within 1e-4 of the exact value for df > 30
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def mean_ci(samples):
    """Mean, sample standard deviation, standard error and 95% confidence interval (Student t) of the
    repeats in `samples`; se and the interval are NaN for a single repeat (no error bar from one run)."""
    a = np.asarray(samples, dtype=np.float64).ravel()
    mean = float(a.mean())
    if a.size < 2:
        return {"mean": mean, "std": math.nan, "se": math.nan, "ci95": [math.nan, math.nan], "n": int(a.size)}
    sd = float(a.std(ddof=1))
    se = sd / math.sqrt(a.size)
    half = t975(a.size - 1) * se
    return {"mean": mean, "std": sd, "se": se, "ci95": [mean - half, mean + half], "n": int(a.size)}


def difference(a, b, paired):
    """mean_ci() of mean(a) - mean(b): of the per-repeat differences when the repeats are paired (the
    same data or seed for both), else Welch's interval for two independent samples."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if paired:
        return mean_ci(a - b)
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    mean = float(a.mean() - b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return {"mean": mean, "std": math.nan, "se": 0.0, "ci95": [mean, mean], "n": int(min(a.size, b.size))}
    df = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))  # Welch-Satterthwaite
    half = t975(max(int(df), 1)) * se
    return {"mean": mean, "std": math.nan, "se": se, "ci95": [mean - half, mean + half], "n": int(min(a.size, b.size))}


def verdict(ci, threshold=0.0):
    """Verdict on the claim "the quantity is above `threshold`" from its 95% interval: supported when
    the whole interval lies above, contradicted when it lies below, inconclusive (within the noise)
    when it contains the threshold or is undefined."""
    lo, hi = ci
    if math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE
    return SUPPORTED if lo > threshold else CONTRADICTED if hi < threshold else INCONCLUSIVE


def within(ci, lo, hi):
    """Verdict on "the quantity lies between lo and hi" from its 95% interval."""
    if math.isnan(ci[0]) or math.isnan(ci[1]):
        return INCONCLUSIVE
    if ci[0] > lo and ci[1] < hi:
        return SUPPORTED
    if ci[1] < lo or ci[0] > hi:
        return CONTRADICTED
    return INCONCLUSIVE


def all_of(*verdicts):
    """Verdict on a conjunction: contradicted when one part is, supported when every part is."""
    if CONTRADICTED in verdicts:
        return CONTRADICTED
    return SUPPORTED if all(v == SUPPORTED for v in verdicts) else INCONCLUSIVE


def claim(statement, result, evidence):
    """One tested statement, its verdict (SUPPORTED / CONTRADICTED / INCONCLUSIVE; a bool is a yes/no
    measurement) and the numbers behind it, as stored in the JSON's "claims"."""
    if isinstance(result, (bool, np.bool_)):
        result = SUPPORTED if result else CONTRADICTED
    if result not in (SUPPORTED, CONTRADICTED, INCONCLUSIVE):
        raise ValueError(f"claim: unknown verdict {result!r}")
    return {"claim": statement, "verdict": result, "evidence": evidence}


def fmt_ci(stats, scale=1.0, digits=2):
    """'mean +- half-width (n = k)' of a mean_ci() dict, values multiplied by `scale`."""
    half = (stats["ci95"][1] - stats["ci95"][0]) / 2
    return f"{scale * stats['mean']:.{digits}f} +- {scale * half:.{digits}f} (95% CI, n = {stats['n']})"


def _clean(x):
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if hasattr(x, "tolist"):  # NumPy scalars and arrays
        return _clean(x.tolist())
    if isinstance(x, float):
        return float(f"{x:.6g}") if math.isfinite(x) else None  # 6 significant digits keep the JSON small
    return x


QUICK_NOTE = ("quick run: too few repeats or updates to decide the claims marked inconclusive; "
              "run without --quick before concluding anything from them")


def finish(out_dir, name, results, plot, t0, summary=None, claims=()):
    """Draws the figure with `plot(results) -> Figure or None`, writes <name>.png (when matplotlib is
    available) and <name>.json into out_dir, and returns the JSON-ready results dict (floats rounded
    to 6 significant digits, NaN -> None) with the file paths, the wall time,
    `summary(results) -> dict` (a few headline numbers) and `claims` (a list of claim() dicts) added
    first in the file. A quick run with an inconclusive claim says so in "quick_note"."""
    head = {"experiment": results["experiment"]}
    if summary is not None:
        head["summary"] = _clean(summary(_clean(results)))
    if claims:
        head["claims"] = _clean(list(claims))
        if results.get("quick") and any(c["verdict"] == INCONCLUSIVE for c in claims):
            head["quick_note"] = QUICK_NOTE
    results = {**head, **_clean(results)}
    png = os.path.join(out_dir, name + ".png")
    fig = plot(results)
    if fig is not None:
        if results.get("quick"):  # a reduced run's figure must not pass for the real one
            fig.text(0.004, 0.996, "QUICK RUN: not for conclusions", ha="left", va="top", fontsize=9, color="tab:red")
        fig.savefig(png, dpi=110)
        results["png"] = png
    else:
        results["png"] = None
        results["plot_note"] = PLOT_HINT
    results["json"] = os.path.join(out_dir, name + ".json")
    results["wall_time_s"] = round(time.perf_counter() - t0, 2)
    tmp = results["json"] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    os.replace(tmp, results["json"])
    return results
