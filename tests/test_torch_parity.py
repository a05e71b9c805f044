"""Parity with PyTorch: the same function runs on reticulum and torch tensors made from the same
NumPy data (float32); forward outputs and input gradients (after backward of a random weighted sum
of the output) must agree within the per-op tolerance below. Reticulum inputs are given both
contiguous and non-contiguous (the torch reference is always contiguous)."""
import zlib

import numpy as np
import pytest

import reticulum as rt
from helpers import LAYOUTS, make, to_np

torch = pytest.importorskip("torch")
TF = torch.nn.functional


class _Lib:
    """The few names that differ between the two libraries; everything else is looked up on the module."""

    def __init__(self, mod, **overrides):
        self._mod = mod
        self.__dict__.update(overrides)

    def __getattr__(self, name):
        return getattr(self._mod, name)


def _idx(mod):
    return lambda v: mod.tensor(np.asarray(v, dtype=np.int64))


RT = _Lib(rt, leaky_relu=rt.leaky_relu, idx=_idx(rt), mask=lambda v: rt.tensor(np.asarray(v, dtype=bool)))
TH = _Lib(torch, leaky_relu=TF.leaky_relu, idx=_idx(torch), mask=lambda v: torch.tensor(np.asarray(v, dtype=bool)))


def _rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _values(domain, shape, r):
    shape = tuple(shape)
    if domain == "any":
        v = r.uniform(-2, 2, shape)
    elif domain == "nonzero":
        v = r.uniform(0.3, 2, shape) * r.choice([-1.0, 1.0], size=shape)
    elif domain == "pos":
        v = r.uniform(0.5, 2, shape)
    elif domain == "clamp":
        v = np.where(r.random(shape) < 0.5, r.uniform(-0.8, 0.8, shape), r.uniform(1.2, 2.5, shape) * r.choice([-1.0, 1.0], size=shape))
    elif domain == "distinct":
        n = int(np.prod(shape))
        v = (r.permutation(n) - n / 2).reshape(shape) * 0.1
    elif domain == "kinks":  # exact zeros, ties, the clamp bounds 0 and 1
        v = np.array([[-1.0, 0.0, 1.0, 2.0], [2.0, 2.0, 0.0, -1.0], [1.0, -1.0, 1.0, 0.0]])
        assert v.shape == shape
    elif domain == "nonfinite":  # NaN, +-inf and signed zeros
        v = np.array([[np.nan, np.inf, -np.inf, 0.0], [-0.0, 1.0, -2.0, np.nan], [np.inf, 3.0, -1.0, 0.5]])
        assert v.shape == shape
    elif domain == "kinks_exp":  # exponents, including 0 and 1
        v = np.array([0.0, 0.0, 1.0, 3.0])
        assert v.shape == shape
    elif domain == "huge":
        v = r.uniform(-2, 2, shape) + np.where(r.random(shape) < 0.5, 1000.0, -1000.0)
    else:
        raise ValueError(domain)
    return np.asarray(v, dtype=np.float32)


EW = (1e-5, 1e-6)     # elementwise: one float32 rounding on either side
RED = (1e-5, 1e-5)    # reductions: summation order differs
MM = (1e-4, 1e-5)     # matmul / softmax: longer accumulations, exp

