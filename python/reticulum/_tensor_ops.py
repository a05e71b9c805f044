"""Tensor methods and top-level functions of torch's API built from the differentiable C++ ops (no element
loops): new_* creation, mm, norm, chunk/split, repeat, flip, tril/triu, any/all, prod, and rt.add/sub/mul/normal."""
import builtins
import math

from . import _C
from ._C import Tensor, dtype as _dtype


def _dim(dim, ndim, op):
    """A dim normalised to [0, ndim) with torch's IndexError when out of range (0-d tensors take -1 and 0)."""
    n = builtins.max(ndim, 1)
    if not isinstance(dim, int) or isinstance(dim, builtins.bool):
        raise TypeError(f"{op}(): dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(f"{op}(): dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


# ---------------------------------------------------------------- new_* creation

def _new_creator(fill_name):
    def new(self, *size, dtype=None, device=None, requires_grad=False):
        from . import _creation
        make = getattr(_creation, fill_name)
        return make(*size, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)
    new.__name__ = "new_" + fill_name
    new.__doc__ = f"A new {fill_name}() tensor of the given size with this tensor's dtype unless dtype= is given."
    return new


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    from ._creation import full
    return full(size, fill_value, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)


def _new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    from ._creation import tensor
    return tensor(data, dtype=dtype or self.dtype, device=device, requires_grad=requires_grad)


# ---------------------------------------------------------------- linear algebra and arithmetic

def mm(input, mat2):  # noqa: A002
    """The matrix product of two 2-D tensors (no broadcasting, as torch.mm)."""
    if not isinstance(input, Tensor) or not isinstance(mat2, Tensor):
        raise TypeError(f"mm(): expected two Tensors, got {type(input).__name__} and {type(mat2).__name__}")
    if input.ndim != 2:
        raise RuntimeError(f"mm(): self must be a matrix, got a {input.ndim}-D tensor of shape {tuple(input.shape)}")
    if mat2.ndim != 2:
        raise RuntimeError(f"mm(): mat2 must be a matrix, got a {mat2.ndim}-D tensor of shape {tuple(mat2.shape)}")
    if input.shape[1] != mat2.shape[0]:
        raise RuntimeError(f"mm(): mat1 and mat2 shapes cannot be multiplied ({input.shape[0]}x{input.shape[1]} and "
                           f"{mat2.shape[0]}x{mat2.shape[1]})")
    return _C.matmul(input, mat2)


def _scaled(other, alpha, op):
    if alpha == 1:
        return other
    if isinstance(alpha, builtins.bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"{op}(): alpha must be a number, got {type(alpha).__name__}")
    return other * alpha


def add(input, other, *, alpha=1):  # noqa: A002
    """input + alpha * other."""
    if not isinstance(input, Tensor):
        return _as_tensor_like(input, other) + _scaled(other, alpha, "add")
    return input + _scaled(other, alpha, "add")


def sub(input, other, *, alpha=1):  # noqa: A002
    """input - alpha * other."""
    if not isinstance(input, Tensor):
        return _as_tensor_like(input, other) - _scaled(other, alpha, "sub")
    return input - _scaled(other, alpha, "sub")


def mul(input, other):  # noqa: A002
    return input * other if isinstance(input, Tensor) else other * input


def _as_tensor_like(number, tensor):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"expected at least one Tensor argument, got {type(number).__name__} and {type(tensor).__name__}")
    from ._creation import tensor as make
    return make(number)


# ---------------------------------------------------------------- norm

def _as_dims(dim, ndim, op):
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(_dim(d, ndim, op) for d in dims)


def _reduce(t, op, dims, keepdim):
    if dims is None:
        return getattr(t, op)(tuple(range(t.ndim)), True) if keepdim and t.ndim else getattr(t, op)()
    return getattr(t, op)(dims, keepdim)


