"""Mixed-dtype graphs against PyTorch: every binary op, loss and linear, over pairs of operand
dtypes. Forward must promote as PyTorch does (or refuse where it refuses), and the gradient
reaching each input must equal PyTorch's, in the input's own dtype. A sigmoid sits in front of
each floating operand, so a gradient of the wrong dtype flowing into that backward kernel (which
reads raw memory of the input's dtype) shows up as a wrong number, not just a wrong dtype."""
import itertools

import numpy as np
import pytest

import reticulum as rt
import reticulum.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

FLOATS = ("float32", "float64")
ALL = ("float32", "float64", "int64", "bool")


def _data(dtype, shape, r, domain):
    if dtype == "bool":
        return r.random(shape) < 0.5
    if dtype == "int64":
        return r.integers(0, 3, shape).astype(np.int64)
    lo, hi = {"any": (-2.0, 2.0), "pos": (0.5, 2.0), "prob": (0.05, 0.95)}[domain]
    return r.uniform(lo, hi, shape).astype(dtype)


def _inputs(lib, arrays, dtypes, domains):
    """Leaves (None for integer and bool operands) and what the op sees: sigmoid(leaf) for floats,
    kept in the domain the op needs."""
    leaves, ins = [], []
    for a, d, dom in zip(arrays, dtypes, domains):
        t = lib.tensor(a)
        if d in FLOATS:
            t.requires_grad_(True)
            leaves.append(t)
            s = t.sigmoid()
            ins.append(s + 0.5 if dom == "pos" else s if dom == "prob" else (s - 0.5) * 4)
        else:
            leaves.append(None)
            ins.append(t)
    return leaves, ins


def _run(lib, fn, arrays, dtypes, domains, weight):
    leaves, ins = _inputs(lib, arrays, dtypes, domains)
    out = fn(lib, *ins)
    if weight is not None:
        (out * lib.tensor(weight).to(out.dtype)).sum().backward()
    return out, [None if leaf is None else leaf.grad for leaf in leaves]


def _np(t):
    return t.detach().numpy()


def check(fn, dtypes, shapes, domains=None, seed=0):
    r = np.random.default_rng(seed)
    domains = domains or ("any",) * len(dtypes)
    arrays = [_data(d, s, r, dom) for d, s, dom in zip(dtypes, shapes, domains)]
    try:
        t_out, _ = _run(torch, fn, arrays, dtypes, domains, None)  # forward only: the output's shape
    except (RuntimeError, TypeError, ValueError):  # torch refuses this combination: so must we
        with pytest.raises((RuntimeError, TypeError, ValueError)):
            _run(rt, fn, arrays, dtypes, domains, None)
        return
    weight = r.uniform(-1, 1, tuple(t_out.shape))
    t_out, t_grads = _run(torch, fn, arrays, dtypes, domains, weight)
    r_out, r_grads = _run(rt, fn, arrays, dtypes, domains, weight)
    assert str(r_out.dtype).split(".")[-1] == str(t_out.dtype).split(".")[-1], (dtypes, r_out.dtype, t_out.dtype)
    tol = 1e-5 if "float32" in dtypes or r_out.dtype == rt.float32 else 1e-10
    np.testing.assert_allclose(_np(r_out).astype(np.float64), _np(t_out).astype(np.float64), rtol=tol, atol=tol)
    for i, (rg, tg) in enumerate(zip(r_grads, t_grads)):
        assert (rg is None) == (tg is None), (dtypes, i)
        if rg is None:
            continue
        assert rg.dtype == getattr(rt, dtypes[i]), (dtypes, i, rg.dtype)
        np.testing.assert_allclose(_np(rg), _np(tg), rtol=tol, atol=tol, err_msg=f"gradient {i} for dtypes {dtypes}")


def _pairs(first=ALL, second=ALL):
    return [p for p in itertools.product(first, second) if p[0] in FLOATS or p[1] in FLOATS]


BINARY = {
    "add": lambda L, a, b: a + b,
    "sub": lambda L, a, b: a - b,
    "mul": lambda L, a, b: a * b,
    "div": lambda L, a, b: a / b,
    "rdiv": lambda L, a, b: b / a,
    "maximum": lambda L, a, b: L.maximum(a, b),
    "minimum": lambda L, a, b: L.minimum(a, b),
    "where": lambda L, a, b: L.where(a > 0, a, b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtypes", _pairs(), ids="-".join)
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (4,)), ((3, 4), ())], ids=["same", "broadcast", "zero-d"])
def test_binary(name, dtypes, shapes):
    check(BINARY[name], dtypes, shapes)


