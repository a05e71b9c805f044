"""reticulum.nn.functional against direct NumPy references (forward and backward).

The references are written from the definitions, independently of the C++ kernels:
convolution as a sum over kernel offsets of strided slices of the zero-padded input (itself
checked against a fully scalar loop), pooling as windows over a padded input, losses from their
formulas. Backward references are either the explicit adjoint (conv, pools, linear) or central
finite differences of the NumPy forward (batch norm, losses)."""
import zlib

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F
from helpers import make

F32, F64 = rt.float32, rt.float64
NP = {F32: np.float32, F64: np.float64}
TOL = {F64: dict(rtol=1e-10, atol=1e-10), F32: dict(rtol=2e-4, atol=2e-5)}


def rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def T(a, dtype=None, requires_grad=False):
    a = np.asarray(a)
    t = rt.tensor(a, dtype=dtype)
    if requires_grad:
        t.requires_grad_(True)
    return t


def npy(t):
    return t.detach().numpy()


def close(actual, expected, msg="", rtol=1e-10, atol=1e-10):
    assert isinstance(actual, rt.Tensor), f"{msg}: expected a Tensor, got {type(actual)}"
    expected = np.asarray(expected)
    assert tuple(actual.shape) == expected.shape, f"{msg}: shape {tuple(actual.shape)} != expected {expected.shape}"
    np.testing.assert_allclose(npy(actual).astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol, err_msg=msg)


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


def tup(v, n):
    return (v,) * n if isinstance(v, int) else tuple(v) * (n if len(v) == 1 else 1)


# ===================================================================== convolution references

