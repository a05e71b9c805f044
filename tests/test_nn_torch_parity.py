"""float32 parity with torch.nn.functional: forward values and gradients of sum(G * out) for every
differentiable argument, with contiguous and non-contiguous reticulum inputs. Each case is written once
as fn(F, *tensors) and run with F = reticulum.nn.functional and F = torch.nn.functional."""
import zlib

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as RF
from helpers import make

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# Per-op tolerances (float32), keyed by the case-name prefix (longest prefix wins). atol is multiplied by
# max(1, max |torch value|) of the compared tensor, since the errors of long float32 sums scale with it.
TOL = {
    "linear": dict(rtol=1e-5, atol=1e-5),
    "conv": dict(rtol=1e-4, atol=2e-5),
    "max_pool": dict(rtol=0, atol=0),  # a selection: must be bit-exact, gradients too
    "avg_pool": dict(rtol=1e-6, atol=1e-6),
    "adaptive": dict(rtol=1e-6, atol=1e-6),
    "batch_norm": dict(rtol=1e-4, atol=2e-5),
    "act": dict(rtol=1e-6, atol=1e-6),
    "softmax": dict(rtol=1e-5, atol=1e-6),
    "mse": dict(rtol=1e-5, atol=1e-6),
    "l1": dict(rtol=1e-5, atol=1e-6),
    "bce": dict(rtol=1e-5, atol=1e-6),
    "nll": dict(rtol=1e-5, atol=1e-6),
    "ce": dict(rtol=1e-5, atol=1e-6),
    "dropout": dict(rtol=0, atol=0),
}


def tol(name):
    key = max((k for k in TOL if name.startswith(k)), key=len)
    return TOL[key]


def rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def f32(a):
    return np.asarray(a, dtype=np.float32)


def rnd(shape, key, lo=-1.5, hi=1.5):
    return f32(rng(key, shape).uniform(lo, hi, shape))


def distinct(shape, key):
    n = int(np.prod(shape))
    return f32((rng("distinct", key).permutation(n) - n / 2).reshape(shape) * 0.25)


def probs(shape, axis, key):
    q = rng(key, shape).uniform(0.05, 1, shape)
    return f32(q / q.sum(axis=axis, keepdims=True))


def idx(a):
    return np.asarray(a, dtype=np.int64)


D, C, I = "diff", "const", "int"  # noqa: E741

_inf, _nan = np.inf, np.nan
# rows: finite; +inf; two +inf; -inf at the target; -inf elsewhere; all -inf; NaN; +inf and -inf
NONFINITE_ROWS = f32([[0.5, -1, 2, 0.25, 1], [_inf, 1, 2, 0, -1], [1, _inf, _inf, 0, 3], [-_inf, 1, 2, 0.5, 0],
                      [1, -_inf, 2, -_inf, 0], [-_inf] * 5, [0, 1, _nan, 2, 3], [_inf, -_inf, 0, 1, 2]])
NONFINITE_TARGETS = idx([2, 1, 0, 0, 2, 3, 4, 0])


def conv(nd, xs, ws, bias=True, **kw):
    name = f"conv{nd}d"
    args = [(rnd(xs, "x"), D), (rnd(ws, "w"), D)] + ([(rnd(ws[:1], "b"), D)] if bias else [])
    return (lambda F, x, w, b=None: getattr(F, name)(x, w, b, **kw)), args


