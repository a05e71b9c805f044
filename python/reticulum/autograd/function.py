"""User-defined differentiable ops in Python, as torch.autograd.Function:

    class Cube(rt.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3
        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x ** 2

    y = Cube.apply(x)
"""
from .. import _C
from .._C import Tensor
from .._grad_mode import no_grad


class FunctionCtx:
    """What forward hands to backward. Saved tensors are stored without history so the
    graph never holds a reference cycle."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()

    def save_for_backward(self, *tensors):
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward: expected tensors or None, got {type(t).__name__}")
        self._saved = tuple(None if t is None else t.detach() for t in tensors)

    @property
    def saved_tensors(self):
        return self._saved


class Function:
    """Subclass with static forward(ctx, *args) and backward(ctx, grad_output); call .apply(*args)."""

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError("subclasses of reticulum.autograd.Function must define forward")

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError("subclasses of reticulum.autograd.Function must define backward")

    @classmethod
    def apply(cls, *args):
        is_tensor = tuple(isinstance(a, Tensor) for a in args)
        ctx = FunctionCtx(tuple(t and a.requires_grad for t, a in zip(is_tensor, args)))
        with no_grad():
            out = cls.forward(ctx, *args)
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return a single Tensor, got {type(out).__name__}")
        inputs = [a for a in args if isinstance(a, Tensor)]
        if not (_C.is_grad_enabled() and any(t.requires_grad for t in inputs)):
            return out
        n_args = len(args)

        def backward(grad):
            grads = cls.backward(ctx, grad)
            if not isinstance(grads, tuple):
                grads = (grads,)
            if len(grads) != n_args:
                raise RuntimeError(f"{cls.__name__}.backward returned {len(grads)} gradients but forward took {n_args} arguments")
            return tuple(g for g, t in zip(grads, is_tensor) if t)

        return _C._attach_custom(out.detach(), inputs, backward, cls.__name__ + "Backward")
