"""rt.autograd.gradcheck (float64 central differences vs backward) for every reticulum.nn.functional op
and every differentiable argument. Table-driven: each case is (fn, [(array, requires_grad), ...]).
Inputs are chosen away from kinks (max ties, |x - t| = 0, bce at 0/1)."""
import zlib

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F

F64 = rt.float64


def rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def distinct(shape, key):
    n = int(np.prod(shape))
    return (rng("distinct", key).permutation(n) - n / 2).reshape(shape) * 0.1


def rnd(shape, key, lo=-1.5, hi=1.5):
    return rng(key, shape).uniform(lo, hi, shape)


def idx(a):
    return np.asarray(a, dtype=np.int64)


D, C = True, False  # differentiable leaf / constant


def conv_case(nd, xs, ws, bias=True, **kw):
    fn = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    args = [(rnd(xs, "cx"), D), (rnd(ws, "cw"), D)]
    if bias:
        args.append((rnd(ws[:1], "cb"), D))
        return (lambda x, w, b: fn(x, w, b, **kw)), args
    return (lambda x, w: fn(x, w, **kw)), args


def bn_case(shape, training, affine=True, with_stats=True, momentum=0.1):
    Cn = shape[1]
    x = rnd(shape, "bnx") * 2
    args = [(x, D)]
    rm, rv = rnd((Cn,), "rm") * 0.3, rnd((Cn,), "rv", 0.5, 2.0)
    if affine:
        args += [(rnd((Cn,), "bnw", 0.5, 1.5), D), (rnd((Cn,), "bnb"), D)]

    def fn(x, *wb):
        # fresh running stats per call: the op updates them in place in training mode
        m, v = (rt.tensor(rm), rt.tensor(rv)) if with_stats else (None, None)
        return F.batch_norm(x, m, v, *wb, training=training, momentum=momentum)
    return fn, args


def probs(shape, axis, key):
    q = rng(key, shape).uniform(0.05, 1, shape)
    return q / q.sum(axis=axis, keepdims=True)


def seeded(fn, seed=5):
    def g(*a):
        rt.manual_seed(seed)
        return fn(*a)
    return g


