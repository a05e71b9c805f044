"""torch's legacy type names (rt.FloatTensor ...), Tensor.type(), rt.Tensor(data), format() of tensors and
rt.inference_mode, compared with what torch does for the same calls."""
import numpy as np
import pytest

import reticulum as rt

torch = pytest.importorskip("torch")

TYPES = [("FloatTensor", rt.float32, np.float32), ("DoubleTensor", rt.float64, np.float64),
         ("LongTensor", rt.int64, np.int64), ("BoolTensor", rt.bool, np.bool_)]


@pytest.mark.parametrize("name,dt,npdt", TYPES)
def test_type_names_construct_like_torch(name, dt, npdt):
    ours, theirs = getattr(rt, name), getattr(torch, name)
    for args in [([1, 0, 2],), ([[1.5, 0.0], [2.0, 3.0]],), (np.array([3, 0]),)]:
        got, ref = ours(*args), theirs(*args)
        assert got.dtype == dt and tuple(got.shape) == tuple(ref.shape), (name, args)
        assert got.tolist() == ref.tolist(), (name, args)
    assert tuple(ours(2, 3).shape) == (2, 3) and ours(2, 3).dtype == dt
    assert tuple(ours().shape) == (0,) and ours().dtype == dt


@pytest.mark.parametrize("name,dt,npdt", TYPES)
def test_isinstance_checks_the_dtype(name, dt, npdt):
    cls = getattr(rt, name)
    for other_name, other_dt, _ in TYPES:
        x = rt.zeros(2, dtype=other_dt)
        assert isinstance(x, cls) == (other_dt == dt), (name, other_name)
        assert isinstance(x, rt.Tensor)
    assert not isinstance([1.0], cls) and not isinstance(np.zeros(2, dtype=npdt), cls)


def test_type_method():
    x = rt.tensor([1.5, 2.0])
    assert x.type() == "reticulum.FloatTensor"
    assert rt.tensor([1, 2]).type() == "reticulum.LongTensor"
    assert rt.tensor([True]).type() == "reticulum.BoolTensor"
    assert x.double().type() == "reticulum.DoubleTensor"
    for arg in (rt.float64, rt.DoubleTensor, "torch.DoubleTensor", "reticulum.DoubleTensor"):
        y = x.type(arg)
        assert y.dtype == rt.float64 and y.tolist() == [1.5, 2.0], arg
    assert x.type(rt.LongTensor).tolist() == [1, 2]
    assert x.type(rt.float32) is x  # torch returns self when the type already matches


def test_tensor_constructor_like_torch():
    for args in [([1, 2, 3],), ([[1.5], [2.5]],), ((4, 5),)]:
        got, ref = rt.Tensor(*args), torch.Tensor(*args)
        assert got.dtype == rt.float32 and got.tolist() == ref.tolist(), args
    assert tuple(rt.Tensor(2, 3).shape) == (2, 3) and rt.Tensor(2, 3).dtype == rt.float32
    assert tuple(rt.Tensor().shape) == (0,)
    src = rt.ones(2)
    alias = rt.Tensor(src)  # an alias of the data, as torch.Tensor(tensor)
    src.fill_(5.0)
    assert alias.tolist() == [5.0, 5.0]
    p = rt.nn.Parameter(rt.zeros(3))  # the subclass path is unchanged
    assert p.requires_grad and p.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("call,exc,words", [
    (lambda: rt.FloatTensor(2.5), TypeError, ["FloatTensor", "single number"]),
    (lambda: rt.LongTensor(2, "a"), TypeError, ["LongTensor", "sizes"]),
    (lambda: rt.LongTensor(rt.ones(2)), TypeError, ["LongTensor", "float32"]),
    (lambda: rt.ones(2).type("torch.HalfTensor"), ValueError, ["type", "HalfTensor"]),
    (lambda: rt.ones(2).type(3), TypeError, ["type", "int"]),
    (lambda: rt.Tensor(1.5), TypeError, ["Tensor", "single number"]),
    (lambda: format(rt.ones(2), ".2f"), TypeError, ["Tensor.__format__", "(2,)"]),
])
def test_bad_input_names_the_op(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


def test_format_like_torch():
    for value in (3.14159, -0.5, 2.0):
        for spec in (".2f", ".3e", "8.1f", ""):
            assert format(rt.tensor(value), spec) == format(torch.tensor(value), spec), (value, spec)
    assert f"{rt.tensor(7):>4}" == f"{torch.tensor(7):>4}"
    loss = rt.tensor([1.0, 2.0]).mean()
    assert f"loss {loss:.4f}" == "loss 1.5000"
    t = rt.tensor([1.0, 2.5])
    assert "{}".format(t) == str(t) and f"{t}" == str(t)


def _grad_on():
    return rt.is_grad_enabled()


def test_inference_mode():
    x = rt.ones(2, requires_grad=True)
    with rt.inference_mode():
        assert not rt.is_grad_enabled()
        assert not (x * 2).requires_grad
    assert rt.is_grad_enabled()
    with rt.inference_mode(False):
        assert rt.is_grad_enabled()
    with rt.no_grad(), rt.inference_mode(False):  # mode=False leaves the grad mode alone, as torch
        assert not rt.is_grad_enabled()
    assert rt.inference_mode(_grad_on)() is False  # bare decorator
    assert rt.inference_mode()(_grad_on)() is False
    assert rt.inference_mode(mode=False)(_grad_on)() is True
    assert rt.inference_mode(_grad_on).__name__ == "_grad_on"
    with pytest.raises(ValueError), rt.inference_mode():
        raise ValueError("restored on error")
    assert rt.is_grad_enabled()
