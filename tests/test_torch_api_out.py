"""torch's out= keyword on the common functions, Python range indexing and assignment through two index tensors."""
import warnings

import numpy as np
import pytest

import reticulum as rt

torch = pytest.importorskip("torch")

CALLS = {
    "add": lambda L, a, b: L.add(a, b, alpha=2, out=L.empty(2, 3)),
    "sub": lambda L, a, b: L.sub(a, b, out=L.empty(2, 3)),
    "mul": lambda L, a, b: L.mul(a, b, out=L.empty(2, 3)),
    "div": lambda L, a, b: L.div(a, b, out=L.empty(2, 3)),
    "div_floor": lambda L, a, b: L.div(a, b, rounding_mode="floor", out=L.empty(2, 3)),
    "matmul": lambda L, a, b: L.matmul(a, b.T, out=L.empty(2, 2)),
    "mm": lambda L, a, b: L.mm(a.T, b, out=L.empty(3, 3)),
    "bmm": lambda L, a, b: L.bmm(a[None], b.T[None], out=L.empty(1, 2, 2)),
    "cat": lambda L, a, b: L.cat([a, b], 1, out=L.empty(2, 6)),
    "stack": lambda L, a, b: L.stack([a, b], out=L.empty(2, 2, 3)),
    "sin": lambda L, a, b: L.sin(a, out=L.empty(2, 3)),
    "exp": lambda L, a, b: L.exp(a, out=L.empty(2, 3)),
    "clamp": lambda L, a, b: L.clamp(a, -0.5, 0.5, out=L.empty(2, 3)),
    "where": lambda L, a, b: L.where(a > b, a, b, out=L.empty(2, 3)),
    "cumsum": lambda L, a, b: L.cumsum(a, 1, out=L.empty(2, 3)),
    "gather": lambda L, a, b: L.gather(a, 1, L.tensor([[0], [2]]), out=L.empty(2, 1)),
    "pow": lambda L, a, b: L.pow(a, 2, out=L.empty(2, 3)),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_out_matches_torch_and_returns_out(name):
    r = np.random.default_rng(0)
    a, b = r.uniform(-2, 2, (2, 3)).astype(np.float32), r.uniform(0.5, 2, (2, 3)).astype(np.float32)
    got = CALLS[name](rt, rt.tensor(a), rt.tensor(b))
    ref = CALLS[name](torch, torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6, atol=1e-7)


def test_out_is_written_in_place_and_returned():
    out = rt.zeros(3)
    view = out[:]
    res = rt.add(rt.ones(3), 2, out=out)
    assert res is out and out.tolist() == [3.0, 3.0, 3.0] and view.tolist() == [3.0, 3.0, 3.0]
    x = rt.ones(3)
    rt.mul(x, 4, out=x)  # out aliasing an input
    assert x.tolist() == [4.0, 4.0, 4.0]
    ints = rt.zeros(2, dtype=rt.int64)
    rt.add(rt.tensor([1, 2]), 3, out=ints)
    assert ints.tolist() == [4, 5] and ints.dtype == rt.int64
    f64 = rt.zeros(2, dtype=rt.float64)
    rt.add(rt.tensor([1, 2]), 0.5, out=f64)  # a result cast up into out's dtype
    assert f64.dtype == rt.float64 and f64.tolist() == [1.5, 2.5]


def test_out_of_another_shape_is_resized_as_torch():
    empty = rt.empty(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rt.matmul(rt.ones(2, 3), rt.ones(3, 4), out=empty)  # an empty out is resized silently
    assert empty.shape == (2, 4) and empty.tolist() == [[3.0] * 4] * 2
    wrong = rt.zeros(5)
    with pytest.warns(UserWarning, match=r"add.*resized.*\(5,\).*\(2,\)"):
        rt.add(rt.ones(2), 1, out=wrong)
    assert wrong.shape == (2,) and wrong.tolist() == [2.0, 2.0]


@pytest.mark.parametrize("call,exc,words", [
    (lambda: rt.add(rt.ones(2), 0.5, out=rt.zeros(2, dtype=rt.int64)), RuntimeError, ["add", "float32", "int64"]),
    (lambda: rt.mul(rt.ones(2, requires_grad=True), 2, out=rt.zeros(2)), RuntimeError, ["mul", "automatic differentiation"]),
    (lambda: rt.sin(rt.ones(2), out=rt.zeros(2, requires_grad=True)), RuntimeError, ["sin", "automatic differentiation"]),
    (lambda: rt.cat([rt.ones(2)], out=[1, 2]), TypeError, ["cat", "out", "list"]),
])
def test_bad_out_names_the_op(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


def test_out_is_allowed_under_no_grad_for_a_tensor_that_requires_grad():
    w = rt.zeros(2, requires_grad=True)
    with rt.no_grad():
        rt.add(rt.ones(2), rt.ones(2), out=w)
    assert w.tolist() == [2.0, 2.0] and w.requires_grad


# ---------------------------------------------------------------- indexing by range, assignment with index tensors

def test_indexing_by_a_python_range_matches_torch():
    x = np.arange(24.0).reshape(4, 6)
    for key in (range(1, 3), (slice(None), range(0, 6, 2)), (range(3), range(3)), range(3, 0, -1)):
        np.testing.assert_array_equal(rt.tensor(x)[key].numpy(), torch.tensor(x)[key].numpy(), err_msg=repr(key))
    y = rt.zeros(5)
    y[range(1, 4)] = 2.0
    assert y.tolist() == [0.0, 2.0, 2.0, 2.0, 0.0]


SETITEM_KEYS = {
    "two_indices": lambda L: (L.tensor([0, 2, 1]), L.tensor([1, 0, 3])),
    "two_indices_broadcast": lambda L: (L.tensor([[0], [2]]), L.tensor([1, 3])),
    "slice_between": lambda L: (L.tensor([0, 1]), slice(None), L.tensor([1, 0])),
    "adjacent_after_slice": lambda L: (slice(None), L.tensor([0, 2]), L.tensor([1, 1])),
    "negative": lambda L: (L.tensor([-1, 0]), L.tensor([-2, 3])),
    "arange_diagonal": lambda L: (L.arange(3), L.arange(3)),
}


@pytest.mark.parametrize("value", ["scalar", "tensor"])
@pytest.mark.parametrize("name", list(SETITEM_KEYS))
def test_setitem_with_several_index_tensors_matches_torch(name, value):
    base = np.arange(3 * 4 * 4, dtype=np.float64).reshape(3, 4, 4)
    got, ref = rt.tensor(base), torch.tensor(base)
    kr, kt = SETITEM_KEYS[name](rt), SETITEM_KEYS[name](torch)
    shape = tuple(ref[kt].shape)
    vals = -np.arange(1, int(np.prod(shape)) + 1, dtype=np.float64).reshape(shape)
    got[kr] = -7.5 if value == "scalar" else rt.tensor(vals)
    ref[kt] = -7.5 if value == "scalar" else torch.tensor(vals)
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_setitem_with_index_tensors_writes_through_views_and_checks_bounds():
    x = rt.zeros(4, 4)
    x.t()[rt.tensor([0, 1]), rt.tensor([2, 3])] = rt.tensor([1.0, 2.0])  # a non-contiguous view of x
    assert x[2, 0].item() == 1.0 and x[3, 1].item() == 2.0 and x.sum().item() == 3.0
    with pytest.raises(IndexError, match="out of range.*size 4"):
        x[rt.tensor([0, 4]), rt.tensor([0, 0])] = 1.0
    with pytest.raises(RuntimeError, match="expand|broadcast|shape"):
        x[rt.tensor([0, 1]), rt.tensor([0, 1])] = rt.ones(3)
    w = rt.zeros(2, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem.*requires grad"):
        w[rt.tensor([0]), rt.tensor([1])] = 1.0
