"""sin/cos/log1p/erf, gelu, gather/scatter/scatter_add, sort/argsort/topk, cumsum, floor division and einsum:
forward values and input gradients against torch (float64, same data, a random weighted sum of the outputs
backpropagated), finite-difference gradchecks on contiguous and non-contiguous inputs, float32 and integer
results against torch, and errors on bad input."""
import math

import numpy as np
import pytest

import reticulum as rt
from helpers import LAYOUTS, check_against_torch, make
from helpers import rng as _rng

torch = pytest.importorskip("torch")


def _values(domain, shape, r):
    if domain == "any":
        return r.uniform(-2, 2, shape)
    if domain == "wide":  # gelu's tails and both sides of 0
        return r.uniform(-6, 6, shape)
    if domain == "above-1":  # log1p's domain
        return r.uniform(-0.9, 3, shape)
    if domain == "distinct":  # no ties: sort and topk orders are unique
        n = int(np.prod(shape))
        return (r.permutation(n) - n / 2).reshape(shape) * 0.1
    raise ValueError(domain)


def _idx(L, rows):
    return L.tensor(rows)


# name -> (fn(lib, *inputs), [(shape, domain), ...]); lib is the reticulum or the torch module.
OPS = {
    "sin": (lambda L, a: a.sin(), [((3, 4), "wide")]),
    "rt.sin": (lambda L, a: L.sin(a), [((5,), "wide")]),
    "cos": (lambda L, a: a.cos(), [((3, 4), "wide")]),
    "rt.cos": (lambda L, a: L.cos(a) * L.sin(a), [((2, 3), "any")]),
    "log1p": (lambda L, a: a.log1p(), [((3, 4), "above-1")]),
    "rt.log1p": (lambda L, a: L.log1p(a), [((4,), "above-1")]),
    "erf": (lambda L, a: a.erf(), [((3, 4), "any")]),
    "rt.erf": (lambda L, a: L.erf(a), [((6,), "any")]),
    "gelu": (lambda L, a: L.nn.functional.gelu(a), [((3, 5), "wide")]),
    "gelu_tanh": (lambda L, a: L.nn.functional.gelu(a, approximate="tanh"), [((3, 5), "wide")]),
    "nn.GELU": (lambda L, a: L.nn.GELU()(a) + L.nn.GELU("tanh")(a * 2), [((4, 2), "any")]),
    # ---- gather / scatter
    "gather_dim1": (lambda L, a: a.gather(1, _idx(L, [[0, 2, 2], [1, 0, 3], [3, 3, 1]])), [((3, 4), "any")]),
    "gather_dim0_smaller": (lambda L, a: L.gather(a, 0, _idx(L, [[2, 0], [1, 1]])), [((3, 4), "any")]),
    "gather_3d": (lambda L, a: a.gather(-1, _idx(L, [[[1], [0]], [[0], [1]]])), [((2, 2, 3), "any")]),
    "scatter_src": (lambda L, a, s: a.scatter(1, _idx(L, [[2, 0], [1, 3]]), s), [((2, 4), "any"), ((2, 2), "any")]),
    "scatter_value": (lambda L, a: L.scatter(a, 0, _idx(L, [[1, 0, 2]]), value=0.5), [((3, 3), "any")]),
    "scatter_add_repeats": (lambda L, a, s: a.scatter_add(1, _idx(L, [[0, 0, 2], [1, 1, 1]]), s),
                            [((2, 3), "any"), ((2, 3), "any")]),
    "rt.scatter_add_dim0": (lambda L, a, s: L.scatter_add(a, 0, _idx(L, [[1, 2], [1, 0]]), s),
                            [((3, 2), "any"), ((2, 2), "any")]),
    # ---- sort / topk / cumsum
    "sort": (lambda L, a: a.sort()[0], [((3, 5), "distinct")]),
    "sort_desc_dim0": (lambda L, a: L.sort(a, dim=0, descending=True).values, [((4, 3), "distinct")]),
    "topk": (lambda L, a: a.topk(2).values, [((3, 5), "distinct")]),
    "topk_smallest_dim0": (lambda L, a: L.topk(a, 3, dim=0, largest=False)[0], [((4, 2), "distinct")]),
    "cumsum": (lambda L, a: a.cumsum(1), [((3, 5), "any")]),
    "rt.cumsum_dim0_3d": (lambda L, a: L.cumsum(a, dim=0), [((4, 2, 3), "any")]),
    "cumsum_neg_dim": (lambda L, a: a.cumsum(-1) * a, [((2, 6), "any")]),
    "tril": (lambda L, a: a.tril(), [((4, 3), "any")]),
    "rt.triu_offset": (lambda L, a: L.triu(a, 1), [((3, 4), "any")]),
    "tril_negative_batched": (lambda L, a: L.tril(a, diagonal=-1), [((2, 3, 3), "any")]),
    # ---- einsum
    "einsum_mm": (lambda L, a, b: L.einsum("ij,jk->ik", a, b), [((2, 3), "any"), ((3, 4), "any")]),
    "einsum_bmm": (lambda L, a, b: L.einsum("bij,bjk->bik", a, b), [((2, 2, 3), "any"), ((2, 3, 2), "any")]),
    "einsum_attention": (lambda L, q, k: L.einsum("bhqd,bhkd->bhqk", q, k), [((1, 2, 3, 4), "any"), ((1, 2, 5, 4), "any")]),
    "einsum_implicit": (lambda L, a, b: L.einsum("ij,jk", a, b), [((2, 3), "any"), ((3, 2), "any")]),
    "einsum_outer": (lambda L, a, b: L.einsum("i,j->ij", a, b), [((3,), "any"), ((4,), "any")]),
    "einsum_dot": (lambda L, a, b: L.einsum("i,i", a, b), [((5,), "any"), ((5,), "any")]),
    "einsum_transpose": (lambda L, a: L.einsum("ijk->kji", a), [((2, 3, 4), "any")]),
    "einsum_diag": (lambda L, a: L.einsum("ii->i", a), [((3, 3), "any")]),
    "einsum_trace": (lambda L, a: L.einsum("ii", a), [((4, 4), "any")]),
    "einsum_sum_all": (lambda L, a: L.einsum("ij->", a), [((2, 3), "any")]),
    "einsum_ellipsis": (lambda L, a, b: L.einsum("...ij,...jk->...ik", a, b), [((2, 3, 2, 3), "any"), ((3, 2), "any")]),
    "einsum_ellipsis_implicit": (lambda L, a: L.einsum("...i->...", a) + L.einsum("i...", a).sum(), [((3, 2), "any")]),
    "einsum_three": (lambda L, a, b, c: L.einsum("ij,jk,kl->il", a, b, c),
                     [((2, 3), "any"), ((3, 4), "any"), ((4, 2), "any")]),
    "einsum_list_bilinear": (lambda L, x, w, y: L.einsum("bn,anm,bm->ba", [x, w, y]),
                             [((2, 3), "any"), ((4, 3, 2), "any"), ((2, 2), "any")]),
    "einsum_broadcast_1": (lambda L, a, b: L.einsum("bij,bjk->bik", a, b), [((1, 2, 3), "any"), ((3, 3, 2), "any")]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(OPS))
def test_matches_torch(name, layout):
    fn, specs = OPS[name]
    arrays = [_values(dom, shape, _rng(name, i)) for i, (shape, dom) in enumerate(specs)]
    check_against_torch(torch, name, fn, arrays, layout)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(OPS))