@pytest.mark.parametrize("dtypes", _pairs(ALL, FLOATS), ids="-".join)
def test_pow(dtypes):
    check(lambda L, a, b: L.pow(a, b), dtypes, ((3, 4), (3, 4)), ("pos", "any"))


@pytest.mark.parametrize("dtypes", list(itertools.product(FLOATS, FLOATS)), ids="-".join)
def test_matmul(dtypes):
    check(lambda L, a, b: a @ b, dtypes, ((3, 4), (4, 5)))


@pytest.mark.parametrize("dtypes", list(itertools.product(FLOATS, FLOATS, FLOATS)), ids="-".join)
def test_linear(dtypes):
    lin = lambda L, x, w, b: (F if L is rt else TF).linear(x, w, b)  # noqa: E731
    check(lin, dtypes, ((5, 4), (3, 4), (3,)))


LOSSES = {
    "mse_loss": ("any", "any"),
    "l1_loss": ("any", "any"),
    "binary_cross_entropy": ("prob", "prob"),
    "binary_cross_entropy_with_logits": ("any", "prob"),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtypes", list(itertools.product(FLOATS, FLOATS)), ids="-".join)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_elementwise_loss(name, dtypes, reduction):
    def fn(L, a, b):
        if L is torch and name == "binary_cross_entropy_with_logits":
            # torch returns the target's dtype here (float32 for float64 logits: an artifact of its
            # in-place composition); reticulum promotes, like every other binary op.
            b = b.to(torch.promote_types(a.dtype, b.dtype))
        return getattr(F if L is rt else TF, name)(a, b, reduction=reduction)
    check(fn, dtypes, ((4, 3), (4, 3)), LOSSES[name])


@pytest.mark.parametrize("dtypes", list(itertools.product(FLOATS, FLOATS)), ids="-".join)
def test_cross_entropy_probability_targets(dtypes):
    fn = lambda L, a, b: (F if L is rt else TF).cross_entropy(a, b)  # noqa: E731
    check(fn, dtypes, ((4, 3), (4, 3)), ("any", "prob"))


@pytest.mark.parametrize("dtype", FLOATS)
def test_cross_entropy_class_targets(dtype):
    fn = lambda L, a, b: (F if L is rt else TF).cross_entropy(a, b)  # noqa: E731
    check(fn, (dtype, "int64"), ((4, 3), (4,)))


def test_float32_model_float64_targets_trains_like_torch():
    """The common case: a float32 model, float64 targets from NumPy."""
    r = np.random.default_rng(1)
    x, y = r.standard_normal((8, 4)).astype(np.float32), r.standard_normal((8, 2))
    w1, w2 = r.standard_normal((6, 4)).astype(np.float32), r.standard_normal((2, 6)).astype(np.float32)
    grads = {}
    for L, fn in ((rt, F), (torch, TF)):
        a, b = L.tensor(w1).requires_grad_(True), L.tensor(w2).requires_grad_(True)
        fn.mse_loss(fn.linear(fn.linear(L.tensor(x), a).tanh(), b), L.tensor(y)).backward()
        grads[L.__name__] = (_np(a.grad), _np(b.grad))
        assert a.grad.dtype == L.float32
    for g_rt, g_th in zip(grads["reticulum"], grads["torch"]):
        assert np.isfinite(g_rt).all()
        np.testing.assert_allclose(g_rt, g_th, rtol=1e-5, atol=1e-6)


def test_backward_gradient_of_another_dtype_is_cast():
    x = rt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x.sigmoid() * 2).backward(rt.tensor([1.0, 1.0, 2.0], dtype=rt.float64))
    xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (xt.sigmoid() * 2).backward(torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64))
    assert x.grad.dtype == rt.float32
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", ["add", "mul", "maximum", "minimum", "add_true", "mul_true", "add_one"])
def test_bool_with_bool_stays_bool_as_in_torch(name):
    fns = {"add": lambda L, a, b: a + b, "mul": lambda L, a, b: a * b, "maximum": lambda L, a, b: L.maximum(a, b),
           "minimum": lambda L, a, b: L.minimum(a, b), "add_true": lambda L, a, b: a + True,
           "mul_true": lambda L, a, b: True * a, "add_one": lambda L, a, b: a + 1}
    a, b = np.array([True, False, True, False]), np.array([True, True, False, False])
    want = fns[name](torch, torch.tensor(a), torch.tensor(b))
    got = fns[name](rt, rt.tensor(a), rt.tensor(b))
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.numpy(), want.numpy())