def conv_padding(padding, w_shape, dilation, nd):
    if padding == "valid":
        return (0,) * nd
    if padding == "same":
        return tuple(d * (k - 1) // 2 for d, k in zip(dilation, w_shape[2:]))
    return tup(padding, nd)


def ref_conv(x, w, b, stride, padding, dilation, groups):
    """y[n, o, *p] = b[o] + sum_{c in group(o), k} w[o, c, *k] * xpad[n, c, *(p * stride + k * dilation)]."""
    nd = w.ndim - 2
    unb = x.ndim == nd + 1
    if unb:
        x = x[None]
    N, C = x.shape[:2]
    O, K = w.shape[0], w.shape[2:]
    Cg, Og = C // groups, O // groups
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out = [(xp.shape[2 + d] - dilation[d] * (K[d] - 1) - 1) // stride[d] + 1 for d in range(nd)]
    y = np.zeros((N, O, *out))
    for kk in np.ndindex(*K):
        sl = tuple(slice(kk[d] * dilation[d], kk[d] * dilation[d] + stride[d] * (out[d] - 1) + 1, stride[d]) for d in range(nd))
        xs = xp[(slice(None), slice(None)) + sl]
        for g in range(groups):
            wk = w[(slice(g * Og, (g + 1) * Og), slice(None)) + kk]
            y[:, g * Og:(g + 1) * Og] += np.einsum("nc...,oc->no...", xs[:, g * Cg:(g + 1) * Cg], wk)
    if b is not None:
        y += b.reshape((1, O) + (1,) * nd)
    return y[0] if unb else y


def ref_conv_scalar(x, w, b, stride, padding, dilation, groups):
    """The same definition as one scalar loop per output element (slow; validates ref_conv)."""
    nd = w.ndim - 2
    N, C = x.shape[:2]
    O, K = w.shape[0], w.shape[2:]
    Cg, Og = C // groups, O // groups
    S = x.shape[2:]
    out = [(S[d] + 2 * padding[d] - dilation[d] * (K[d] - 1) - 1) // stride[d] + 1 for d in range(nd)]
    y = np.zeros((N, O, *out))
    for n in range(N):
        for o in range(O):
            g = o // Og
            for p in np.ndindex(*out):
                acc = 0.0 if b is None else b[o]
                for c in range(Cg):
                    for kk in np.ndindex(*K):
                        pos = [p[d] * stride[d] - padding[d] + kk[d] * dilation[d] for d in range(nd)]
                        if all(0 <= pos[d] < S[d] for d in range(nd)):
                            acc += w[(o, c) + kk] * x[(n, g * Cg + c) + tuple(pos)]
                y[(n, o) + p] = acc
    return y


def ref_conv_grads(x, w, G, stride, padding, dilation, groups):
    """Adjoint of ref_conv for upstream gradient G: (dx, dw, db)."""
    nd = w.ndim - 2
    unb = x.ndim == nd + 1
    if unb:
        x, G = x[None], G[None]
    N, C = x.shape[:2]
    O, K = w.shape[0], w.shape[2:]
    Cg, Og = C // groups, O // groups
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out = G.shape[2:]
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    for kk in np.ndindex(*K):
        sl = tuple(slice(kk[d] * dilation[d], kk[d] * dilation[d] + stride[d] * (out[d] - 1) + 1, stride[d]) for d in range(nd))
        for g in range(groups):
            cs, os_ = slice(g * Cg, (g + 1) * Cg), slice(g * Og, (g + 1) * Og)
            wk = w[(os_, slice(None)) + kk]
            gxp[(slice(None), cs) + sl] += np.einsum("no...,oc->nc...", G[:, os_], wk)
            gw[(os_, slice(None)) + kk] += np.einsum("ncl,nol->oc", xp[(slice(None), cs) + sl].reshape(N, Cg, -1), G[:, os_].reshape(N, Og, -1))
    gx = gxp[(slice(None), slice(None)) + tuple(slice(p, p + s) for p, s in zip(padding, x.shape[2:]))]
    gb = G.sum(axis=(0,) + tuple(range(2, 2 + nd)))
    return (gx[0] if unb else gx), gw, gb


# (x shape, w shape, stride, padding, dilation, groups, bias)
CONV_CASES = {
    "1d_basic": ((2, 3, 10), (4, 3, 3), 1, 0, 1, 1, True),
    "1d_stride_pad_groups": ((2, 4, 11), (6, 2, 3), 2, 1, 1, 2, True),
    "1d_dilation_bigpad": ((1, 2, 9), (2, 2, 2), 1, 2, 3, 1, False),
    "1d_depthwise_same": ((3, 4, 7), (4, 1, 3), 1, "same", 1, 4, True),
    "1d_same_dilated": ((2, 2, 8), (3, 2, 3), 1, "same", 2, 1, True),
    "1d_unbatched": ((3, 8), (2, 3, 3), 3, (2,), 1, 1, True),
    "1d_valid_full_kernel": ((2, 2, 6), (3, 2, 6), 1, "valid", 1, 1, True),
    "1d_pointwise_groups": ((2, 4, 5), (6, 2, 1), 1, 0, 1, 2, True),
    "1d_k1_stride2": ((2, 3, 7), (2, 3, 1), 2, 0, 1, 1, False),
    "1d_k1_pad1": ((1, 3, 4), (2, 3, 1), 1, 1, 1, 1, True),
    "1d_stride_gt_kernel": ((2, 2, 13), (3, 2, 2), 4, 1, 2, 1, True),
    "2d_basic": ((2, 3, 6, 6), (4, 3, 3, 3), 1, 1, 1, 1, True),
    "2d_mixed": ((2, 4, 7, 8), (6, 2, 3, 2), (2, 1), (1, 0), (1, 2), 2, True),
    "2d_depthwise": ((1, 6, 9, 7), (6, 1, 3, 3), (2, 3), (2, 1), (2, 1), 6, False),
    "2d_valid_full": ((2, 3, 5, 5), (2, 3, 5, 5), 1, "valid", 1, 1, True),
    "2d_same_dilated": ((2, 2, 8, 8), (3, 2, 3, 3), 1, "same", (2, 3), 1, True),
    "2d_unbatched": ((3, 5, 6), (2, 3, 2, 2), (1, 2), 0, 1, 1, True),
    "2d_pointwise_groups": ((2, 6, 4, 5), (4, 3, 1, 1), 1, 0, 1, 2, True),
    "2d_stride_gt_kernel": ((1, 2, 9, 9), (2, 2, 2, 2), 3, 0, 1, 1, False),
    "2d_groups3_og3": ((2, 6, 5, 5), (9, 2, 3, 3), 1, 1, 1, 3, True),
    "2d_pad_exceeds_input": ((1, 1, 3, 3), (1, 1, 3, 3), 1, 2, 1, 1, True),
    "2d_rect_kernel_stride": ((2, 2, 7, 9), (2, 2, 1, 4), (3, 2), (0, 2), (1, 1), 1, True),
    "3d_basic": ((2, 2, 4, 4, 4), (3, 2, 2, 2, 2), 1, 0, 1, 1, True),
    "3d_mixed": ((1, 4, 5, 4, 6), (4, 2, 3, 1, 2), (2, 1, 2), (1, 0, 1), (1, 1, 2), 2, True),
    "3d_unbatched_same": ((2, 4, 4, 4), (2, 2, 3, 3, 3), 1, "same", 1, 1, False),
    "3d_groups_dilation": ((2, 3, 3, 5, 4), (6, 1, 1, 3, 3), 1, 1, (1, 2, 1), 3, True),
}
CONV_FN = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _conv_setup(name, dtype):
    xs, ws, stride, padding, dilation, groups, bias = CONV_CASES[name]
    nd = len(ws) - 2
    r = rng("conv", name)
    x, w = r.standard_normal(xs), r.standard_normal(ws)
    b = r.standard_normal(ws[0]) if bias else None
    st, dil = tup(stride, nd), tup(dilation, nd)
    pad = conv_padding(padding, ws, dil, nd)
    x, w = x.astype(NP[dtype]).astype(np.float64), w.astype(NP[dtype]).astype(np.float64)
    if b is not None:
        b = b.astype(NP[dtype]).astype(np.float64)
    return nd, x, w, b, (stride, padding, dilation, groups), (st, pad, dil, groups)


@pytest.mark.parametrize("name", ["1d_stride_pad_groups", "1d_dilation_bigpad", "2d_mixed", "2d_depthwise", "3d_mixed",
                                  "2d_pad_exceeds_input"])
def test_conv_reference_matches_scalar_loop(name):
    """The vectorised reference agrees with the scalar-loop definition (guards the reference itself)."""
    nd, x, w, b, _, (st, pad, dil, groups) = _conv_setup(name, F64)
    if x.ndim == nd + 1:
        x = x[None]
    np.testing.assert_allclose(ref_conv(x, w, b, st, pad, dil, groups), ref_conv_scalar(x, w, b, st, pad, dil, groups),
                               rtol=1e-12, atol=1e-12)


def test_conv_grad_reference_matches_finite_differences():
    nd, x, w, b, _, (st, pad, dil, groups) = _conv_setup("2d_mixed", F64)
    x, w = x[:1, :, :4, :5], w
    G = rng("G").standard_normal(ref_conv(x, w, b, st, pad, dil, groups).shape)
    gx, gw, gb = ref_conv_grads(x, w, G, st, pad, dil, groups)
    np.testing.assert_allclose(gx, numgrad(lambda a: (ref_conv(a, w, b, st, pad, dil, groups) * G).sum(), x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, numgrad(lambda a: (ref_conv(x, a, b, st, pad, dil, groups) * G).sum(), w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, numgrad(lambda a: (ref_conv(x, w, a, st, pad, dil, groups) * G).sum(), b), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(CONV_CASES))
def test_conv_forward_backward(name, dtype):
    nd, x, w, b, (stride, padding, dilation, groups), (st, pad, dil, _) = _conv_setup(name, dtype)
    tx, tw = T(x, dtype, True), T(w, dtype, True)
    tb = T(b, dtype, True) if b is not None else None
    y = CONV_FN[nd](tx, tw, tb, stride=stride, padding=padding, dilation=dilation, groups=groups)
    ref = ref_conv(x, w, b, st, pad, dil, groups)
    assert y.dtype == dtype
    close(y, ref, f"{name} forward", **TOL[dtype])
    G = rng("conv-G", name).standard_normal(ref.shape).astype(NP[dtype]).astype(np.float64)
    y.backward(T(G, dtype))
    gx, gw, gb = ref_conv_grads(x, w, G, st, pad, dil, groups)
    close(tx.grad, gx, f"{name} grad input", **TOL[dtype])
    close(tw.grad, gw, f"{name} grad weight", **TOL[dtype])
    if b is not None:
        close(tb.grad, gb, f"{name} grad bias", **TOL[dtype])


@pytest.mark.parametrize("name", ["1d_stride_pad_groups", "2d_mixed", "3d_groups_dilation"])
def test_conv_noncontiguous_inputs(name):
    nd, x, w, b, (stride, padding, dilation, groups), (st, pad, dil, _) = _conv_setup(name, F64)
    tx, tw = make(x, "noncontig", requires_grad=True), make(w, "noncontig", requires_grad=True)
    tb = make(b, "noncontig", requires_grad=True)
    y = CONV_FN[nd](tx, tw, tb, stride=stride, padding=padding, dilation=dilation, groups=groups)
    close(y, ref_conv(x, w, b, st, pad, dil, groups), name)
    G = rng("nc").standard_normal(tuple(y.shape))
    y.backward(T(G))
    gx, gw, gb = ref_conv_grads(x, w, G, st, pad, dil, groups)
    close(tx.grad, gx, "grad x")
    close(tw.grad, gw, "grad w")
    close(tb.grad, gb, "grad b")


def test_conv_only_weight_requires_grad():
    nd, x, w, b, (stride, padding, dilation, groups), (st, pad, dil, _) = _conv_setup("2d_mixed", F64)
    tx, tw, tb = T(x), T(w, requires_grad=True), T(b)
    y = F.conv2d(tx, tw, tb, stride=stride, padding=padding, dilation=dilation, groups=groups)
    G = rng("ow").standard_normal(tuple(y.shape))
    y.backward(T(G))
    assert tx.grad is None and tb.grad is None
    close(tw.grad, ref_conv_grads(x, w, G, st, pad, dil, groups)[1], "grad w")


def test_conv_zero_batch():
    x, w = np.zeros((0, 3, 5, 5)), rng("zb").standard_normal((2, 3, 3, 3))
    tx, tw, tb = T(x, requires_grad=True), T(w, requires_grad=True), T(np.ones(2), requires_grad=True)
    y = F.conv2d(tx, tw, tb, padding=1)
    assert tuple(y.shape) == (0, 2, 5, 5)
    y.sum().backward()
    close(tx.grad, np.zeros((0, 3, 5, 5)), "gx", rtol=0, atol=0)
    close(tw.grad, np.zeros_like(w), "gw", rtol=0, atol=0)
    close(tb.grad, np.zeros(2), "gb", rtol=0, atol=0)


# ===================================================================== linear

LINEAR_CASES = [((5, 4), 3, True), ((2, 3, 4), 3, False), ((4,), 2, True), ((2, 1, 2, 3), 5, True), ((0, 4), 3, True),
                ((3, 1), 1, True)]


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("xs,outf,bias", LINEAR_CASES)
def test_linear(xs, outf, bias, dtype):
    r = rng("linear", xs, outf, bias)
    inf = xs[-1]
    x = r.standard_normal(xs).astype(NP[dtype]).astype(np.float64)
    w = r.standard_normal((outf, inf)).astype(NP[dtype]).astype(np.float64)
    b = r.standard_normal(outf).astype(NP[dtype]).astype(np.float64) if bias else None
    tx, tw = T(x, dtype, True), T(w, dtype, True)
    tb = T(b, dtype, True) if bias else None
    y = F.linear(tx, tw, tb)
    ref = x @ w.T + (b if bias else 0)
    close(y, ref, "linear forward", **TOL[dtype])
    G = r.standard_normal(ref.shape)
    y.backward(T(G, dtype))
    G2, x2 = G.reshape(-1, outf), x.reshape(-1, inf)
    close(tx.grad, (G2 @ w).reshape(xs), "linear grad x", **TOL[dtype])
    close(tw.grad, G2.T @ x2, "linear grad w", **TOL[dtype])
    if bias:
        close(tb.grad, G2.sum(0), "linear grad b", **TOL[dtype])


def test_linear_noncontiguous():
    r = rng("linear-nc")
    x, w, b = r.standard_normal((3, 4)), r.standard_normal((2, 4)), r.standard_normal(2)
    tx, tw = make(x, "noncontig", requires_grad=True), make(w, "noncontig", requires_grad=True)
    y = F.linear(tx, tw, make(b, "noncontig"))
    close(y, x @ w.T + b, "linear nc")
    y.sum().backward()
    close(tx.grad, np.ones((3, 2)) @ w, "grad x")
    close(tw.grad, np.ones((3, 2)).T @ x, "grad w")


# ===================================================================== pooling references

def pool_out(n, k, s, p, ceil):
    num = n + 2 * p - k
    o = (-(-num // s) if ceil else num // s) + 1
    if ceil and (o - 1) * s >= n + p:  # the last window must start inside the input or the left padding
        o -= 1
    return o


def ref_pool(x, kind, k, s, p, ceil, cip=True):
    """N-d pooling over x [N, C, *spatial]. The input is padded by p on the left and by enough on the
    right for every (ceil-mode) window; `inpad` marks positions inside the conventional padding
    (divisor for count_include_pad=True), `real` marks real input positions."""
    nd = len(k)
    N, C, S = x.shape[0], x.shape[1], x.shape[2:]
    outs = [pool_out(n, kk, ss, pp, ceil) for n, kk, ss, pp in zip(S, k, s, p)]
    ext = [max(o * ss + kk, n + 2 * pp) for o, ss, kk, n, pp in zip(outs, s, k, S, p)]
    fill = -np.inf if kind == "max" else 0.0
    xp = np.full((N, C, *ext), fill)
    inner = tuple(slice(pp, pp + n) for pp, n in zip(p, S))
    xp[(slice(None), slice(None)) + inner] = x
    real = np.zeros(ext)
    real[inner] = 1
    inpad = np.zeros(ext)
    inpad[tuple(slice(0, n + 2 * pp) for n, pp in zip(S, p))] = 1
    y = np.zeros((N, C, *outs))
    gmap = {}  # output position -> (for max: padded flat argmax per (n, c); for avg: window slices and divisor)
    for pos in np.ndindex(*outs):
        sl = tuple(slice(o * ss, o * ss + kk) for o, ss, kk in zip(pos, s, k))
        win = xp[(slice(None), slice(None)) + sl].reshape(N, C, -1)
        if kind == "max":
            y[(slice(None), slice(None)) + pos] = win.max(-1)
            gmap[pos] = (sl, win.argmax(-1))
        else:
            div = (inpad if cip else real)[sl].sum()
            y[(slice(None), slice(None)) + pos] = win.sum(-1) / div
            gmap[pos] = (sl, div)
    return y, (gmap, xp.shape, inner)


def ref_pool_grad(kind, G, aux):
    gmap, pshape, inner = aux
    N, C = G.shape[:2]
    gp = np.zeros(pshape)
    for pos, (sl, a) in gmap.items():
        g = G[(slice(None), slice(None)) + pos]
        if kind == "max":
            wshape = tuple(q.stop - q.start for q in sl)
            for n in range(N):
                for c in range(C):
                    off = np.unravel_index(a[n, c], wshape)
                    gp[(n, c) + tuple(q.start + o for q, o in zip(sl, off))] += g[n, c]
        else:
            gp[(slice(None), slice(None)) + sl] += (g / a).reshape((N, C) + (1,) * len(sl))
    return gp[(slice(None), slice(None)) + inner]


def distinct(shape, key):
    n = int(np.prod(shape))
    return (rng("distinct", key).permutation(n) - n / 2).reshape(shape) * 0.37


# (shape, kernel, stride, padding, ceil_mode)
POOL2D = [
    ((2, 3, 6, 6), 2, None, 0, False),
    ((2, 2, 7, 7), 3, 2, 1, False),
    ((2, 2, 7, 7), 3, 2, 1, True),
    ((1, 2, 5, 8), (2, 3), (1, 2), (1, 1), True),
    ((2, 1, 7, 5), (3, 2), (2, 2), (1, 0), True),
    ((1, 3, 4, 4), 4, 1, 2, False),
    ((2, 2, 9, 9), 3, 3, 0, True),
    ((1, 1, 10, 10), 3, 4, 1, True),
    ((1, 2, 6, 6), 5, 2, 2, True),
    ((3, 5, 5), 2, 1, 0, False),
    ((1, 2, 7, 6), 1, 2, 0, False),
    ((1, 2, 8, 5), (4, 2), (3, 1), (2, 1), False),
]
POOL1D = [
    ((2, 3, 8), 2, None, 0, False),
    ((2, 2, 9), 3, 2, 1, False),
    ((2, 2, 9), 3, 2, 1, True),
    ((1, 2, 10), 5, 2, 2, True),
    ((1, 1, 10), 3, 4, 1, True),
    ((3, 7), 2, 1, 0, False),
    ((2, 2, 6), 4, 3, 2, False),
    ((1, 3, 7), 1, 2, 0, True),
]


def _pool_call(fn, x, k, s, p, ceil, **kw):
    return fn(x, k, s, padding=p, ceil_mode=ceil, **kw) if s is not None else fn(x, k, padding=p, ceil_mode=ceil, **kw)


def _pool_check(nd, kind, case, cip=True, dtype=F64):
    shape, k, s, p, ceil = case
    unb = len(shape) == nd + 1
    x = distinct(shape, case) if kind == "max" else rng("pool", case).standard_normal(shape)
    x = x.astype(NP[dtype]).astype(np.float64)
    fn = {(1, "max"): F.max_pool1d, (2, "max"): F.max_pool2d, (1, "avg"): F.avg_pool1d, (2, "avg"): F.avg_pool2d}[(nd, kind)]
    kw = {} if kind == "max" else dict(count_include_pad=cip)
    tx = T(x, dtype, True)
    y = _pool_call(fn, tx, k, s, p, ceil, **kw)
    xb = x[None] if unb else x
    kt, st, pt = tup(k, nd), tup(s if s is not None else k, nd), tup(p, nd)
    ref, aux = ref_pool(xb, kind, kt, st, pt, ceil, cip)
    G = rng("poolG", case).standard_normal(ref.shape)
    gref = ref_pool_grad(kind, G, aux)
    if unb:
        ref, G, gref = ref[0], G[0], gref[0]
    close(y, ref, f"{kind}_pool{nd}d {case} forward", **TOL[dtype])
    y.backward(T(G, dtype))
    close(tx.grad, gref, f"{kind}_pool{nd}d {case} backward", **TOL[dtype])


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", POOL2D, ids=str)
def test_max_pool2d(case, dtype):
    _pool_check(2, "max", case, dtype=dtype)


@pytest.mark.parametrize("case", POOL1D, ids=str)
def test_max_pool1d(case):
    _pool_check(1, "max", case)


@pytest.mark.parametrize("cip", [True, False], ids=["cip", "nocip"])
@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", POOL2D, ids=str)
def test_avg_pool2d(case, dtype, cip):
    _pool_check(2, "avg", case, cip=cip, dtype=dtype)


@pytest.mark.parametrize("cip", [True, False], ids=["cip", "nocip"])
@pytest.mark.parametrize("case", POOL1D, ids=str)
def test_avg_pool1d(case, cip):
    _pool_check(1, "avg", case, cip=cip)


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
    tx = T(x, F32, requires_grad=True)
    y = F.max_pool2d(tx, 2)
    ref, arg = _max_pool_2x2_scan(x)
    np.testing.assert_array_equal(npy(y), ref)
    y.sum().backward()
    grad = np.zeros(x.shape, np.float32).reshape(2, 3, -1)
    for idx in np.ndindex(arg.shape):
        grad[idx[0], idx[1], arg[idx]] += 1
    np.testing.assert_array_equal(npy(tx.grad), grad.reshape(x.shape))


def test_max_pool2d_noncontiguous_and_negative_inputs():
    x = -np.abs(distinct((2, 3, 5, 6), "nc")) - 1.0  # all negative: padding must act as -inf, not 0
    tx = make(x, "noncontig", requires_grad=True)
    y = F.max_pool2d(tx, 3, 2, padding=1)
    ref, aux = ref_pool(x, "max", (3, 3), (2, 2), (1, 1), False)
    close(y, ref, "max_pool2d noncontig")
    G = rng("g").standard_normal(ref.shape)
    y.backward(T(G))
    close(tx.grad, ref_pool_grad("max", G, aux), "max_pool2d noncontig grad")


def test_max_pool_overlapping_windows_accumulate_gradient():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the max of all four 2x2 windows with stride 1
    x[0, 0] += distinct((3, 3), "ov") * 0.01
    tx = T(x, requires_grad=True)
    F.max_pool2d(tx, 2, 1).sum().backward()
    expected = np.zeros((1, 1, 3, 3))
    expected[0, 0, 1, 1] = 4.0
    close(tx.grad, expected, "max_pool grad accumulation")


# ===================================================================== adaptive average pooling

def ref_adaptive(x, oh, ow):
    H, W = x.shape[-2:]
    y = np.zeros(x.shape[:-2] + (oh, ow))
    windows = []
    for i in range(oh):
        h0, h1 = (i * H) // oh, -(-((i + 1) * H) // oh)
        for j in range(ow):
            w0, w1 = (j * W) // ow, -(-((j + 1) * W) // ow)
            y[..., i, j] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
            windows.append((i, j, h0, h1, w0, w1))
    return y, windows


@pytest.mark.parametrize("shape,out", [((2, 3, 7, 5), (3, 2)), ((1, 2, 6, 6), 3), ((1, 1, 5, 7), (5, 7)), ((2, 2, 5, 7), 1),
                                       ((1, 2, 5, 4), (7, 6)), ((3, 5, 6), (2, 4)), ((2, 1, 9, 4), (4, 3))], ids=str)
def test_adaptive_avg_pool2d(shape, out):
    x = rng("ad", shape).standard_normal(shape)
    oh, ow = tup(out, 2)
    tx = T(x, requires_grad=True)
    y = F.adaptive_avg_pool2d(tx, out)
    ref, windows = ref_adaptive(x, oh, ow)
    close(y, ref, "adaptive forward")
    G = rng("adG", shape).standard_normal(ref.shape)
    y.backward(T(G))
    gx = np.zeros_like(x)
    for i, j, h0, h1, w0, w1 in windows:
        gx[..., h0:h1, w0:w1] += G[..., i:i + 1, j:j + 1] / ((h1 - h0) * (w1 - w0))
    close(tx.grad, gx, "adaptive backward")


@pytest.mark.parametrize("out", [(None, 3), (2, None)], ids=str)
def test_adaptive_avg_pool2d_none_keeps_input_size(out):
    """torch.nn.functional.adaptive_avg_pool2d accepts None in output_size: that dim keeps the input size."""
    x = rng("adnone").standard_normal((2, 3, 6, 5))
    y = F.adaptive_avg_pool2d(T(x), out)
    oh, ow = (6 if out[0] is None else out[0]), (5 if out[1] is None else out[1])
    close(y, ref_adaptive(x, oh, ow)[0], "adaptive None")


# ===================================================================== batch norm

def ref_bn_train(x, w, b, eps):
    axes = (0,) + tuple(range(2, x.ndim))
    shp = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes)
    var = ((x - mu.reshape(shp)) ** 2).mean(axis=axes)
    y = (x - mu.reshape(shp)) / np.sqrt(var.reshape(shp) + eps)
    if w is not None:
        y = y * w.reshape(shp)
    if b is not None:
        y = y + b.reshape(shp)
    m = x.size // x.shape[1]
    return y, mu, var * m / (m - 1)


def ref_bn_eval(x, rm, rv, w, b, eps):
    shp = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - rm.reshape(shp)) / np.sqrt(rv.reshape(shp) + eps)
    if w is not None:
        y = y * w.reshape(shp)
    if b is not None:
        y = y + b.reshape(shp)
    return y


BN_SHAPES = [(4, 3), (2, 3, 4), (2, 3, 2, 3), (3, 2, 2, 2, 2), (2, 1, 5)]


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.5, 1e-3), (1.0, 1e-5)])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_training_running_stats_over_steps(shape, momentum, eps, affine):
    r = rng("bn", shape, momentum, eps, affine)
    C = shape[1]
    w = r.uniform(0.5, 1.5, C) if affine else None
    b = r.standard_normal(C) if affine else None
    rm_ref, rv_ref = r.standard_normal(C) * 0.1, r.uniform(0.5, 2.0, C)
    trm, trv = T(rm_ref.copy()), T(rv_ref.copy())
    for step in range(4):
        x = r.standard_normal(shape) * (step + 1) + step
        y = F.batch_norm(T(x), trm, trv, None if w is None else T(w), None if b is None else T(b), training=True,
                         momentum=momentum, eps=eps)
        ref, mu, uvar = ref_bn_train(x, w, b, eps)
        close(y, ref, f"step {step} output")
        rm_ref = (1 - momentum) * rm_ref + momentum * mu
        rv_ref = (1 - momentum) * rv_ref + momentum * uvar
        close(trm, rm_ref, f"step {step} running_mean")
        close(trv, rv_ref, f"step {step} running_var (unbiased)")
    # eval mode uses (and does not change) the running statistics
    x = r.standard_normal(shape)
    y = F.batch_norm(T(x), trm, trv, None if w is None else T(w), None if b is None else T(b), training=False, eps=eps)
    close(y, ref_bn_eval(x, rm_ref, rv_ref, w, b, eps), "eval output")
    close(trm, rm_ref, "eval keeps running_mean")
    close(trv, rv_ref, "eval keeps running_var")


def test_batch_norm_training_without_running_stats():
    x = rng("bn-none").standard_normal((5, 3, 2))
    y = F.batch_norm(T(x), None, None, training=True)
    close(y, ref_bn_train(x, None, None, 1e-5)[0], "no running stats")


def test_batch_norm_float32():
    r = rng("bn32")
    x = r.standard_normal((4, 3, 5)).astype(np.float32) * 3 + 2
    w, b = r.uniform(0.5, 1.5, 3).astype(np.float32), r.standard_normal(3).astype(np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    trm, trv = T(rm), T(rv)
    y = F.batch_norm(T(x), trm, trv, T(w), T(b), training=True)
    ref, mu, uvar = ref_bn_train(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), 1e-5)
    assert y.dtype == F32
    close(y, ref, "bn f32", rtol=1e-4, atol=1e-5)
    close(trm, 0.1 * mu, "rm f32", rtol=1e-5, atol=1e-6)
    close(trv, 0.9 + 0.1 * uvar, "rv f32", rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 2, 2, 3)], ids=str)
