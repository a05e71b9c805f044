"""Every op against a NumPy reference, table-driven (in the spirit of PyTorch's OpInfo).

Each op family declares its cases once in a table; generic tests iterate over the table and
over input layouts: "contig" tensors and "noncontig" ones (same values, strided inside a larger
buffer and permuted, see helpers.noncontig)."""
import zlib

import numpy as np
import pytest

import reticulum as rt
from helpers import LAYOUTS, NP_DTYPE, assert_close, make, noncontig, to_np

F32, F64, I64, BOOL = rt.float32, rt.float64, rt.int64, rt.bool
TOL = {F32: dict(rtol=1e-5, atol=1e-6), F64: dict(rtol=1e-12, atol=1e-12), I64: dict(rtol=0, atol=0), BOOL: dict(rtol=0, atol=0)}


def rng(*key):
    """A generator seeded deterministically from the test's parameters."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def sample(domain, shape, dtype, r):
    """Values of a NumPy dtype matching `dtype`, drawn from a named domain."""
    shape = tuple(shape)
    if dtype == BOOL:
        return r.random(shape) > 0.5
    if dtype == I64:
        lo_hi = {"any": (-5, 6), "nonzero": (1, 4), "pos": (1, 4), "exp": (0, 4), "small": (-2, 3), "ties": (-2, 3)}[domain]
        v = r.integers(*lo_hi, size=shape)
        if domain == "nonzero":
            v = v * r.choice([-1, 1], size=shape)
        return np.asarray(v, dtype=np.int64)
    if domain == "any":
        v = r.uniform(-3, 3, shape)
    elif domain == "zeros":  # exact zeros mixed in: for sign, relu, heaviside, abs
        v = r.uniform(-3, 3, shape)
        v.flat[::3] = 0.0
    elif domain == "ties":  # a coarse grid, so equal elements occur
        v = np.round(r.uniform(-2, 2, shape) * 2) / 2
    elif domain == "nonzero":
        v = r.uniform(0.5, 3, shape) * r.choice([-1, 1], size=shape)
    elif domain == "pos":
        v = r.uniform(0.5, 2.5, shape)
    elif domain == "exp":
        v = r.uniform(-2, 2, shape)
    else:
        raise ValueError(domain)
    return np.asarray(v, dtype=NP_DTYPE[dtype])


# ===================================================================== binary elementwise

BINARY = {
    # name: (reticulum fn, numpy fn, domain of a, domain of b)
    "add": (lambda a, b: a + b, np.add, "any", "any"),
    "add_method": (lambda a, b: a.add(b), np.add, "any", "any"),
    "sub": (lambda a, b: a - b, np.subtract, "any", "any"),
    "sub_method": (lambda a, b: a.sub(b), np.subtract, "any", "any"),
    "mul": (lambda a, b: a * b, np.multiply, "any", "any"),
    "mul_method": (lambda a, b: a.mul(b), np.multiply, "any", "any"),
    "div": (lambda a, b: a / b, np.true_divide, "any", "nonzero"),
    "div_method": (lambda a, b: a.div(b), np.true_divide, "any", "nonzero"),
    "pow": (lambda a, b: a ** b, np.power, "pos", "exp"),
    "pow_fn": (lambda a, b: rt.pow(a, b), np.power, "pos", "exp"),
    "maximum": (rt.maximum, np.maximum, "ties", "ties"),
    "maximum_method": (lambda a, b: a.maximum(b), np.maximum, "ties", "ties"),
    "max_tensor": (lambda a, b: a.max(b), np.maximum, "ties", "ties"),
    "minimum": (rt.minimum, np.minimum, "ties", "ties"),
    "min_tensor": (lambda a, b: a.min(b), np.minimum, "ties", "ties"),
}
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 1, 4), (2, 4)), ((2, 4), (3, 1, 4)), ((4,), (3, 1)), ((2, 1, 3), (1, 4, 1)),
                    ((), (2, 3)), ((2, 3), ()), ((), ()), ((1,), (3,))]
LAYOUT_PAIRS = [("contig", "contig"), ("noncontig", "noncontig"), ("contig", "noncontig")]


def _binary_out_dtype(name, dt):
    if name.startswith("div") and dt == I64:
        return F32  # true division, as torch
    return dt


@pytest.mark.parametrize("layouts", LAYOUT_PAIRS, ids=lambda p: "-".join(p))
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary(name, dtype, shapes, layouts):
    fn, np_fn, da, db = BINARY[name]
    r = rng("binary", name, str(dtype), shapes)
    a, b = sample(da, shapes[0], dtype, r), sample(db, shapes[1], dtype, r)
    out = fn(make(a, layouts[0]), make(b, layouts[1]))
    want_dt = _binary_out_dtype(name, dtype)
    expected = np_fn(a, b) if want_dt == I64 else np_fn(a.astype(np.float64), b.astype(np.float64))
    assert_close(out, expected, dtype=want_dt, **TOL[want_dt], msg=f"{name} {shapes}")


MIXED = [  # (dtype a, dtype b, expected result dtype): torch's promotion for dimensioned tensors
    (I64, F32, F32), (F32, I64, F32), (I64, F64, F64), (F32, F64, F64), (F64, F32, F64),
    (BOOL, I64, I64), (BOOL, F32, F32), (I64, BOOL, I64)]


@pytest.mark.parametrize("da,db,dout", MIXED, ids=lambda d: str(d))
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum"])
def test_binary_mixed_dtype_promotion(op, da, db, dout):
    r = rng("mixed", op, str(da), str(db))
    a = sample("pos", (3, 4), da, r)
    b = sample("pos", (4,), db, r)
    fns = {"add": (lambda x, y: x + y, np.add), "sub": (lambda x, y: x - y, np.subtract), "mul": (lambda x, y: x * y, np.multiply),
           "div": (lambda x, y: x / y, np.true_divide), "maximum": (rt.maximum, np.maximum), "minimum": (rt.minimum, np.minimum)}
    fn, np_fn = fns[op]
    if op == "sub" and BOOL in (da, db):  # PyTorch refuses subtraction with a bool tensor
        with pytest.raises(TypeError, match="sub: subtraction with a bool tensor"):
            fn(make(a, "noncontig"), make(b))
        return
    want = F32 if (op == "div" and dout in (I64, BOOL)) else dout
    out = fn(make(a, "noncontig"), make(b))
    with np.errstate(divide="ignore"):  # x / False = inf, in both
        expected = np_fn(a.astype(np.float64), b.astype(np.float64))
    assert_close(out, expected, dtype=want, **TOL[want], msg=op)


@pytest.mark.parametrize("value,dtype", [(2.5, F32), (3, I64), (True, BOOL), (np.array(2.0), F64)], ids=repr)
def test_tensor_from_scalar_is_0d(value, dtype):
    """rt.tensor(python scalar) is a 0-d tensor, as torch.tensor(2.5).shape == ()."""
    t = rt.tensor(value)
    assert tuple(t.shape) == () and t.ndim == 0, f"rt.tensor({value!r}).shape == {tuple(t.shape)}"
    assert t.dtype == dtype
    assert t.item() == value


def test_int_true_division_gives_float32():
    a = rt.tensor([7, -7, 1, 0])
    b = rt.tensor([2, 2, 3, 5])
    out = a / b
    assert out.dtype == F32
    np.testing.assert_allclose(to_np(out), np.array([3.5, -3.5, 1 / 3, 0.0]), rtol=1e-6)


# Python scalars on either side: (rt fn, numpy fn, domain, input dtype, expected dtype)
SCALAR_CASES = {
    "x+2": (lambda x: x + 2, lambda x: x + 2, "any", F32, F32),
    "2+x": (lambda x: 2 + x, lambda x: 2 + x, "any", F32, F32),
    "x-1.5": (lambda x: x - 1.5, lambda x: x - 1.5, "any", F64, F64),
    "1.5-x": (lambda x: 1.5 - x, lambda x: 1.5 - x, "any", F32, F32),
    "x*3": (lambda x: x * 3, lambda x: x * 3, "any", F32, F32),
    "3*x": (lambda x: 3 * x, lambda x: 3 * x, "any", F64, F64),
    "x/4": (lambda x: x / 4, lambda x: x / 4, "any", F32, F32),
    "2/x": (lambda x: 2 / x, lambda x: 2 / x, "nonzero", F32, F32),
    "x**2": (lambda x: x ** 2, lambda x: x ** 2, "any", F32, F32),
    "x**3": (lambda x: x ** 3, lambda x: x ** 3, "any", F64, F64),
    "x**0.5": (lambda x: x ** 0.5, np.sqrt, "pos", F32, F32),
    "x**-1.5": (lambda x: x ** -1.5, lambda x: x ** -1.5, "pos", F64, F64),
    "2**x": (lambda x: 2 ** x, lambda x: 2.0 ** x, "exp", F32, F32),
    "2.5**x": (lambda x: 2.5 ** x, lambda x: 2.5 ** x, "exp", F64, F64),
    "-x": (lambda x: -x, lambda x: -x, "any", F32, F32),
    "int x+2": (lambda x: x + 2, lambda x: x + 2, "any", I64, I64),
    "int 3-x": (lambda x: 3 - x, lambda x: 3 - x, "any", I64, I64),
    "int x*2": (lambda x: x * 2, lambda x: x * 2, "any", I64, I64),
    "int x+2.5": (lambda x: x + 2.5, lambda x: x + 2.5, "any", I64, F32),
    "int 2.5*x": (lambda x: 2.5 * x, lambda x: 2.5 * x, "any", I64, F32),
    "int x/2": (lambda x: x / 2, lambda x: x / 2, "any", I64, F32),
    "int 2/x": (lambda x: 2 / x, lambda x: 2 / x, "nonzero", I64, F32),
    "int x**2": (lambda x: x ** 2, lambda x: x ** 2, "any", I64, I64),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)], ids=str)
@pytest.mark.parametrize("case", list(SCALAR_CASES))
def test_binary_python_scalar(case, shape, layout):
    fn, np_fn, dom, dt, want = SCALAR_CASES[case]
    x = sample(dom, shape, dt, rng("scalar", case, shape))
    out = fn(make(x, layout))
    expected = np_fn(x.astype(np.float64)) if dt != I64 or want != I64 else np_fn(x)
    assert_close(out, np.asarray(expected), dtype=want, **TOL[want], msg=case)


# ===================================================================== unary elementwise

UNARY = {
    # name: (rt fn, numpy fn (float64), domain, dtype of the result for an int64 input: "same", "float" or None = untested)
    "neg": (lambda x: x.neg(), np.negative, "any", "same"),
    "neg_op": (lambda x: -x, np.negative, "any", "same"),
    "neg_fn": (rt.neg, np.negative, "any", "same"),
    "abs": (lambda x: x.abs(), np.abs, "zeros", "same"),
    "abs_fn": (rt.abs, np.abs, "zeros", "same"),
    "abs_builtin": (abs, np.abs, "zeros", "same"),
    "exp": (lambda x: x.exp(), np.exp, "any", "float"),
    "exp_fn": (rt.exp, np.exp, "any", "float"),
    "log": (lambda x: x.log(), np.log, "pos", "float"),
    "log_fn": (rt.log, np.log, "pos", "float"),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, "pos", "float"),
    "sqrt_fn": (rt.sqrt, np.sqrt, "pos", "float"),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0), "zeros", "same"),
    "relu_fn": (rt.relu, lambda x: np.maximum(x, 0), "zeros", "same"),
    "leaky_relu": (rt.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), "zeros", None),
    "leaky_relu_0.2": (lambda x: rt.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x), "zeros", None),
    "leaky_relu_method": (lambda x: x.leaky_relu(negative_slope=0.3), lambda x: np.where(x > 0, x, 0.3 * x), "zeros", None),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), "any", "float"),
    "sigmoid_fn": (rt.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "any", "float"),
    "tanh": (lambda x: x.tanh(), np.tanh, "any", "float"),
    "tanh_fn": (rt.tanh, np.tanh, "any", "float"),
    "clamp": (lambda x: x.clamp(-1, 2), lambda x: np.clip(x, -1, 2), "any", "same"),
    "clamp_kw": (lambda x: x.clamp(min=-0.5, max=0.5), lambda x: np.clip(x, -0.5, 0.5), "any", None),
    "clamp_min": (lambda x: x.clamp(min=0.25), lambda x: np.maximum(x, 0.25), "any", None),
    "clamp_max": (lambda x: x.clamp(max=-0.25), lambda x: np.minimum(x, -0.25), "any", None),
    "clamp_fn": (lambda x: rt.clamp(x, -2, 1), lambda x: np.clip(x, -2, 1), "any", "same"),
    "heaviside_scalar": (lambda x: rt.heaviside(x, 0.5), lambda x: np.heaviside(x, 0.5), "zeros", None),
    "heaviside_tensor": (lambda x: rt.heaviside(x, rt.full(tuple(x.shape), 0.25, dtype=x.dtype)),
                         lambda x: np.heaviside(x, 0.25), "zeros", None),
    "heaviside_int": (lambda x: rt.heaviside(x, rt.tensor(3, dtype=x.dtype)), lambda x: np.heaviside(x, 3), "zeros", "same"),
    "sign": (lambda x: x.sign(), np.sign, "zeros", "same"),
    "sign_fn": (rt.sign, np.sign, "zeros", "same"),
    "square": (lambda x: x.square(), np.square, "any", "same"),
}
UNARY_SHAPES = [(), (7,), (3, 4), (2, 3, 4)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", UNARY_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=str)
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name, dtype, shape, layout):
    fn, np_fn, dom, int_result = UNARY[name]
    if dtype == I64 and int_result is None:
        pytest.skip("op not defined for int64 inputs")
    x = sample(dom if dtype != I64 else ("pos" if dom == "pos" else "any"), shape, dtype, rng("unary", name, shape))
    if dtype == I64 and dom == "zeros":
        x.flat[::3] = 0
    out = fn(make(x, layout))
    want = dtype if dtype != I64 else (I64 if int_result == "same" else F32)
    expected = np_fn(x.astype(np.float64))
    assert_close(out, expected, dtype=want, **TOL[want], msg=name)


# tiled to 36 / 40 elements so that the SIMD paths (not only the scalar tails) see every value
SPECIAL = np.tile([-1000, -100, -20, -1e-3, 0, 1e-3, 20, 100, 1000, np.inf, -np.inf, np.nan], 3)
SPECIAL_POS = np.tile([0, 1e-30, 1e-3, 1, 1e30, np.inf, -1, np.nan], 5)
DENORMAL = {F32: np.tile([1e-40, 1e-44, 1.0], 12), F64: np.tile([1e-310, 5e-324, 1.0], 12)}
SPECIAL_UNARY = {  # name: (rt fn, numpy fn, inputs). NaN must propagate (as in NumPy and torch).
    "exp": (lambda x: x.exp(), np.exp, SPECIAL),
    "sigmoid": (lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), SPECIAL),
    "tanh": (lambda x: x.tanh(), np.tanh, SPECIAL),
    "relu": (lambda x: x.relu(), lambda x: np.maximum(x, 0), SPECIAL),
    "leaky_relu": (lambda x: rt.leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x), SPECIAL),
    "abs": (lambda x: x.abs(), np.abs, SPECIAL),
    "neg": (lambda x: -x, np.negative, SPECIAL),
    "clamp": (lambda x: x.clamp(-1, 1), lambda x: np.clip(x, -1, 1), SPECIAL),
    "square": (lambda x: x.square(), np.square, SPECIAL),
    "pow_0.5": (lambda x: x ** 0.5, np.sqrt, SPECIAL_POS),
    "log": (lambda x: x.log(), np.log, SPECIAL_POS),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, SPECIAL_POS),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", list(SPECIAL_UNARY))
def test_unary_special_values(name, dtype, layout):
    """Overflow, underflow, +-inf and NaN inputs. Absolute error below the smallest normal number is tolerated (denormals)."""
    fn, np_fn, x = SPECIAL_UNARY[name]
    x = x.astype(NP_DTYPE[dtype])
    with np.errstate(all="ignore"):
        expected = np_fn(x.astype(np.float64)).astype(NP_DTYPE[dtype])
    out = to_np(fn(make(x, layout)))
    tiny = np.finfo(NP_DTYPE[dtype]).tiny
    np.testing.assert_allclose(out, expected, rtol=TOL[dtype]["rtol"] * 10, atol=tiny, equal_nan=True, err_msg=f"{name} on {x}")


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("name", ["log", "sqrt"])
def test_unary_denormal_inputs(name, dtype):
    """Subnormal inputs are valid numbers: log(1e-310) = -713.8, sqrt(1e-310) = 1e-155 (no flush to zero)."""
    x = DENORMAL[dtype].astype(NP_DTYPE[dtype])
    expected = getattr(np, name)(x.astype(np.float64))
    np.testing.assert_allclose(to_np(getattr(make(x), name)()), expected, rtol=TOL[dtype]["rtol"] * 10, err_msg=f"{name} of {x[:2]}")


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
    assert_close(ta.softmax(1), _np_softmax(a, 1), dtype=F32, **tol)
    assert_close(ta.log_softmax(0), _np_log_softmax(a, 0), dtype=F32, **tol)
    assert_close((ta > 0).sum(1), (a > 0).sum(1), dtype=I64, rtol=0, atol=0)
    assert_close(ta[make(np.arange(70)[::-1].copy())], a[::-1], dtype=F32, rtol=0, atol=0)
    assert_close(ta @ ta.T, a64 @ a64.T, dtype=F32, rtol=1e-4, atol=1e-3)


def test_unary_bool_input_as_torch():
    b = rt.tensor([True, False, True])
    assert_close(b.exp(), np.exp([1.0, 0.0, 1.0]), dtype=F32, **TOL[F32])  # float ops promote
    assert b.sign().dtype == rt.bool and b.sign().tolist() == [True, False, True]
    for op in ("abs", "relu"):  # PyTorch refuses these on bool
        with pytest.raises(TypeError, match=f"{op}: bool tensors are not supported"):
            getattr(b, op)()
    with pytest.raises(TypeError, match="pow: not implemented for two bool tensors"):
        b ** b
    assert (b ** True).tolist() == [True, False, True] and (b ** False).tolist() == [True, True, True]


# ===================================================================== comparisons

COMPARE = {
    "eq": (lambda a, b: a == b, np.equal), "ne": (lambda a, b: a != b, np.not_equal),
    "lt": (lambda a, b: a < b, np.less), "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater), "ge": (lambda a, b: a >= b, np.greater_equal),
    "eq_m": (lambda a, b: a.eq(b), np.equal), "ne_m": (lambda a, b: a.ne(b), np.not_equal),
    "lt_m": (lambda a, b: a.lt(b), np.less), "le_m": (lambda a, b: a.le(b), np.less_equal),
    "gt_m": (lambda a, b: a.gt(b), np.greater), "ge_m": (lambda a, b: a.ge(b), np.greater_equal),
}


@pytest.mark.parametrize("layouts", LAYOUT_PAIRS, ids=lambda p: "-".join(p))
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("dtypes", [(F32, F32), (F64, F64), (I64, I64), (I64, F32), (F32, F64), (BOOL, BOOL)], ids=str)
@pytest.mark.parametrize("name", list(COMPARE))
def test_compare(name, dtypes, shapes, layouts):
    fn, np_fn = COMPARE[name]
    r = rng("cmp", name, str(dtypes), shapes)
    dom = "ties" if dtypes[0] != I64 else "small"
    a = sample(dom, shapes[0], dtypes[0], r)
    b = sample("ties" if dtypes[1] != I64 else "small", shapes[1], dtypes[1], r)
    ta = make(a, layouts[0])
    if dtypes[0] in (F32, F64):
        ta.requires_grad_(True)
    out = fn(ta, make(b, layouts[1]))
    assert_close(out, np_fn(a, b), dtype=BOOL, rtol=0, atol=0, msg=name)
    assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("scalar", [0, 1, 0.5, -1.5])
@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=str)
@pytest.mark.parametrize("name", ["eq", "ne", "lt", "le", "gt", "ge"])
def test_compare_python_scalar_both_sides(name, dtype, scalar, layout):
    fn, np_fn = COMPARE[name]
    x = sample("ties" if dtype != I64 else "small", (3, 4), dtype, rng("cmps", name, scalar))
    t = make(x, layout)
    assert_close(fn(t, scalar), np_fn(x, scalar), dtype=BOOL, rtol=0, atol=0, msg=f"x {name} {scalar}")
    assert_close(fn(scalar, t), np_fn(scalar, x), dtype=BOOL, rtol=0, atol=0, msg=f"{scalar} {name} x")


# ===================================================================== reductions

def _np_var(a, axis, keepdims, ddof):
    return np.var(a, axis=axis, keepdims=keepdims, ddof=ddof)


DIMS = [None, 0, 1, -1, (0, 2), (2, 0), (0, 1, 2), (-1, -2)]
REDUCE = {
    # name: (rt fn(x, dim, keepdim), numpy fn(a, axis, keepdims), dtypes)
    "sum": (lambda x, d, k: x.sum(d, k), lambda a, d, k: np.sum(a, axis=d, keepdims=k), [F32, F64, I64]),
    "sum_kw": (lambda x, d, k: x.sum(dim=d, keepdim=k), lambda a, d, k: np.sum(a, axis=d, keepdims=k), [F32]),
    "sum_fn": (lambda x, d, k: rt.sum(x, d, k), lambda a, d, k: np.sum(a, axis=d, keepdims=k), [F64]),
    "mean": (lambda x, d, k: x.mean(d, k), lambda a, d, k: np.mean(a, axis=d, keepdims=k), [F32, F64]),
    "mean_fn": (lambda x, d, k: rt.mean(x, d, k), lambda a, d, k: np.mean(a, axis=d, keepdims=k), [F64]),
    "var": (lambda x, d, k: x.var(d, keepdim=k), lambda a, d, k: _np_var(a, d, k, 1), [F32, F64]),
    "var_unbiased": (lambda x, d, k: x.var(d, True, keepdim=k), lambda a, d, k: _np_var(a, d, k, 1), [F64]),
    "var_biased": (lambda x, d, k: x.var(d, False, keepdim=k), lambda a, d, k: _np_var(a, d, k, 0), [F32, F64]),
    "var_correction2": (lambda x, d, k: x.var(d, correction=2, keepdim=k), lambda a, d, k: _np_var(a, d, k, 2), [F64]),
    "var_fn": (lambda x, d, k: rt.var(x, d, unbiased=False, keepdim=k), lambda a, d, k: _np_var(a, d, k, 0), [F64]),
    "std": (lambda x, d, k: x.std(d, keepdim=k), lambda a, d, k: np.sqrt(_np_var(a, d, k, 1)), [F32, F64]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("name,dtype", [(n, d) for n, v in REDUCE.items() for d in v[2]], ids=str)
def test_reduction(name, dtype, dim, keepdim, layout):
    fn, np_fn, _ = REDUCE[name]
    x = sample("any", (3, 4, 5), dtype, rng("red", name, str(dim)))
    out = fn(make(x, layout), dim, keepdim)
    expected = np_fn(x.astype(np.float64) if dtype != I64 else x, dim, keepdim)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == F32 else TOL[dtype]
    assert_close(out, expected, dtype=dtype, **tol, msg=f"{name} dim={dim} keepdim={keepdim}")


def test_sum_of_bool_is_int64_and_0d_reductions():
    m = rt.tensor([[True, False, True], [True, True, False]])
    assert_close(m.sum(), np.array(4), dtype=I64, rtol=0, atol=0)
    assert_close(m.sum(1), np.array([2, 2]), dtype=I64, rtol=0, atol=0)
    s = rt.tensor(2.5)
    assert_close(s.sum(), np.array(2.5), dtype=F32, **TOL[F32])
    assert_close(s.sum(0), np.array(2.5), dtype=F32, **TOL[F32])
    assert_close(s.mean(), np.array(2.5), dtype=F32, **TOL[F32])
    assert_close(s.max(), np.array(2.5), dtype=F32, **TOL[F32])
    v, i = s.max(0)
    assert_close(v, np.array(2.5), dtype=F32, **TOL[F32])
    assert_close(i, np.array(0), dtype=I64, rtol=0, atol=0)


EXTREMA = {"max": (np.max, np.argmax), "min": (np.min, np.argmin)}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, 2, -1], ids=str)
@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=str)
@pytest.mark.parametrize("name", list(EXTREMA))
def test_max_min_dim(name, dtype, dim, keepdim, layout):
    np_val, np_arg = EXTREMA[name]
    # distinct values, so the index is unambiguous
    x = rng("mm", name, dim).permutation(60).reshape(3, 4, 5).astype(NP_DTYPE[dtype]) - 30
    t = make(x, layout)
    res = getattr(t, name)(dim, keepdim)
    vals, idx = res
    assert res.values is vals and res.indices is idx
    assert_close(vals, np_val(x, axis=dim, keepdims=keepdim), dtype=dtype, **TOL[dtype])
    assert_close(idx, np.asarray(np_arg(x, axis=dim, keepdims=keepdim)), dtype=I64, rtol=0, atol=0)
    vf, idf = getattr(rt, name)(t, dim=dim, keepdim=keepdim)
    assert_close(vf, to_np(vals), dtype=dtype, rtol=0, atol=0)
    assert_close(idf, to_np(idx), dtype=I64, rtol=0, atol=0)
    argfn = getattr(t, "arg" + name)
    assert_close(argfn(dim, keepdim), np.asarray(np_arg(x, axis=dim, keepdims=keepdim)), dtype=I64, rtol=0, atol=0)
    assert_close(getattr(rt, "arg" + name)(t, dim, keepdim), np.asarray(np_arg(x, axis=dim, keepdims=keepdim)), dtype=I64, rtol=0, atol=0)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(1,), (7,), (3, 4), (2, 3, 4)], ids=str)
@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=str)
@pytest.mark.parametrize("name", list(EXTREMA))
def test_max_min_all_and_argmax_flat(name, dtype, shape, layout):
    np_val, np_arg = EXTREMA[name]
    x = sample("any", shape, dtype, rng("mma", name, shape))
    t = make(x, layout)
    assert_close(getattr(t, name)(), np.asarray(np_val(x)), dtype=dtype, **TOL[dtype])
    assert_close(getattr(rt, name)(t), np.asarray(np_val(x)), dtype=dtype, **TOL[dtype])
    assert_close(getattr(t, "arg" + name)(), np.asarray(np_arg(x)), dtype=I64, rtol=0, atol=0)
    assert_close(getattr(t, "arg" + name)(keepdim=True), np.asarray(np_arg(x)).reshape((1,) * len(shape)), dtype=I64, rtol=0, atol=0)


@pytest.mark.parametrize("name", list(EXTREMA))
def test_argmax_ties_pick_first(name):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, -1.0], [5.0, 5.0, 5.0, 5.0]], dtype=np.float32)
    _, np_arg = EXTREMA[name]
    for layout in LAYOUTS:
        t = make(x, layout)
        assert_close(getattr(t, "arg" + name)(1), np_arg(x, axis=1), dtype=I64, rtol=0, atol=0)
        assert_close(getattr(t, name)(1).indices, np_arg(x, axis=1), dtype=I64, rtol=0, atol=0)
        assert_close(getattr(t, "arg" + name)(), np.asarray(np_arg(x)), dtype=I64, rtol=0, atol=0)


# ===================================================================== matmul

MATMUL_SHAPES = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((4,), (2, 4, 5)),
                 ((2, 3, 4), (4,)), ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((1, 4), (4, 1)), ((3, 1), (1, 2)),
                 ((5, 3, 4), (1, 4, 2))]
MATMUL_FORMS = {"op": lambda a, b: a @ b, "fn": rt.matmul, "method": lambda a, b: a.matmul(b)}


@pytest.mark.parametrize("layouts", LAYOUT_PAIRS, ids=lambda p: "-".join(p))
@pytest.mark.parametrize("form", list(MATMUL_FORMS))
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(shapes, dtype, form, layouts):
    r = rng("mm", shapes)
    a, b = sample("any", shapes[0], dtype, r), sample("any", shapes[1], dtype, r)
    out = MATMUL_FORMS[form](make(a, layouts[0]), make(b, layouts[1]))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == F32 else TOL[dtype]
    assert_close(out, np.matmul(a.astype(np.float64), b.astype(np.float64)), dtype=dtype, **tol, msg=str(shapes))


@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
def test_matmul_transposed_views_and_bmm(dtype):
    r = rng("mmt")
    a, b = sample("any", (2, 4, 3), dtype, r), sample("any", (2, 5, 4), dtype, r)
    ta, tb = make(a), make(b)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == F32 else TOL[dtype]
    ref = np.matmul(a.transpose(0, 2, 1).astype(np.float64), b.transpose(0, 2, 1).astype(np.float64))
    assert_close(ta.mT @ tb.mT, ref, dtype=dtype, **tol)  # both column-major
    assert_close(rt.bmm(ta.transpose(1, 2), tb.transpose(1, 2)), ref, dtype=dtype, **tol)
    m = sample("any", (4, 6), dtype, r)
    tm = make(m)
    assert_close(tm.t() @ tm, m.T.astype(np.float64) @ m, dtype=dtype, **tol)
    assert_close(tm[:, ::2].T @ tm[:, 1::2], m[:, ::2].T.astype(np.float64) @ m[:, 1::2], dtype=dtype, **tol)  # no unit stride
    e_np, w = sample("any", (1, 3, 4), dtype, r), sample("any", (3, 4, 2), dtype, r)
    e = make(e_np).expand(3, 3, 4)  # batch stride 0
    assert_close(e @ make(w), np.matmul(np.broadcast_to(e_np, (3, 3, 4)).astype(np.float64), w), dtype=dtype, **tol)


# Float32 products big enough for the blocked, threaded GEMM, at every CPU kernel level (the
# smallest for each level's tile: 16x32 AVX-512, 12x16 AVX2): edge tiles
# in both dims, several depth blocks (K > 256), several column blocks (N > 4096), splits by rows
# (N = 33) and columns.
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


# ===================================================================== softmax / log_softmax

def _np_softmax(a, axis):
    a = a.astype(np.float64)
    e = np.exp(a - a.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(a, axis):
    a = a.astype(np.float64)
    m = a.max(axis=axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


SOFTMAX = {"softmax": (lambda x, d: x.softmax(d), _np_softmax), "softmax_fn": (lambda x, d: rt.softmax(x, d), _np_softmax),
           "softmax_kw": (lambda x, d: x.softmax(dim=d), _np_softmax),
           "log_softmax": (lambda x, d: x.log_softmax(d), _np_log_softmax),
           "log_softmax_fn": (lambda x, d: rt.log_softmax(x, d), _np_log_softmax)}
SOFTMAX_INPUTS = {
    "random": (lambda r, dt: sample("any", (3, 4, 5), dt, r), [0, 1, 2, -1]),
    "huge": (lambda r, dt: np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0], [1000.0, -1000.0, 0.0]], NP_DTYPE[dt]), [0, 1, -1]),
    "huge_equal": (lambda r, dt: np.full((2, 4), 1000.0, NP_DTYPE[dt]), [0, 1]),
    "1d": (lambda r, dt: sample("any", (6,), dt, r), [0, -1]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [F32, F64], ids=str)
@pytest.mark.parametrize("inp", list(SOFTMAX_INPUTS))
@pytest.mark.parametrize("name", list(SOFTMAX))
def test_softmax(name, inp, dtype, layout):
    fn, np_fn = SOFTMAX[name]
    gen, dims = SOFTMAX_INPUTS[inp]
    x = gen(rng("sm", inp), dtype)
    for d in dims:
        out = fn(make(x, layout), d)
        assert np.all(np.isfinite(to_np(out))), f"{name} produced non-finite values for {inp}, dim {d}"
        assert_close(out, np_fn(x, d), dtype=dtype, **(dict(rtol=1e-5, atol=1e-6) if dtype == F32 else TOL[dtype]), msg=f"{name} {inp} dim={d}")


def test_softmax_0d():
    x = make(np.array(3.0, np.float32))
    assert_close(x.softmax(0), np.array(1.0), dtype=F32, **TOL[F32])
    assert_close(x.log_softmax(-1), np.array(0.0), dtype=F32, **TOL[F32])


# ===================================================================== cat / stack / where

CAT_CASES = {
    "dim0": ([(2, 3), (4, 3)], 0), "dim1": ([(2, 1), (2, 3), (2, 2)], 1), "dim-1": ([(2, 3, 1), (2, 3, 4)], -1),
    "3d_mid": ([(2, 1, 4), (2, 3, 4)], 1), "single": ([(3, 2)], 0), "1d": ([(3,), (1,), (2,)], 0),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [F32, F64, I64], ids=str)
@pytest.mark.parametrize("case", list(CAT_CASES))
def test_cat(case, dtype, layout):
    shapes, dim = CAT_CASES[case]
    r = rng("cat", case)
    arrs = [sample("any", s, dtype, r) for s in shapes]
    out = rt.cat([make(a, layout) for a in arrs], dim)
    assert_close(out, np.concatenate(arrs, axis=dim), dtype=dtype, rtol=0, atol=0)
    out_kw = rt.cat(tuple(make(a, layout) for a in arrs), dim=dim)
    assert_close(out_kw, np.concatenate(arrs, axis=dim), dtype=dtype, rtol=0, atol=0)


def test_cat_promotes_dtypes():
    out = rt.cat([rt.tensor([1, 2]), rt.tensor([0.5])])
    assert_close(out, np.array([1.0, 2.0, 0.5]), dtype=F32, rtol=0, atol=0)
    out = rt.cat([rt.tensor([1.0], dtype=F32), rt.tensor([0.25], dtype=F64)])
    assert_close(out, np.array([1.0, 0.25]), dtype=F64, rtol=0, atol=0)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3], ids=str)
@pytest.mark.parametrize("dtype", [F32, I64], ids=str)
def test_stack(dtype, dim, layout):
    r = rng("stack", dim)
    arrs = [sample("any", (2, 3), dtype, r) for _ in range(3)]
    out = rt.stack([make(a, layout) for a in arrs], dim)
    assert_close(out, np.stack(arrs, axis=dim), dtype=dtype, rtol=0, atol=0)
    assert_close(rt.stack([make(arrs[0], layout)], dim=dim), np.stack(arrs[:1], axis=dim), dtype=dtype, rtol=0, atol=0)


WHERE_CASES = {
    # name: (cond shape, a shape or python scalar, b shape or python scalar, a dtype, b dtype, result dtype)
    "same": ((3, 4), (3, 4), (3, 4), F32, F32, F32),
    "broadcast": ((3, 1), (1, 4), (3, 4), F64, F64, F64),
    "broadcast3": ((2, 1, 4), (3, 1), (4,), F32, F32, F32),
    "b_scalar": ((3, 4), (3, 4), 0.0, F32, None, F32),
    "a_scalar": ((3, 4), -1.5, (3, 4), None, F64, F64),
    "0d": ((3, 4), (), (3, 4), F32, F32, F32),
    "int": ((3, 4), (3, 4), (3, 4), I64, I64, I64),
    "mixed": ((3, 4), (3, 4), (4,), I64, F32, F32),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", list(WHERE_CASES))
def test_where(case, layout):
    cs, sa, sb, da, db, want = WHERE_CASES[case]
    r = rng("where", case)
    c = r.random(cs) > 0.4
    a = sample("any", sa, da, r) if da else sa
    b = sample("any", sb, db, r) if db else sb
    ta = make(a, layout) if da else a
    tb = make(b, layout) if db else b
    out = rt.where(make(c, layout), ta, tb)
    assert_close(out, np.where(c, a, b), dtype=want, rtol=0, atol=0)


def test_where_cond_from_comparison_and_masked_fill():
    x = np.array([[-1.0, 2.0, 0.0], [3.0, -4.0, 5.0]], np.float32)
    t = make(x, "noncontig")
    assert_close(rt.where(t > 0, t, t * 0), np.where(x > 0, x, 0.0), dtype=F32, rtol=0, atol=0)
    assert_close(t.masked_fill(t < 0, 9.0), np.where(x < 0, 9.0, x), dtype=F32, rtol=0, atol=0)


# ===================================================================== views

VIEWS = {
    # name: (rt fn, numpy fn returning a numpy view, base shape)
    "reshape": (lambda t: t.reshape(4, 6), lambda a: a.reshape(4, 6), (2, 3, 4)),
    "reshape_tuple_-1": (lambda t: t.reshape((6, -1)), lambda a: a.reshape(6, -1), (2, 3, 4)),
    "reshape_fn": (lambda t: rt.reshape(t, (3, 8)), lambda a: a.reshape(3, 8), (2, 3, 4)),
    "view": (lambda t: t.view(2, 12), lambda a: a.reshape(2, 12), (2, 3, 4)),
    "view_-1": (lambda t: t.view(-1), lambda a: a.reshape(-1), (2, 3, 4)),
    "view_as": (lambda t: t.view_as(rt.empty(6, 4)), lambda a: a.reshape(6, 4), (2, 3, 4)),
    "transpose": (lambda t: t.transpose(0, 2), lambda a: a.transpose(2, 1, 0), (2, 3, 4)),
    "transpose_neg": (lambda t: t.transpose(-1, -2), lambda a: a.swapaxes(-1, -2), (2, 3, 4)),
    "transpose_fn": (lambda t: rt.transpose(t, 0, 1), lambda a: a.swapaxes(0, 1), (2, 3, 4)),
    "t": (lambda t: t.t(), lambda a: a.T, (3, 4)),
    "T": (lambda t: t.T, lambda a: a.T, (2, 3, 4)),
    "mT": (lambda t: t.mT, lambda a: a.swapaxes(-1, -2), (2, 3, 4)),
    "permute": (lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1), (2, 3, 4)),
    "permute_tuple": (lambda t: t.permute((1, -1, 0)), lambda a: a.transpose(1, 2, 0), (2, 3, 4)),
    "permute_fn": (lambda t: rt.permute(t, (1, 0, 2)), lambda a: a.transpose(1, 0, 2), (2, 3, 4)),
    "expand": (lambda t: t.expand(2, 3, 4), lambda a: np.broadcast_to(a, (2, 3, 4)), (3, 1)),
    "expand_-1": (lambda t: t.expand(-1, 5), lambda a: np.broadcast_to(a, (3, 5)), (3, 1)),
    "expand_as": (lambda t: t.expand_as(rt.empty(4, 3, 2)), lambda a: np.broadcast_to(a, (4, 3, 2)), (1, 2)),
    "squeeze": (lambda t: t.squeeze(), lambda a: a.squeeze(), (1, 3, 1, 4)),
    "squeeze_dim": (lambda t: t.squeeze(2), lambda a: a.squeeze(2), (1, 3, 1, 4)),
    "squeeze_dim_noop": (lambda t: t.squeeze(1), lambda a: a, (1, 3, 1, 4)),
    "squeeze_fn": (lambda t: rt.squeeze(t, 0), lambda a: a.squeeze(0), (1, 3, 1, 4)),
    "unsqueeze0": (lambda t: t.unsqueeze(0), lambda a: a[None], (3, 4)),
    "unsqueeze1": (lambda t: t.unsqueeze(1), lambda a: a[:, None], (3, 4)),
    "unsqueeze-1": (lambda t: t.unsqueeze(-1), lambda a: a[..., None], (3, 4)),
    "unsqueeze_fn": (lambda t: rt.unsqueeze(t, 2), lambda a: a[:, :, None], (3, 4)),
    "flatten": (lambda t: t.flatten(), lambda a: a.reshape(-1), (2, 3, 4)),
    "flatten_12": (lambda t: t.flatten(1, 2), lambda a: a.reshape(2, 12), (2, 3, 4)),
    "flatten_fn": (lambda t: rt.flatten(t, 0, 1), lambda a: a.reshape(6, 4), (2, 3, 4)),
    "slice": (lambda t: t[1:3], lambda a: a[1:3], (4, 5)),
    "slice_steps": (lambda t: t[1:3, ::2], lambda a: a[1:3, ::2], (4, 5)),
    "slice_steps3": (lambda t: t[::2, 1:, ::3], lambda a: a[::2, 1:, ::3], (5, 4, 7)),
    "slice_neg": (lambda t: t[-3:-1, :-2], lambda a: a[-3:-1, :-2], (4, 5)),
    "slice_clamped": (lambda t: t[2:100, -100:3], lambda a: a[2:100, -100:3], (4, 5)),
    "int_index": (lambda t: t[1], lambda a: a[1], (4, 5)),
    "int_index_neg": (lambda t: t[:, -1], lambda a: a[:, -1], (4, 5)),
    "ellipsis": (lambda t: t[..., 2], lambda a: a[..., 2], (2, 3, 4)),
    "none": (lambda t: t[None, 1:, None], lambda a: a[None, 1:, None], (3, 4)),
    "mixed": (lambda t: t[1, ::2, -1], lambda a: a[1, ::2, -1], (3, 5, 4)),
    "select": (lambda t: t.select(1, 2), lambda a: a[:, 2], (3, 4, 5)),
    "select_neg": (lambda t: t.select(-1, -2), lambda a: a[..., -2], (3, 4, 5)),
    "narrow": (lambda t: t.narrow(1, 1, 2), lambda a: a[:, 1:3], (3, 4)),
    "chain": (lambda t: t.transpose(0, 1)[1:, ::2].unsqueeze(0).permute(2, 1, 0), lambda a: a.swapaxes(0, 1)[1:, ::2][None].transpose(2, 1, 0), (4, 5)),
}
# Ops that may legitimately copy a non-contiguous base (reshape/view/flatten).
_MAY_COPY = {"reshape", "reshape_tuple_-1", "reshape_fn", "view", "view_-1", "view_as", "flatten", "flatten_12", "flatten_fn"}


def _base(shape, layout, seed):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 0.5 + seed
    return a, make(a, layout)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(VIEWS))
def test_view_values(name, layout):
    fn, np_fn, shape = VIEWS[name]
    if layout == "noncontig" and name.startswith("view"):
        pytest.skip("view() of this non-contiguous layout is not possible (tested in test_view_incompatible_raises)")
    a, t = _base(shape, layout, 0)
    assert_close(fn(t), np_fn(a), dtype=F32, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(VIEWS))
def test_view_shares_storage(name, layout):
    """Writes to the base show through the view, and (except for expand) writes to the view reach the base."""
    fn, np_fn, shape = VIEWS[name]
    if layout == "noncontig" and name in _MAY_COPY:
        pytest.skip("reshape of a non-contiguous tensor may copy")
    a, t = _base(shape, layout, 0)
    v = fn(t)
    new = np.arange(a.size, dtype=np.float32).reshape(shape) * -2.0 - 1
    with rt.no_grad():
        t.copy_(rt.tensor(new))
    assert_close(v, np_fn(new), dtype=F32, rtol=0, atol=0, msg=f"{name}: base copy_ not visible through view")
    with rt.no_grad():
        t.fill_(3.0)
    assert_close(v, np_fn(np.full(shape, 3.0, np.float32)), dtype=F32, rtol=0, atol=0, msg=f"{name}: base fill_ not visible")
    if name.startswith("expand"):
        return
    ref = np.full(shape, 3.0, np.float32)
    np_fn(ref)[...] = 7.0  # numpy: the same view, written
    with rt.no_grad():
        v.fill_(7.0)
    assert_close(t, ref, dtype=F32, rtol=0, atol=0, msg=f"{name}: view fill_ did not reach the base")


def test_view_data_ptr_offsets():
    t = rt.tensor(np.arange(20, dtype=np.float64).reshape(4, 5))
    base = t.data_ptr()
    assert t[2].data_ptr() == base + 2 * 5 * 8
    assert t[:, 3].data_ptr() == base + 3 * 8
    assert t[1:, 2:].data_ptr() == base + (5 + 2) * 8
    assert t.transpose(0, 1).data_ptr() == base
    assert t.reshape(20).data_ptr() == base
    assert t.select(0, -1).data_ptr() == base + 15 * 8
    assert t[1:3, ::2].stride() == (5, 2)
    assert t.transpose(0, 1).stride() == (1, 5)
    assert t[None].unsqueeze(-1).expand(3, 4, 5, 2).stride()[0] == 0


def test_view_incompatible_raises_reshape_copies():
    t = rt.tensor(np.arange(12, dtype=np.float32).reshape(3, 4)).t()
    with pytest.raises(RuntimeError):
        t.view(12)
    r = t.reshape(12)
    np.testing.assert_array_equal(to_np(r), np.arange(12, dtype=np.float32).reshape(3, 4).T.reshape(12))
    # splitting the last dim of a transposed tensor is still a view
    v = t.view(2, 2, 3)
    np.testing.assert_array_equal(to_np(v), np.arange(12, dtype=np.float32).reshape(3, 4).T.reshape(2, 2, 3))
    assert v.data_ptr() == t.data_ptr()


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (5,)], ids=str)
def test_contiguous(shape):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    t = rt.tensor(a)
    assert t.is_contiguous() and t.contiguous().data_ptr() == t.data_ptr()
    nc = noncontig(a)
    c = nc.contiguous()
    assert c.is_contiguous() and c.data_ptr() != nc.data_ptr()
    assert c.stride() == tuple(int(s) // 4 for s in a.strides)
    assert_close(c, a, dtype=F32, rtol=0, atol=0)
    with rt.no_grad():
        nc.fill_(0.0)
    assert_close(c, a, dtype=F32, rtol=0, atol=0, msg="contiguous() of a non-contiguous tensor must copy")
    tt = t.transpose(0, -1)
    if tt.ndim > 1:
        assert not tt.is_contiguous()
        assert_close(tt.contiguous(), np.ascontiguousarray(a.swapaxes(0, -1)), dtype=F32, rtol=0, atol=0)


# ===================================================================== advanced indexing & setitem

GATHER = {
    # name: (rt key builder, numpy key, base shape)
    "rows": (lambda: rt.tensor([2, 0, 2, 1]), np.array([2, 0, 2, 1]), (3, 4)),
    "rows_neg": (lambda: rt.tensor([-1, 0, -3]), np.array([-1, 0, -3]), (3, 4)),
    "rows_2d_idx": (lambda: rt.tensor([[0, 1], [2, 2]]), np.array([[0, 1], [2, 2]]), (3, 4)),
    "rows_list": (lambda: [1, 1, 0], [1, 1, 0], (3, 4)),
    "rows_0d_idx": (lambda: make(np.array(1)), np.array(1), (3, 4)),
    "cols": (lambda: (slice(None), rt.tensor([3, 0, 1])), (slice(None), np.array([3, 0, 1])), (3, 4)),
    "pairs": (lambda: (rt.tensor([0, 2, 1]), rt.tensor([3, 0, 0])), (np.array([0, 2, 1]), np.array([3, 0, 0])), (3, 4)),
    "pairs_bcast": (lambda: (rt.tensor([[0], [2]]), rt.tensor([1, 3, 0])), (np.array([[0], [2]]), np.array([1, 3, 0])), (3, 4)),
    "pairs_3d_adjacent": (lambda: (slice(None), rt.tensor([0, 2]), rt.tensor([1, 3])), (slice(None), np.array([0, 2]), np.array([1, 3])), (2, 3, 4)),
    "pairs_3d_separated": (lambda: (rt.tensor([0, 1, 1]), slice(None), rt.tensor([3, 0, 2])), (np.array([0, 1, 1]), slice(None), np.array([3, 0, 2])), (2, 3, 4)),
    "idx_then_slice": (lambda: (rt.tensor([1, 0]), slice(1, None, 2)), (np.array([1, 0]), slice(1, None, 2)), (3, 4)),
    "int_and_idx": (lambda: (1, rt.tensor([2, 0])), (1, np.array([2, 0])), (2, 3, 4)),
    "mask_1d": (lambda: rt.tensor([True, False, True]), np.array([True, False, True]), (3, 4)),
    "mask_cols": (lambda: (slice(None), rt.tensor([False, True, True, False])), (slice(None), np.array([False, True, True, False])), (3, 4)),
    # a 0-d mask adds an axis of length 1 (True) or 0 (False), as NumPy and torch
    "mask_0d_true": (lambda: rt.tensor(True), np.True_, (3, 4)),
    "mask_0d_false": (lambda: rt.tensor(False), np.False_, (3, 4)),
    "mask_0d_true_after_slice": (lambda: (slice(1, None), rt.tensor(True)), (slice(1, None), np.True_), (3, 4)),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [F32, I64], ids=str)
@pytest.mark.parametrize("name", list(GATHER))
def test_getitem_advanced(name, dtype, layout):
    key_fn, np_key, shape = GATHER[name]
    a = sample("any", shape, dtype, rng("gather", name))
    out = make(a, layout)[key_fn()]
    assert_close(out, a[np_key], dtype=dtype, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4)], ids=str)
def test_getitem_bool_mask(shape, layout):
    a = sample("any", shape, F32, rng("mask", shape))
    t = make(a, layout)
    assert_close(t[t > 0], a[a > 0], dtype=F32, rtol=0, atol=0)
    m = a.reshape(shape[0], -1).sum(1) > 0
    assert_close(t[make(m, layout)], a[m], dtype=F32, rtol=0, atol=0)
    assert_close(t[t < 100], a.reshape(-1), dtype=F32, rtol=0, atol=0)  # everything selected


@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 4)], ids=str)
def test_getitem_empty_selection(shape):
    """A mask that selects nothing (and empty index tensors) give an empty result, as in NumPy/torch."""
    a = sample("any", shape, F32, rng("empty", shape))
    t = make(a)
    assert_close(t[t > 100], a[a > 100], dtype=F32, rtol=0, atol=0)
    e = np.zeros(0, np.int64)
    assert_close(t[make(e)], a[e], dtype=F32, rtol=0, atol=0)
    if len(shape) > 1:
        assert_close(t[make(e), make(e)], a[e, e], dtype=F32, rtol=0, atol=0)


def test_getitem_noncontig_index_tensor():
    a = np.arange(20, dtype=np.float32).reshape(5, 4)
    idx = np.array([[4, 0, 1], [2, 2, 3]])
    out = make(a, "noncontig")[noncontig(idx)]
    assert_close(out, a[idx], dtype=F32, rtol=0, atol=0)


MASK_2D = np.array([[True, False, True, False], [False, False, False, True], [True, True, False, False]])

SETITEM = {
    # name: (rt key builder, numpy key, value builder(shape-of-selection) -> numpy or python scalar)
    "int_scalar": (lambda: 1, 1, lambda s: 5.0),
    "slice_steps_tensor": (lambda: (slice(None), slice(None, None, 2)), (slice(None), slice(None, None, 2)), lambda s: np.arange(np.prod(s), dtype=np.float32).reshape(s)),
    "slice_broadcast_row": (lambda: slice(1, 3), slice(1, 3), lambda s: np.array([9.0, 8.0, 7.0, 6.0], np.float32)),
    "ellipsis_all": (lambda: Ellipsis, Ellipsis, lambda s: -1.0),
    "element": (lambda: (2, 3), (2, 3), lambda s: 42.0),
    "idx_rows_scalar": (lambda: rt.tensor([0, 2]), np.array([0, 2]), lambda s: -3.0),
    "idx_rows_tensor": (lambda: rt.tensor([2, 0]), np.array([2, 0]), lambda s: np.arange(np.prod(s), dtype=np.float32).reshape(s) + 100),
    "idx_cols_bcast": (lambda: (slice(None), rt.tensor([1, 3])), (slice(None), np.array([1, 3])), lambda s: np.array([10.0, 20.0], np.float32)),
    "mask_1d": (lambda: rt.tensor([True, False, True]), np.array([True, False, True]), lambda s: 0.0),
    # masks over both dims with a tensor of values (one per selected element), and the empty selection
    "mask_2d_tensor": (lambda: rt.tensor(MASK_2D), MASK_2D, lambda s: np.arange(np.prod(s), dtype=np.float32) + 10),
    "mask_2d_none_tensor": (lambda: rt.tensor(np.zeros((3, 4), bool)), np.zeros((3, 4), bool), lambda s: np.zeros(0, np.float32)),
    "mask_2d_bcast_scalar_tensor": (lambda: rt.tensor(MASK_2D), MASK_2D, lambda s: np.array([7.0], np.float32)),
    "mask_0d_true": (lambda: rt.tensor(True), np.True_, lambda s: np.arange(4, dtype=np.float32)),
    "mask_0d_false": (lambda: rt.tensor(False), np.False_, lambda s: 3.0),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(SETITEM))
def test_setitem(name, layout):
    key_fn, np_key, val_fn = SETITEM[name]
    a = sample("any", (3, 4), F32, rng("set", name))
    t = make(a, layout)
    v = val_fn(a[np_key].shape)
    t[key_fn()] = rt.tensor(v) if isinstance(v, np.ndarray) else v
    a[np_key] = v
    assert_close(t, a, dtype=F32, rtol=0, atol=0, msg=name)


def test_setitem_bool_mask_2d():
    """x[x > 0] = 0 on a 2-D tensor: the most common masked assignment idiom in PyTorch."""
    a = sample("any", (3, 4), F32, rng("set2d"))
    for layout in LAYOUTS:
        t = make(a, layout)
        t[t > 0] = 0.0
        b = a.copy()
        b[b > 0] = 0.0
        assert_close(t, b, dtype=F32, rtol=0, atol=0)


def test_setitem_mask_value_count_mismatch_raises():
    """torch: RuntimeError 'shape mismatch: value tensor of shape [2] cannot be broadcast to indexing result of shape [3]'."""
    for mask in (np.array([True, False, True, True]), np.array([[True, False], [True, True]])):
        t = rt.zeros(*mask.shape)
        with pytest.raises(RuntimeError, match=r"setitem: shape mismatch: value tensor of shape \(2,\).*shape \(3,\)"):
            t[rt.tensor(mask)] = rt.tensor([1.0, 2.0])
        assert_close(t, np.zeros(mask.shape, np.float32), dtype=F32, rtol=0, atol=0)  # untouched


def test_setitem_through_view_reaches_base():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    t = rt.tensor(a)
    v = t[:, 1:]
    v[0] = -1.0
    v[:, ::2] = rt.tensor([[5.0, 6.0]])
    a[:, 1:][0] = -1.0
    a[:, 1:][:, ::2] = np.array([[5.0, 6.0]])
    assert_close(t, a, dtype=F32, rtol=0, atol=0)


def test_setitem_requires_grad_refused_in_grad_mode():
    t = rt.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        t[0] = 1.0
    with rt.no_grad():
        t[0] = 1.0
    np.testing.assert_array_equal(to_np(t), [1.0, 0.0, 0.0])


def test_inplace_copy_fill_on_noncontig():
    a = sample("any", (3, 4), F64, rng("inpl"))
    t = noncontig(a)
    with rt.no_grad():
        t.copy_(rt.tensor(np.arange(4.0)))  # broadcast source
    assert_close(t, np.broadcast_to(np.arange(4.0), (3, 4)), dtype=F64, rtol=0, atol=0)
    t.add_(1.0)
    t *= 2.0
    assert_close(t, (np.broadcast_to(np.arange(4.0), (3, 4)) + 1) * 2, dtype=F64, rtol=0, atol=0)
