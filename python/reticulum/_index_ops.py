"""torch's index-driven tensor ops over the C++ kernels: gather, scatter(_), scatter_add(_), sort, argsort,
topk, cumsum, and the rounding divisions (floor_divide, div's rounding_mode)."""
from collections import namedtuple

from ._C import Tensor
from ._grad_mode import no_grad

# torch.return_types.sort / topk: tuples with named fields
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


def _tensor_arg(t, op, what="input"):
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}(): argument '{what}' must be a Tensor, got {type(t).__name__}")
    return t


def gather(input, dim, index, *, sparse_grad=False):  # noqa: A002
    """out[i][j][k] = input[i][index[i][j][k]][k] for dim=1 (and likewise for other dims); index is int64
    of input's rank, no larger than input outside dim."""
    return _tensor_arg(input, "gather").gather(dim, index)


def _scatter_src(src, value, op):
    if (src is None) == (value is None):
        raise TypeError(f"{op}(): expected exactly one of 'src' (a Tensor or number) and 'value'")
    return src if src is not None else value


def _scatter(self, dim, index, src=None, *, value=None, reduce=None):
    """A copy of self with self[i][index[i][j]] = src[i][j] for dim=1 (src a Tensor or a number); with
    reduce='add' the values are added instead."""
    src = _scatter_src(src, value, "scatter")
    if reduce not in (None, "add"):
        raise NotImplementedError(f"scatter(): reduce={reduce!r} is not supported; use reduce='add' or scatter_add")
    if reduce == "add":
        if not isinstance(src, Tensor):
            src = index.new_full(tuple(index.shape), src, dtype=self.dtype)
        return self._scatter(dim, index, src, True)
    return self._scatter(dim, index, src, False)


def _scatter_add(self, dim, index, src):
    """A copy of self with src[i][j] added at self[i][index[i][j]] for dim=1 (repeated indices accumulate)."""
    return self._scatter(dim, index, _tensor_arg(src, "scatter_add", "src"), True)


def _in_place(self, result, op):
    from ._C import is_grad_enabled
    if self.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{op}: a tensor that requires grad (shape {tuple(self.shape)}) cannot be modified in place "
                           "while grad mode is on; wrap the update in reticulum.no_grad()")
    return self.copy_(result)


def _scatter_(self, dim, index, src=None, *, value=None, reduce=None):
    """In-place scatter (see Tensor.scatter); returns self."""
    with no_grad():
        result = _scatter(self, dim, index, src, value=value, reduce=reduce)
    return _in_place(self, result, "scatter_")


def _scatter_add_(self, dim, index, src):
    """In-place scatter_add; returns self."""
    with no_grad():
        result = _scatter_add(self, dim, index, src)
    return _in_place(self, result, "scatter_add_")


def scatter(input, dim, index, src=None, *, value=None, reduce=None):  # noqa: A002
    return _scatter(_tensor_arg(input, "scatter"), dim, index, src, value=value, reduce=reduce)


def scatter_add(input, dim, index, src):  # noqa: A002
    return _scatter_add(_tensor_arg(input, "scatter_add"), dim, index, src)


def sort(input, dim=-1, descending=False, stable=False):  # noqa: A002
    """(values, indices) sorted along dim; always stable (equal values keep their order), NaN above every number."""
    return SortResult(*_tensor_arg(input, "sort")._sort(dim, descending))


def _sort_method(self, dim=-1, descending=False, stable=False):
    return sort(self, dim, descending, stable)


def argsort(input, dim=-1, descending=False, stable=False):  # noqa: A002
    """The indices that sort input along dim (stable)."""
    return _tensor_arg(input, "argsort")._sort(dim, descending)[1]


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002
    """(values, indices) of the k largest (or smallest) elements along dim, in sorted order."""
    if not isinstance(k, int) or isinstance(k, bool):
        raise TypeError(f"topk(): k must be an int, got {type(k).__name__}")
    return TopkResult(*_tensor_arg(input, "topk")._topk(k, dim, largest))


def cumsum(input, dim, *, dtype=None):  # noqa: A002
    """Inclusive cumulative sum along dim (bool and integer inputs give int64 unless dtype= is given)."""
    return _tensor_arg(input, "cumsum")._cumsum(dim, dtype)


def _cumsum_method(self, dim, dtype=None):
    return self._cumsum(dim, dtype)


def floor_divide(input, other):  # noqa: A002
    """input // other: the quotient rounded toward -inf (zero gradient)."""
    if not isinstance(input, Tensor):
        if not isinstance(input, (int, float)):
            raise TypeError(f"floor_divide(): expected a Tensor or a number as input, got {type(input).__name__}")
        return _tensor_arg(other, "floor_divide", "other").__rfloordiv__(input)
    return input.floor_divide(other)


def div(input, other, *, rounding_mode=None):  # noqa: A002
    """input / other; rounding_mode 'floor' rounds the quotient toward -inf and 'trunc' toward zero (both keep
    integer dtypes and have zero gradient), as torch.div."""
    if not isinstance(input, Tensor):
        from ._creation import tensor
        if not isinstance(other, Tensor):
            raise TypeError(f"div(): expected at least one Tensor argument, got {type(input).__name__} and "
                            f"{type(other).__name__}")
        input = tensor(input)  # noqa: A001
    return _div_method(input, other, rounding_mode=rounding_mode)


def _div_method(self, other, *, rounding_mode=None):
    if rounding_mode is None:
        return self._true_divide(other)
    if rounding_mode == "floor":
        return self.floor_divide(other)
    if rounding_mode == "trunc":
        return self._trunc_divide(other)
    raise ValueError(f"div(): expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}")


for _name, _fn in {
    "scatter": _scatter, "scatter_": _scatter_, "scatter_add": _scatter_add, "scatter_add_": _scatter_add_,
    "sort": _sort_method, "argsort": lambda self, dim=-1, descending=False, stable=False: argsort(self, dim, descending),
    "topk": lambda self, k, dim=-1, largest=True, sorted=True: topk(self, k, dim, largest, sorted),  # noqa: A006
    "cumsum": _cumsum_method, "div": _div_method, "divide": _div_method,
}.items():
    setattr(Tensor, _name, _fn)