def test_batch_norm_backward(shape, training):
    r = rng("bnb", shape, training)
    C = shape[1]
    x, w, b = r.standard_normal(shape), r.uniform(0.5, 1.5, C), r.standard_normal(C)
    rm, rv = r.standard_normal(C) * 0.2, r.uniform(0.5, 2, C)
    G = r.standard_normal(shape)
    eps = 1e-5

    def f(xx, ww, bb):
        return ref_bn_train(xx, ww, bb, eps)[0] if training else ref_bn_eval(xx, rm, rv, ww, bb, eps)

    tx, tw, tb = T(x, requires_grad=True), T(w, requires_grad=True), T(b, requires_grad=True)
    y = F.batch_norm(tx, T(rm), T(rv), tw, tb, training=training, eps=eps)
    y.backward(T(G))
    close(tx.grad, numgrad(lambda a: (f(a, w, b) * G).sum(), x), "grad x", rtol=1e-6, atol=1e-7)
    close(tw.grad, numgrad(lambda a: (f(x, a, b) * G).sum(), w), "grad w", rtol=1e-6, atol=1e-7)
    close(tb.grad, numgrad(lambda a: (f(x, w, a) * G).sum(), b), "grad b", rtol=1e-6, atol=1e-7)


def test_batch_norm_backward_without_affine():
    r = rng("bn-noaff")
    x, G = r.standard_normal((3, 2, 4)), r.standard_normal((3, 2, 4))
    tx = T(x, requires_grad=True)
    F.batch_norm(tx, None, None, training=True).backward(T(G))
    close(tx.grad, numgrad(lambda a: (ref_bn_train(a, None, None, 1e-5)[0] * G).sum(), x), "grad x", rtol=1e-6, atol=1e-7)