CASES = {
    "linear_2d": (lambda F, x, w, b: F.linear(x, w, b), [(rnd((5, 7), "x"), D), (rnd((3, 7), "w"), D), (rnd((3,), "b"), D)]),
    "linear_3d_nobias": (lambda F, x, w: F.linear(x, w), [(rnd((2, 4, 6), "x"), D), (rnd((5, 6), "w"), D)]),
    "linear_1d": (lambda F, x, w, b: F.linear(x, w, b), [(rnd((6,), "x"), D), (rnd((2, 6), "w"), D), (rnd((2,), "b"), D)]),
    "conv1d": conv(1, (2, 3, 12), (4, 3, 3), padding=1),
    "conv1d_stride_dil_groups": conv(1, (2, 4, 15), (6, 2, 3), stride=2, padding=2, dilation=2, groups=2),
    "conv1d_same": conv(1, (2, 3, 9), (2, 3, 5), padding="same"),
    "conv1d_valid_unbatched": conv(1, (3, 10), (2, 3, 4), bias=False, padding="valid", stride=3),
    "conv2d": conv(2, (2, 3, 8, 8), (4, 3, 3, 3), padding=1),
    "conv2d_mixed": conv(2, (2, 4, 9, 10), (6, 2, 3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2),
    "conv2d_depthwise": conv(2, (2, 4, 7, 7), (8, 1, 3, 3), groups=4, padding=2, dilation=2),
    "conv2d_same_dilated": conv(2, (1, 2, 6, 7), (3, 2, 3, 3), padding="same", dilation=(2, 1)),
    "conv2d_pointwise": conv(2, (2, 6, 5, 5), (4, 3, 1, 1), groups=2),
    "conv2d_unbatched": conv(2, (3, 6, 5), (2, 3, 2, 2), stride=(1, 2)),
    "conv2d_large": conv(2, (4, 16, 16, 16), (32, 16, 3, 3), padding=1),
    "conv3d": conv(3, (2, 2, 5, 5, 5), (3, 2, 3, 3, 3), padding=1, stride=2),
    "conv3d_groups_dil": conv(3, (1, 4, 4, 6, 5), (4, 2, 2, 3, 2), groups=2, dilation=(1, 2, 1), padding=(0, 1, 1)),
    "max_pool2d": (lambda F, x: F.max_pool2d(x, 2), [(distinct((2, 3, 6, 6), 1), D)]),
    "max_pool2d_pad_stride": (lambda F, x: F.max_pool2d(x, 3, 2, 1), [(distinct((2, 2, 7, 8), 2), D)]),
    "max_pool2d_ceil": (lambda F, x: F.max_pool2d(x, (3, 2), (2, 2), (1, 1), ceil_mode=True), [(distinct((1, 2, 8, 7), 3), D)]),
    "max_pool2d_overlap": (lambda F, x: F.max_pool2d(x, 3, 1), [(distinct((1, 2, 5, 5), 4), D)]),
    "max_pool2d_unbatched": (lambda F, x: F.max_pool2d(x, 2, 2, 1, ceil_mode=True), [(distinct((3, 5, 5), 5), D)]),
    "max_pool2d_negative": (lambda F, x: F.max_pool2d(x, 3, 2, 1), [(-np.abs(distinct((1, 2, 5, 5), 6)) - 1, D)]),
    "max_pool1d": (lambda F, x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), [(distinct((2, 3, 10), 7), D)]),
    "max_pool1d_unbatched": (lambda F, x: F.max_pool1d(x, 2), [(distinct((3, 9), 8), D)]),
    "avg_pool2d": (lambda F, x: F.avg_pool2d(x, 2), [(rnd((2, 3, 6, 6), "a"), D)]),
    "avg_pool2d_pad_cip": (lambda F, x: F.avg_pool2d(x, 3, 2, 1), [(rnd((2, 2, 7, 8), "a"), D)]),
    "avg_pool2d_pad_nocip": (lambda F, x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [(rnd((2, 2, 7, 8), "a"), D)]),
    "avg_pool2d_ceil_cip": (lambda F, x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True), [(rnd((1, 2, 6, 6), "a"), D)]),
    "avg_pool2d_ceil_nocip": (lambda F, x: F.avg_pool2d(x, (5, 3), (2, 2), (2, 1), ceil_mode=True, count_include_pad=False),
                              [(rnd((1, 2, 6, 7), "a"), D)]),
    "avg_pool2d_ceil_overhang": (lambda F, x: F.avg_pool2d(x, 5, 2, 2, ceil_mode=True), [(rnd((1, 1, 6, 6), "a"), D)]),
    "avg_pool2d_unbatched": (lambda F, x: F.avg_pool2d(x, 2, 1), [(rnd((3, 4, 5), "a"), D)]),
    "avg_pool1d": (lambda F, x: F.avg_pool1d(x, 3, 2, 1), [(rnd((2, 3, 10), "a1"), D)]),
    "avg_pool1d_ceil_nocip": (lambda F, x: F.avg_pool1d(x, 4, 3, 2, ceil_mode=True, count_include_pad=False),
                              [(rnd((2, 2, 9), "a1"), D)]),
    "adaptive_avg_pool2d": (lambda F, x: F.adaptive_avg_pool2d(x, (3, 2)), [(rnd((2, 3, 7, 5), "ad"), D)]),
    "adaptive_avg_pool2d_int": (lambda F, x: F.adaptive_avg_pool2d(x, 4), [(rnd((1, 2, 9, 6), "ad"), D)]),
    "adaptive_avg_pool2d_up": (lambda F, x: F.adaptive_avg_pool2d(x, (7, 6)), [(rnd((1, 2, 5, 4), "ad"), D)]),
    "adaptive_avg_pool2d_global_unbatched": (lambda F, x: F.adaptive_avg_pool2d(x, 1), [(rnd((3, 5, 6), "ad"), D)]),
    "adaptive_avg_pool2d_none": (lambda F, x: F.adaptive_avg_pool2d(x, (None, 3)), [(rnd((1, 2, 5, 6), "ad"), D)]),
    "act_relu": (lambda F, x: F.relu(x), [(rnd((4, 5), "r") + 0.01, D)]),
    "act_leaky_relu": (lambda F, x: F.leaky_relu(x, 0.2), [(rnd((4, 5), "lr") + 0.01, D)]),
    "act_sigmoid": (lambda F, x: F.sigmoid(x), [(rnd((4, 5), "s") * 4, D)]),
    "act_tanh": (lambda F, x: F.tanh(x), [(rnd((4, 5), "t") * 2, D)]),
    "act_softplus": (lambda F, x: F.softplus(x), [(f32([-100, -20, -3, -0.1, 0, 0.1, 3, 19, 21, 100]), D)]),
    "softmax": (lambda F, x: F.softmax(x, 1), [(rnd((3, 5), "sm") * 3, D)]),
    "softmax_log": (lambda F, x: F.log_softmax(x, -1), [(rnd((3, 5), "lsm") * 3, D)]),
    "mse_mean": (lambda F, a, b: F.mse_loss(a, b), [(rnd((4, 5), "mi"), D), (rnd((4, 5), "mt"), D)]),
    "mse_sum": (lambda F, a, b: F.mse_loss(a, b, reduction="sum"), [(rnd((3, 2, 2), "mi"), D), (rnd((3, 2, 2), "mt"), D)]),
    "mse_none": (lambda F, a, b: F.mse_loss(a, b, reduction="none"), [(rnd((6,), "mi"), D), (rnd((6,), "mt"), D)]),
    "l1_mean": (lambda F, a, b: F.l1_loss(a, b), [(rnd((4, 5), "li") + 3.5, D), (rnd((4, 5), "lt"), D)]),
    "l1_none": (lambda F, a, b: F.l1_loss(a, b, reduction="none"), [(rnd((3, 4), "li") - 3.5, D), (rnd((3, 4), "lt"), D)]),
    "bce_mean": (lambda F, a, b: F.binary_cross_entropy(a, b), [(rnd((4, 5), "bi", 0.02, 0.98), D), (rnd((4, 5), "bt", 0, 1), D)]),
    "bce_weight_sum": (lambda F, a, b, w: F.binary_cross_entropy(a, b, weight=w, reduction="sum"),
                       [(rnd((3, 4), "bi", 0.02, 0.98), D), (rnd((3, 4), "bt", 0, 1), D), (rnd((4,), "bw", 0.5, 2), C)]),
    "bce_hard_targets_none": (lambda F, a, b: F.binary_cross_entropy(a, b, reduction="none"),
                              [(rnd((3, 4), "bi", 0.02, 0.98), D), (f32(rng("hard").integers(0, 2, (3, 4))), C)]),
    "bce_logits_mean": (lambda F, a, b: F.binary_cross_entropy_with_logits(a, b), [(rnd((4, 5), "bl") * 5, D), (rnd((4, 5), "blt", 0, 1), D)]),
    "bce_logits_pos_weight": (lambda F, a, b, pw: F.binary_cross_entropy_with_logits(a, b, pos_weight=pw),
                              [(rnd((4, 5), "bl") * 5, D), (rnd((4, 5), "blt", 0, 1), D), (rnd((5,), "pw", 0.3, 4), C)]),
    "bce_logits_weight_pw_none": (lambda F, a, b, w, pw: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction="none", pos_weight=pw),
                                  [(rnd((3, 4), "bl") * 5, D), (rnd((3, 4), "blt", 0, 1), D), (rnd((3, 1), "w", 0.5, 2), C),
                                   (rnd((4,), "pw", 0.3, 4), C)]),
    "bce_logits_extreme": (lambda F, a, b: F.binary_cross_entropy_with_logits(a, b, reduction="sum"),
                           [(f32([-120, -40, -5, 0, 5, 40, 120]), D), (f32([1, 0, 1, 0.5, 0, 1, 0]), C)]),
    "nll_mean": (lambda F, x, t: F.nll_loss(x, t), [(rnd((5, 4), "n"), D), (idx([0, 3, 1, 2, 3]), I)]),
    "nll_weight_ignore_none": (lambda F, x, t, w: F.nll_loss(x, t, weight=w, ignore_index=2, reduction="none"),
                               [(rnd((5, 4), "n"), D), (idx([0, 2, 1, 2, 3]), I), (rnd((4,), "nw", 0.3, 2), C)]),
    "nll_spatial_weight_mean": (lambda F, x, t, w: F.nll_loss(x, t, weight=w),
                                [(rnd((2, 3, 2, 3), "n"), D), (idx(rng("nt").integers(0, 3, (2, 2, 3))), I), (rnd((3,), "nw", 0.3, 2), C)]),
    "ce_mean": (lambda F, x, t: F.cross_entropy(x, t), [(rnd((6, 5), "c") * 3, D), (idx([0, 4, 1, 2, 3, 3]), I)]),
    "ce_sum": (lambda F, x, t: F.cross_entropy(x, t, reduction="sum"), [(rnd((6, 5), "c") * 3, D), (idx([0, 4, 1, 2, 3, 3]), I)]),
    "ce_weight": (lambda F, x, t, w: F.cross_entropy(x, t, weight=w), [(rnd((6, 5), "c") * 3, D), (idx([0, 4, 1, 2, 3, 3]), I),
                                                                        (rnd((5,), "cw", 0.3, 2), C)]),
    "ce_ignore_index": (lambda F, x, t: F.cross_entropy(x, t, ignore_index=3), [(rnd((6, 5), "c") * 3, D), (idx([0, 4, 3, 2, 3, 1]), I)]),
    "ce_ignore_default_neg100": (lambda F, x, t: F.cross_entropy(x, t), [(rnd((4, 3), "c") * 3, D), (idx([0, -100, 2, -100]), I)]),
    "ce_smoothing": (lambda F, x, t: F.cross_entropy(x, t, label_smoothing=0.15), [(rnd((6, 5), "c") * 3, D), (idx([0, 4, 1, 2, 3, 3]), I)]),
    "ce_smoothing_ignore_mean": (lambda F, x, t: F.cross_entropy(x, t, ignore_index=-100, label_smoothing=0.3),
                                 [(rnd((5, 4), "c") * 3, D), (idx([0, -100, 2, 3, -100]), I)]),
    "ce_smoothing_weight_ignore": (lambda F, x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=1, label_smoothing=0.2),
                                   [(rnd((6, 5), "c") * 3, D), (idx([0, 4, 1, 2, 1, 3]), I), (rnd((5,), "cw", 0.3, 2), C)]),
    "ce_smoothing_weight_none": (lambda F, x, t, w: F.cross_entropy(x, t, weight=w, reduction="none", label_smoothing=0.2),
                                 [(rnd((6, 5), "c") * 3, D), (idx([0, 4, 1, 2, 1, 3]), I), (rnd((5,), "cw", 0.3, 2), C)]),
    "ce_spatial": (lambda F, x, t: F.cross_entropy(x, t), [(rnd((2, 4, 3, 3), "c"), D), (idx(rng("ct").integers(0, 4, (2, 3, 3))), I)]),
    "ce_spatial_weight_smoothing_none": (lambda F, x, t, w: F.cross_entropy(x, t, weight=w, reduction="none", label_smoothing=0.1),
                                         [(rnd((2, 4, 5), "c"), D), (idx(rng("ct").integers(0, 4, (2, 5))), I), (rnd((4,), "cw", 0.3, 2), C)]),
    "ce_unbatched": (lambda F, x, t: F.cross_entropy(x, t), [(rnd((5,), "c") * 2, D), (idx(3), I)]),
    "ce_prob": (lambda F, x, q: F.cross_entropy(x, q), [(rnd((4, 5), "cp") * 3, D), (probs((4, 5), 1, "q"), D)]),
    "ce_prob_weight_smoothing_sum": (lambda F, x, q, w: F.cross_entropy(x, q, weight=w, reduction="sum", label_smoothing=0.2),
                                     [(rnd((4, 5), "cp") * 3, D), (probs((4, 5), 1, "q"), D), (rnd((5,), "cw", 0.3, 2), C)]),
    "ce_prob_spatial_weight_mean": (lambda F, x, q, w: F.cross_entropy(x, q, weight=w),
                                    [(rnd((2, 3, 2, 2), "cp"), D), (probs((2, 3, 2, 2), 1, "q"), D), (rnd((3,), "cw", 0.3, 2), C)]),
    # non-finite values: rows holding +inf or NaN, or only -inf, are NaN (values and gradients) as in PyTorch;
    # -inf elsewhere gives probability 0
    "softmax_nonfinite": (lambda F, x: F.softmax(x, 1), [(NONFINITE_ROWS, D)]),
    "softmax_nonfinite_dim0": (lambda F, x: F.softmax(x, 0), [(NONFINITE_ROWS.T.copy(), D)]),
    "softmax_log_nonfinite": (lambda F, x: F.log_softmax(x, 1), [(NONFINITE_ROWS, D)]),
    "softmax_log_nonfinite_dim0": (lambda F, x: F.log_softmax(x, 0), [(NONFINITE_ROWS.T.copy(), D)]),
    "ce_nonfinite_none": (lambda F, x, t: F.cross_entropy(x, t, reduction="none"), [(NONFINITE_ROWS, D), (NONFINITE_TARGETS, I)]),
    "ce_nonfinite_mean": (lambda F, x, t: F.cross_entropy(x, t), [(NONFINITE_ROWS, D), (NONFINITE_TARGETS, I)]),
    "ce_nonfinite_smoothing_weight_none": (lambda F, x, t, w: F.cross_entropy(x, t, weight=w, reduction="none", label_smoothing=0.2),
                                           [(NONFINITE_ROWS, D), (NONFINITE_TARGETS, I), (rnd((5,), "cw", 0.3, 2), C)]),
    "ce_nonfinite_ignore_sum": (lambda F, x, t: F.cross_entropy(x, t, ignore_index=0, reduction="sum"),
                                [(NONFINITE_ROWS[3:], D), (NONFINITE_TARGETS[3:], I)]),
    "ce_prob_nonfinite_none": (lambda F, x, q: F.cross_entropy(x, q, reduction="none"),
                               [(NONFINITE_ROWS, D), (probs(NONFINITE_ROWS.shape, 1, "q"), D)]),
    "nll_nonfinite_none": (lambda F, x, t: F.nll_loss(x, t, reduction="none"), [(NONFINITE_ROWS, D), (NONFINITE_TARGETS, I)]),
    "mse_nonfinite_none": (lambda F, a, b: F.mse_loss(a, b, reduction="none"),
                           [(f32([np.inf, -np.inf, np.nan, 1, 2, np.inf]), D), (f32([np.inf, 0, 0, np.inf, 2, 1]), D)]),
    "l1_nonfinite_none": (lambda F, a, b: F.l1_loss(a, b, reduction="none"),
                          [(f32([np.inf, -np.inf, np.nan, 1, 2, np.inf]), D), (f32([np.inf, 0, 0, np.inf, 2, 1]), D)]),
    "bce_logits_nonfinite_none": (lambda F, a, b: F.binary_cross_entropy_with_logits(a, b, reduction="none"),
                                  [(f32([np.inf, -np.inf, np.inf, -np.inf, np.nan, 1]), D), (f32([1, 0, 0, 1, 1, np.nan]), C)]),
    # probabilities of exactly 0 or 1: the log terms clamp at -100 and the gradient is PyTorch's finite
    # (p - y) / max(p (1 - p), 1e-12), not 0 * inf
    "bce_edges_none": (lambda F, a, b: F.binary_cross_entropy(a, b, reduction="none"),
                       [(f32([0, 1, 0, 1, 0, 1, 0.5]), D), (f32([1, 0, 0, 1, 0.5, 0.5, 1]), D)]),
    "bce_edges_weight_mean": (lambda F, a, b, w: F.binary_cross_entropy(a, b, weight=w),
                              [(f32([[0, 1, 0.3], [1, 0, 0.7]]), D), (f32([[1, 0, 1], [0.25, 1, 0]]), D), (rnd((3,), "bw", 0.5, 2), C)]),
    "dropout_eval": (lambda F, x: F.dropout(x, 0.5, training=False), [(rnd((3, 4), "d"), D)]),
    "dropout_p0": (lambda F, x: F.dropout(x, 0.0), [(rnd((3, 4), "d"), D)]),
    "dropout_p1": (lambda F, x: F.dropout(x, 1.0), [(rnd((3, 4), "d"), D)]),
    "dropout2d_eval": (lambda F, x: F.dropout2d(x, 0.5, training=False), [(rnd((2, 3, 2, 2), "d"), D)]),
}