def test_gradcheck(name, layout):
    fn, specs = OPS[name]
    ins = [make(_values(dom, shape, _rng(name, i)), layout, dtype=rt.float64, requires_grad=True)
           for i, (shape, dom) in enumerate(specs)]
    assert rt.autograd.gradcheck(lambda *xs: fn(rt, *xs), ins)


# ---------------------------------------------------------------- float32 and integer results

@pytest.mark.parametrize("name", ["sin", "cos", "log1p", "erf", "gelu", "gelu_tanh"])
def test_float32_matches_torch(name):
    x = _values("above-1" if name == "log1p" else "wide", (4096,), _rng("f32", name)).astype(np.float32)
    fn = OPS[name][0]
    got = fn(rt, rt.tensor(x, requires_grad=True))
    ref = fn(torch, torch.tensor(x, requires_grad=True))
    assert got.dtype == rt.float32
    # gelu's negative tail is 0.5 x (1 + erf or tanh), with 1 + (-0.9999...) cancelling in float32: there
    # both libraries are only good to about |x| * 2^-24 absolute.
    atol = 1.5e-6 if name.startswith("gelu") else 2e-7
    np.testing.assert_allclose(got.detach().numpy(), ref.detach().numpy(), rtol=2e-6, atol=atol)


def test_math_of_integer_tensors_is_float32():
    for name in ("sin", "cos", "log1p", "erf"):
        got = getattr(rt.tensor([0, 1, 2]), name)()
        ref = getattr(torch.tensor([0, 1, 2]), name)()
        assert got.dtype == rt.float32, name
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6, err_msg=name)