# name: (fn(L, *inputs), [(shape, domain), ...], (rtol, atol))
OPS = {
    # ---- binary with broadcasting
    "add": (lambda L, a, b: a + b, [((3, 1, 4), "any"), ((2, 4), "any")], EW),
    "sub": (lambda L, a, b: a - b, [((2, 4), "any"), ((3, 1, 4), "any")], EW),
    "mul": (lambda L, a, b: a * b, [((4,), "any"), ((3, 1), "any")], EW),
    "div": (lambda L, a, b: a / b, [((3, 1, 4), "any"), ((2, 4), "nonzero")], EW),
    "pow": (lambda L, a, b: a ** b, [((3, 1, 4), "pos"), ((2, 4), "any")], EW),
    "maximum": (lambda L, a, b: L.maximum(a, b), [((3, 1, 4), "any"), ((2, 4), "any")], EW),
    "minimum": (lambda L, a, b: L.minimum(a, b), [((2, 4), "any"), ((3, 1, 4), "any")], EW),
    "bcast_0d": (lambda L, a, b: a * b - b / (a * a + 1), [((), "any"), ((2, 3), "any")], EW),
    "scalars": (lambda L, a: (2 - a) * 3 + a / 4 - 1.5 / (a * a + 1) + a ** 2 + 2 ** a, [((2, 3), "any")], EW),
    "pow_scalar": (lambda L, a: a ** 0.5 + a ** -1.5 + a ** 3, [((2, 3), "pos")], EW),
    # ---- unary
    "neg_abs": (lambda L, a: -a.abs(), [((3, 4), "nonzero")], EW),
    "exp": (lambda L, a: a.exp(), [((3, 4), "any")], EW),
    "log": (lambda L, a: a.log(), [((3, 4), "pos")], EW),
    "sqrt": (lambda L, a: a.sqrt(), [((3, 4), "pos")], EW),
    "relu": (lambda L, a: a.relu(), [((3, 4), "nonzero")], EW),
    "leaky_relu": (lambda L, a: L.leaky_relu(a, 0.1), [((3, 4), "nonzero")], EW),
    "sigmoid": (lambda L, a: a.sigmoid(), [((3, 4), "any")], EW),
    "tanh": (lambda L, a: a.tanh(), [((3, 4), "any")], EW),
    "clamp": (lambda L, a: a.clamp(-1, 1), [((3, 4), "clamp")], EW),
    "clamp_min": (lambda L, a: a.clamp(min=-1), [((3, 4), "clamp")], EW),
    "sign": (lambda L, a: a.sign() * a, [((3, 4), "nonzero")], EW),
    "square": (lambda L, a: a.square(), [((3, 4), "any")], EW),
    # ---- reductions
    "sum_all": (lambda L, a: a.sum(), [((2, 3, 4), "any")], RED),
    "sum_dim": (lambda L, a: a.sum(1), [((2, 3, 4), "any")], RED),
    "sum_tuple_keepdim": (lambda L, a: a.sum((0, 2), keepdim=True), [((2, 3, 4), "any")], RED),
    "mean": (lambda L, a: a.mean(-1), [((2, 3, 4), "any")], RED),
    "mean_all": (lambda L, a: a.mean(), [((2, 3, 4), "any")], RED),
    "var": (lambda L, a: a.var(1), [((3, 5), "any")], RED),
    "var_biased_keepdim": (lambda L, a: a.var(0, unbiased=False, keepdim=True), [((3, 5), "any")], RED),
    "var_tuple": (lambda L, a: a.var((0, 2)), [((2, 3, 4), "any")], RED),
    "var_correction": (lambda L, a: a.var(-1, correction=2), [((3, 5), "any")], RED),
    "var_all": (lambda L, a: a.var(), [((3, 5), "any")], RED),
    "std": (lambda L, a: a.std(1), [((3, 5), "any")], RED),
    "max_dim": (lambda L, a: a.max(1).values, [((3, 4, 2), "distinct")], EW),
    "min_dim_keepdim": (lambda L, a: a.min(0, keepdim=True)[0], [((3, 4), "distinct")], EW),
    "max_all": (lambda L, a: a.max(), [((3, 4), "distinct")], EW),
    "min_all": (lambda L, a: a.min(), [((3, 4), "distinct")], EW),
    # ---- matmul
    "mm_1d_1d": (lambda L, a, b: a @ b, [((4,), "any"), ((4,), "any")], MM),
    "mm_2d_1d": (lambda L, a, b: a @ b, [((3, 4), "any"), ((4,), "any")], MM),
    "mm_1d_2d": (lambda L, a, b: a @ b, [((4,), "any"), ((4, 5), "any")], MM),
    "mm_2d": (lambda L, a, b: L.matmul(a, b), [((3, 4), "any"), ((4, 5), "any")], MM),
    "mm_batched_2d": (lambda L, a, b: a @ b, [((2, 3, 4), "any"), ((4, 5), "any")], MM),
    "mm_batched": (lambda L, a, b: a @ b, [((2, 3, 4), "any"), ((2, 4, 5), "any")], MM),
    "mm_bcast_batch": (lambda L, a, b: a @ b, [((2, 1, 3, 4), "any"), ((5, 4, 2), "any")], MM),
    "mm_transposed": (lambda L, a, b: a.mT @ b.t(), [((4, 3), "any"), ((5, 4), "any")], MM),
    "bmm": (lambda L, a, b: L.bmm(a, b), [((2, 3, 4), "any"), ((2, 4, 5), "any")], MM),
    # ---- softmax
    "softmax": (lambda L, a: a.softmax(-1), [((3, 5), "any")], MM),
    "softmax_dim0": (lambda L, a: L.softmax(a, 0), [((3, 4, 2), "any")], MM),
    "log_softmax": (lambda L, a: a.log_softmax(1), [((3, 4, 2), "any")], MM),
    "softmax_huge": (lambda L, a: a.softmax(-1), [((3, 4), "huge")], MM),
    "log_softmax_huge": (lambda L, a: a.log_softmax(-1), [((3, 4), "huge")], MM),
    # ---- cat / stack / where / indexing
    "cat": (lambda L, a, b: L.cat([a, b], 1), [((2, 3), "any"), ((2, 2), "any")], EW),
    "stack": (lambda L, a, b: L.stack([a, b, a], -1), [((2, 3), "any"), ((2, 3), "any")], EW),
    "where": (lambda L, a, b: L.where(a > b, a, b * 2), [((3, 1), "any"), ((3, 4), "any")], EW),
    "where_scalar": (lambda L, a: L.where(a > 0, a, 0.0), [((3, 4), "nonzero")], EW),
    "gather_rows": (lambda L, a: a[L.idx([2, 0, 2, -1])], [((3, 4), "any")], EW),
    "gather_pairs": (lambda L, a: a[L.idx([0, 2, 2]), L.idx([1, 3, 1])], [((3, 4), "any")], EW),
    "gather_sep": (lambda L, a: a[L.idx([1, 0]), :, L.idx([2, 2])], [((2, 3, 4), "any")], EW),
    "index_select": (lambda L, a: a.index_select(1, L.idx([2, 0, 2])), [((3, 4), "any")], EW),
    "bool_mask": (lambda L, a: a[a > 0], [((3, 4), "nonzero")], EW),
    "bool_mask_rows": (lambda L, a: a[L.mask([True, False, True])], [((3, 4), "any")], EW),
    # ---- views
    "reshape": (lambda L, a: a.reshape(4, 6), [((2, 3, 4), "any")], EW),
    "transpose_permute": (lambda L, a: a.transpose(0, 2).permute(1, 0, 2), [((2, 3, 4), "any")], EW),
    "expand": (lambda L, a: a.expand(2, 3, 4), [((3, 1), "any")], EW),
    "squeeze_unsqueeze": (lambda L, a: a.squeeze().unsqueeze(-1), [((1, 3, 1, 2), "any")], EW),
    "flatten": (lambda L, a: a.flatten(1), [((2, 3, 4), "any")], EW),
    "slicing": (lambda L, a: a[1:, ::2, 1], [((3, 5, 2), "any")], EW),
    "select_narrow": (lambda L, a: a.select(0, -1).narrow(0, 1, 2), [((3, 4), "any")], EW),
    "contiguous": (lambda L, a: a.t().contiguous(), [((3, 4), "any")], EW),
    # ---- at kinks, ties and zeros: torch's subgradient conventions (relu'(0)=0, ties split evenly, ...)
    "kink_relu": (lambda L, a: a.relu(), [((3, 4), "kinks")], EW),
    "kink_abs": (lambda L, a: a.abs(), [((3, 4), "kinks")], EW),
    "kink_leaky_relu": (lambda L, a: L.leaky_relu(a, 0.1), [((3, 4), "kinks")], EW),
    "kink_clamp_bounds": (lambda L, a: a.clamp(0, 1), [((3, 4), "kinks")], EW),
    "kink_sign": (lambda L, a: a.sign(), [((3, 4), "kinks")], EW),
    "nonfinite_sign": (lambda L, a: a.sign(), [((3, 4), "nonfinite")], EW),  # sign(NaN) = 0 in torch
    "nonfinite_abs": (lambda L, a: a.abs(), [((3, 4), "nonfinite")], EW),  # so abs's gradient at NaN is 0
    "tie_maximum": (lambda L, a, b: L.maximum(a, b), [((3, 4), "kinks"), ((4,), "kinks_exp")], EW),
    "tie_minimum": (lambda L, a, b: L.minimum(a, b), [((3, 4), "kinks"), ((4,), "kinks_exp")], EW),
    "tie_max_all": (lambda L, a: a.max(), [((3, 4), "kinks")], EW),
    "tie_min_all": (lambda L, a: a.min(), [((3, 4), "kinks")], EW),
    "tie_max_dim": (lambda L, a: a.max(1).values, [((3, 4), "kinks")], EW),
    "tie_min_dim": (lambda L, a: a.min(0).values, [((3, 4), "kinks")], EW),
    "zero_pow_2": (lambda L, a: a ** 2, [((3, 4), "kinks")], EW),
    "zero_pow_1": (lambda L, a: a ** 1, [((3, 4), "kinks")], EW),
    "zero_pow_0": (lambda L, a: a ** 0, [((3, 4), "kinks")], EW),
    "zero_pow_tensor": (lambda L, a, b: a.abs() ** b, [((3, 4), "kinks"), ((4,), "kinks_exp")], EW),
    "zero_where": (lambda L, a, b: L.where(a > 0, a, b), [((3, 4), "kinks"), ((4,), "kinks_exp")], EW),
    # ---- a tiny MLP with a log-softmax head
    "mlp": (lambda L, x, w1, w2: (L.leaky_relu(x @ w1, 0.1).tanh() @ w2).log_softmax(-1), [((3, 4), "any"), ((4, 5), "any"), ((5, 2), "any")], MM),
}