def test_batch_norm_noncontiguous_input():
    r = rng("bn-nc")
    x = r.standard_normal((4, 3, 5))
    trm, trv = T(np.zeros(3)), T(np.ones(3))
    y = F.batch_norm(make(x, "noncontig"), trm, trv, training=True, momentum=0.2)
    ref, mu, uvar = ref_bn_train(x, None, None, 1e-5)
    close(y, ref, "bn noncontig")
    close(trm, 0.2 * mu, "rm")
    close(trv, 0.8 + 0.2 * uvar, "rv")


# ===================================================================== dropout

def test_dropout_p0_is_identity_with_unit_gradient():
    x = rng("d0").standard_normal((4, 5))
    tx = T(x, requires_grad=True)
    y = F.dropout(tx, p=0.0, training=True)
    close(y, x, "p=0", rtol=0, atol=0)
    y.backward(T(np.full((4, 5), 3.0)))
    close(tx.grad, np.full((4, 5), 3.0), "p=0 grad", rtol=0, atol=0)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
@pytest.mark.parametrize("p", [0.0, 0.5, 0.9, 1.0])
def test_dropout_eval_is_identity(fn, p):
    x = rng("deval").standard_normal((2, 3, 4, 4))
    tx = T(x, requires_grad=True)
    y = fn(tx, p=p, training=False)
    close(y, x, "eval", rtol=0, atol=0)
    y.sum().backward()
    close(tx.grad, np.ones_like(x), "eval grad", rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [F64, F32], ids=["f64", "f32"])
