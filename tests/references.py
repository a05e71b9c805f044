"""NumPy references for the ops of tests/opinfo.py, written from the definitions and independently of the
C++ kernels: convolution as a sum over kernel offsets of strided slices of the zero-padded input (itself
checked against a scalar loop in test_references.py), pooling as windows over a padded input, batch norm
and the losses from their formulas. Backward references are explicit adjoints (conv, pooling) or central
differences of the NumPy forward (fd_adjoint)."""
import numpy as np

from helpers import numgrad

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
    OC, K = w.shape[0], w.shape[2:]
    Cg, Og = C // groups, OC // groups
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out = [(xp.shape[2 + d] - dilation[d] * (K[d] - 1) - 1) // stride[d] + 1 for d in range(nd)]
    y = np.zeros((N, OC, *out))
    for kk in np.ndindex(*K):
        sl = tuple(slice(kk[d] * dilation[d], kk[d] * dilation[d] + stride[d] * (out[d] - 1) + 1, stride[d]) for d in range(nd))
        xs = xp[(slice(None), slice(None)) + sl]
        for g in range(groups):
            wk = w[(slice(g * Og, (g + 1) * Og), slice(None)) + kk]
            y[:, g * Og:(g + 1) * Og] += np.einsum("nc...,oc->no...", xs[:, g * Cg:(g + 1) * Cg], wk)
    if b is not None:
        y += b.reshape((1, OC) + (1,) * nd)
    return y[0] if unb else y


def ref_conv_scalar(x, w, b, stride, padding, dilation, groups):
    """The same definition as one scalar loop per output element (slow; validates ref_conv)."""
    nd = w.ndim - 2
    N, C = x.shape[:2]
    OC, K = w.shape[0], w.shape[2:]
    Cg, Og = C // groups, OC // groups
    S = x.shape[2:]
    out = [(S[d] + 2 * padding[d] - dilation[d] * (K[d] - 1) - 1) // stride[d] + 1 for d in range(nd)]
    y = np.zeros((N, OC, *out))
    for n in range(N):
        for o in range(OC):
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
    OC, K = w.shape[0], w.shape[2:]
    Cg, Og = C // groups, OC // groups
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
    out = G.shape[2:]
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    for kk in np.ndindex(*K):
        sl = tuple(slice(kk[d] * dilation[d], kk[d] * dilation[d] + stride[d] * (out[d] - 1) + 1, stride[d]) for d in range(nd))
        for g in range(groups):
            cs, os_ = slice(g * Cg, (g + 1) * Cg), slice(g * Og, (g + 1) * Og)
            wk = w[(os_, slice(None)) + kk]
            gxp[(slice(None), cs) + sl] += np.einsum("no...,oc->nc...", G[:, os_], wk)
            L = int(np.prod(out))  # explicit: a zero batch cannot infer -1
            gw[(os_, slice(None)) + kk] += np.einsum("ncl,nol->oc", xp[(slice(None), cs) + sl].reshape(N, Cg, L), G[:, os_].reshape(N, Og, L))
    gx = gxp[(slice(None), slice(None)) + tuple(slice(p, p + s) for p, s in zip(padding, x.shape[2:]))]
    gb = G.sum(axis=(0,) + tuple(range(2, 2 + nd)))
    return (gx[0] if unb else gx), gw, gb


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


def _red(loss, reduction):
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def np_bce(x, t, w=None, reduction="mean"):
    loss = -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log(1 - x), -100))
    if w is not None:
        loss = loss * w
    return _red(loss, reduction)




def np_bce_logits(x, t, w=None, pw=None, reduction="mean"):
    sp = np.logaddexp(0, -x)
    loss = (1 - t) * x + (1 + (pw - 1) * t) * sp if pw is not None else (1 - t) * x + sp
    if w is not None:
        loss = loss * w
    return _red(loss, reduction)


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


# ===================================================================== the references with the ops' signatures
# Each takes the op's arguments (NumPy arrays for tensors, float64 for floating ones) and returns the output;
# the *_grad adjoints take the upstream gradient G first and return {input index: gradient}.

