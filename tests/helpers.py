"""Shared helpers for the tests: NumPy <-> reticulum conversion, non-contiguous layouts, hang guards."""
import contextlib
import signal

import numpy as np

import reticulum as rt

NP_DTYPE = {rt.float32: np.float32, rt.float64: np.float64, rt.int64: np.int64, rt.bool: np.bool_}
LAYOUTS = ["contig", "noncontig"]


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
