"""Seed experiments: each module reproduces a figure or result of the seed chapter by training
real models with reticulum. Every module has ``run(out_dir, quick=False) -> dict`` that writes
``<name>.png`` (needs matplotlib) and ``<name>.json`` into ``out_dir``; ``quick=True`` is a reduced
version that takes seconds. From the shell: ``reticulum experiment NAME [--quick]``.
"""
import importlib

EXPERIMENTS = {
    "xor": "XOR solved by a 2-2-1 MLP; the hidden space is linearly separable (fig. 2.8)",
    "bias_variance": "bias^2, variance and noise of polynomial regressors vs degree (fig. 2.2, theorem 1)",
    "learning_curves": "train/test accuracy vs training-set size, low vs high capacity (fig. 2.3)",
    "gd_variants": "BGD, MBGD, SGD, momentum and Adam on a 2-parameter regression (fig. 2.14, alg. 1/4/5/6)",
    "vanishing_gradients": "per-layer gradient norms: sigmoid vs ReLU+He vs batch norm (eqs. 2.30-2.32)",
    "regularization": "train/test gap: none vs dropout vs L2 vs data augmentation",
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
