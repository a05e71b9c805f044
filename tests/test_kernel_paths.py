"""Kernel paths the op records do not reach with their small samples: sizes that take the threaded and blocked
kernels (OpenMP splits above 32768 elements, SGEMM tiles and depth blocks at every CPU kernel level), the
float32 2x2 max-pooling kernel's ties, NaNs and row ends, and NaN propagation through the SIMD extrema."""
import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F
import references as R
from helpers import LAYOUTS, assert_close, close, distinct, make, rng, to_np

F32, F64, I64 = rt.float32, rt.float64, rt.int64


def test_nan_propagates_through_reductions_and_maximum():
    x = np.array([[1.0, np.nan, 3.0], [2.0, 0.0, -1.0]], np.float32)
    t = make(x, "noncontig")
    np.testing.assert_array_equal(to_np(t.max(1).values), np.max(x, 1))
    np.testing.assert_array_equal(to_np(t.min(1).values), np.min(x, 1))
    np.testing.assert_array_equal(to_np(t.argmax(1)), np.argmax(x, 1))
    np.testing.assert_array_equal(to_np(t.sum(1)), np.sum(x, 1))
    assert np.isnan(t.max().item()) and np.isnan(t.min().item())
    np.testing.assert_array_equal(to_np(rt.maximum(t, make(x[::-1].copy()))), np.maximum(x, x[::-1]))
    np.testing.assert_array_equal(to_np(rt.minimum(make(x[::-1].copy()), t)), np.minimum(x[::-1], x))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_large_inputs_take_the_threaded_paths(layout):
    """Above 32768 elements the CPU kernels split the work over OpenMP threads; the results must not change."""
    r = rng("large")
    a = r.standard_normal((70, 600)).astype(np.float32)
    b = r.standard_normal((600,)).astype(np.float32)
    ta, tb = make(a, layout), make(b, layout)
    a64 = a.astype(np.float64)
    tol = dict(rtol=1e-5, atol=1e-4)
    assert_close(ta + tb, a64 + b, dtype=F32, **tol)
    assert_close(ta.flatten() * 2, a64.reshape(-1) * 2, dtype=F32, **tol)
    assert_close(ta.exp(), np.exp(a64), dtype=F32, **tol)
    assert_close(ta.sum(0), a64.sum(0), dtype=F32, **tol)
    assert_close(ta.sum(1), a64.sum(1), dtype=F32, **tol)
    assert_close(ta.sum(), a64.sum(), dtype=F32, **tol)
    assert_close(ta.var(0), a64.var(0, ddof=1), dtype=F32, **tol)
    assert_close(ta.max(1).values, a64.max(1), dtype=F32, **tol)
    assert_close(ta.argmin(0), a.argmin(0), dtype=I64, rtol=0, atol=0)
    assert_close(ta.softmax(1), R.softmax(a.astype(np.float64), 1), dtype=F32, **tol)
    assert_close(ta.log_softmax(0), R.log_softmax(a.astype(np.float64), 0), dtype=F32, **tol)
    assert_close((ta > 0).sum(1), (a > 0).sum(1), dtype=I64, rtol=0, atol=0)
    assert_close(ta[make(np.arange(70)[::-1].copy())], a[::-1], dtype=F32, rtol=0, atol=0)
    assert_close(ta @ ta.T, a64 @ a64.T, dtype=F32, rtol=1e-4, atol=1e-3)