def _safe_root(s, p):
    """s ** (1/p) with gradient 0 where s == 0 (torch's norm subgradient at the zero vector), not inf * 0 = NaN:
    the root is taken of 1 there, and the result replaced by 0."""
    zero = s == 0
    safe = _C.where(zero, _C.full((), 1.0, s.dtype, s.device), s)
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return _C.where(zero, _C.full((), 0.0, s.dtype, s.device), root)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):  # noqa: A002
    """The vector p-norm over `dim` (all elements by default): p = 2 / 'fro' (default), 1, inf, -inf, 0 or any
    positive number. The gradient at an all-zero slice is 0, as torch."""
    op = "norm"
    if out is not None:
        raise NotImplementedError("norm(): out= is not supported")
    if not isinstance(input, Tensor):
        raise TypeError(f"norm(): expected a Tensor, got {type(input).__name__}")
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"norm(): input dtype should be floating point, but got {input.dtype}")
    x = input if dtype is None else input._to_dtype(dtype)
    dims = _as_dims(dim, x.ndim, op)
    if p == "fro" or p is None:
        p = 2
    if p == "nuc":
        raise NotImplementedError("norm(): p='nuc' (the nuclear norm) is not supported")
    if isinstance(p, str) or isinstance(p, builtins.bool) or not isinstance(p, (int, float)):
        raise ValueError(f"norm(): p must be a number, 'fro' or 'nuc', got {p!r}")
    a = x.abs()
    if p == math.inf:
        return _extreme_norm(a, dims, keepdim, largest=True)
    if p == -math.inf:
        return _extreme_norm(a, dims, keepdim, largest=False)
    if p == 0:  # the count of nonzeros; linked to x through where() so that, as in torch, its gradient is 0
        count = _reduce((a != 0)._to_dtype(x.dtype), "sum", dims, keepdim)
        return _C.where(_C.full((), 1.0, _dtype.bool, a.device), count, _reduce(a, "sum", dims, keepdim))
    if p < 0:
        raise ValueError(f"norm(): p must be positive (or inf/-inf/0), got {p}")
    if p == 1:
        return _reduce(a, "sum", dims, keepdim)
    powered = x.square() if p == 2 else a ** p
    return _safe_root(_reduce(powered, "sum", dims, keepdim), p)


def _norm_method(self, p="fro", dim=None, keepdim=False, dtype=None):
    return norm(self, p, dim, keepdim, dtype=dtype)


def _extreme_norm(a, dims, keepdim, largest):
    """max (or min) of |x| over dims, with the gradient shared evenly among tied elements as torch's inf-norm.
    Written as m + sum((a - m) * tied) / n_tied: the sum is exactly 0, so the value is m itself."""
    m = a.detach()
    for d in (range(a.ndim) if dims is None else dims):
        m = (m._max_dim(d, True) if largest else m._min_dim(d, True))[0]
    tied = a == m
    n_tied = _reduce(tied._to_dtype(a.dtype), "sum", dims, keepdim)
    spread = _reduce((a - m) * tied._to_dtype(a.dtype), "sum", dims, keepdim) / n_tied
    if not keepdim:
        m = m.reshape(*spread.shape)
    return m + spread


# ---------------------------------------------------------------- splitting, tiling, flipping

def split(tensor, split_size_or_sections, dim=0):
    """Views of `tensor` along dim: pieces of split_size (the last one shorter), or of the listed sizes."""
    if tensor.ndim == 0:
        raise RuntimeError("split(): expects at least a 1-dimensional tensor")
    d = _dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int) and not isinstance(split_size_or_sections, builtins.bool):
        size = split_size_or_sections
        if size < 0 or (size == 0 and n != 0):
            raise RuntimeError(f"split(): split_size can only be 0 if dimension size is 0, and must be non-negative; "
                               f"got split_size={size} for dimension {d} of size {n}")
        sizes = [builtins.min(size, n - start) for start in range(0, n, size)] if n else [0]  # torch: one empty piece
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.any(s < 0 for s in sizes):
            raise RuntimeError(f"split(): split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                               f"size at dimension {d}), but got split_sizes={sizes}")
    out, start = [], 0
    for size in sizes:
        out.append(tensor.narrow(d, start, size))
        start += size
    return tuple(out)


