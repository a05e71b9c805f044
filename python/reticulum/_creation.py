"""Tensor creation with torch's signatures: rt.zeros(2, 3), rt.zeros((2, 3), dtype=rt.float64), ..."""
import builtins

from . import _C
from ._C import Tensor, dtype as _dtype
from ._numpy import load_numpy as _np, numpy_dtype

_DEFAULT = _dtype.float32
_CPU = _C.device("cpu")


def _size(size, name):
    if len(size) == 1 and not isinstance(size[0], int):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, int) and not hasattr(s, "__index__"):
            raise TypeError(f"{name}(): size must be integers, got {type(s).__name__}")
    return tuple(int(s) for s in size)


def _check_device(device, name):
    """The device to create on (the CPU when None); one this build or process lacks raises RuntimeError."""
    if device is None:
        return _CPU
    return _C._checked_device(device if isinstance(device, _C.device) else _C.device(str(device)), name)


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_dtype(arr, from_numpy_array):
    k = arr.dtype.kind
    if k == "b":
        return _dtype.bool
    if k in "iu":
        return _dtype.int64
    if k == "f":
        return _dtype.float64 if (from_numpy_array and arr.dtype.itemsize == 8) else _DEFAULT
    raise TypeError(f"tensor(): can't convert data of NumPy dtype {arr.dtype} to a tensor")


def tensor(data, dtype=None, device=None, requires_grad=False):
    """Copies data (nested lists, scalars, NumPy arrays, tensors) into a new leaf tensor."""
    dev = _check_device(device, "tensor")
    if isinstance(data, Tensor):
        t = data.detach().clone()
        if dtype is not None:
            t = t._to_dtype(dtype)
        return _finish(t if device is None else t._to_device(dev), requires_grad)
    np = _np()
    is_array = isinstance(data, np.ndarray)
    if not is_array and isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _flatten_first(data)):
        data = _nested_tensors_to_lists(data)
    try:
        arr = np.asarray(data)
    except ValueError as e:
        raise ValueError(f"tensor(): data has an inhomogeneous (ragged) shape: {e}") from None
    if arr.dtype == object:
        raise TypeError(f"tensor(): can't convert {type(data).__name__} with non-numeric elements to a tensor")
    dt = dtype if dtype is not None else _infer_dtype(arr, is_array)
    if dt == _dtype.int64 and arr.dtype.kind == "f" and arr.size and not (
            np.isfinite(arr).all() and arr.min() >= -2.0**63 and arr.max() < 2.0**63):
        raise RuntimeError("tensor(): a value cannot be converted to type int64 without overflow (NaN, inf or beyond 2**63)")
    arr = np.asarray(arr, dtype=numpy_dtype(dt), order="C")
    return _finish(_C._from_numpy_copy(arr)._to_device(dev), requires_grad)


def _flatten_first(data):
    while isinstance(data, (list, tuple)) and data:
        yield data[0]
        data = data[0]


def _nested_tensors_to_lists(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, (list, tuple)):
        return [_nested_tensors_to_lists(x) for x in data]
    return data


def as_tensor(data, dtype=None, device=None):
    """Like tensor(), but returns `data` itself when it already is a tensor of that dtype, and shares
    a NumPy array's memory as from_numpy() does: an array that is read-only, misaligned or has
    elements sharing memory (np.broadcast_to) is copied instead, with a UserWarning."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype) and (device is None or data.device == _check_device(device, "as_tensor")):
        return data
    np = _np()
    if (isinstance(data, np.ndarray) and device is None and dtype is None and data.dtype.kind in "fib"
            and data.dtype.itemsize in (1, 4, 8) and data.dtype != np.int32):
        try:
            return _C.from_numpy(data)
        except (TypeError, ValueError):
            pass
    return tensor(data, dtype=dtype, device=device)


def zeros(*size, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "zeros")
    return _finish(_C.full(_size(size, "zeros"), 0.0, dtype or _DEFAULT, dev), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "ones")
    return _finish(_C.full(_size(size, "ones"), 1.0, dtype or _DEFAULT, dev), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "full")
    if dtype is None:
        dtype = _dtype.bool if isinstance(fill_value, builtins.bool) else _dtype.int64 if isinstance(fill_value, int) else _DEFAULT
    return _finish(_C.full(_size((size,), "full"), float(fill_value), dtype, dev), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "empty")
    return _finish(_C.empty(_size(size, "empty"), dtype or _DEFAULT, dev), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = _dtype.int64 if all(isinstance(v, int) for v in (start, end, step)) else _DEFAULT
    return _finish(_C.arange(float(start), float(end), float(step), dtype, dev), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "linspace")
    return _finish(_C.linspace(float(start), float(end), int(steps), dtype or _DEFAULT, dev), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "eye")
    return _finish(_C.eye(int(n), int(n if m is None else m), dtype or _DEFAULT, dev), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "rand")
    return _finish(_C.rand(_size(size, "rand"), dtype or _DEFAULT, dev), requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False):
    dev = _check_device(device, "randn")
    return _finish(_C.randn(_size(size, "randn"), dtype or _DEFAULT, dev), requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None, requires_grad=False):
    """randint(high, size) or randint(low, high, size), as torch."""
    dev = _check_device(device, "randint")
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint(): missing the 'size' argument")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    return _finish(_C.randint(int(low), int(high), _size((size,), "randint"), dtype or _dtype.int64, dev), requires_grad)


def _like(t, dtype):
    """Shape, dtype and device of a *_like result: t's, unless dtype is given."""
    return t.shape, (dtype if dtype is not None else t.dtype), t.device


def zeros_like(t, dtype=None, requires_grad=False):
    s, d, dev = _like(t, dtype)
    return _finish(_C.full(s, 0.0, d, dev), requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    s, d, dev = _like(t, dtype)
    return _finish(_C.full(s, 1.0, d, dev), requires_grad)


def full_like(t, fill_value, dtype=None, requires_grad=False):
    s, d, dev = _like(t, dtype)
    return _finish(_C.full(s, float(fill_value), d, dev), requires_grad)


def empty_like(t, dtype=None, requires_grad=False):
    s, d, dev = _like(t, dtype)
    return _finish(_C.empty(s, d, dev), requires_grad)


def rand_like(t, dtype=None, requires_grad=False):
    s, d, dev = _like(t, dtype)
    return _finish(_C.rand(s, d, dev), requires_grad)


def randn_like(t, dtype=None, requires_grad=False):
    s, d, dev = _like(t, dtype)
    return _finish(_C.randn(s, d, dev), requires_grad)
