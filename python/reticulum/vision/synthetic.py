"""Synthetic toy problems, each returning (X float32 tensor [n, d], y tensor). Classification
sets give int64 labels [n] (use y.float().unsqueeze(1) for BCE); regression gives float32
[n, 1]. Every generator takes `seed` (None: drawn from rt's global generator, so
rt.manual_seed decides it)."""
import numpy as np

from .. import _C
from ..utils.data import _check_seed, _draw_seed

__all__ = ["xor", "polynomial", "two_moons", "blobs"]


def _rng(seed, name):
    seed = _check_seed(seed, name)
    return np.random.default_rng(_draw_seed() if seed is None else seed)


def _check_n(n, name, minimum=1):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(f"{name}: n must be an int >= {minimum}, got {n!r}")
    return int(n)


def _check_noise(noise, name):
    if noise < 0:
        raise ValueError(f"{name}: noise must be non-negative, got {noise}")
    return float(noise)


def _out(x, y, y_float):
    xt = _C.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    yt = _C.from_numpy(np.ascontiguousarray(y, dtype=np.float32 if y_float else np.int64))
    return xt, yt


def xor(n=200, noise=0.1, seed=None):
    """XOR: points at the four corners of the unit square plus Gaussian noise (std `noise`);
    label 1 where exactly one coordinate is 1. Returns X [n, 2] float32, y [n] int64."""
    n, noise = _check_n(n, "xor"), _check_noise(noise, "xor")
    rng = _rng(seed, "xor")
    corners = rng.integers(0, 2, size=(n, 2))
    x = corners + noise * rng.standard_normal((n, 2))
    return _out(x, corners[:, 0] ^ corners[:, 1], False)


def polynomial(n=100, degree=3, coeffs=None, noise=0.1, x_range=(-1.0, 1.0), seed=None):
    """Regression y = sum_k coeffs[k] * x**k + noise * N(0, 1) with x uniform in x_range.
    coeffs (lowest order first) default to standard-normal draws for the given degree.
    Returns X [n, 1] float32, y [n, 1] float32."""
    n, noise = _check_n(n, "polynomial"), _check_noise(noise, "polynomial")
    lo, hi = (float(v) for v in x_range)
    if not lo < hi:
        raise ValueError(f"polynomial: x_range must be (low, high) with low < high, got {x_range!r}")
    rng = _rng(seed, "polynomial")
    if coeffs is None:
        if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 0:
            raise ValueError(f"polynomial: degree must be a non-negative int, got {degree!r}")
        c = rng.standard_normal(int(degree) + 1)
    else:
        c = np.asarray(coeffs, dtype=np.float64)
        if c.ndim != 1 or c.size == 0:
            raise ValueError(f"polynomial: coeffs must be a non-empty 1-D sequence (lowest order first), got shape {c.shape}")
    x = rng.uniform(lo, hi, n)
    y = np.polynomial.polynomial.polyval(x, c) + noise * rng.standard_normal(n)
    return _out(x[:, None], y[:, None], True)


def two_moons(n=200, noise=0.1, seed=None):
    """Two interleaving half circles (scikit-learn's make_moons): n // 2 points of class 0
    on the upper moon, the rest class 1 on the lower one, shuffled, Gaussian noise of std
    `noise`. Returns X [n, 2] float32, y [n] int64."""
    n, noise = _check_n(n, "two_moons", 2), _check_noise(noise, "two_moons")
    rng = _rng(seed, "two_moons")
    n_out = n // 2
    n_in = n - n_out
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    x = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1)])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    perm = rng.permutation(n)
    x = x[perm] + noise * rng.standard_normal((n, 2))
    return _out(x, y[perm], False)


def blobs(n=300, centers=3, std=1.0, seed=None, dim=2, box=(-10.0, 10.0)):
    """Isotropic Gaussian clusters (scikit-learn's make_blobs): `centers` is a count (drawn
    uniformly in `box` in `dim` dimensions) or a [k, dim] array; samples are split as evenly
    as possible between clusters, std is one number or one per cluster; shuffled.
    Returns X [n, dim] float32, y [n] int64 cluster ids."""
    n = _check_n(n, "blobs")
    rng = _rng(seed, "blobs")
    if isinstance(centers, (int, np.integer)) and not isinstance(centers, bool):
        if centers < 1:
            raise ValueError(f"blobs: centers must be >= 1, got {centers}")
        c = rng.uniform(box[0], box[1], size=(int(centers), int(dim)))
    else:
        c = np.asarray(centers, dtype=np.float64)
        if c.ndim != 2 or c.shape[0] < 1:
            raise ValueError(f"blobs: centers must be an int or a [k, dim] array, got shape {c.shape}")
    k = c.shape[0]
    s = np.broadcast_to(np.asarray(std, dtype=np.float64), (k,)) if np.ndim(std) <= 1 and np.size(std) in (1, k) else None
    if s is None or np.any(s < 0):
        raise ValueError(f"blobs: std must be a non-negative number or one per center ({k}), got {std!r}")
    y = np.arange(n, dtype=np.int64) % k
    y.sort()
    x = c[y] + s[y, None] * rng.standard_normal((n, c.shape[1]))
    perm = rng.permutation(n)
    return _out(x[perm], y[perm], False)
