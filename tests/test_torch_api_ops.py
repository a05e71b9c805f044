"""The torch APIs built in Python from differentiable ops (mm, norm, chunk/split, repeat, flip, prod, add/sub
with alpha, F.pad, F.layer_norm, losses, ...): forward values and input gradients against torch (float64, same
data, a random weighted sum of the outputs backpropagated), finite-difference gradchecks on contiguous and
non-contiguous inputs, and their errors on bad input."""
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
    if domain == "distinct":  # a unique max/min in every slice
        n = int(np.prod(shape))
        return (r.permutation(n) - n / 2).reshape(shape) * 0.1
    if domain == "zeros":
        return np.zeros(shape)
    if domain == "with_zeros":  # exact zeros among the values: the product's gradient must still be right
        v = r.uniform(-2, 2, shape)
        v.reshape(-1)[::3] = 0.0
        return v
    if domain == "ties":  # repeated maxima of |x|: the inf-norm gradient is shared among them
        return np.array([[1.0, -2.0, 2.0, 0.5], [-1.5, 1.5, 0.2, -1.5], [0.0, 0.0, 0.0, 0.0]])[: shape[0], : shape[1]]
    raise ValueError(domain)


# name -> (fn(lib, *inputs), [(shape, domain), ...]); lib is the reticulum or the torch module.
OPS = {
    "mm": (lambda L, a, b: L.mm(a, b), [((3, 4), "any"), ((4, 2), "any")]),
    "Tensor.mm": (lambda L, a, b: a.mm(b), [((1, 3), "any"), ((3, 5), "any")]),
    "add_alpha": (lambda L, a, b: L.add(a, b, alpha=-2.5), [((2, 3), "any"), ((3,), "any")]),
    "sub_alpha": (lambda L, a, b: L.sub(a, b, alpha=3), [((2, 3), "any"), ((2, 1), "any")]),
    "mul": (lambda L, a, b: L.mul(a, b), [((2, 3), "any"), ((3,), "any")]),
    "div": (lambda L, a: L.div(a, 4.0), [((2, 3), "any")]),
    "norm_default": (lambda L, a: a.norm(), [((3, 4), "any")]),
    "norm_fro_dim": (lambda L, a: L.norm(a, "fro", dim=1), [((3, 4), "any")]),
    "norm_2_keepdim": (lambda L, a: a.norm(2, dim=0, keepdim=True), [((3, 4), "any")]),
    "norm_1": (lambda L, a: a.norm(1, dim=-1), [((3, 4), "any")]),
    "norm_3_tuple": (lambda L, a: a.norm(3, dim=(0, 2)), [((2, 3, 4), "any")]),
    "norm_inf": (lambda L, a: a.norm(math.inf, dim=1), [((3, 4), "distinct")]),
    "norm_-inf_all": (lambda L, a: L.norm(a, -math.inf), [((3, 4), "distinct")]),
    "norm_inf_ties": (lambda L, a: a.norm(math.inf, dim=1, keepdim=True), [((3, 4), "ties")]),
    "norm_zero_input": (lambda L, a: a.norm() + a.norm(dim=1).sum() + a.norm(3), [((2, 3), "zeros")]),
    "chunk": (lambda L, a: L.cat([c * (i + 1) for i, c in enumerate(a.chunk(3, 1))], 1), [((2, 7), "any")]),
    "rt.chunk": (lambda L, a: L.chunk(a, 2)[1] * 2, [((5, 3), "any")]),
    "split_int": (lambda L, a: L.cat([c * (i + 1) for i, c in enumerate(a.split(2, -1))], -1), [((3, 5), "any")]),
    "split_sizes": (lambda L, a: L.split(a, [1, 3, 0, 2], 0)[1] * 3, [((6, 2), "any")]),
    "repeat": (lambda L, a: a.repeat(2, 1, 3), [((2, 3), "any")]),
    "repeat_list": (lambda L, a: a.repeat([3, 2]), [((4,), "any")]),
    "flip": (lambda L, a: a.flip(0), [((4, 3), "any")]),
    "rt.flip_dims": (lambda L, a: L.flip(a, (0, -1)), [((2, 3, 4), "any")]),
    "prod_all": (lambda L, a: a.prod(), [((2, 3), "any")]),
    "prod_dim": (lambda L, a: a.prod(1), [((3, 5), "any")]),
    "prod_keepdim": (lambda L, a: L.prod(a, 0, keepdim=True), [((7, 2), "any")]),
    "prod_zeros": (lambda L, a: a.prod(-1), [((4, 3), "with_zeros")]),
    # ---- torch.nn.functional
    "pad_last": (lambda L, a: L.nn.functional.pad(a, (1, 2)), [((2, 3), "any")]),
    "pad_value_3d": (lambda L, a: L.nn.functional.pad(a, (0, 1, 2, 0, 1, 1), value=-1.5), [((2, 3, 2), "any")]),
    "pad_crop": (lambda L, a: L.nn.functional.pad(a, (-1, 2, 1, -2)), [((4, 5), "any")]),
    "layer_norm": (lambda L, a: L.nn.functional.layer_norm(a, (4,)), [((3, 4), "any")]),
    "layer_norm_affine_2d": (lambda L, a, w, b: L.nn.functional.layer_norm(a, [3, 4], w, b, eps=1e-3),
                             [((2, 3, 4), "any"), ((3, 4), "any"), ((3, 4), "any")]),
    "smooth_l1": (lambda L, a, b: L.nn.functional.smooth_l1_loss(a, b), [((3, 4), "any"), ((3, 4), "any")]),
    "smooth_l1_beta_sum": (lambda L, a, b: L.nn.functional.smooth_l1_loss(a, b, reduction="sum", beta=0.5),
                           [((3, 4), "any"), ((3, 4), "any")]),
    "smooth_l1_beta0_none": (lambda L, a, b: L.nn.functional.smooth_l1_loss(a, b, reduction="none", beta=0.0),
                             [((3, 4), "any"), ((3, 4), "any")]),
    "huber": (lambda L, a, b: L.nn.functional.huber_loss(a, b), [((3, 4), "any"), ((3, 4), "any")]),
    "huber_delta_none": (lambda L, a, b: L.nn.functional.huber_loss(a, b, reduction="none", delta=0.7),
                         [((3, 4), "any"), ((3, 4), "any")]),
    "embedding": (lambda L, w: L.nn.functional.embedding(L.tensor([[0, 2, 2], [4, 0, 1]]), w), [((5, 3), "any")]),
    "embedding_padding": (lambda L, w: L.nn.functional.embedding(L.tensor([0, 2, 2, 4, 1]), w, padding_idx=2),
                          [((5, 3), "any")]),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", list(OPS))
def test_matches_torch(name, layout):
    fn, specs = OPS[name]
    arrays = [_values(dom, shape, _rng(name, i)) for i, (shape, dom) in enumerate(specs)]
    check_against_torch(torch, name, fn, arrays, layout)


# Left out: kinks (compared with torch above), and embedding's padding row, whose gradient is 0 by design.
GRADCHECK = [n for n in OPS if n not in ("norm_inf_ties", "norm_zero_input", "embedding_padding")]
# (smooth_l1 / huber: finite differences step across the |d| = beta kink only with probability ~0 on this data)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck(name, layout):
    fn, specs = OPS[name]
    ins = [make(_values(dom, shape, _rng(name, i)), layout, dtype=rt.float64, requires_grad=True)
           for i, (shape, dom) in enumerate(specs)]
    assert rt.autograd.gradcheck(lambda *xs: fn(rt, *xs), ins)


def test_split_and_chunk_sizes_match_torch():
    for n in (0, 1, 5, 6, 7):
        a = np.arange(n, dtype=np.float64)
        for chunks in (1, 2, 3, 4, 8):
            got = [tuple(c.shape) for c in rt.tensor(a).chunk(chunks)]
            assert got == [tuple(c.shape) for c in torch.tensor(a).chunk(chunks)], (n, chunks)
        for size in (1, 2, 3, 10):
            got = [c.tolist() for c in rt.tensor(a).split(size)]
            assert got == [c.tolist() for c in torch.tensor(a).split(size)], (n, size)


def test_split_returns_views():
    x = rt.zeros(4, 2)
    x.split(2)[1].fill_(1.0)
    assert x.tolist() == [[0, 0], [0, 0], [1, 1], [1, 1]]


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 1), False), (-1, False)])
def test_any_all_match_torch(dim, keepdim):
    a = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0], [3.0, -1.0, 0.5]])
    for x in (a, a != 0, a.astype(np.int64)):
        for op in ("any", "all"):
            kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
            got = getattr(rt.tensor(x), op)(**kw)
            ref = getattr(torch.tensor(x), op)(**kw)
            assert got.dtype == rt.bool, op
            assert tuple(got.shape) == tuple(ref.shape) and got.tolist() == ref.tolist(), (op, x.dtype, dim)