def _build(spec, layout):
    rts, ths = [], []
    for arr, kind in spec:
        if kind == I:
            rts.append(rt.tensor(arr))
            ths.append(torch.tensor(arr))
            continue
        t = make(arr, layout) if arr.ndim > 0 else rt.tensor(arr)
        if kind == D:
            t.requires_grad_(True)
        rts.append(t)
        ths.append(torch.tensor(arr, requires_grad=(kind == D)))
    return rts, ths


def _scale(ref):
    """max(1, largest finite |value|): an inf or NaN in the reference must not make atol infinite."""
    finite = np.abs(ref[np.isfinite(ref)])
    return max(1.0, float(finite.max())) if finite.size else 1.0


def _compare(name, rts, ths, out_rt, out_th):
    tl = tol(name)
    assert tuple(out_rt.shape) == tuple(out_th.shape), f"{name}: shape {tuple(out_rt.shape)} vs torch {tuple(out_th.shape)}"
    assert out_rt.dtype == rt.float32, f"{name}: dtype {out_rt.dtype}"
    ref = out_th.detach().numpy()
    scale = _scale(ref)
    np.testing.assert_allclose(out_rt.detach().numpy(), ref, err_msg=f"{name} forward", rtol=tl["rtol"], atol=tl["atol"] * scale)
    if not out_th.requires_grad:
        return
    G = f32(rng("G", name).standard_normal(tuple(out_th.shape)))
    out_rt.backward(rt.tensor(G))
    out_th.backward(torch.tensor(G))
    for i, (a, b) in enumerate(zip(rts, ths)):
        if b.requires_grad:
            assert a.grad is not None, f"{name}: no gradient for argument {i}"
            assert tuple(a.grad.shape) == tuple(b.grad.shape)
            ref = b.grad.numpy()
            # gradients are long float32 sums: atol scales with the gradient's magnitude
            scale = _scale(ref)
            np.testing.assert_allclose(a.grad.numpy(), ref, err_msg=f"{name} grad of argument {i}",
                                       rtol=tl["rtol"], atol=tl["atol"] * scale)