@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_dropout_mask_values_and_rate(p, dtype):
    rt.manual_seed(1234)
    n = 200_000
    x = rng("drate", p).uniform(1.0, 2.0, n).astype(NP[dtype])
    tx = T(x, dtype, requires_grad=True)
    y = F.dropout(tx, p=p, training=True)
    assert y.dtype == dtype and tuple(y.shape) == (n,)
    ratio = npy(y).astype(np.float64) / x.astype(np.float64)
    kept = ratio != 0
    np.testing.assert_allclose(ratio[kept], 1.0 / (1.0 - p), rtol=1e-6 if dtype == F32 else 1e-12)
    frac = 1.0 - kept.mean()
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(frac - p) < 6 * sigma, f"fraction of zeros {frac} vs p={p}"
    # gradient is exactly the mask (0 or 1/(1-p))
    G = rng("dG", p).standard_normal(n).astype(NP[dtype])
    y.backward(T(G, dtype))
    mask = np.where(kept, 1.0 / (1.0 - p), 0.0)
    np.testing.assert_allclose(npy(tx.grad).astype(np.float64), G.astype(np.float64) * mask, rtol=1e-6 if dtype == F32 else 1e-12,
                               atol=0)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
def test_dropout_noncontiguous_input(fn):
    rt.manual_seed(11)
    x = rng("dnc").uniform(1.0, 2.0, (6, 8, 3, 3))
    tx = make(x, "noncontig", requires_grad=True)
    y = fn(tx, p=0.5)
    ratio = npy(y) / x
    assert np.all((ratio == 0) | np.isclose(ratio, 2.0, rtol=1e-12, atol=0))
    assert 0.2 < (ratio == 0).mean() < 0.8
    y.sum().backward()
    close(tx.grad, ratio, "grad is the mask", rtol=1e-12, atol=0)


