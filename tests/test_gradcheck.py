"""rt.autograd.gradcheck itself: it passes where only some inputs require grad and for several outputs, fails
for a wrong backward (alone or inside a graph), and refuses non-float64 inputs. The op records' gradchecks
(test_ops.py) rely on it failing when it should."""
import numpy as np
import pytest

import reticulum as rt
from helpers import make, rng, values

F64 = rt.float64


def test_gradcheck_only_some_inputs_require_grad():
    r = rng("partial")
    a = make(values("any", (3, 4), F64, r), dtype=F64, requires_grad=True)
    b = make(values("any", (4, 2), F64, r), dtype=F64)
    assert rt.autograd.gradcheck(lambda x, y: x @ y, [a, b])
    assert b.grad is None


def test_gradcheck_multiple_outputs():
    r = rng("multi")
    a = make(values("distinct", (3, 4), F64, r), dtype=F64, requires_grad=True)
    assert rt.autograd.gradcheck(lambda x: (x.max(1).values, x.softmax(0), x.sum()), [a])


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
    x = make(values("nonzero", (2, 3), F64, rng("wrong")), dtype=F64, requires_grad=True)
    with pytest.raises(rt.autograd.GradcheckError):
        rt.autograd.gradcheck(_SquareWrongBackward.apply, [x])
    assert rt.autograd.gradcheck(_SquareWrongBackward.apply, [x], raise_exception=False) is False
    assert rt.autograd.gradcheck(_SquareRightBackward.apply, [x])


def test_gradcheck_fails_for_wrong_backward_inside_a_graph():
    x = make(values("nonzero", (3,), F64, rng("wrong2")), dtype=F64, requires_grad=True)
    with pytest.raises(rt.autograd.GradcheckError):
        rt.autograd.gradcheck(lambda t: _SquareWrongBackward.apply(t.exp()).sum(), [x])


def test_gradcheck_rejects_non_float64_inputs():
    x = rt.randn(3, requires_grad=True)
    with pytest.raises(ValueError):
        rt.autograd.gradcheck(lambda t: t * 2, [x])


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
