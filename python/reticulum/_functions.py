"""Module-level forms of Tensor methods (rt.exp(x), rt.sum(x, dim), ...)."""
import builtins

from . import _C
from ._C import Tensor


def abs(x): return x.abs()  # noqa: A001
def exp(x): return x.exp()
def log(x): return x.log()
def sqrt(x): return x.sqrt()
def neg(x): return x.neg()
def sin(x): return x.sin()
def cos(x): return x.cos()
def log1p(x): return x.log1p()
def erf(x): return x.erf()
def sign(x): return x.sign()
def relu(x): return x.relu()
def sigmoid(x): return x.sigmoid()
def tanh(x): return x.tanh()
def square(x): return x.square()
def numel(x): return x.numel()
def clamp(x, min=None, max=None): return x.clamp(min, max)  # noqa: A002
def sum(x, dim=None, keepdim=False): return x.sum(dim, keepdim)  # noqa: A001
def mean(x, dim=None, keepdim=False): return x.mean(dim, keepdim)
def argmax(x, dim=None, keepdim=False): return x.argmax(dim, keepdim)
def argmin(x, dim=None, keepdim=False): return x.argmin(dim, keepdim)
def softmax(x, dim): return x.softmax(dim)
def log_softmax(x, dim): return x.log_softmax(dim)
def reshape(x, shape): return x.reshape(shape)
def transpose(x, dim0, dim1): return x.transpose(dim0, dim1)
def permute(x, dims): return x.permute(dims)
def flatten(x, start_dim=0, end_dim=-1): return x.flatten(start_dim, end_dim)
def unsqueeze(x, dim): return x.unsqueeze(dim)
def index_select(x, dim, index): return x.index_select(dim, index)
def heaviside(x, values): return _C.heaviside(x, values)
def leaky_relu(x, negative_slope=0.01): return _C.leaky_relu(x, negative_slope)


def squeeze(x, dim=None):
    return x.squeeze(dim)


def var(x, dim=None, unbiased=None, *, correction=None, keepdim=False):
    return x.var(dim, unbiased, correction=correction, keepdim=keepdim)


def std(x, dim=None, unbiased=None, *, correction=None, keepdim=False):
    return x.std(dim, unbiased, correction=correction, keepdim=keepdim)


def max(x, dim=None, keepdim=False):  # noqa: A001
    return x.max(dim, keepdim)


def min(x, dim=None, keepdim=False):  # noqa: A001
    return x.min(dim, keepdim)


def pow(x, exponent):  # noqa: A001
    if not isinstance(x, Tensor) and not isinstance(exponent, Tensor):
        raise TypeError(f"pow(): expected a Tensor as input or exponent, got {type(x).__name__} and {type(exponent).__name__}")
    return x ** exponent


def where(condition, input, other):  # noqa: A002
    return _C.where(condition, input, other)


def allclose(a, b, rtol=1e-5, atol=1e-8):
    """True when |a - b| <= atol + rtol * |b| everywhere (NumPy's rule)."""
    a, b = a.detach(), b.detach()
    dt = _C.dtype.float64
    a, b = a._to_dtype(dt), b._to_dtype(dt)
    ok = (a - b).abs() <= (b.abs() * rtol + atol)
    return builtins.bool(ok.long().sum().item() == ok.numel())