def test_prod_int_and_empty_match_torch():
    a = np.array([[2, -3, 4], [1, 0, 5]])
    assert rt.tensor(a).prod().item() == torch.tensor(a).prod().item()
    assert rt.tensor(a).prod(1).tolist() == torch.tensor(a).prod(1).tolist()
    assert rt.tensor(a).prod(1).dtype == rt.int64
    assert rt.zeros(2, 0).prod(1).tolist() == [1.0, 1.0]


def test_new_creation_methods():
    x = rt.zeros(2, dtype=rt.float64)
    assert x.new_zeros(2, 3).dtype == rt.float64 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(3).tolist() == [1.0, 1.0, 1.0]
    full = x.new_full((2,), 7, dtype=rt.int64)
    assert full.dtype == rt.int64 and full.tolist() == [7, 7]
    assert x.new_empty(4, 1).shape == (4, 1) and x.new_empty(4, 1).dtype == rt.float64
    t = x.new_tensor([1, 2], requires_grad=True)
    assert t.dtype == rt.float64 and t.requires_grad and t.is_leaf
    assert rt.tensor([1, 2]).new_ones(2, requires_grad=False).dtype == rt.int64


def test_normal_overloads():
    rt.manual_seed(0)
    mean = rt.full((4000,), 3.0, requires_grad=True)
    std = rt.full((4000,), 0.5, requires_grad=True)
    y = rt.normal(mean, std)
    assert abs(y.mean().item() - 3.0) < 0.05 and abs(y.std().item() - 0.5) < 0.05
    y.sum().backward()  # torch's reparameterised gradients: d/dmean = 1, d/dstd = (y - mean) / std
    np.testing.assert_allclose(mean.grad.numpy(), 1.0)
    np.testing.assert_allclose(std.grad.numpy(), ((y.detach() - 3.0) / 0.5).numpy(), rtol=1e-5, atol=1e-6)
    assert rt.normal(rt.zeros(3, 1), rt.ones(4)).shape == (3, 4)
    assert rt.normal(rt.zeros(2), 2.0).shape == (2,) and rt.normal(1.0, rt.ones(5)).shape == (5,)
    z = rt.normal(2.0, 3.0, size=(20000,))
    assert z.dtype == rt.float32 and abs(z.mean().item() - 2.0) < 0.1 and abs(z.std().item() - 3.0) < 0.1


