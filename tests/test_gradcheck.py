"""Finite-difference gradient checks (float64) for every differentiable op, table-driven.

Each entry declares an op once: a function of the differentiable inputs and, per input, a shape
and a value domain chosen away from the op's kinks (0 for relu/abs, the bounds of clamp, ties for
max/maximum). Every entry runs with contiguous and with non-contiguous leaf inputs."""
import zlib

import numpy as np
import pytest

import reticulum as rt
from helpers import LAYOUTS, make

F64 = rt.float64


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _values(domain, shape, r):
    shape = tuple(shape)
    if domain == "any":
        return r.uniform(-2, 2, shape)
    if domain == "nonzero":  # |x| >= 0.3: away from the kinks of relu/abs/leaky_relu and the pole of 1/x
        return r.uniform(0.3, 2, shape) * r.choice([-1.0, 1.0], size=shape)
    if domain == "pos":
        return r.uniform(0.5, 2, shape)
    if domain == "clamp":  # away from the bounds -1 and 1
        v = r.uniform(-0.8, 0.8, shape)
        big = r.uniform(1.2, 2.5, shape) * r.choice([-1.0, 1.0], size=shape)
        return np.where(r.random(shape) < 0.5, v, big)
    if domain == "distinct":  # distinct values on a 0.1 grid: a unique max/min in every slice
        n = int(np.prod(shape))
        return (r.permutation(n) - n / 2).reshape(shape) * 0.1
    raise ValueError(domain)


def idx(values):
    return rt.tensor(np.asarray(values, dtype=np.int64))


