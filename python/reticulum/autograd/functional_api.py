"""torch.autograd.backward and torch.autograd.grad."""
from .. import _C
from .._C import Tensor


def _as_tuple(x, name):
    if isinstance(x, Tensor):
        return (x,)
    if isinstance(x, (list, tuple)):
        return tuple(x)
    raise TypeError(f"{name}: expected a Tensor or a sequence of Tensors, got {type(x).__name__}")


def _grads_for(tensors, grads, name, what):
    if grads is None:
        return (None,) * len(tensors)
    grads = _as_tuple(grads, name) if not isinstance(grads, Tensor) else (grads,)
    if len(grads) != len(tensors):
        raise RuntimeError(f"{name}: got {len(grads)} {what} for {len(tensors)} tensors")
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulates the gradients of several tensors at once into the leaves' .grad (one pass over
    the graph: shared parts run once)."""
    if create_graph:
        raise RuntimeError("backward: create_graph=True (higher-order gradients) is not supported")
    if inputs is not None:
        raise RuntimeError("backward: inputs= is not supported; use autograd.grad to get chosen gradients")
    tensors = _as_tuple(tensors, "backward")
    _C._backward(tensors, _grads_for(tensors, grad_tensors, "backward", "grad_tensors"), bool(retain_graph))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         materialize_grads=False):
    """The gradients of `outputs` with respect to `inputs`, as a tuple; leaves' .grad are left
    alone and only the part of the graph that leads to `inputs` runs. An input the outputs don't
    depend on is an error, or None with allow_unused=True (zeros with materialize_grads=True)."""
    if create_graph:
        raise RuntimeError("grad: create_graph=True (higher-order gradients) is not supported")
    outputs, inputs = _as_tuple(outputs, "grad"), _as_tuple(inputs, "grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("grad: materialize_grads=True needs allow_unused to be True or None")
    res = _C._grad(outputs, _grads_for(outputs, grad_outputs, "grad", "grad_outputs"), inputs, bool(retain_graph),
                   bool(allow_unused))
    if materialize_grads:
        from .._creation import zeros_like
        res = [zeros_like(i) if g is None else g for g, i in zip(res, inputs)]
    return tuple(res)