def test_dropout_p1_zeroes_everything():
    x = rng("p1").standard_normal((3, 4))
    tx = T(x, requires_grad=True)
    y = F.dropout(tx, p=1.0)
    close(y, np.zeros_like(x), "p=1", rtol=0, atol=0)
    y.sum().backward()
    close(tx.grad, np.zeros_like(x), "p=1 grad", rtol=0, atol=0)


@pytest.mark.parametrize("fn", [F.dropout, F.dropout2d], ids=["dropout", "dropout2d"])
def test_dropout_deterministic_under_manual_seed(fn):
    x = T(np.ones((8, 16, 3, 3)))
    rt.manual_seed(7)
    a = npy(fn(x, p=0.4))
    rt.manual_seed(7)
    b = npy(fn(x, p=0.4))
    rt.manual_seed(8)
    c = npy(fn(x, p=0.4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c), "different seeds gave the same mask"
    d = npy(fn(x, p=0.4))  # the generator advances: a second call draws a new mask
    assert not np.array_equal(c, d)


def test_dropout_default_is_training_with_half():
    rt.manual_seed(3)
    y = npy(F.dropout(T(np.ones(20000))))
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert abs((y == 0).mean() - 0.5) < 0.03


@pytest.mark.parametrize("shape", [(16, 64, 3, 3), (32, 32, 5), (8, 16, 2, 2, 2)], ids=str)
@pytest.mark.parametrize("p", [0.25, 0.6])
def test_dropout2d_zeroes_whole_channels(shape, p):
    rt.manual_seed(99)
    x = rng("d2", shape).uniform(1.0, 2.0, shape)
    tx = T(x, requires_grad=True)
    y = F.dropout2d(tx, p=p)
    ratio = (npy(y) / x).reshape(shape[0], shape[1], -1)
    per_channel = ratio[:, :, :1]
    np.testing.assert_allclose(ratio, np.broadcast_to(per_channel, ratio.shape), rtol=1e-12, atol=0,
                               err_msg="mask not constant over a channel")
    vals = per_channel.ravel()
    assert np.all((vals == 0) | np.isclose(vals, 1 / (1 - p), rtol=1e-12, atol=0))
    n = vals.size
    frac = (vals == 0).mean()
    assert abs(frac - p) < 6 * np.sqrt(p * (1 - p) / n), f"fraction of dropped channels {frac} vs p={p}"
    G = rng("d2G", shape).standard_normal(shape)
    y.backward(T(G))
    close(tx.grad, G * np.broadcast_to(per_channel, ratio.shape).reshape(shape), "dropout2d grad is the mask", rtol=1e-12, atol=0)


# ===================================================================== activations

ACT = {
    "relu": (F.relu, lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1.0, 0.2)),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x)), lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    "tanh": (F.tanh, np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "softplus": (F.softplus, lambda x: np.logaddexp(0, x), lambda x: 1 / (1 + np.exp(-x))),
}


@pytest.mark.parametrize("name", list(ACT))
def test_activations(name):
    fn, ref, dref = ACT[name]
    x = rng("act", name).uniform(0.2, 3, (3, 7)) * rng("sgn", name).choice([-1, 1], (3, 7))
    tx = T(x, requires_grad=True)
    y = fn(tx)
    close(y, ref(x), name)
    G = rng("actG", name).standard_normal(x.shape)
    y.backward(T(G))
    close(tx.grad, G * dref(x), name + " grad")


def test_softplus_extreme_values_are_stable():
    x = np.array([-1000.0, -50.0, -1e-8, 0.0, 1e-8, 30.0, 50.0, 1000.0])
    tx = T(x, requires_grad=True)
    y = F.softplus(tx)
    close(y, np.logaddexp(0, x), "softplus extremes", rtol=1e-14, atol=1e-300)
    y.sum().backward()
    with np.errstate(over="ignore", invalid="ignore"):
        sig = np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))
    close(tx.grad, sig, "softplus grad extremes", rtol=1e-14, atol=1e-300)
    x32 = np.array([-200.0, -20.0, 0.0, 20.0, 200.0], np.float32)
    y32 = npy(F.softplus(T(x32)))
    assert np.all(np.isfinite(y32))
    np.testing.assert_allclose(y32, np.logaddexp(0, x32.astype(np.float64)), rtol=1e-6, atol=1e-30)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_log_softmax(dim):
    x = rng("sm", dim).standard_normal((3, 4)) * 3
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    sm = e / e.sum(axis=dim, keepdims=True)
    close(F.softmax(T(x), dim), sm, "softmax")
    close(F.log_softmax(T(x), dim), np.log(sm), "log_softmax")


# ===================================================================== losses

def _red(loss, reduction):
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def _check_loss(fn_rt, fn_np, arrays, grad_idx, msg, rtol=1e-6, atol=1e-8):
    """Forward vs fn_np(*arrays); gradients of sum(G * loss) w.r.t. arrays[grad_idx] vs finite differences."""
    ref = np.asarray(fn_np(*arrays))
    ts = [T(a, requires_grad=(i in grad_idx)) if a is not None and np.asarray(a).dtype.kind == "f" else
          (T(a) if a is not None else None) for i, a in enumerate(arrays)]
    out = fn_rt(*ts)
    close(out, ref, msg + " forward", rtol=1e-12, atol=1e-12)
    G = rng("lossG", msg).standard_normal(ref.shape)
    out.backward(T(G))
    for i in grad_idx:
        def f(a, i=i):
            args = list(arrays)
            args[i] = a
            return (np.asarray(fn_np(*args)) * G).sum()
        close(ts[i].grad, numgrad(f, arrays[i]), f"{msg} grad of arg {i}", rtol=rtol, atol=atol)