CASES = {
    # ---- linear
    "linear": (F.linear, [(rnd((3, 4), "lx"), D), (rnd((2, 4), "lw"), D), (rnd((2,), "lb"), D)]),
    "linear_3d_nobias": (lambda x, w: F.linear(x, w), [(rnd((2, 2, 3), "lx"), D), (rnd((4, 3), "lw"), D)]),
    "linear_1d_input": (F.linear, [(rnd((3,), "lx"), D), (rnd((2, 3), "lw"), D), (rnd((2,), "lb"), D)]),
    "linear_weight_only": (lambda w, x: F.linear(x, w), [(rnd((2, 3), "lw"), D), (rnd((4, 3), "lx"), C)]),
    # ---- convolution
    "conv1d": conv_case(1, (2, 2, 7), (3, 2, 3)),
    "conv1d_stride_pad_dil": conv_case(1, (2, 2, 9), (2, 2, 3), stride=2, padding=2, dilation=2),
    "conv1d_groups": conv_case(1, (1, 4, 6), (4, 2, 2), groups=2, padding=1),
    "conv1d_same": conv_case(1, (1, 2, 6), (2, 2, 3), bias=False, padding="same", dilation=2),
    "conv1d_unbatched": conv_case(1, (2, 6), (2, 2, 3), stride=2),
    "conv2d": conv_case(2, (2, 2, 4, 4), (3, 2, 3, 3), padding=1),
    "conv2d_stride": conv_case(2, (1, 2, 5, 5), (2, 2, 3, 3), stride=2),
    "conv2d_dilation": conv_case(2, (1, 2, 5, 6), (2, 2, 2, 2), dilation=(2, 3), padding=(1, 2)),
    "conv2d_groups": conv_case(2, (1, 4, 4, 4), (4, 2, 2, 2), groups=2, stride=(1, 2)),
    "conv2d_depthwise": conv_case(2, (2, 3, 4, 4), (3, 1, 3, 3), groups=3, padding=1, stride=2),
    "conv2d_pointwise_groups": conv_case(2, (1, 4, 3, 3), (6, 2, 1, 1), groups=2),
    "conv2d_nobias_same": conv_case(2, (1, 2, 4, 4), (2, 2, 3, 3), bias=False, padding="same", dilation=(1, 2)),
    "conv2d_unbatched": conv_case(2, (2, 4, 4), (2, 2, 2, 3), padding=(1, 0)),
    "conv3d": conv_case(3, (1, 2, 3, 3, 3), (2, 2, 2, 2, 2), padding=1, stride=2),
    "conv3d_groups_dil": conv_case(3, (1, 2, 3, 4, 4), (2, 1, 2, 2, 2), groups=2, dilation=(1, 2, 1)),
    # ---- pooling (distinct inputs: no max ties)
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [(distinct((1, 2, 4, 4), 1), D)]),
    "max_pool2d_stride_pad": (lambda x: F.max_pool2d(x, 3, 2, padding=1), [(distinct((2, 1, 5, 5), 2), D)]),
    "max_pool2d_overlap_ceil": (lambda x: F.max_pool2d(x, (2, 3), (1, 2), padding=(1, 1), ceil_mode=True), [(distinct((1, 2, 4, 5), 3), D)]),
    "max_pool2d_unbatched": (lambda x: F.max_pool2d(x, 2, 1), [(distinct((2, 3, 3), 4), D)]),
    "max_pool1d": (lambda x: F.max_pool1d(x, 3, 2, padding=1, ceil_mode=True), [(distinct((2, 2, 7), 5), D)]),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 2), [(rnd((1, 2, 4, 4), "ap"), D)]),
    "avg_pool2d_pad_cip": (lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True), [(rnd((1, 2, 6, 5), "ap"), D)]),
    "avg_pool2d_pad_nocip": (lambda x: F.avg_pool2d(x, 3, 2, padding=1, ceil_mode=True, count_include_pad=False),
                             [(rnd((1, 2, 6, 5), "ap"), D)]),
    "avg_pool1d": (lambda x: F.avg_pool1d(x, 4, 3, padding=2, count_include_pad=False), [(rnd((2, 2, 8), "ap1"), D)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [(rnd((1, 2, 5, 5), "aap"), D)]),
    "adaptive_avg_pool2d_up": (lambda x: F.adaptive_avg_pool2d(x, (4, 3)), [(rnd((2, 3, 2), "aap"), D)]),
    # ---- batch norm
    "batch_norm_train_2d": bn_case((4, 3), True),
    "batch_norm_train_4d": bn_case((2, 2, 3, 2), True),
    "batch_norm_train_3d_no_stats": bn_case((3, 2, 3), True, with_stats=False),
    "batch_norm_train_no_affine": bn_case((3, 2, 3), True, affine=False),
    "batch_norm_eval_2d": bn_case((4, 3), False),
    "batch_norm_eval_4d": bn_case((2, 2, 3, 2), False),
    "batch_norm_eval_no_affine": bn_case((3, 2, 3), False, affine=False),
    # ---- dropout (the mask is fixed by reseeding before every call)
    "dropout": (seeded(lambda x: F.dropout(x, 0.4)), [(rnd((3, 5), "dr"), D)]),
    "dropout2d": (seeded(lambda x: F.dropout2d(x, 0.5)), [(rnd((2, 3, 2, 2), "dr2"), D)]),
    "dropout_eval": (lambda x: F.dropout(x, 0.4, training=False), [(rnd((3, 5), "dr"), D)]),
    # ---- activations
    "relu": (F.relu, [(rnd((3, 4), "act") + 0.05 * np.sign(rnd((3, 4), "act")), D)]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), [(np.sign(rnd((3, 4), "lr")) * rnd((3, 4), "lr2", 0.2, 2), D)]),
    "sigmoid": (F.sigmoid, [(rnd((3, 4), "sg") * 3, D)]),
    "tanh": (F.tanh, [(rnd((3, 4), "th"), D)]),
    "softplus": (F.softplus, [(np.array([-30.0, -3.0, -0.5, 0.0, 0.5, 3.0, 30.0]), D)]),
    "softmax": (lambda x: F.softmax(x, 1), [(rnd((2, 4), "smx") * 2, D)]),
    "log_softmax": (lambda x: F.log_softmax(x, 0), [(rnd((3, 2), "lsm") * 2, D)]),
    # ---- elementwise losses (input and target)
    "mse_mean": (F.mse_loss, [(rnd((3, 4), "mx"), D), (rnd((3, 4), "mt"), D)]),
    "mse_sum": (lambda a, b: F.mse_loss(a, b, reduction="sum"), [(rnd((5,), "mx"), D), (rnd((5,), "mt"), D)]),
    "mse_none": (lambda a, b: F.mse_loss(a, b, reduction="none"), [(rnd((2, 3), "mx"), D), (rnd((2, 3), "mt"), D)]),
    "l1_mean": (F.l1_loss, [(rnd((3, 4), "lt") + 0.5, D), (rnd((3, 4), "lt"), D)]),
    "l1_none": (lambda a, b: F.l1_loss(a, b, reduction="none"), [(rnd((2, 3), "lt") - 0.3, D), (rnd((2, 3), "lt"), D)]),
    "l1_sum": (lambda a, b: F.l1_loss(a, b, reduction="sum"),
               [(np.array([0.5, -1.0, 2.0, 0.1]), D), (np.array([0.0, 1.0, 1.5, -0.4]), D)]),
    "bce_mean": (F.binary_cross_entropy, [(rnd((3, 4), "bx", 0.1, 0.9), D), (rnd((3, 4), "bt", 0, 1), D)]),
    "bce_none_weight": (lambda a, b, w: F.binary_cross_entropy(a, b, weight=w, reduction="none"),
                        [(rnd((2, 3), "bx", 0.1, 0.9), D), (rnd((2, 3), "bt", 0, 1), D), (rnd((3,), "bw", 0.5, 2), C)]),
    "bce_sum": (lambda a, b: F.binary_cross_entropy(a, b, reduction="sum"),
                [(rnd((5,), "bx", 0.05, 0.95), D), (rnd((5,), "bt", 0, 1), D)]),
    "bce_logits_mean": (F.binary_cross_entropy_with_logits, [(rnd((3, 4), "blx") * 3, D), (rnd((3, 4), "blt", 0, 1), D)]),
    "bce_logits_pos_weight": (lambda a, b, pw: F.binary_cross_entropy_with_logits(a, b, pos_weight=pw, reduction="sum"),
                              [(rnd((3, 4), "blx") * 3, D), (rnd((3, 4), "blt", 0, 1), D), (rnd((4,), "pw", 0.5, 3), C)]),
    "bce_logits_weight_none": (lambda a, b, w: F.binary_cross_entropy_with_logits(a, b, weight=w, reduction="none"),
                               [(rnd((2, 3), "blx") * 3, D), (rnd((2, 3), "blt", 0, 1), D), (rnd((2, 1), "bw", 0.5, 2), C)]),
    # ---- nll / cross entropy (w.r.t. the input; probability targets also w.r.t. the target)
    "nll_mean": (lambda x, t: F.nll_loss(x, t), [(rnd((4, 3), "nx"), D), (idx([0, 2, 1, 2]), C)]),
    "nll_weight_ignore": (lambda x, t, w: F.nll_loss(x, t, weight=w, ignore_index=1),
                          [(rnd((5, 3), "nx"), D), (idx([0, 1, 2, 2, 0]), C), (np.array([0.5, 2.0, 1.5]), C)]),
    "nll_spatial_none": (lambda x, t: F.nll_loss(x, t, reduction="none"), [(rnd((2, 3, 2), "nx"), D), (idx([[0, 2], [1, 1]]), C)]),
    "nll_unbatched_sum": (lambda x, t: F.nll_loss(x, t, reduction="sum"), [(rnd((4,), "nx"), D), (idx(2), C)]),
    "ce_mean": (lambda x, t: F.cross_entropy(x, t), [(rnd((4, 3), "cx") * 2, D), (idx([0, 2, 1, 2]), C)]),
    "ce_none": (lambda x, t: F.cross_entropy(x, t, reduction="none"), [(rnd((3, 4), "cx") * 2, D), (idx([3, 0, 1]), C)]),
    "ce_weight": (lambda x, t, w: F.cross_entropy(x, t, weight=w),
                  [(rnd((5, 3), "cx") * 2, D), (idx([0, 1, 2, 2, 0]), C), (np.array([0.5, 2.0, 1.5]), C)]),
    "ce_smoothing": (lambda x, t: F.cross_entropy(x, t, label_smoothing=0.2),
                     [(rnd((4, 3), "cx") * 2, D), (idx([0, 2, 1, 2]), C)]),
    "ce_smoothing_weight_ignore": (lambda x, t, w: F.cross_entropy(x, t, weight=w, ignore_index=0, label_smoothing=0.3),
                                   [(rnd((5, 3), "cx") * 2, D), (idx([0, 1, 2, 2, 1]), C), (np.array([0.5, 2.0, 1.5]), C)]),
    "ce_smoothing_weight_sum": (lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum", label_smoothing=0.1),
                                [(rnd((3, 4), "cx") * 2, D), (idx([3, 1, 0]), C), (np.array([0.5, 2.0, 1.5, 1.0]), C)]),
    "ce_spatial_smoothing_none": (lambda x, t: F.cross_entropy(x, t, reduction="none", label_smoothing=0.25),
                                  [(rnd((2, 3, 2, 2), "cx"), D), (idx([[[0, 1], [2, 0]], [[1, 1], [2, 2]]]), C)]),
    "ce_unbatched": (lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1), [(rnd((4,), "cx"), D), (idx(1), C)]),
    "ce_prob": (lambda x, q: F.cross_entropy(x, q), [(rnd((3, 4), "cpx") * 2, D), (probs((3, 4), 1, "q"), D)]),
    "ce_prob_weight_smoothing": (lambda x, q, w: F.cross_entropy(x, q, weight=w, label_smoothing=0.2),
                                 [(rnd((3, 4), "cpx") * 2, D), (probs((3, 4), 1, "q"), D), (np.array([0.5, 2.0, 1.5, 1.0]), C)]),
    "ce_prob_spatial_none": (lambda x, q: F.cross_entropy(x, q, reduction="none"),
                             [(rnd((2, 3, 2), "cpx"), D), (probs((2, 3, 2), 1, "q"), D)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name):
    fn, spec = CASES[name]
    inputs = []
    for arr, diff in spec:
        arr = np.array(arr)
        if arr.dtype.kind == "f":
            t = rt.tensor(arr, dtype=F64)
            if diff:
                t.requires_grad_(True)
        else:
            t = rt.tensor(arr)
        inputs.append(t)
    assert any(t.requires_grad for t in inputs)
    assert rt.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3)


