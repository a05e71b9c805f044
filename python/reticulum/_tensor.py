"""Python-side Tensor methods: indexing, repr, conversions and conveniences that
are thin compositions of C++ ops (the ops themselves live in the C++ core)."""
import builtins
from collections import namedtuple

from . import _C
from ._C import Tensor, dtype as _dtype
from ._numpy import load_numpy as _np

Size = tuple  # shapes are plain tuples; the alias keeps torch.Size-style code working

_MinMax = namedtuple("_MinMax", ["values", "indices"])


# ---------------------------------------------------------------- indexing

def _as_index_tensor(obj, device):
    """An index given as list/ndarray/tensor, as an int64 or bool tensor; one built here is made on `device`
    (the indexed tensor's), as is a CPU index tensor given for a tensor on another device (PyTorch allows it)."""
    if isinstance(obj, Tensor):
        t = obj if obj.device == device or obj.device.type != "cpu" else obj._to_device(device)
    else:
        np = _np()
        arr = np.asarray(obj)
        if arr.dtype.kind not in "iub":
            raise IndexError(f"tensors used as indices must be int64 or bool, got a sequence of {arr.dtype}")
        arr = arr.astype(bool if arr.dtype.kind == "b" else "int64")
        t = _C._from_numpy_copy(np.asarray(arr, order="C"))._to_device(device)
    if t.dtype not in (_dtype.int64, _dtype.bool):
        raise IndexError(f"tensors used as indices must be int64 or bool, got {t.dtype}")
    return t