RED = ["none", "mean", "sum"]


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)], ids=str)
def test_mse_loss(shape, reduction):
    r = rng("mse", shape, reduction)
    x, t = r.standard_normal(shape), r.standard_normal(shape)
    _check_loss(lambda a, b: F.mse_loss(a, b, reduction=reduction), lambda a, b: _red((a - b) ** 2, reduction), [x, t], [0, 1],
                f"mse {shape} {reduction}")


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 2)], ids=str)
def test_l1_loss(shape, reduction):
    r = rng("l1", shape, reduction)
    t = r.standard_normal(shape)
    x = t + r.uniform(0.1, 1.0, shape) * r.choice([-1, 1], shape)  # away from the kink
    _check_loss(lambda a, b: F.l1_loss(a, b, reduction=reduction), lambda a, b: _red(np.abs(a - b), reduction), [x, t], [0, 1],
                f"l1 {shape} {reduction}")


def np_bce(x, t, w=None, reduction="mean"):
    loss = -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log(1 - x), -100))
    if w is not None:
        loss = loss * w
    return _red(loss, reduction)


@pytest.mark.parametrize("weighted", [False, True], ids=["nowt", "wt"])
@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 2, 3)], ids=str)
def test_binary_cross_entropy(shape, reduction, weighted):
    r = rng("bce", shape, reduction, weighted)
    x, t = r.uniform(0.05, 0.95, shape), r.uniform(0, 1, shape)
    w = r.uniform(0.5, 2, shape[-1:]) if weighted else None
    _check_loss(lambda a, b, c=None: F.binary_cross_entropy(a, b, weight=c, reduction=reduction),
                lambda a, b, c=None: np_bce(a, b, c, reduction), [x, t] + ([w] if weighted else []), [0, 1],
                f"bce {shape} {reduction} {weighted}", rtol=1e-6, atol=1e-8)


def test_binary_cross_entropy_log_clamped_at_minus_100():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    y = F.binary_cross_entropy(T(x), T(t), reduction="none")
    close(y, [100.0, 100.0, 0.0, 0.0, np.log(2)], "bce clamp")


def np_bce_logits(x, t, w=None, pw=None, reduction="mean"):
    sp = np.logaddexp(0, -x)
    loss = (1 - t) * x + (1 + (pw - 1) * t) * sp if pw is not None else (1 - t) * x + sp
    if w is not None:
        loss = loss * w
    return _red(loss, reduction)


@pytest.mark.parametrize("opts", ["plain", "weight", "pos_weight", "both"])
@pytest.mark.parametrize("reduction", RED)
def test_binary_cross_entropy_with_logits(reduction, opts):
    r = rng("bcel", reduction, opts)
    shape = (3, 4)
    x, t = r.standard_normal(shape) * 3, r.uniform(0, 1, shape)
    w = r.uniform(0.5, 2, (3, 1)) if opts in ("weight", "both") else None
    pw = r.uniform(0.5, 3, (4,)) if opts in ("pos_weight", "both") else None
    args, names = [x, t], []
    if w is not None:
        args.append(w)
        names.append("weight")
    if pw is not None:
        args.append(pw)
        names.append("pos_weight")

    def f_rt(a, b, *rest):
        return F.binary_cross_entropy_with_logits(a, b, reduction=reduction, **dict(zip(names, rest)))

    def f_np(a, b, *rest):
        kw = dict(zip(names, rest))
        return np_bce_logits(a, b, kw.get("weight"), kw.get("pos_weight"), reduction)

    _check_loss(f_rt, f_np, args, [0, 1], f"bce_logits {reduction} {opts}", rtol=1e-6, atol=1e-8)


def test_binary_cross_entropy_with_logits_extreme_logits():
    x = np.array([-200.0, -50.0, 0.0, 50.0, 200.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    tx = T(x, requires_grad=True)
    y = F.binary_cross_entropy_with_logits(tx, T(t), reduction="none")
    close(y, np_bce_logits(x, t, reduction="none"), "bce_logits extremes", rtol=1e-14, atol=1e-14)
    y.sum().backward()
    close(tx.grad, 1 / (1 + np.exp(-x)) - t, "bce_logits grad extremes", rtol=1e-12, atol=1e-14)


def log_softmax_np(x, axis=1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_nll(logp, t, w=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """torch semantics: loss_i = (1-s) w[t_i] (-logp[i, t_i]) + s/C sum_c w_c (-logp[i, c]); ignored rows 0;
    'mean' divides by sum_i w[t_i] over the non-ignored targets."""
    unb = logp.ndim == 1
    if unb:
        logp, t = logp[None], np.asarray(t)[None]
    C = logp.shape[1]
    lp = np.moveaxis(logp, 1, -1).reshape(-1, C)
    tf = np.asarray(t).reshape(-1)
    wv = np.ones(C) if w is None else w
    loss, den = np.zeros(tf.size), np.zeros(tf.size)
    for i, c in enumerate(tf):
        if c == ignore_index:
            continue
        loss[i] = -(1 - smoothing) * wv[c] * lp[i, c] - smoothing / C * (wv * lp[i]).sum()
        den[i] = wv[c]
    loss = loss.reshape(np.asarray(t).shape)
    if reduction == "none":
        return loss[0] if unb else loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / den.sum()


NLL_CASES = {
    # name: (input shape, weighted, ignore_index, #ignored targets)
    "2d": ((5, 4), False, -100, 0),
    "2d_weight": ((6, 3), True, -100, 0),
    "2d_ignore": ((6, 4), False, 1, None),
    "2d_weight_ignore_neg": ((7, 3), True, -1, 2),
    "spatial": ((2, 3, 4), False, -100, 0),
    "spatial2d_weight_ignore": ((2, 4, 3, 2), True, 2, None),
    "unbatched": ((5,), False, -100, 0),
    "unbatched_weight": ((4,), True, -100, 0),
}


def _nll_data(name):
    shape, weighted, ii, n_ign = NLL_CASES[name]
    r = rng("nll", name)
    C = shape[0] if len(shape) == 1 else shape[1]
    x = r.standard_normal(shape) * 2
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = r.integers(0, C, tshape)
    if n_ign:
        t.reshape(-1)[:n_ign] = ii
    w = r.uniform(0.2, 2.0, C) if weighted else None
    return x, np.asarray(t, dtype=np.int64), w, ii


@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("name", list(NLL_CASES))
def test_nll_loss(name, reduction):
    x, t, w, ii = _nll_data(name)
    axis = 0 if x.ndim == 1 else 1
    logp = log_softmax_np(x, axis)
    _check_loss(lambda a, b, c=None: F.nll_loss(a, b, weight=c, ignore_index=ii, reduction=reduction),
                lambda a, b, c=None: np_nll(a, b, c, ii, reduction), [logp, t] + ([w] if w is not None else []), [0],
                f"nll {name} {reduction}")


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("name", list(NLL_CASES))
def test_cross_entropy_class_indices(name, reduction, smoothing):
    x, t, w, ii = _nll_data(name)
    axis = 0 if x.ndim == 1 else 1
    _check_loss(lambda a, b, c=None: F.cross_entropy(a, b, weight=c, ignore_index=ii, reduction=reduction, label_smoothing=smoothing),
                lambda a, b, c=None: np_nll(log_softmax_np(a, axis), b, c, ii, reduction, smoothing),
                [x, t] + ([w] if w is not None else []), [0], f"ce {name} {reduction} {smoothing}", rtol=1e-6, atol=1e-8)


def test_nll_loss_all_ignored_mean_is_nan():
    x = log_softmax_np(rng("allign").standard_normal((3, 4)))
    t = np.full(3, -100, dtype=np.int64)
    assert np.isnan(F.nll_loss(T(x), T(t)).item())
    assert F.nll_loss(T(x), T(t), reduction="sum").item() == 0.0


def np_ce_prob(x, q, w=None, reduction="mean", smoothing=0.0, axis=1):
    C = x.shape[axis]
    q = q * (1 - smoothing) + smoothing / C if smoothing > 0 else q
    terms = log_softmax_np(x, axis) * q
    if w is not None:
        shp = [1] * x.ndim
        shp[axis] = C
        terms = terms * w.reshape(shp)
    per = -terms.sum(axis=axis)
    return _red(per, reduction)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True], ids=["nowt", "wt"])
@pytest.mark.parametrize("reduction", RED)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 2, 2), (4,)], ids=str)
def test_cross_entropy_probability_targets(shape, reduction, weighted, smoothing):
    r = rng("ceprob", shape, reduction, weighted, smoothing)
    axis = 0 if len(shape) == 1 else 1
    C = shape[axis]
    x = r.standard_normal(shape) * 2
    q = r.uniform(0, 1, shape)
    q = q / q.sum(axis=axis, keepdims=True)
    w = r.uniform(0.3, 2, C) if weighted else None
    _check_loss(lambda a, b, c=None: F.cross_entropy(a, b, weight=c, reduction=reduction, label_smoothing=smoothing),
                lambda a, b, c=None: np_ce_prob(a, b, c, reduction, smoothing, axis), [x, q] + ([w] if weighted else []), [0, 1],
                f"ce prob {shape} {reduction} {weighted} {smoothing}", rtol=1e-6, atol=1e-8)