# name: (fn of the differentiable inputs, [(shape, domain), ...])
OPS = {
    # ---- binary, with broadcasting
    "add": (lambda a, b: a + b, [((3, 1, 4), "any"), ((2, 4), "any")]),
    "add_0d": (lambda a, b: a + b, [((), "any"), ((2, 3), "any")]),
    "sub": (lambda a, b: a - b, [((2, 4), "any"), ((3, 1, 4), "any")]),
    "sub_0d": (lambda a, b: a - b, [((2, 3), "any"), ((), "any")]),
    "mul": (lambda a, b: a * b, [((3, 1, 4), "any"), ((2, 4), "any")]),
    "mul_col": (lambda a, b: a * b, [((4,), "any"), ((3, 1), "any")]),
    "div": (lambda a, b: a / b, [((3, 1, 4), "any"), ((2, 4), "nonzero")]),
    "div_0d": (lambda a, b: a / b, [((), "any"), ((3,), "nonzero")]),
    "pow_tensor": (lambda a, b: a ** b, [((3, 1, 4), "pos"), ((2, 4), "any")]),
    "pow_fn": (lambda a, b: rt.pow(a, b), [((2, 3), "pos"), ((3,), "any")]),
    "maximum": (rt.maximum, [((3, 1, 4), "any"), ((2, 4), "any")]),
    "minimum": (rt.minimum, [((2, 4), "any"), ((3, 1, 4), "any")]),
    "same_input_twice": (lambda a: a * a + a.exp() - a / (a * a + 1), [((2, 3), "any")]),
    # ---- with python scalars
    "add_scalar": (lambda a: a + 2.5, [((2, 3), "any")]),
    "rsub_scalar": (lambda a: 1.5 - a, [((2, 3), "any")]),
    "mul_scalar": (lambda a: 3 * a, [((2, 3), "any")]),
    "div_scalar": (lambda a: a / 4, [((2, 3), "any")]),
    "rdiv_scalar": (lambda a: 2 / a, [((2, 3), "nonzero")]),
    "pow_2": (lambda a: a ** 2, [((2, 3), "any")]),
    "pow_3": (lambda a: a ** 3, [((2, 3), "any")]),
    "pow_half": (lambda a: a ** 0.5, [((2, 3), "pos")]),
    "pow_neg": (lambda a: a ** -1.5, [((2, 3), "pos")]),
    "rpow": (lambda a: 2 ** a, [((2, 3), "any")]),
    "rpow_float": (lambda a: 0.7 ** a, [((2, 3), "any")]),
    # ---- unary
    "neg": (lambda a: -a, [((2, 3), "any")]),
    "abs": (lambda a: a.abs(), [((2, 3), "nonzero")]),
    "exp": (lambda a: a.exp(), [((2, 3), "any")]),
    "log": (lambda a: a.log(), [((2, 3), "pos")]),
    "sqrt": (lambda a: a.sqrt(), [((2, 3), "pos")]),
    "relu": (lambda a: a.relu(), [((3, 4), "nonzero")]),
    "leaky_relu": (lambda a: rt.leaky_relu(a), [((3, 4), "nonzero")]),
    "leaky_relu_0.2": (lambda a: rt.leaky_relu(a, 0.2), [((3, 4), "nonzero")]),
    "sigmoid": (lambda a: a.sigmoid(), [((2, 3), "any")]),
    "tanh": (lambda a: a.tanh(), [((2, 3), "any")]),
    "clamp": (lambda a: a.clamp(-1, 1), [((3, 4), "clamp")]),
    "clamp_min": (lambda a: a.clamp(min=-1), [((3, 4), "clamp")]),
    "clamp_max": (lambda a: a.clamp(max=1), [((3, 4), "clamp")]),
    "heaviside": (lambda a: rt.heaviside(a, 0.5), [((2, 3), "nonzero")]),
    "sign": (lambda a: a.sign(), [((2, 3), "nonzero")]),
    "square": (lambda a: a.square(), [((2, 3), "any")]),
    "unary_0d": (lambda a: a.exp().sigmoid(), [((), "any")]),
    # ---- reductions
    "sum_all": (lambda a: a.sum(), [((2, 3, 4), "any")]),
    "sum_dim": (lambda a: a.sum(1), [((2, 3, 4), "any")]),
    "sum_keepdim": (lambda a: a.sum(-1, keepdim=True), [((2, 3, 4), "any")]),
    "sum_tuple": (lambda a: a.sum((0, 2)), [((2, 3, 4), "any")]),
    "mean_all": (lambda a: a.mean(), [((2, 3, 4), "any")]),
    "mean_dim": (lambda a: a.mean(0, keepdim=True), [((2, 3, 4), "any")]),
    "mean_tuple": (lambda a: a.mean((1, 2)), [((2, 3, 4), "any")]),
    "var_all": (lambda a: a.var(), [((3, 4), "any")]),
    "var_dim": (lambda a: a.var(1), [((3, 4), "any")]),
    "var_biased_keepdim": (lambda a: a.var(0, False, keepdim=True), [((3, 4), "any")]),
    "var_tuple": (lambda a: a.var((0, 2)), [((2, 3, 4), "any")]),
    "var_correction": (lambda a: a.var(-1, correction=2), [((2, 5), "any")]),
    "std_dim": (lambda a: a.std(1), [((3, 4), "any")]),
    "max_dim": (lambda a: a.max(1).values, [((3, 4, 2), "distinct")]),
    "max_dim_keepdim": (lambda a: a.max(-1, keepdim=True)[0], [((3, 4), "distinct")]),
    "min_dim": (lambda a: a.min(0).values, [((3, 4), "distinct")]),
    "max_dim_1d": (lambda a: a.max(0).values, [((5,), "distinct")]),
    "sum_0d": (lambda a: a.sum() * a.mean(), [((), "any")]),
    "max_all": (lambda a: a.max(), [((3, 4), "distinct")]),
    "min_all": (lambda a: a.min(), [((3, 4), "distinct")]),
    "max_fn": (lambda a: rt.max(a, 1)[0], [((3, 4), "distinct")]),
    # ---- matmul in all its forms
    "matmul_1d_1d": (lambda a, b: a @ b, [((4,), "any"), ((4,), "any")]),
    "matmul_2d_1d": (lambda a, b: a @ b, [((3, 4), "any"), ((4,), "any")]),
    "matmul_1d_2d": (lambda a, b: a @ b, [((4,), "any"), ((4, 5), "any")]),
    "matmul_2d": (lambda a, b: a @ b, [((3, 4), "any"), ((4, 5), "any")]),
    "matmul_batched_2d": (lambda a, b: a @ b, [((2, 3, 4), "any"), ((4, 5), "any")]),
    "matmul_batched": (lambda a, b: rt.matmul(a, b), [((2, 3, 4), "any"), ((2, 4, 2), "any")]),
    "matmul_bcast_batch": (lambda a, b: a @ b, [((2, 1, 3, 4), "any"), ((5, 4, 2), "any")]),
    "matmul_1d_batched": (lambda a, b: a @ b, [((4,), "any"), ((2, 4, 3), "any")]),
    "matmul_batched_1d": (lambda a, b: a.matmul(b), [((2, 3, 4), "any"), ((4,), "any")]),
    "matmul_transposed": (lambda a, b: a.mT @ b.t(), [((4, 3), "any"), ((5, 4), "any")]),
    "matmul_expanded_batch": (lambda a, b: a.expand(2, 3, 4) @ b, [((1, 3, 4), "any"), ((2, 4, 2), "any")]),
    "bmm": (lambda a, b: rt.bmm(a, b), [((2, 3, 4), "any"), ((2, 4, 2), "any")]),
    # ---- softmax
    "softmax_0": (lambda a: a.softmax(0), [((3, 4), "any")]),
    "softmax_-1": (lambda a: a.softmax(-1), [((2, 3, 4), "any")]),
    "softmax_mid": (lambda a: rt.softmax(a, 1), [((2, 3, 4), "any")]),
    "softmax_size1_dim": (lambda a: a.softmax(1) + a.log_softmax(1), [((3, 1), "any")]),
    "log_softmax_0": (lambda a: a.log_softmax(0), [((3, 4), "any")]),
    "log_softmax_-1": (lambda a: a.log_softmax(-1), [((2, 3, 4), "any")]),
    "log_softmax_mid": (lambda a: rt.log_softmax(a, 1), [((2, 3, 4), "any")]),
    # ---- cat / stack / where / gather
    "cat_0": (lambda a, b: rt.cat([a, b]), [((2, 3), "any"), ((1, 3), "any")]),
    "cat_-1_three": (lambda a, b, c: rt.cat([a, b, c], -1), [((2, 1), "any"), ((2, 3), "any"), ((2, 2), "any")]),
    "cat_same_twice": (lambda a: rt.cat([a, a * 2], 1), [((2, 3), "any")]),
    "stack_0": (lambda a, b: rt.stack([a, b]), [((2, 3), "any"), ((2, 3), "any")]),
    "stack_-1": (lambda a, b: rt.stack([a, b, a], -1), [((2, 3), "any"), ((2, 3), "any")]),
    "where": (lambda a, b: rt.where(a > b, a, b * 2), [((3, 4), "any"), ((3, 4), "any")]),
    "where_bcast": (lambda a, b: rt.where(rt.tensor([[True], [False], [True]]), a, b), [((1, 4), "any"), ((3, 4), "any")]),
    "where_scalar": (lambda a: rt.where(a > 0, a, 0.0), [((3, 4), "nonzero")]),
    "masked_fill": (lambda a: a.masked_fill(a < 0, 1.5), [((3, 4), "nonzero")]),
    "gather_rows": (lambda a: a[idx([2, 0, 2])], [((3, 4), "any")]),
    "gather_rows_2d_idx": (lambda a: a[idx([[1, 0], [1, 1]])], [((3, 4), "any")]),
    "gather_cols": (lambda a: a[:, idx([3, -1, 0])], [((3, 4), "any")]),
    "gather_pairs": (lambda a: a[idx([0, 2, 2]), idx([1, 3, 1])], [((3, 4), "any")]),
    "gather_pairs_3d": (lambda a: a[idx([1, 0]), :, idx([2, 2])], [((2, 3, 4), "any")]),
    "index_select": (lambda a: a.index_select(1, idx([2, 0, 2])), [((3, 4), "any")]),
    "bool_mask": (lambda a: a[a > 0], [((3, 4), "nonzero")]),
    "bool_mask_rows": (lambda a: a[rt.tensor([True, False, True])], [((3, 4), "any")]),
    # ---- views, slicing
    "reshape": (lambda a: a.reshape(4, 6) * 1.0, [((2, 3, 4), "any")]),
    "reshape_-1": (lambda a: a.reshape(-1, 2), [((2, 3, 4), "any")]),
    "view": (lambda a: a.contiguous().view(6, 4), [((2, 3, 4), "any")]),
    "transpose": (lambda a: a.transpose(0, 2), [((2, 3, 4), "any")]),
    "t": (lambda a: a.t(), [((3, 4), "any")]),
    "T": (lambda a: a.T, [((2, 3, 4), "any")]),
    "mT": (lambda a: a.mT, [((2, 3, 4), "any")]),
    "permute": (lambda a: a.permute(1, 2, 0), [((2, 3, 4), "any")]),
    "expand": (lambda a: a.expand(2, 3, 4), [((3, 1), "any")]),
    "expand_as": (lambda a: a.expand_as(rt.empty(2, 3)) * 1.0, [((3,), "any")]),
    "squeeze": (lambda a: a.squeeze(), [((1, 3, 1, 2), "any")]),
    "squeeze_dim": (lambda a: a.squeeze(2), [((1, 3, 1, 2), "any")]),
    "unsqueeze": (lambda a: a.unsqueeze(1), [((3, 4), "any")]),
    "flatten": (lambda a: a.flatten(), [((2, 3, 4), "any")]),
    "flatten_12": (lambda a: a.flatten(1, 2), [((2, 3, 4), "any")]),
    "slice": (lambda a: a[1:3], [((4, 5), "any")]),
    "slice_steps": (lambda a: a[1:3, ::2], [((4, 5), "any")]),
    "slice_steps3": (lambda a: a[::2, 1:, ::3], [((3, 4, 7), "any")]),
    "slice_clamped": (lambda a: a[2:100, -100:3], [((4, 5), "any")]),
    "select": (lambda a: a.select(1, 2), [((3, 4, 2), "any")]),
    "int_index": (lambda a: a[1, :, -1], [((3, 4, 2), "any")]),
    "narrow": (lambda a: a.narrow(1, 1, 2), [((3, 4), "any")]),
    "none_ellipsis": (lambda a: a[None, ..., 1], [((3, 4), "any")]),
    "contiguous": (lambda a: a.t().contiguous(), [((3, 4), "any")]),
    "clone": (lambda a: a.clone(), [((3, 4), "any")]),
    "views_chain": (lambda a: (a.transpose(0, 1)[1:, ::2].unsqueeze(0) * 2).sum(1), [((4, 5), "any")]),
    # ---- a small composite network layer: softmax(x W + b)
    "linear_softmax": (lambda x, w, b: (x @ w + b).log_softmax(-1), [((3, 4), "any"), ((4, 5), "any"), ((5,), "any")]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(OPS))
def test_gradcheck(name, layout):
    fn, specs = OPS[name]
    r = _rng(name)
    inputs = [make(_values(dom, shape, r), layout, dtype=F64, requires_grad=True) for shape, dom in specs]
    assert rt.autograd.gradcheck(fn, inputs)


def test_gradcheck_only_some_inputs_require_grad():
    r = _rng("partial")
    a = make(_values("any", (3, 4), r), dtype=F64, requires_grad=True)
    b = make(_values("any", (4, 2), r), dtype=F64)
    assert rt.autograd.gradcheck(lambda x, y: x @ y, [a, b])
    assert b.grad is None


def test_gradcheck_multiple_outputs():
    r = _rng("multi")
    a = make(_values("distinct", (3, 4), r), dtype=F64, requires_grad=True)
    assert rt.autograd.gradcheck(lambda x: (x.max(1).values, x.softmax(0), x.sum()), [a])


# ---------------------------------------------------------------- the check itself can fail

class _SquareWrongBackward(rt.autograd.Function):
    """forward x**2, but backward claims d/dx = x (the factor 2 is missing)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


class _SquareRightBackward(rt.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x


def test_gradcheck_fails_for_wrong_backward():
    x = make(_values("nonzero", (2, 3), _rng("wrong")), dtype=F64, requires_grad=True)
    with pytest.raises(rt.autograd.GradcheckError):
        rt.autograd.gradcheck(_SquareWrongBackward.apply, [x])
    assert rt.autograd.gradcheck(_SquareWrongBackward.apply, [x], raise_exception=False) is False
    assert rt.autograd.gradcheck(_SquareRightBackward.apply, [x])


def test_gradcheck_fails_for_wrong_backward_inside_a_graph():
    x = make(_values("nonzero", (3,), _rng("wrong2")), dtype=F64, requires_grad=True)
    with pytest.raises(rt.autograd.GradcheckError):
        rt.autograd.gradcheck(lambda t: _SquareWrongBackward.apply(t.exp()).sum(), [x])


def test_gradcheck_rejects_non_float64_inputs():
    x = rt.randn(3, requires_grad=True)
    with pytest.raises(ValueError):
        rt.autograd.gradcheck(lambda t: t * 2, [x])
