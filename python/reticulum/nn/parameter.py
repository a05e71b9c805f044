"""nn.Parameter: a Tensor subclass that Module attribute assignment registers as a parameter."""
from .. import _C
from .._C import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    r"""A Tensor that is a module parameter, as ``torch.nn.Parameter``.

    ``Parameter(data, requires_grad=True)`` makes a new leaf that shares ``data``'s storage (an alias,
    like torch), with ``requires_grad`` set. Assigning a Parameter as a Module attribute registers it, so it
    shows up in ``parameters()`` and ``state_dict()``.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C.empty((0,), _C.dtype.float32)
        elif not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, got {type(data).__name__}")
        super().__init__(data)
        self.requires_grad_(bool(requires_grad))

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.detach().clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, proto):
        # Pickles as (class, (data, requires_grad)); needs a picklable Tensor for `data`.
        return (type(self), (self.detach(), self.requires_grad))