def test_gradcheck_detects_a_wrong_gradient():
    """Guard: the checker used above does fail on a wrong backward."""
    class Bad(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = rt.tensor(np.array([1.0, 2.0]), dtype=F64, requires_grad=True)
    with pytest.raises(rt.autograd.GradcheckError):
        rt.autograd.gradcheck(Bad.apply, [x])


@pytest.mark.parametrize("which", ["x", "w", "b", "xw", "wb"])
def test_batch_norm_subset_of_params_requires_grad(which):
    """Only some of (input, weight, bias) require grad: the others get no .grad and the rest are right."""
    x0, w0, b0 = rnd((3, 2, 2), "sx"), rnd((2,), "sw", 0.5, 1.5), rnd((2,), "sb")
    ts = [rt.tensor(a, dtype=F64) for a in (x0, w0, b0)]
    for k, t in zip("xwb", ts):
        if k in which:
            t.requires_grad_(True)
    assert rt.autograd.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), ts)
    F.batch_norm(*ts[:1], None, None, *ts[1:], training=True).sum().backward()
    for k, t in zip("xwb", ts):
        assert (t.grad is None) == (k not in which)


@pytest.mark.parametrize("which", ["x", "w", "b", "xb"])
def test_conv_subset_of_params_requires_grad(which):
    x0, w0, b0 = rnd((1, 2, 4, 4), "cx"), rnd((2, 1, 2, 2), "cw"), rnd((2,), "cb")
    ts = [rt.tensor(a, dtype=F64) for a in (x0, w0, b0)]
    for k, t in zip("xwb", ts):
        if k in which:
            t.requires_grad_(True)
    assert rt.autograd.gradcheck(lambda x, w, b: F.conv2d(x, w, b, groups=2, padding=1, stride=2), ts)