@pytest.mark.parametrize("layout", ["contig", "noncontig"])
@pytest.mark.parametrize("name", list(CASES))
def test_parity(name, layout):
    fn, spec = CASES[name]
    rts, ths = _build(spec, layout)
    if layout == "noncontig":
        assert any(not t.is_contiguous() for t in rts if t.numel() > 1 and t.is_floating_point())
    _compare(name, rts, ths, fn(RF, *rts), fn(TF, *ths))


# ---------------------------------------------------------------- batch norm (running statistics too)

@pytest.mark.parametrize("layout", ["contig", "noncontig"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5), (2, 4, 3, 3), (2, 2, 2, 3, 2)], ids=str)
def test_batch_norm_parity(shape, affine, layout):
    name = "batch_norm"
    Cn = shape[1]
    r = rng("bn", shape, affine)
    rm0, rv0 = f32(r.standard_normal(Cn) * 0.1), f32(r.uniform(0.5, 2, Cn))
    w0, b0 = rnd((Cn,), "w", 0.5, 1.5), rnd((Cn,), "b")
    rrm, rrv = rt.tensor(rm0.copy()), rt.tensor(rv0.copy())
    trm, trv = torch.tensor(rm0.copy()), torch.tensor(rv0.copy())
    for step, (training, momentum) in enumerate([(True, 0.1), (True, 0.3), (False, 0.1), (True, 1.0), (False, 0.1)]):
        x = f32(r.standard_normal(shape) * (step + 1) + step)
        spec = [(x, D)] + ([(w0, D), (b0, D)] if affine else [])
        rts, ths = _build(spec, layout)
        out_rt = RF.batch_norm(rts[0], rrm, rrv, *rts[1:], training=training, momentum=momentum, eps=1e-4)
        out_th = TF.batch_norm(ths[0], trm, trv, *ths[1:], training=training, momentum=momentum, eps=1e-4)
        _compare(f"{name} step {step}", rts, ths, out_rt, out_th)
        np.testing.assert_allclose(rrm.numpy(), trm.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"running_mean after step {step}")
        np.testing.assert_allclose(rrv.numpy(), trv.numpy(), rtol=1e-5, atol=1e-6, err_msg=f"running_var after step {step}")


def test_batch_norm_parity_without_running_stats():
    x = rnd((4, 3, 5), "bnx") * 3
    rts, ths = _build([(x, D), (rnd((3,), "w", 0.5, 1.5), D), (rnd((3,), "b"), D)], "contig")
    _compare("batch_norm none", rts, ths, RF.batch_norm(rts[0], None, None, *rts[1:], training=True),
             TF.batch_norm(ths[0], None, None, *ths[1:], training=True))


# ---------------------------------------------------------------- dropout: statistics, not masks

@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_statistics_match_torch(p):
    n = 100_000
    x = np.ones(n, np.float32)
    rt.manual_seed(0)
    torch.manual_seed(0)
    a = RF.dropout(rt.tensor(x), p).numpy()
    b = TF.dropout(torch.tensor(x), p).numpy()
    assert set(np.unique(a)) == set(np.unique(b)), (np.unique(a), np.unique(b))
    assert abs((a == 0).mean() - (b == 0).mean()) < 0.02