def chunk(input, chunks, dim=0):  # noqa: A002
    """At most `chunks` views of equal size ceil(n / chunks) along dim (the last one smaller), as torch.chunk."""
    if not isinstance(chunks, int) or isinstance(chunks, builtins.bool) or chunks <= 0:
        raise RuntimeError(f"chunk(): chunk expects `chunks` to be greater than 0, got: {chunks}")
    if input.ndim == 0:
        raise RuntimeError("chunk(): chunk expects at least a 1-dimensional tensor")
    n = input.shape[_dim(dim, input.ndim, "chunk")]
    if n == 0:  # torch gives `chunks` empty pieces here
        return split(input, [0] * chunks, dim)
    return split(input, -(-n // chunks), dim)


def _repeat(self, *sizes):
    """Tiles the tensor sizes[i] times along dim i (leading sizes add new dims), as torch's Tensor.repeat:
    dim i of the result holds (tile, element) pairs, so x is viewed as (1, s0, 1, s1, ...), expanded to
    (r0, s0, r1, s1, ...) and merged."""
    if len(sizes) == 1 and not isinstance(sizes[0], int):
        sizes = tuple(sizes[0])
    sizes = tuple(int(r) for r in sizes)
    if len(sizes) < self.ndim:
        raise RuntimeError(f"repeat(): number of dimensions of repeat dims ({len(sizes)}) can not be smaller than the "
                           f"number of dimensions of tensor ({self.ndim})")
    if builtins.any(r < 0 for r in sizes):
        raise RuntimeError(f"repeat(): repeats can not be negative, got {sizes}")
    shape = (1,) * (len(sizes) - self.ndim) + tuple(self.shape)
    interleaved = [v for s in shape for v in (1, s)]
    expanded = [v for r, s in zip(sizes, shape) for v in (r, s)]
    return self.reshape(*interleaved).expand(*expanded).reshape(*[r * s for r, s in zip(sizes, shape)])


def flip(input, dims):  # noqa: A002
    """A copy with the order of elements reversed along each of dims."""
    if isinstance(dims, int):
        dims = (dims,)
    dims = _as_dims(dims, input.ndim, "flip")
    if len(set(dims)) != len(dims):
        raise RuntimeError(f"flip(): dims has duplicates: {dims}")
    out = input
    for d in dims:
        n = out.shape[d]
        out = out.index_select(d, _C.arange(n - 1, -1, -1, _dtype.int64, out.device)) if n > 1 else out.clone()
    return out if dims else input.clone()


# ---------------------------------------------------------------- triangles

def _triangle(input, diagonal, lower, op):  # noqa: A002
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}(): expected a Tensor, got {type(input).__name__}")
    if input.ndim < 2:
        raise RuntimeError(f"{op}(): input tensor must have at least 2 dimensions, got shape {tuple(input.shape)}")
    n, m = input.shape[-2], input.shape[-1]
    offset = _C.arange(0, m, 1, _dtype.int64).reshape(1, m) - _C.arange(0, n, 1, _dtype.int64).reshape(n, 1)
    keep = offset <= diagonal if lower else offset >= diagonal
    return _C.where(keep, input, _C.full((), 0.0, input.dtype))


def tril(input, diagonal=0):  # noqa: A002
    """The lower triangle of the last two dims (element (i, j) kept where j - i <= diagonal), zeros elsewhere."""
    return _triangle(input, diagonal, True, "tril")


def triu(input, diagonal=0):  # noqa: A002
    """The upper triangle of the last two dims (element (i, j) kept where j - i >= diagonal), zeros elsewhere."""
    return _triangle(input, diagonal, False, "triu")


# ---------------------------------------------------------------- logical and product reductions

def _logical(self, dim, keepdim, want_all, op):
    dims = None if dim is None else _as_dims(dim, self.ndim, op)
    nonzero = (self != 0)._to_dtype(_dtype.int64)
    count = _reduce(nonzero, "sum", dims, keepdim)
    if not want_all:
        return count > 0
    size = self.numel() if dims is None else math.prod(self.shape[d] for d in dims) if self.ndim else 1
    return count == size


def _any(self, dim=None, keepdim=False):
    """True where some element over dim (all by default) is nonzero; a bool tensor."""
    return _logical(self, dim, keepdim, False, "any")


def _all(self, dim=None, keepdim=False):
    """True where every element over dim (all by default) is nonzero; a bool tensor."""
    return _logical(self, dim, keepdim, True, "all")


def prod(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A002
    """The product over dim (all elements by default) as a tree of pairwise products (log2(n) vectorised
    multiplies), so the gradient comes from the multiply op and is right where elements are 0."""
    x = input if dtype is None else input._to_dtype(dtype)
    if x.dtype == _dtype.bool:
        x = x._to_dtype(_dtype.int64)
    if dim is None:
        out = _prod_last(x.reshape(-1))
        return out.reshape(*([1] * x.ndim)) if keepdim else out
    if not isinstance(dim, int) or isinstance(dim, builtins.bool):
        raise TypeError(f"prod(): dim must be an int, got {type(dim).__name__}")
    d = _dim(dim, x.ndim, "prod")
    if x.ndim == 0:
        return x.clone()
    out = _prod_last(x.transpose(d, -1) if d != x.ndim - 1 else x)
    return out.unsqueeze(d) if keepdim else out


def _prod_last(x):
    """Product over the last dim: pad to even length with ones, multiply the two halves, repeat."""
    while x.shape[-1] > 1:
        n = x.shape[-1]
        if n % 2:
            x = _C.cat([x, _C.full((*x.shape[:-1], 1), 1.0, x.dtype, x.device)], x.ndim - 1)
            n += 1
        x = x.narrow(-1, 0, n // 2) * x.narrow(-1, n // 2, n // 2)
    if x.shape[-1] == 0:
        return _C.full(tuple(x.shape[:-1]), 1.0, x.dtype, x.device)
    return x.select(-1, 0)


# ---------------------------------------------------------------- random

def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, requires_grad=False, out=None):
    """torch.normal's overloads: normal(mean_tensor, std_tensor), normal(mean_tensor, std=1.0),
    normal(mean, std_tensor) (broadcast shapes), and normal(mean, std, size) with numbers."""
    if generator is not None or out is not None:
        raise NotImplementedError("normal(): generator= and out= are not supported; seed with rt.manual_seed")
    from ._creation import randn
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal(): with a float mean and std, size must be given, e.g. normal(0.0, 1.0, size=(2, 3))")
        if std < 0:
            raise RuntimeError(f"normal(): expects std >= 0.0, but found std {std}")
        return randn(*((size,) if isinstance(size, int) else size), dtype=dtype or _dtype.float32) * std + mean
    if size is not None:
        raise TypeError("normal(): size is only accepted with a float mean and std")
    if builtins.any(not t.dtype.is_floating_point for t in tensors):
        raise RuntimeError(f"normal(): expected floating-point mean and std, got {[t.dtype for t in tensors]}")
    if isinstance(std, Tensor) and builtins.bool((std.detach() < 0).any().item()):
        raise RuntimeError("normal(): expects all elements of std >= 0.0")
    if not isinstance(std, Tensor) and std < 0:
        raise RuntimeError(f"normal(): expects std >= 0.0, but found std {std}")
    shape = tuple(tensors[0].shape)
    for t in tensors[1:]:
        shape = _broadcast(shape, tuple(t.shape))
    dt = tensors[0].dtype if len(tensors) == 1 else _C.full((), 0.0, tensors[0].dtype).add(
        _C.full((), 0.0, tensors[1].dtype)).dtype
    return randn(*shape, dtype=dt, device=tensors[0].device) * std + mean


def _broadcast(a, b):
    n = builtins.max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    if builtins.any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
        raise RuntimeError(f"normal(): mean and std shapes {a} and {b} cannot be broadcast together")
    return tuple(y if x == 1 else x for x, y in zip(a, b))


for _name, _fn in {
    "new_zeros": _new_creator("zeros"), "new_ones": _new_creator("ones"), "new_empty": _new_creator("empty"),
    "new_full": _new_full, "new_tensor": _new_tensor, "mm": mm, "norm": _norm_method, "split": split, "chunk": chunk,
    "repeat": _repeat, "flip": flip, "any": _any, "all": _all, "prod": prod, "tril": tril, "triu": triu,
}.items():
    setattr(Tensor, _name, _fn)
