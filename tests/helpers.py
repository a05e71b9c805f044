"""Shared helpers for the tests: seeded generators and value-domain samplers, NumPy <-> reticulum
conversion, non-contiguous layouts, central differences, hang guards."""
import contextlib
import signal
import zlib

import numpy as np

import reticulum as rt

NP_DTYPE = {rt.float32: np.float32, rt.float64: np.float64, rt.int64: np.int64, rt.bool: np.bool_}
LAYOUTS = ["contig", "noncontig"]


def rng(*key):
    """A NumPy generator seeded deterministically from `key` (typically the test's parameters), so every
    case draws the same values in every run and no two cases share a stream by accident."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# Fixed inputs at the points where ops have kinks, ties or special values (used by name as domains).
KINKS = np.array([[-1.0, 0.0, 1.0, 2.0], [2.0, 2.0, 0.0, -1.0], [1.0, -1.0, 1.0, 0.0]])  # zeros, ties, clamp bounds 0 and 1
KINKS_EXP = np.array([0.0, 0.0, 1.0, 3.0])  # exponents, 0 and 1 included
NONFINITE = np.array([[np.nan, np.inf, -np.inf, 0.0], [-0.0, 1.0, -2.0, np.nan], [np.inf, 3.0, -1.0, 0.5]])
_FIXED = {"kinks": KINKS, "kinks_exp": KINKS_EXP, "nonfinite": NONFINITE}
_INT_RANGE = {"any": (-5, 6), "nonzero": (1, 4), "pos": (1, 4), "exp": (0, 4), "small": (-2, 3), "ties": (-2, 3), "zeros": (-5, 6)}


def values(domain, shape, dtype, r):
    """An array of `shape` (NumPy dtype of reticulum dtype `dtype`) drawn from a named value domain:
    any        uniform in [-2, 2]
    zeros      as any, with every third element exactly 0 (the kink of relu, abs, sign, heaviside)
    ties       a 0.5 grid in [-2, 2], so equal elements occur
    nonzero    |x| in [0.3, 2.5]: away from kinks at 0 and from the pole of 1/x
    pos        [0.5, 2.5] (log, sqrt, bases of pow)
    exp        [-2, 2] (exponents)
    clamp      half in [-0.8, 0.8], half with |x| in [1.2, 2.5]: away from clamp bounds at -1 and 1
    distinct   distinct values on a 0.1 grid: a unique max/min in every slice
    huge       [-2, 2] shifted by +-1000 (overflow of naive softmax)
    kinks, kinks_exp, nonfinite   the fixed arrays above (shape must match)
    For int64 the domains map to small integer ranges; bool draws True/False."""
    shape = tuple(shape)
    if dtype == rt.bool:
        return np.asarray(r.random(shape) > 0.5)
    if dtype == rt.int64:
        v = r.integers(*_INT_RANGE[domain], size=shape)
        if domain == "nonzero":
            v = v * r.choice([-1, 1], size=shape)
        if domain == "zeros":
            v.flat[::3] = 0
        return np.asarray(v, dtype=np.int64)
    if domain in ("any", "exp"):
        v = r.uniform(-2, 2, shape)
    elif domain == "zeros":
        v = r.uniform(-2, 2, shape)
        v.flat[::3] = 0.0
    elif domain == "ties":
        v = np.round(r.uniform(-2, 2, shape) * 2) / 2
    elif domain == "nonzero":
        v = r.uniform(0.3, 2.5, shape) * r.choice([-1.0, 1.0], size=shape)
    elif domain == "pos":
        v = r.uniform(0.5, 2.5, shape)
    elif domain == "clamp":
        v = np.where(r.random(shape) < 0.5, r.uniform(-0.8, 0.8, shape), r.uniform(1.2, 2.5, shape) * r.choice([-1.0, 1.0], size=shape))
    elif domain == "distinct":
        n = int(np.prod(shape))
        v = (r.permutation(n) - n / 2).reshape(shape) * 0.1
    elif domain == "huge":
        v = r.uniform(-2, 2, shape) + np.where(r.random(shape) < 0.5, 1000.0, -1000.0)
    elif domain in _FIXED:
        v = _FIXED[domain]
        assert v.shape == shape, f"domain {domain} has shape {v.shape}, not {shape}"
    else:
        raise ValueError(f"unknown value domain {domain!r}")
    return np.asarray(v, dtype=NP_DTYPE[dtype])


def uniform(shape, key, lo=-1.5, hi=1.5):
    """float64 values uniform in [lo, hi), seeded by (key, shape)."""
    return rng(key, shape).uniform(lo, hi, shape)


def distinct(shape, key, step=0.1):
    """float64 values on a `step` grid, all different (no ties for max pooling / max), seeded by key."""
    n = int(np.prod(shape))
    return (rng("distinct", key).permutation(n) - n / 2).reshape(shape) * step


def probs(shape, axis, key):
    """Probabilities along `axis` (each slice sums to 1), none below ~0.05/len."""
    q = rng(key, shape).uniform(0.05, 1, shape)
    return q / q.sum(axis=axis, keepdims=True)


def idx(values_):
    """An int64 NumPy array (class targets, index lists)."""
    return np.asarray(values_, dtype=np.int64)


def numgrad(f, x, eps=1e-6):
    """Central differences of the scalar NumPy function f at x (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        o = flat[i]
        flat[i] = o + eps
        fp = f(x)
        flat[i] = o - eps
        fm = f(x)
        flat[i] = o
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def noncontig(a, dtype=None):
    """A reticulum tensor with the values of NumPy array `a` that is NOT contiguous: it lives
    (strided by 2, dims reversed) inside a larger buffer full of garbage, then is permuted back.
    The result is a leaf without history (a view of a tensor that does not require grad)."""
    a = np.asarray(a)
    dtype = dtype or {np.dtype(v): k for k, v in NP_DTYPE.items()}[a.dtype]
    if a.ndim == 0:
        return scalar_tensor(a, dtype)
    rev = tuple(range(a.ndim - 1, -1, -1))
    big = np.full(tuple(2 * s + 1 for s in a.shape[::-1]), 77, dtype=NP_DTYPE[dtype])  # 77: poison
    big[tuple(slice(1, None, 2) for _ in range(a.ndim))] = a.transpose(rev)
    t = rt.tensor(big, dtype=dtype)
    t = t[tuple(slice(1, None, 2) for _ in range(a.ndim))].permute(*rev)
    assert tuple(t.shape) == a.shape
    if a.size > 1:
        assert not t.is_contiguous()
    return t


def scalar_tensor(a, dtype):
    """A true 0-d tensor. Built via a 1-element tensor, so that op tests on 0-d inputs do not depend on
    rt.tensor(python_scalar) (whose own shape is checked separately in test_ops_reference)."""
    return rt.tensor(np.asarray(a).reshape(1), dtype=dtype).reshape(())


def make(a, layout="contig", dtype=None, requires_grad=False):
    """NumPy array -> reticulum tensor in the requested layout (values and dtype preserved)."""
    a = np.asarray(a)
    if dtype is None:
        dtype = {np.dtype(v): k for k, v in NP_DTYPE.items()}[a.dtype]
    if a.ndim == 0:
        t = scalar_tensor(a, dtype)
    else:
        t = rt.tensor(a, dtype=dtype) if layout == "contig" else noncontig(a.astype(NP_DTYPE[dtype]), dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t


def to_np(t):
    return t.detach().numpy()


def assert_close(actual, expected, rtol, atol, dtype=None, msg=""):
    """Compares a reticulum tensor with a NumPy array: shape, dtype (when given) and values."""
    assert isinstance(actual, rt.Tensor), f"{msg}: expected a Tensor, got {type(actual)}"
    expected = np.asarray(expected)
    assert tuple(actual.shape) == expected.shape, f"{msg}: shape {tuple(actual.shape)} != expected {expected.shape}"
    if dtype is not None:
        assert actual.dtype == dtype, f"{msg}: dtype {actual.dtype} != expected {dtype}"
    a = to_np(actual)
    if a.dtype.kind in "bi":
        np.testing.assert_array_equal(a, expected, err_msg=msg)
    else:
        np.testing.assert_allclose(a.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol, err_msg=msg)


def close(actual, expected, msg="", rtol=1e-10, atol=1e-10):
    """Compares a reticulum tensor with a NumPy array in float64: shape and values (tight by default)."""
    assert isinstance(actual, rt.Tensor), f"{msg}: expected a Tensor, got {type(actual)}"
    expected = np.asarray(expected)
    assert tuple(actual.shape) == expected.shape, f"{msg}: shape {tuple(actual.shape)} != expected {expected.shape}"
    np.testing.assert_allclose(to_np(actual).astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol, err_msg=msg)


@contextlib.contextmanager
def hang_guard(seconds, what):
    """Raises TimeoutError in the block once it has run `seconds` (wall clock): a test of code that could hang
    forever then fails instead of blocking the run. Not a timing assertion: pick a limit far above the normal
    run time. SIGALRM interrupts blocking calls in the main thread (lock waits, joins, opening a FIFO)."""
    def expired(signum, frame):
        raise TimeoutError(f"{what} still running after {seconds} s: hung")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_against_torch(torch, name, fn, arrays, layout):
    """fn(L, *inputs) run on reticulum (float64 inputs in `layout`) and on torch (contiguous): the outputs,
    and the gradients of every input under a fixed random weighting of the output, must agree."""
    def run(lib, layout_):
        if lib is torch:
            ins = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
        else:
            ins = [make(a, layout_, dtype=rt.float64, requires_grad=True) for a in arrays]
        out = fn(lib, *ins)
        weights = rng("w", tuple(out.shape)).uniform(-1, 1, tuple(out.shape))
        w = torch.tensor(weights) if lib is torch else rt.tensor(weights, dtype=rt.float64)
        (out * w).sum().backward()
        grads = [np.zeros(a.shape) if t.grad is None else t.grad.detach().numpy() for a, t in zip(arrays, ins)]
        return out.detach().numpy(), grads

    out, grads = run(rt, layout)
    ref_out, ref_grads = run(torch, "contig")
    assert out.shape == ref_out.shape, f"{name}: shape {out.shape} != torch {ref_out.shape}"
    np.testing.assert_allclose(out, ref_out, rtol=1e-12, atol=1e-12, err_msg=f"{name}: forward")
    for i, (g, ref) in enumerate(zip(grads, ref_grads)):
        assert np.all(np.isfinite(g)), f"{name}: non-finite gradient for input {i}: {g}"
        np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-12, err_msg=f"{name}: gradient of input {i}")