def _conv_geometry(w, stride, padding, dilation):
    nd = w.ndim - 2
    st, dil = tup(stride, nd), tup(dilation, nd)
    return st, conv_padding(padding, w.shape, dil, nd), dil


def conv(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    st, pad, dil = _conv_geometry(w, stride, padding, dilation)
    return ref_conv(x, w, b, st, pad, dil, groups)


def conv_grad(G, x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    st, pad, dil = _conv_geometry(w, stride, padding, dilation)
    gx, gw, gb = ref_conv_grads(x, w, G, st, pad, dil, groups)
    return {0: gx, 1: gw, 2: gb}


def linear(x, w, b=None):
    return x @ w.T + (0 if b is None else b)


def linear_grad(G, x, w, b=None):
    G2, x2 = G.reshape(-1, w.shape[0]), x.reshape(-1, w.shape[1])
    return {0: (G2 @ w).reshape(x.shape), 1: G2.T @ x2, 2: G2.sum(0)}


def _pool_args(nd, x, kernel_size, stride, padding):
    unbatched = x.ndim == nd + 1
    return unbatched, (x[None] if unbatched else x), tup(kernel_size, nd), tup(stride if stride is not None else kernel_size, nd), tup(padding, nd)


def pool(kind, nd):
    """max_pool{nd}d / avg_pool{nd}d with the functional signature, and its adjoint."""
    def forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        unb, xb, k, s, p = _pool_args(nd, x, kernel_size, stride, padding)
        y = ref_pool(xb, kind, k, s, p, ceil_mode, count_include_pad)[0]
        return y[0] if unb else y

    def grad(G, x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        unb, xb, k, s, p = _pool_args(nd, x, kernel_size, stride, padding)
        aux = ref_pool(xb, kind, k, s, p, ceil_mode, count_include_pad)[1]
        gx = ref_pool_grad(kind, G[None] if unb else G, aux)
        return {0: gx[0] if unb else gx}
    return forward, grad


def _adaptive_size(x, output_size):
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    return (x.shape[-2] if oh is None else oh), (x.shape[-1] if ow is None else ow)


def adaptive_avg_pool2d(x, output_size):
    return ref_adaptive(x, *_adaptive_size(x, output_size))[0]


def adaptive_avg_pool2d_grad(G, x, output_size):
    gx = np.zeros_like(x)
    for i, j, h0, h1, w0, w1 in ref_adaptive(x, *_adaptive_size(x, output_size))[1]:
        gx[..., h0:h1, w0:w1] += G[..., i:i + 1, j:j + 1] / ((h1 - h0) * (w1 - w0))
    return {0: gx}


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    if training:
        return ref_bn_train(x, weight, bias, eps)[0]
    return ref_bn_eval(x, running_mean, running_var, weight, bias, eps)


def softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax(x, dim):
    m = x.max(axis=dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


def mse_loss(a, b, reduction="mean"):
    return _red((a - b) ** 2, reduction)


def l1_loss(a, b, reduction="mean"):
    return _red(np.abs(a - b), reduction)


def binary_cross_entropy(x, t, weight=None, reduction="mean"):
    return np_bce(x, t, weight, reduction)


def binary_cross_entropy_with_logits(x, t, weight=None, pos_weight=None, reduction="mean"):
    return np_bce_logits(x, t, weight, pos_weight, reduction)


def nll_loss(logp, t, weight=None, ignore_index=-100, reduction="mean"):
    return np_nll(logp, t, weight, ignore_index, reduction)


def cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    axis = 0 if x.ndim == 1 else 1
    if np.asarray(t).dtype.kind == "f":  # class probabilities
        return np_ce_prob(x, t, weight, reduction, label_smoothing, axis)
    return np_nll(log_softmax_np(x, axis), t, weight, ignore_index, reduction, label_smoothing)


def fd_adjoint(ref):
    """The adjoint of `ref` by central differences of sum(G * ref(...)) w.r.t. each floating input."""
    def grad(G, *arrays, **kwargs):
        out = {}
        for i in [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray) and a.dtype.kind == "f"]:
            def f(a, i=i):
                args = list(arrays)
                args[i] = a
                return (np.asarray(ref(*args, **kwargs)) * G).sum()
            out[i] = numgrad(f, arrays[i])
        return out
    return grad