def test_gelu_refuses_integers_and_bad_approximation():
    with pytest.raises(RuntimeError, match=r"gelu.*int64.*\[3\]"):
        rt.nn.functional.gelu(rt.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="gelu.*approximate"):
        rt.nn.functional.gelu(rt.ones(2), approximate="fast")
    assert repr(rt.nn.GELU("tanh")) == repr(torch.nn.GELU("tanh"))


def test_floor_and_trunc_division_match_torch_and_python():
    a = np.array([7, -7, 7, -7, 0, 5, -1, 9], dtype=np.int64)
    b = np.array([2, 2, -2, -2, 3, 5, 4, -10], dtype=np.int64)
    for x, y in [(a, b), (a.astype(np.float64) * 0.7, b.astype(np.float64) * 0.3), (a.astype(np.float32), b.astype(np.float32))]:
        got = rt.tensor(x) // rt.tensor(y)
        ref = torch.tensor(x) // torch.tensor(y)
        assert str(got.dtype).split(".")[1] == str(ref.dtype).split(".")[1]
        np.testing.assert_array_equal(got.numpy(), ref.numpy())
        for mode in ("floor", "trunc"):
            np.testing.assert_array_equal(rt.div(rt.tensor(x), rt.tensor(y), rounding_mode=mode).numpy(),
                                          torch.div(torch.tensor(x), torch.tensor(y), rounding_mode=mode).numpy(), err_msg=mode)
    assert (rt.tensor(a) // 3).tolist() == [int(v) // 3 for v in a]  # Python's rounding toward -inf
    assert (rt.tensor([1.0]) // 0.1).item() == 1.0 // 0.1 == 9.0  # through fmod, not floor(1 / 0.1) = 10
    zero = rt.tensor([-0.0, 0.0, 1.0, -1.0]) // 0.0
    np.testing.assert_array_equal(zero.numpy(), (torch.tensor([-0.0, 0.0, 1.0, -1.0]) // 0.0).numpy())
    assert (7 // rt.tensor([2, -2])).tolist() == [3, -4] and rt.floor_divide(7, rt.tensor([-2])).tolist() == [-4]
    assert (rt.tensor([5, -5]) // 2.5).dtype == rt.float32
    assert rt.tensor([-2**63]).floor_divide(-1).tolist() == [-2**63]  # wraps as torch, no trap
    x = rt.tensor([5, -5])
    x //= 2
    assert x.tolist() == [2, -3]
    assert rt.tensor([6.0]).div(4).item() == 1.5


def test_rounding_division_gradient_is_zero():
    x = rt.tensor([3.5, -2.5], requires_grad=True)
    y = rt.tensor([2.0, 2.0], requires_grad=True)
    (rt.div(x, y, rounding_mode="floor") + x // 2 + rt.div(x, y, rounding_mode="trunc")).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0] and y.grad.tolist() == [0.0, 0.0]


def test_integer_division_by_zero_is_refused():
    with pytest.raises(RuntimeError, match=r"floor_divide.*ZeroDivisionError.*\[3\]"):
        rt.tensor([1, 2, 3]) // rt.tensor([1, 0, 2])
    with pytest.raises(RuntimeError, match="div.*ZeroDivisionError"):
        rt.div(rt.tensor([1]), 0, rounding_mode="trunc")


def test_cumsum_dtypes_match_torch():
    for x in ([True, False, True], [3, -1, 4], [0.5, 1.5, -2.0]):
        got, ref = rt.tensor(x).cumsum(0), torch.tensor(x).cumsum(0)
        assert got.tolist() == ref.tolist()
        assert str(got.dtype).split(".")[1] == str(ref.dtype).split(".")[1]
    assert rt.tensor([1, 2]).cumsum(0, dtype=rt.float64).dtype == rt.float64
    assert rt.cumsum(rt.tensor(2.5), 0).item() == 2.5 and rt.zeros(0, 3).cumsum(0).shape == (0, 3)
    big = [2**62, 2**62, 2**62]  # int64 overflow wraps, as in torch
    assert rt.tensor(big).cumsum(0).tolist() == torch.tensor(big).cumsum(0).tolist()
    assert rt.tensor([[True, False], [True, True]]).tril().tolist() == [[True, False], [True, True]]


def test_cumsum_float32_accumulates_in_double_as_torch():
    x = np.full(100000, 0.1, dtype=np.float32)
    np.testing.assert_array_equal(rt.tensor(x).cumsum(0).numpy(), torch.tensor(x).cumsum(0).numpy())


def test_sort_is_stable_and_puts_nan_last_as_torch():
    x = np.array([[2.0, 1.0, np.nan, 1.0, 2.0, -np.inf, 1.0], [0.0, -0.0, 3.0, np.nan, 3.0, np.nan, 0.0]])
    for desc in (False, True):
        got = rt.tensor(x).sort(dim=1, descending=desc, stable=True)
        ref = torch.tensor(x).sort(dim=1, descending=desc, stable=True)
        np.testing.assert_array_equal(got.values.numpy(), ref.values.numpy())
        assert got.indices.tolist() == ref.indices.tolist(), desc
        assert rt.argsort(rt.tensor(x), descending=desc).tolist() == ref.indices.tolist()
    ints = np.array([3, 1, 2, 1, 3, 0])
    assert rt.tensor(ints).sort().indices.tolist() == torch.tensor(ints).sort(stable=True).indices.tolist()
    assert rt.tensor([True, False, True]).sort().values.tolist() == [False, True, True]


def test_topk_returns_sorted_contiguous_results():
    x = rt.tensor([[1.0, 5.0, 3.0, 4.0], [0.0, -1.0, 2.0, 8.0]])
    v, i = rt.topk(x, 3)
    assert v.tolist() == [[5.0, 4.0, 3.0], [8.0, 2.0, 0.0]] and i.tolist() == [[1, 3, 2], [3, 2, 0]]
    assert v.is_contiguous() and i.is_contiguous()
    assert x.topk(0).values.shape == (2, 0) and x.topk(1, largest=False).indices.tolist() == [[0], [1]]
    assert rt.tensor(3.0).topk(1).values.item() == 3.0


def test_one_hot_with_scatter_in_place_as_tutorials_do():
    labels = rt.tensor([2, 0, 1])
    one_hot = rt.zeros(3, 4).scatter_(1, labels.unsqueeze(1), 1)
    assert one_hot.tolist() == torch.zeros(3, 4).scatter_(1, torch.tensor([2, 0, 1]).unsqueeze(1), 1).tolist()
    acc = rt.zeros(3)
    assert acc.scatter_add_(0, rt.tensor([0, 0, 2]), rt.ones(3)) is acc and acc.tolist() == [2.0, 0.0, 1.0]
    assert rt.zeros(3).scatter(0, rt.tensor([1]), rt.tensor([5.0]), reduce="add").tolist() == [0.0, 5.0, 0.0]
    assert rt.zeros(2).scatter(0, rt.tensor([1, 1]), 2.0, reduce="add").tolist() == [0.0, 4.0]
    w = rt.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="scatter_.*requires grad"):
        w.scatter_(0, rt.tensor([0]), 1.0)


@pytest.mark.parametrize("call,exc,words", [
    (lambda: rt.ones(2, 3).gather(1, rt.tensor([[3], [0]])), RuntimeError, ["gather", "index 3 is out of bounds", "size 3"]),
    (lambda: rt.ones(2, 3).gather(1, rt.tensor([[-1], [0]])), RuntimeError, ["gather", "index -1", "out of bounds"]),
    (lambda: rt.ones(2, 3).gather(1, rt.tensor([0, 1])), RuntimeError, ["gather", "same number of dimensions", "[2, 3]"]),
    (lambda: rt.ones(2, 3).gather(1, rt.tensor([[0.0], [1.0]])), RuntimeError, ["gather", "int64", "float32"]),
    (lambda: rt.ones(2, 3).gather(1, rt.tensor([[0], [1], [0]])), RuntimeError, ["gather", "dimension 0", "[3, 1]"]),
    (lambda: rt.ones(2, 3).gather(2, rt.tensor([[0]])), IndexError, ["gather", "out of range"]),
    (lambda: rt.ones(2, 3).scatter(1, rt.tensor([[0, 1]]), rt.ones(1, 1)), RuntimeError, ["scatter", "no larger than src"]),
    (lambda: rt.ones(2, 3).scatter(1, rt.tensor([[0]]), rt.ones(1, 1, dtype=rt.float64)), RuntimeError,
     ["scatter", "dtype", "float32", "float64"]),
    (lambda: rt.ones(2, 3).scatter(1, rt.tensor([[5]]), 1.0), RuntimeError, ["scatter", "index 5"]),
    (lambda: rt.ones(2, 3).scatter(1, rt.tensor([[0]])), TypeError, ["scatter", "src"]),
    (lambda: rt.ones(2, 3).scatter(1, rt.tensor([[0]]), "x"), TypeError, ["scatter", "str"]),
    (lambda: rt.ones(2, 3).scatter(1, rt.tensor([[0]]), 1.0, reduce="multiply"), NotImplementedError, ["scatter", "multiply"]),
    (lambda: rt.ones(2, 3).scatter_add(1, rt.tensor([[0]]), 1.0), TypeError, ["scatter_add", "src"]),
    (lambda: rt.ones(3).sort(dim=1), IndexError, ["sort", "out of range"]),
    (lambda: rt.ones(2, 3).topk(4), RuntimeError, ["topk", "k (4)", "size 3"]),
    (lambda: rt.ones(2, 3).topk(-1), RuntimeError, ["topk", "out of range"]),
    (lambda: rt.ones(2, 3).topk(1.5), TypeError, ["topk", "k must be an int"]),
    (lambda: rt.ones(2, 3).cumsum(2), IndexError, ["cumsum", "out of range"]),
    (lambda: rt.tensor([True]).cumsum(0, dtype=rt.bool), RuntimeError, ["cumsum", "bool"]),
    (lambda: rt.floor_divide("7", rt.ones(2)), TypeError, ["floor_divide", "str"]),
    (lambda: rt.tril(rt.ones(3)), RuntimeError, ["tril", "2 dimensions", "(3,)"]),
    (lambda: rt.triu([[1.0]]), TypeError, ["triu", "list"]),
    (lambda: rt.einsum("ij,jk->ik", rt.ones(2, 3)), RuntimeError, ["einsum", "2 operand", "1 operand"]),
    (lambda: rt.einsum("ij,jk->ik", rt.ones(2, 3), rt.ones(4, 2)), RuntimeError, ["einsum", "'j'", "3 and 4"]),
    (lambda: rt.einsum("ijk->i", rt.ones(2, 3)), RuntimeError, ["einsum", "'ijk'", "(2, 3)"]),
    (lambda: rt.einsum("ij->iz", rt.ones(2, 3)), RuntimeError, ["einsum", "'z'"]),
    (lambda: rt.einsum("ij->ii", rt.ones(2, 3)), RuntimeError, ["einsum", "repeat"]),
    (lambda: rt.einsum("i1->i", rt.ones(2, 3)), RuntimeError, ["einsum", "invalid subscripts"]),
    (lambda: rt.einsum("ii->i", rt.ones(2, 3)), RuntimeError, ["einsum", "'i'", "2 and 3"]),
    (lambda: rt.einsum("i,i", rt.ones(2), rt.ones(2, dtype=rt.float64)), RuntimeError, ["einsum", "dtype"]),
    (lambda: rt.einsum(rt.ones(2), [0]), TypeError, ["einsum", "equation"]),
    (lambda: rt.einsum("i", [1, 2]), TypeError, ["einsum", "operand 0", "int"]),
])
def test_bad_input_names_the_op(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


def test_scatter_from_a_larger_src_reads_its_leading_block():
    """src may be larger than the index in every dim (only its leading block is read). torch's own backward
    refuses this case, so the gradient is checked by finite differences."""
    x = make(_values("any", (2, 4), _rng("big", 0)), dtype=rt.float64, requires_grad=True)
    s = make(_values("any", (3, 5), _rng("big", 1)), dtype=rt.float64, requires_grad=True)
    idx = rt.tensor([[2, 0], [1, 3]])
    ref = torch.tensor(x.detach().numpy()).scatter(1, torch.tensor(idx.numpy()), torch.tensor(s.detach().numpy()))
    np.testing.assert_array_equal(x.scatter(1, idx, s).detach().numpy(), ref.numpy())
    assert rt.autograd.gradcheck(lambda a, b: a.scatter(1, idx, b), [x, s])
    assert rt.autograd.gradcheck(lambda a, b: a.scatter_add(1, idx, b), [x, s])
    x.scatter_add(1, idx, s).sum().backward()
    assert s.grad[:2, :2].tolist() == [[1.0, 1.0], [1.0, 1.0]] and s.grad.sum().item() == 4.0


def test_einsum_matches_torch_on_float32_matmul():
    a = _values("any", (4, 5, 6), _rng("e32", 0)).astype(np.float32)
    b = _values("any", (4, 6, 3), _rng("e32", 1)).astype(np.float32)
    got = rt.einsum("bij,bjk->bik", rt.tensor(a), rt.tensor(b))
    np.testing.assert_allclose(got.numpy(), torch.einsum("bij,bjk->bik", torch.tensor(a), torch.tensor(b)).numpy(),
                               rtol=1e-5, atol=1e-6)
    assert math.isclose(rt.einsum("i,i->", rt.tensor([1.0, 2.0]), rt.tensor([3.0, 4.0])).item(), 11.0)
