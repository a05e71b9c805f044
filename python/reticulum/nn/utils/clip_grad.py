from ... import _C
from ..._C import Tensor


def _params(parameters, op):
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: parameters must be Tensors, got {type(p).__name__}")
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scales gradients in place so their joint norm is at most max_norm; returns the norm before clipping."""
    params = _params(parameters, "clip_grad_norm_")
    total = _C.optim.clip_grad_norm(params, float(max_norm), float(norm_type), bool(error_if_nonfinite))
    return _C.full((), total, params[0].dtype, params[0].device) if params else _C.full((), total, _C.dtype.float32)


def clip_grad_value_(parameters, clip_value):
    """Clamps every gradient element to [-clip_value, clip_value] in place."""
    _C.optim.clip_grad_value(_params(parameters, "clip_grad_value_"), float(clip_value))
