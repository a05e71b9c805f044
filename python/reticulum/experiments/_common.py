"""Shared plumbing for the seed experiments: output folder, JSON, optional matplotlib figures."""
import contextlib
import functools
import json
import math
import os
import time

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


def finish(out_dir, name, results, plot, t0, summary=None):
    """Draws the figure with `plot(results) -> Figure or None`, writes <name>.png (when matplotlib is
    available) and <name>.json into out_dir, and returns the JSON-ready results dict (floats rounded
    to 6 significant digits, NaN -> None) with the file paths, the wall time and
    `summary(results) -> dict` (a few headline numbers, first in the file) added."""
    results = _clean(results)
    if summary is not None:
        results = {"experiment": results["experiment"], "summary": _clean(summary(results)), **results}
    png = os.path.join(out_dir, name + ".png")
    fig = plot(results)
    if fig is not None:
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