SGEMM_SHAPES = [(16, 32, 1), (12, 16, 3), (17, 33, 7), (25, 47, 513), (130, 33, 300), (1000, 40, 20), (64, 100, 600), (128, 512, 784), (9, 4100, 300),
                (513, 96, 257)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("transposed", ["none", "a", "b", "both"])
@pytest.mark.parametrize("mnk", SGEMM_SHAPES, ids=str)
def test_blocked_float32_gemm(mnk, transposed, threads, cpu_level, poisoned_allocations):
    m, n, k = mnk
    r = rng("sgemm", mnk, transposed)
    a, b = r.standard_normal((m, k)).astype(np.float32), r.standard_normal((k, n)).astype(np.float32)
    ta = rt.tensor(np.ascontiguousarray(a.T)).t() if transposed in ("a", "both") else rt.tensor(a)
    tb = rt.tensor(np.ascontiguousarray(b.T)).t() if transposed in ("b", "both") else rt.tensor(b)
    before = rt.get_num_threads()
    rt.set_num_threads(threads)
    try:
        out = ta @ tb  # allocated as NaN: entries the kernels leave unwritten stay NaN
    finally:
        rt.set_num_threads(before)
    assert_close(out, a.astype(np.float64) @ b, dtype=F32, rtol=1e-5, atol=2e-6 * np.sqrt(k), msg=str(mnk))


def _max_pool_2x2_scan(x):
    """Window scan in row-major order: a larger value or a NaN takes over (so ties keep the
    first element and the last NaN wins); returns the maxima and the flat argmax per plane."""
    n, c, h, w = x.shape
    oh, ow = h // 2, w // 2
    out, arg = np.empty((n, c, oh, ow), x.dtype), np.empty((n, c, oh, ow), np.int64)
    for idx in np.ndindex(n, c, oh, ow):
        best, bi = -np.inf, None
        for dh in (0, 1):
            for dw in (0, 1):
                k = (2 * idx[2] + dh) * w + 2 * idx[3] + dw
                v = x[idx[0], idx[1]].flat[k]
                if bi is None or v > best or np.isnan(v):
                    best, bi = v, k
        out[idx], arg[idx] = best, bi
    return out, arg


@pytest.mark.parametrize("width", [2, 9, 20, 31, 32, 33, 60, 67])
def test_max_pool_2x2_float32_ties_nans_and_row_ends(width):
    r = np.random.default_rng(width)
    x = r.integers(0, 3, (2, 3, 5, width)).astype(np.float32)  # many ties
    x[r.random(x.shape) < 0.05] = np.nan
    x[r.random(x.shape) < 0.05] = -np.inf
    tx = rt.tensor(x, dtype=F32, requires_grad=True)
    y = F.max_pool2d(tx, 2)
    ref, arg = _max_pool_2x2_scan(x)
    np.testing.assert_array_equal(to_np(y), ref)
    y.sum().backward()
    grad = np.zeros(x.shape, np.float32).reshape(2, 3, -1)
    for idx in np.ndindex(arg.shape):
        grad[idx[0], idx[1], arg[idx]] += 1
    np.testing.assert_array_equal(to_np(tx.grad), grad.reshape(x.shape))


def test_max_pool_overlapping_windows_accumulate_gradient():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the max of all four 2x2 windows with stride 1
    x[0, 0] += distinct((3, 3), "ov", 0.37) * 0.01
    tx = rt.tensor(x, requires_grad=True)
    F.max_pool2d(tx, 2, 1).sum().backward()
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 4.0
    close(tx.grad, expected, "max_pool grad accumulation")


def test_large_conv2d_threaded_and_blocked_gemm():
    r = rng("bigconv")
    x, w, b = r.standard_normal((4, 16, 18, 18)), r.standard_normal((24, 8, 3, 3)), r.standard_normal(24)
    tx, tw, tb = rt.tensor(x, requires_grad=True), rt.tensor(w, requires_grad=True), rt.tensor(b, requires_grad=True)
    y = F.conv2d(tx, tw, tb, stride=1, padding=1, dilation=1, groups=2)
    ref = R.ref_conv(x, w, b, (1, 1), (1, 1), (1, 1), 2)
    close(y, ref, "big conv", rtol=1e-9, atol=1e-9)
    G = r.standard_normal(ref.shape)
    y.backward(rt.tensor(G))
    gx, gw, gb = R.ref_conv_grads(x, w, G, (1, 1), (1, 1), (1, 1), 2)
    close(tx.grad, gx, "big conv gx", rtol=1e-9, atol=1e-9)
    close(tw.grad, gw, "big conv gw", rtol=1e-9, atol=1e-9)
    close(tb.grad, gb, "big conv gb", rtol=1e-9, atol=1e-9)


def test_large_pools_threaded():
    shape = (4, 8, 24, 24)
    x = distinct(shape, "bigpool", 0.37)
    for kind, fn in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
        tx = rt.tensor(x, requires_grad=True)
        y = fn(tx, 3, 2, padding=1, ceil_mode=True)
        ref, aux = R.ref_pool(x, kind, (3, 3), (2, 2), (1, 1), True)
        close(y, ref, f"big {kind} pool")
        G = rng("bigpoolG", kind).standard_normal(ref.shape)
        y.backward(rt.tensor(G))
        close(tx.grad, R.ref_pool_grad(kind, G, aux), f"big {kind} pool grad")
    tx = rt.tensor(x, requires_grad=True)
    y = F.adaptive_avg_pool2d(tx, (5, 7))
    close(y, R.ref_adaptive(x, 5, 7)[0], "big adaptive")


def test_large_batch_norm_threaded():
    r = rng("bigbn")
    x = r.standard_normal((8, 6, 32, 32)) * 2 + 1
    w, b = r.uniform(0.5, 1.5, 6), r.standard_normal(6)
    trm, trv = rt.tensor(np.zeros(6)), rt.tensor(np.ones(6))
    tx = rt.tensor(x, requires_grad=True)
    y = F.batch_norm(tx, trm, trv, rt.tensor(w), rt.tensor(b), training=True)
    ref, mu, uvar = R.ref_bn_train(x, w, b, 1e-5)
    close(y, ref, "big bn", rtol=1e-9, atol=1e-9)
    close(trm, 0.1 * mu, "big bn rm")
    close(trv, 0.9 + 0.1 * uvar, "big bn rv")
    G = r.standard_normal(x.shape)
    y.backward(rt.tensor(G))
    # closed form of the batch-norm input gradient (training)
    axes = (0, 2, 3)
    xhat = (x - mu.reshape(1, -1, 1, 1)) / np.sqrt(x.var(axis=axes).reshape(1, -1, 1, 1) + 1e-5)
    gx = w.reshape(1, -1, 1, 1) / np.sqrt(x.var(axis=axes).reshape(1, -1, 1, 1) + 1e-5) * (
        G - G.mean(axis=axes, keepdims=True) - xhat * (G * xhat).mean(axis=axes, keepdims=True))
    close(tx.grad, gx, "big bn grad", rtol=1e-8, atol=1e-9)


def test_max_pool_propagates_nan():
    x = distinct((1, 1, 4, 4), "nan", 0.37)
    x[0, 0, 0, 1] = np.nan
    y = to_np(F.max_pool2d(rt.tensor(x), 2))
    assert np.isnan(y[0, 0, 0, 0])
    assert not np.isnan(y[0, 0, 1, 1]) and not np.isnan(y[0, 0, 0, 1]) and not np.isnan(y[0, 0, 1, 0])
