"""Experiments: each module demonstrates a classic result of machine-learning theory by training real
models with reticulum, with every compared quantity measured over repeats (mean and 95% confidence
interval) and each claim given a measured verdict. Every module has ``run(out_dir, quick=False) -> dict``
that writes ``<name>.png`` (needs matplotlib) and ``<name>.json`` into ``out_dir``; the JSON starts
with a summary and the claims with their verdicts (supported / contradicted / inconclusive).
``quick=True`` is a reduced version that takes seconds; where it is too small to decide a claim,
the verdict is inconclusive and the JSON says so. From the shell: ``reticulum experiment NAME [--quick]``.
"""
import importlib

EXPERIMENTS = {
    "xor": "the perceptron rule never fits XOR (it cycles); a 2-2-1 MLP does, via a separable hidden space",
    "bias_variance": "bias^2, variance and noise of polynomial regressors vs degree; their sum is the test error",
    "learning_curves": "train/test accuracy vs training-set size, low vs high capacity, trained to convergence",
    "gd_variants": "BGD converges, SGD/MBGD stall at a noise floor; momentum cancels GD's zig-zag",
    "vanishing_gradients": "per-layer gradient norms: vanishing (sigmoid), exploding (large init), two cures",
    "regularization": "train/test gap: none vs dropout vs L2 vs data augmentation, paired over 10 subsets",
}

__all__ = ["EXPERIMENTS", "get", "run"]


def get(name):
    """The module of experiment `name` (dashes or underscores)."""
    key = name.replace("-", "_")
    if key not in EXPERIMENTS:
        raise ValueError(f"unknown experiment '{name}' (available: {', '.join(EXPERIMENTS)})")
    return importlib.import_module(f"{__name__}.{key}")


def run(name, out_dir, quick=False):
    """Runs experiment `name` and returns its results dict."""
    return get(name).run(out_dir, quick=quick)
