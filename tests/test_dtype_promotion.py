"""Result dtypes of ops on mixed operands: PyTorch's promotion rules (int and bool with float, float32 with
float64, Python scalars and 0-d tensors), checked against NumPy values and, where torch is importable,
against torch's results. The op records (opinfo.py) check each op at one dtype at a time."""
import numpy as np
import pytest

import reticulum as rt
from helpers import assert_close, make, rng, to_np, values

F32, F64, I64, BOOL = rt.float32, rt.float64, rt.int64, rt.bool
TOL = {F32: dict(rtol=1e-5, atol=1e-6), F64: dict(rtol=1e-12, atol=1e-12), I64: dict(rtol=0, atol=0), BOOL: dict(rtol=0, atol=0)}


MIXED = [  # (dtype a, dtype b, expected result dtype): torch's promotion for dimensioned tensors
    (I64, F32, F32), (F32, I64, F32), (I64, F64, F64), (F32, F64, F64), (F64, F32, F64),
    (BOOL, I64, I64), (BOOL, F32, F32), (I64, BOOL, I64)]


@pytest.mark.parametrize("da,db,dout", MIXED, ids=lambda d: str(d))
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "maximum", "minimum"])
def test_binary_mixed_dtype_promotion(op, da, db, dout):
    r = rng("mixed", op, str(da), str(db))
    a = values("pos", (3, 4), da, r)
    b = values("pos", (4,), db, r)
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


def test_int_true_division_gives_float32():
    a = rt.tensor([7, -7, 1, 0])
    b = rt.tensor([2, 2, 3, 5])
    out = a / b
    assert out.dtype == F32
    np.testing.assert_allclose(to_np(out), np.array([3.5, -3.5, 1 / 3, 0.0]), rtol=1e-6)


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


def test_cat_promotes_dtypes():
    out = rt.cat([rt.tensor([1, 2]), rt.tensor([0.5])])
    assert_close(out, np.array([1.0, 2.0, 0.5]), dtype=F32, rtol=0, atol=0)
    out = rt.cat([rt.tensor([1.0], dtype=F32), rt.tensor([0.25], dtype=F64)])
    assert_close(out, np.array([1.0, 0.25]), dtype=F64, rtol=0, atol=0)


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
    torch = pytest.importorskip("torch")
    fn = DTYPE_CASES[name]
    outs = []
    for L in (rt, torch):
        i = L.tensor(np.array([1, 2, 3], dtype=np.int64))
        f = L.tensor(np.array([0.5, 1.5, 2.5], dtype=np.float32))
        b = L.tensor(np.array([True, False, True]))
        outs.append(fn(L, i, f, b))
    got, want = to_np(outs[0]), outs[1].numpy()
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != torch {want.dtype}"
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=name)