def test_cross_entropy_large_logits_stable():
    x = np.array([[1000.0, 0.0, -1000.0], [0.0, 1e4, 0.0]])
    t = np.array([0, 2])
    y = F.cross_entropy(T(x), T(t), reduction="none")
    close(y, [0.0, 1e4], "ce large logits")


# ===================================================================== sizes large enough for the threaded / blocked kernels

def test_large_conv2d_threaded_and_blocked_gemm():
    r = rng("bigconv")
    x, w, b = r.standard_normal((4, 16, 18, 18)), r.standard_normal((24, 8, 3, 3)), r.standard_normal(24)
    tx, tw, tb = T(x, requires_grad=True), T(w, requires_grad=True), T(b, requires_grad=True)
    y = F.conv2d(tx, tw, tb, stride=1, padding=1, dilation=1, groups=2)
    ref = ref_conv(x, w, b, (1, 1), (1, 1), (1, 1), 2)
    close(y, ref, "big conv", rtol=1e-9, atol=1e-9)
    G = r.standard_normal(ref.shape)
    y.backward(T(G))
    gx, gw, gb = ref_conv_grads(x, w, G, (1, 1), (1, 1), (1, 1), 2)
    close(tx.grad, gx, "big conv gx", rtol=1e-9, atol=1e-9)
    close(tw.grad, gw, "big conv gw", rtol=1e-9, atol=1e-9)
    close(tb.grad, gb, "big conv gb", rtol=1e-9, atol=1e-9)


def test_large_pools_threaded():
    shape = (4, 8, 24, 24)
    x = distinct(shape, "bigpool")
    for kind, fn in (("max", F.max_pool2d), ("avg", F.avg_pool2d)):
        tx = T(x, requires_grad=True)
        y = fn(tx, 3, 2, padding=1, ceil_mode=True)
        ref, aux = ref_pool(x, kind, (3, 3), (2, 2), (1, 1), True)
        close(y, ref, f"big {kind} pool")
        G = rng("bigpoolG", kind).standard_normal(ref.shape)
        y.backward(T(G))
        close(tx.grad, ref_pool_grad(kind, G, aux), f"big {kind} pool grad")
    tx = T(x, requires_grad=True)
    y = F.adaptive_avg_pool2d(tx, (5, 7))
    close(y, ref_adaptive(x, 5, 7)[0], "big adaptive")


def test_large_batch_norm_threaded():
    r = rng("bigbn")
    x = r.standard_normal((8, 6, 32, 32)) * 2 + 1
    w, b = r.uniform(0.5, 1.5, 6), r.standard_normal(6)
    trm, trv = T(np.zeros(6)), T(np.ones(6))
    tx = T(x, requires_grad=True)
    y = F.batch_norm(tx, trm, trv, T(w), T(b), training=True)
    ref, mu, uvar = ref_bn_train(x, w, b, 1e-5)
    close(y, ref, "big bn", rtol=1e-9, atol=1e-9)
    close(trm, 0.1 * mu, "big bn rm")
    close(trv, 0.9 + 0.1 * uvar, "big bn rv")
    G = r.standard_normal(x.shape)
    y.backward(T(G))
    # closed form of the batch-norm input gradient (training)
    axes = (0, 2, 3)
    xhat = (x - mu.reshape(1, -1, 1, 1)) / np.sqrt(x.var(axis=axes).reshape(1, -1, 1, 1) + 1e-5)
    gx = w.reshape(1, -1, 1, 1) / np.sqrt(x.var(axis=axes).reshape(1, -1, 1, 1) + 1e-5) * (
        G - G.mean(axis=axes, keepdims=True) - xhat * (G * xhat).mean(axis=axes, keepdims=True))
    close(tx.grad, gx, "big bn grad", rtol=1e-8, atol=1e-9)


def test_max_pool_propagates_nan():
    x = distinct((1, 1, 4, 4), "nan")
    x[0, 0, 0, 1] = np.nan
    y = npy(F.max_pool2d(T(x), 2))
    assert np.isnan(y[0, 0, 0, 0])
    assert not np.isnan(y[0, 0, 1, 1]) and not np.isnan(y[0, 0, 0, 1]) and not np.isnan(y[0, 0, 1, 0])
