"""torch's out= keyword: a function's result written into a tensor the caller gives."""
import functools
import warnings

from ._C import Tensor, dtype as _dtype, is_grad_enabled

_CATEGORY = {_dtype.bool: 0, _dtype.int64: 1, _dtype.float32: 2, _dtype.float64: 2}


def write_out(out, result, op):
    """Writes `result` into `out` and returns `out`, with torch's rules: no autograd through out=, no cast to a
    lower dtype category (float into int64, int64 into bool), and an out of another shape resized (with torch's
    warning when it was not empty)."""
    if not isinstance(out, Tensor):
        raise TypeError(f"{op}(): argument 'out' must be a Tensor, got {type(out).__name__}")
    if is_grad_enabled() and (result.requires_grad or out.requires_grad):
        raise RuntimeError(f"{op}(): functions with out=... arguments don't support automatic differentiation, "
                           "but one of the arguments requires grad")
    if _CATEGORY[result.dtype] > _CATEGORY[out.dtype]:
        raise RuntimeError(f"{op}(): result type {result.dtype} can't be cast to the desired output type {out.dtype}")
    if tuple(out.shape) == tuple(result.shape):
        return out.copy_(result)
    if out.numel():
        warnings.warn(f"{op}(): an output with one or more elements was resized since it had shape {tuple(out.shape)}, "
                      f"which does not match the required output shape {tuple(result.shape)}", UserWarning, stacklevel=3)
    out.data = result._to_dtype(out.dtype)
    return out


def accepts_out(fn):
    """`fn` with an `out=` keyword."""
    @functools.wraps(fn)
    def with_out(*args, out=None, **kwargs):
        result = fn(*args, **kwargs)
        return result if out is None else write_out(out, result, fn.__name__)
    return with_out