def _compare(name, what, r_t, t_t, tol):
    rtol, atol = tol
    t_np = t_t.detach().cpu().numpy()
    r_np = to_np(r_t)
    assert r_np.shape == t_np.shape, f"{name} {what}: shape {r_np.shape} != torch {t_np.shape}"
    assert r_np.dtype == t_np.dtype, f"{name} {what}: dtype {r_np.dtype} != torch {t_np.dtype}"
    if r_np.dtype.kind in "bi":
        np.testing.assert_array_equal(r_np, t_np, err_msg=f"{name} {what}")
    else:
        np.testing.assert_allclose(r_np, t_np, rtol=rtol, atol=atol, err_msg=f"{name} {what}")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(OPS))
def test_forward_and_backward_match_torch(name, layout):
    fn, specs, tol = OPS[name]
    r = _rng(name)
    arrays = [_values(dom, shape, r) for shape, dom in specs]
    r_in = [make(a, layout, requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    r_out, t_out = fn(RT, *r_in), fn(TH, *t_in)
    _compare(name, "forward", r_out, t_out, tol)

    w = r.standard_normal(tuple(t_out.shape)).astype(np.float32)
    (r_out * make(w)).sum().backward()
    (t_out * torch.tensor(w)).sum().backward()
    for k, (ri, ti) in enumerate(zip(r_in, t_in)):
        assert ri.grad is not None, f"{name}: input {k} got no gradient"
        _compare(name, f"grad of input {k}", ri.grad, ti.grad, tol)


# ---------------------------------------------------------------- forward-only ops

FORWARD_ONLY = {  # integer/bool results, and heaviside (torch has no derivative for it)
    "heaviside": (lambda L, a: L.heaviside(a * (a.abs() > 1), L.tensor(np.array([0.5], np.float32))), [((3, 4), "nonzero")]),
    "argmax": (lambda L, a: a.argmax(1), [((3, 4, 2), "distinct")]),
    "argmin_keepdim": (lambda L, a: a.argmin(-1, keepdim=True), [((3, 4), "distinct")]),
    "argmax_all": (lambda L, a: a.argmax(), [((3, 4), "distinct")]),
    "max_indices": (lambda L, a: a.max(0).indices, [((3, 4), "distinct")]),
    "compare": (lambda L, a, b: L.stack([a < b, a <= b, a > b, a >= b, a == b, a != b]), [((3, 1), "distinct"), ((4,), "distinct")]),
    "compare_scalar": (lambda L, a: L.stack([a < 0.05, 0.05 < a, a == 0.1, a != 0.1]), [((3, 4), "distinct")]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(FORWARD_ONLY))
def test_forward_only_matches_torch(name, layout):
    fn, specs = FORWARD_ONLY[name]
    r = _rng(name)
    arrays = [_values(dom, shape, r) for shape, dom in specs]
    _compare(name, "forward", fn(RT, *[make(a, layout) for a in arrays]), fn(TH, *[torch.tensor(a) for a in arrays]), (0, 0))


# ---------------------------------------------------------------- result dtypes (torch's promotion rules)

DTYPE_CASES = {
    # name: fn(L, i (int64 [1,2,3]), f (float32 [0.5,1.5,2.5]), b (bool [T,F,T]))
    "int+float": lambda L, i, f, b: i + f,
    "int/int": lambda L, i, f, b: i / i,
    "int/2": lambda L, i, f, b: i / 2,
    "int+2.5": lambda L, i, f, b: i + 2.5,
    "int*2": lambda L, i, f, b: i * 2,
    "bool+1": lambda L, i, f, b: b + 1,
    "bool+1.5": lambda L, i, f, b: b + 1.5,
    "int*True": lambda L, i, f, b: i * True,
    "int**2": lambda L, i, f, b: i ** 2,
    "int**2.0": lambda L, i, f, b: i ** 2.0,
    "int**float_tensor": lambda L, i, f, b: i ** f,
    "2**int": lambda L, i, f, b: 2 ** i,
    "2.0**int": lambda L, i, f, b: 2.0 ** i,
    "int.clamp(0,2)": lambda L, i, f, b: i.clamp(0, 2),
    "int.clamp(0.5,2.5)": lambda L, i, f, b: i.clamp(0.5, 2.5),
    "float32+0d_float64": lambda L, i, f, b: f + L.tensor(np.array(1.0, np.float64)),
    "float64+0d_float32": lambda L, i, f, b: f.double() + L.tensor(np.array(1.0, np.float32)),
    "int+0d_float64": lambda L, i, f, b: i + L.tensor(np.array(1.0, np.float64)),
    "float32+0d_int": lambda L, i, f, b: f + L.tensor(np.array(3, np.int64)),
    "int.exp": lambda L, i, f, b: i.exp(),
    "int.abs": lambda L, i, f, b: i.abs(),
    "int.sum": lambda L, i, f, b: i.sum(),
    "bool.sum": lambda L, i, f, b: b.sum(),
    "where(int,0.5)": lambda L, i, f, b: L.where(b, i, 0.5),
    "where(float,int)": lambda L, i, f, b: L.where(b, f, i),
    "cat(int,float)": lambda L, i, f, b: L.cat([i, f]),
    "maximum(int,float)": lambda L, i, f, b: L.maximum(i, f),
    "int==1.5": lambda L, i, f, b: i == 1.5,
}


@pytest.mark.parametrize("name", list(DTYPE_CASES))
def test_result_dtype_and_values_match_torch(name):
    fn = DTYPE_CASES[name]
    outs = []
    for L in (RT, TH):
        i = L.tensor(np.array([1, 2, 3], dtype=np.int64))
        f = L.tensor(np.array([0.5, 1.5, 2.5], dtype=np.float32))
        b = L.tensor(np.array([True, False, True]))
        outs.append(fn(L, i, f, b))
    _compare(name, "result", outs[0], outs[1], (1e-6, 1e-6))