def _parse_key(t, key):
    """Applies ints, slices, None and Ellipsis as views; returns (view, [(dim, index_tensor), ...])."""
    if not isinstance(key, tuple):
        key = (key,)
    items = []
    for k in key:
        if isinstance(k, (Tensor, list, range)) or type(k).__name__ == "ndarray":
            k = _as_index_tensor(k, t.device)
        items.append(k)
    consumed = builtins.sum(1 if not (k is None or k is Ellipsis) and not (isinstance(k, Tensor) and k.dtype == _dtype.bool)
                            else (k.ndim if isinstance(k, Tensor) else 0) for k in items)
    if builtins.sum(1 for k in items if k is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > t.ndim:
        raise IndexError(f"too many indices for tensor of dimension {t.ndim} (got {consumed})")
    out, dim, adv = t, 0, []
    for k in items:
        if k is None:
            out = out.unsqueeze(dim)
            dim += 1
        elif k is Ellipsis:
            dim += t.ndim - consumed
        elif isinstance(k, builtins.bool):
            raise IndexError("indexing with a Python bool is not supported")
        elif isinstance(k, int) or (hasattr(k, "__index__") and not isinstance(k, Tensor)):
            i, n = int(k), (out.shape[dim] if dim < out.ndim else 0)
            if not -n <= i < n:  # checked here too so that ints beyond 64 bits get the same IndexError
                raise IndexError(f"index {i} is out of bounds for dimension {dim} with size {n}")
            out = out.select(dim, i)
        elif isinstance(k, slice):
            step = 1 if k.step is None else int(k.step)
            if step <= 0:
                raise ValueError("slice: step must be positive (negative steps are not supported, as in PyTorch)")
            n = out.shape[dim]
            start = 0 if k.start is None else int(k.start)
            stop = n if k.stop is None else int(k.stop)
            # Bounds past [-n, n] (and steps past n) slice the same; clamping keeps Python ints of
            # any size within int64.
            start, stop, step = builtins.max(-n, builtins.min(start, n)), builtins.max(-n, builtins.min(stop, n)), builtins.min(step, builtins.max(n, 1))
            out = out._slice(dim, start, stop, step)
            dim += 1
        elif isinstance(k, Tensor):
            if k.dtype == _dtype.bool and k.ndim == 0:  # x[True] / x[False]: a new axis of length 1 / 0, as PyTorch
                out = out.unsqueeze(dim)
                if not k.item():
                    out = out._slice(dim, 0, 0, 1)
                dim += 1
            elif k.dtype == _dtype.bool:
                if tuple(k.shape) != tuple(out.shape[dim:dim + k.ndim]):
                    raise IndexError(f"the shape of the mask {tuple(k.shape)} does not match the shape of the indexed "
                                     f"tensor {tuple(out.shape)} at dimension {dim}")
                np = _np()
                for j, nz in enumerate(np.nonzero(k.detach().cpu().numpy())):
                    adv.append((dim + j, _C._from_numpy_copy(np.asarray(nz, dtype="int64", order="C"))._to_device(t.device)))
                dim += k.ndim
            else:
                adv.append((dim, k))
                dim += 1
        else:
            raise IndexError(f"only integers, slices, None, ..., and int64/bool tensors are valid indices (got {type(k).__name__})")
    return out, adv


def _advanced(t, adv):
    """Gathers with one or more integer index tensors (NumPy rules for adjacent indices)."""
    if len(adv) == 1:
        d, idx = adv[0]
        out = t.index_select(d, idx.reshape(-1))
        return out.reshape(*t.shape[:d], *idx.shape, *t.shape[d + 1:])
    dims = [d for d, _ in adv]
    idxs = _broadcast_index_tensors([i for _, i in adv])
    rest = [d for d in range(t.ndim) if d not in dims]
    moved = t.permute(*dims, *rest)
    lead = moved.shape[:len(dims)]
    flat = moved.reshape(-1, *moved.shape[len(dims):])
    linear = None
    for j, i in enumerate(idxs):
        n = lead[j]
        i = _C.where(i < 0, i + n, i)
        if bool((i < 0).sum().item()) or bool((i >= n).sum().item()):
            raise IndexError(f"index out of range for dimension {dims[j]} with size {n}")
        linear = i if linear is None else linear * n + i
    out = flat.index_select(0, linear.reshape(-1)).reshape(*linear.shape, *flat.shape[1:])
    adjacent = dims == list(range(dims[0], dims[0] + len(dims)))
    if adjacent and dims[0] > 0:  # NumPy keeps adjacent advanced dims in place
        nb = linear.ndim
        order = list(range(nb, nb + dims[0])) + list(range(nb)) + list(range(nb + dims[0], out.ndim))
        out = out.permute(*order)
    return out


def _broadcast_index_tensors(ts):
    """The index tensors of x[i, j] expanded to their common shape; an IndexError (as NumPy and PyTorch
    raise) when they do not broadcast. The rule itself is the C++ one every elementwise op uses."""
    try:
        shape = _C._broadcast_shapes([tuple(t.shape) for t in ts], "index")
    except ValueError as e:
        raise IndexError(f"shape mismatch: indexing tensors could not be broadcast together ({e})") from None
    return [t.expand(*shape) for t in ts]


def _getitem(self, key):
    out, adv = _parse_key(self, key)
    return _advanced(out, adv) if adv else out


def _setitem(self, key, value):
    from ._C import is_grad_enabled
    if self.requires_grad and is_grad_enabled():
        raise RuntimeError(f"setitem: a tensor that requires grad (shape {tuple(self.shape)}) cannot be modified in place "
                           "while grad mode is on; wrap the update in reticulum.no_grad()")
    from ._grad_mode import no_grad
    with no_grad():
        src = value if isinstance(value, Tensor) else _scalar(value, self)
        if isinstance(key, Tensor) and key.dtype == _dtype.bool and src.numel() == 1:  # x[mask] = v
            if tuple(key.shape) != tuple(self.shape[:key.ndim]):
                raise IndexError(f"setitem: mask of shape {tuple(key.shape)} does not match the tensor's shape {tuple(self.shape)}")
            mask = key.reshape(*key.shape, *([1] * (self.ndim - key.ndim)))
            self.copy_(_C.where(mask, src.reshape(()), self))
            return
        if isinstance(key, Tensor) and key.dtype == _dtype.bool and key.ndim > 1:  # x[mask] = values, mask over several dims
            # One index over the flattened masked dims (a copy: self need not be viewable that way), then write back.
            if tuple(key.shape) != tuple(self.shape[:key.ndim]):
                raise IndexError(f"setitem: mask of shape {tuple(key.shape)} does not match the tensor's shape {tuple(self.shape)}")
            flat = self.reshape(-1, *self.shape[key.ndim:]).clone()
            flat[key.reshape(-1)] = src
            self.copy_(flat.reshape(*self.shape))
            return
        view, adv = _parse_key(self, key)
        if not adv:
            view.copy_(src)
            return
        if len(adv) == 1:
            d, idx = adv[0]
            vals = src if src.ndim == 0 else _reshape_values(src, idx, view, d)
            view._index_copy_(d, idx.reshape(-1), vals)
            return
        _setitem_advanced(view, adv, src)


def _values_for(src, want):
    """`src` broadcast to the indexing result's shape `want` (as itself when it already has it); a shape
    that does not broadcast there is PyTorch's setitem RuntimeError."""
    if tuple(src.shape) == want:
        return src
    try:
        if _C._broadcast_shapes([tuple(src.shape), want], "setitem") != want:
            raise ValueError
    except ValueError:
        raise RuntimeError(f"setitem: shape mismatch: value tensor of shape {tuple(src.shape)} cannot be broadcast to "
                           f"indexing result of shape {want}") from None
    return src.expand(*want)


def _setitem_advanced(view, adv, src):
    """x[i0, i1, ...] = src with several index tensors: the positions they address in a contiguous copy of
    `view` become one flat index, written by scatter (repeated positions: the last value wins), then copied back."""
    want = tuple(_advanced(view, adv).shape)  # the shape the values must broadcast to (and the index checks)
    vals = _values_for(src, want)
    position = _C.arange(0, view.numel(), 1, _dtype.int64).reshape(*view.shape)
    flat_pos = _advanced(position, adv).reshape(-1)
    flat = view.contiguous().reshape(-1).scatter(0, flat_pos, vals._to_dtype(view.dtype).reshape(-1))
    view.copy_(flat.reshape(*view.shape))


def _reshape_values(src, idx, view, d):
    """Values for x[..., idx, ...] = src, laid out with idx flattened."""
    want = (*view.shape[:d], *idx.shape, *view.shape[d + 1:])
    full = _values_for(src, want)
    return full.reshape(*view.shape[:d], -1, *view.shape[d + 1:])


def _scalar(value, like):
    np = _np()
    if isinstance(value, (list, tuple)) or isinstance(value, np.ndarray):
        from ._creation import tensor
        return tensor(value, dtype=like.dtype, device=like.device)
    return _C.full((), float(value), like.dtype, like.device)


# ---------------------------------------------------------------- printing & conversion

def _float_formatter(a):
    """PyTorch's print rules: integral values as '1.', else 4 decimals, scientific
    notation when magnitudes span > 1000x, exceed 1e8 or go below 1e-4."""
    np = _np()
    finite = np.abs(a[np.isfinite(a)])
    nz = finite[finite != 0]
    if nz.size and (nz.max() / nz.min() > 1000 or nz.max() > 1e8 or nz.min() < 1e-4):
        return lambda v: f"{v:.4e}"
    if finite.size == 0 or np.all(finite == np.round(finite)):
        width = max((len(f"{v:.0f}") for v in a.ravel() if np.isfinite(v)), default=1)
        return lambda v: (f"{v:.0f}." if np.isfinite(v) else str(v)).rjust(width + 1)
    width = max((len(f"{v:.4f}") for v in a.ravel() if np.isfinite(v)), default=1)
    return lambda v: f"{v:.4f}".rjust(width)


def _repr(self):
    np = _np()
    a = self.detach().cpu().numpy()
    if self.ndim == 0:
        body = _float_formatter(a.reshape(1))(a.item()).strip() if self.dtype.is_floating_point else str(a.item())
    else:
        opts = dict(separator=", ", prefix="tensor(", threshold=1000, edgeitems=3)
        if self.dtype.is_floating_point:
            opts["formatter"] = {"float_kind": _float_formatter(a)}
        elif self.dtype == _dtype.bool:
            width = 5 if not a.all() else 4  # PyTorch pads True to the width of False
            opts["formatter"] = {"bool": lambda b: ("True" if b else "False").rjust(width)}
        body = np.array2string(a, **opts)
    extras = []
    if self.device.type != "cpu":
        extras.append(f"device='{self.device}'")
    if self.dtype not in (_dtype.float32, _dtype.int64, _dtype.bool):
        extras.append(f"dtype={self.dtype!r}")
    if self.numel() == 0 and self.ndim != 1:
        extras.insert(0, f"size={tuple(self.shape)}")
    if self.grad_fn is not None:
        extras.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def _tolist(self):
    return self.detach().cpu().numpy().tolist()


def _len(self):
    if self.ndim == 0:
        raise TypeError("len() of a 0-d tensor")
    return self.shape[0]


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return (self.select(0, i) for i in range(self.shape[0]))


def _bool(self):
    if self.numel() != 1:
        raise RuntimeError(f"Boolean value of Tensor with {self.numel()} values is ambiguous")
    return builtins.bool(self.item())


def _index(self):
    if self.dtype not in (_dtype.int64, _dtype.bool) or self.numel() != 1:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return int(self.item())


def _array(self, dtype=None, copy=None):
    a = self.detach().numpy()
    return a.astype(dtype) if dtype is not None else a


def _to(self, *args, **kwargs):
    """to(dtype), to(device), to(other_tensor), to(device, dtype): self when nothing changes, as PyTorch."""
    target, device = None, None
    for a in list(args) + [kwargs.get("dtype"), kwargs.get("device")]:
        if a is None:
            continue
        if isinstance(a, _dtype):
            target = a
        elif isinstance(a, Tensor):
            target, device = a.dtype, a.device
        else:
            device = _C._checked_device(a if isinstance(a, _C.device) else _C.device(str(a)), "to")
    out = self if device is None else self._to_device(device)
    return out if target is None or target == out.dtype else out._to_dtype(target)


def _size(self, dim=None):
    if dim is None:
        return tuple(self.shape)
    if not -self.ndim <= dim < max(self.ndim, 1):
        raise IndexError(f"size: dimension out of range (expected to be in range of [{-self.ndim}, {self.ndim - 1}], but got {dim})")
    return self.shape[dim]


def _max(self, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return _C.maximum(self, dim)
    if dim is None:
        return self._max_all()
    return _MinMax(*self._max_dim(dim, keepdim))


def _min(self, dim=None, keepdim=False):
    if isinstance(dim, Tensor):
        return _C.minimum(self, dim)
    if dim is None:
        return self._min_all()
    return _MinMax(*self._min_dim(dim, keepdim))


def _std(self, dim=None, unbiased=None, *, correction=None, keepdim=False):
    return self.var(dim, unbiased, correction=correction, keepdim=keepdim).sqrt()


def _masked_fill(self, mask, value):
    v = value if isinstance(value, Tensor) else _C.full((), float(value), self.dtype, self.device)
    return _C.where(mask, v, self)


def _type_as(self, other):
    return self._to_dtype(other.dtype)


def _cpu(self):
    return self._to_device(_C.device("cpu"))


def _cuda(self, device=None):
    return self.to("cuda" if device is None else device if not isinstance(device, int) else f"cuda:{device}")


def _leaky_relu(self, negative_slope=0.01):
    return _C.leaky_relu(self, negative_slope)


for _name, _fn in {
    "__getitem__": _getitem, "__setitem__": _setitem, "__repr__": _repr, "__str__": _repr,
    "tolist": _tolist, "__len__": _len, "__iter__": _iter, "__bool__": _bool, "__float__": lambda s: float(s.item()),
    "__int__": lambda s: int(s.item()), "__index__": _index, "__array__": _array, "to": _to, "size": _size,
    "max": _max, "min": _min, "std": _std, "masked_fill": _masked_fill, "type_as": _type_as,
    "cpu": _cpu, "cuda": _cuda, "leaky_relu": _leaky_relu,
    "__array_priority__": 1000,
}.items():
    setattr(Tensor, _name, _fn)

_dtype.__repr__ = _dtype.__str__ = lambda self: f"reticulum.{self.name}"