@pytest.mark.parametrize("call,exc,words", [
    (lambda: rt.mm(rt.ones(3), rt.ones(3, 2)), RuntimeError, ["mm", "self must be a matrix"]),
    (lambda: rt.ones(2, 3).mm(rt.ones(2, 3, 1)), RuntimeError, ["mm", "mat2 must be a matrix"]),
    (lambda: rt.mm(rt.ones(2, 3), rt.ones(4, 5)), RuntimeError, ["mm", "2x3 and 4x5"]),
    (lambda: rt.add(rt.ones(2), rt.ones(2), alpha="x"), TypeError, ["add", "alpha"]),
    (lambda: rt.div(rt.ones(2), 2, rounding_mode="round"), ValueError, ["div", "rounding_mode"]),
    (lambda: rt.ones(2, 3).norm(dim=2), IndexError, ["norm", "out of range"]),
    (lambda: rt.ones(2, 3).norm(-1), ValueError, ["norm", "p must be positive"]),
    (lambda: rt.ones(2, 3).norm("nuc"), NotImplementedError, ["norm", "nuc"]),
    (lambda: rt.tensor([1, 2]).norm(), RuntimeError, ["norm", "floating point"]),
    (lambda: rt.norm(rt.ones(2), out=rt.ones(())), NotImplementedError, ["norm", "out="]),
    (lambda: rt.ones(5).split([2, 2]), RuntimeError, ["split", "sum exactly to 5"]),
    (lambda: rt.ones(5).split(0), RuntimeError, ["split", "split_size"]),
    (lambda: rt.ones(5).split(2, dim=1), IndexError, ["split", "out of range"]),
    (lambda: rt.ones(5).chunk(0), RuntimeError, ["chunk", "greater than 0"]),
    (lambda: rt.tensor(1.0).chunk(2), RuntimeError, ["chunk", "1-dimensional"]),
    (lambda: rt.ones(2, 3).repeat(2), RuntimeError, ["repeat", "can not be smaller"]),
    (lambda: rt.ones(2).repeat(-1), RuntimeError, ["repeat", "negative"]),
    (lambda: rt.ones(2, 3).flip(2), IndexError, ["flip", "out of range"]),
    (lambda: rt.ones(2, 3).flip((0, 0)), RuntimeError, ["flip", "duplicates"]),
    (lambda: rt.ones(2, 3).any(dim=3), IndexError, ["any", "out of range"]),
    (lambda: rt.ones(2, 3).prod(dim=(0, 1)), TypeError, ["prod", "dim must be an int"]),
    (lambda: rt.normal(0.0, 1.0), TypeError, ["normal", "size"]),
    (lambda: rt.normal(rt.zeros(2), -1.0), RuntimeError, ["normal", "std >= 0"]),
    (lambda: rt.normal(rt.zeros(3), rt.ones(4)), RuntimeError, ["normal", "broadcast"]),
    (lambda: rt.normal(rt.zeros(2), rt.ones(2), generator=object()), NotImplementedError, ["normal", "generator"]),
])
def test_bad_input_names_the_op(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"
