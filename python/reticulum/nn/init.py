r"""Parameter initialisation, as ``torch.nn.init``.

Every function fills its tensor in place under ``no_grad()`` (so it works on Parameters that require
grad) and returns it. Random ones draw from reticulum's global generator, so ``rt.manual_seed(s)``
makes them reproducible. Formulas (fan_in / fan_out from :func:`_calculate_fan_in_and_fan_out`):

* ``uniform_(t, a, b)``: U(a, b); ``normal_(t, mean, std)``: N(mean, std^2)
* ``xavier_uniform_(t, gain)``: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))
* ``xavier_normal_(t, gain)``: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))
* ``kaiming_uniform_(t, a, mode, nonlinearity)``: U(-b, b), b = gain * sqrt(3 / fan_mode)
* ``kaiming_normal_(t, a, mode, nonlinearity)``: N(0, std^2), std = gain / sqrt(fan_mode)

with gain = ``calculate_gain(nonlinearity, a)``. For a weight of shape ``[out, in, *kernel]`` (Linear:
``[out, in]``; Conv: ``[out, in / groups, *kernel]``), fan_in = in * prod(kernel) (so ``in / groups *
prod(kernel)`` for a grouped conv) and fan_out = out * prod(kernel), as torch.
"""
import math
import warnings

from .. import _C
from .._C import Tensor
from .._grad_mode import no_grad

__all__ = ["calculate_gain", "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
           "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_"]


def _check_generator(generator, name):
    if generator is not None:
        raise ValueError(f"{name}(): generator= is not supported; reticulum draws from its global generator "
                         "(seed it with reticulum.manual_seed)")


def _check_tensor(tensor, name):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{name}(): expected a Tensor, got {type(tensor).__name__}")


def calculate_gain(nonlinearity, param=None):
    r"""The recommended gain for a nonlinearity (torch's table):

    linear / conv* / sigmoid: 1; tanh: 5/3; relu: sqrt(2); leaky_relu: sqrt(2 / (1 + negative_slope^2))
    (negative_slope = ``param``, default 0.01); selu: 3/4.
    """
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight: in * receptive field, out * receptive field, where in = size(1),
    out = size(0) and the receptive field is the product of the remaining (kernel) dims."""
    dimensions = tensor.ndim
    if dimensions < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    num_input_fmaps = tensor.shape[1]
    num_output_fmaps = tensor.shape[0]
    receptive_field_size = 1
    for s in tensor.shape[2:]:
        receptive_field_size *= s
    return num_input_fmaps * receptive_field_size, num_output_fmaps * receptive_field_size


def _default_layer_init_(weight, bias):
    """PyTorch's default for Linear and Conv*: kaiming_uniform_(a=sqrt(5)) on the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        uniform_(bias, -bound, bound)


def _calculate_correct_fan(tensor, mode):
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _no_grad_uniform_(tensor, a, b):
    with no_grad():
        return tensor.uniform_(float(a), float(b))


def _no_grad_normal_(tensor, mean, std):
    with no_grad():
        return tensor.normal_(float(mean), float(std))


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    """Fills ``tensor`` with values drawn from U(a, b)."""
    _check_tensor(tensor, "uniform_")
    _check_generator(generator, "uniform_")
    return _no_grad_uniform_(tensor, a, b)


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    """Fills ``tensor`` with values drawn from N(mean, std^2)."""
    _check_tensor(tensor, "normal_")
    _check_generator(generator, "normal_")
    return _no_grad_normal_(tensor, mean, std)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, generator=None):
    """Fills ``tensor`` with N(mean, std^2) values truncated to [a, b] (redrawing those outside)."""
    _check_tensor(tensor, "trunc_normal_")
    _check_generator(generator, "trunc_normal_")
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    with no_grad():
        tensor.normal_(float(mean), float(std))
        fresh = _C.empty(tensor.shape, tensor.dtype, tensor.device)
        for _ in range(1000):
            outside = (tensor < a).long() + (tensor > b).long()
            if outside.sum().item() == 0:
                break
            fresh.normal_(float(mean), float(std))
            tensor.copy_(_C.where(outside > 0, fresh, tensor))
        return tensor.copy_(tensor.clamp(a, b))


def constant_(tensor, val):
    """Fills ``tensor`` with ``val``."""
    _check_tensor(tensor, "constant_")
    with no_grad():
        return tensor.fill_(float(val))


def ones_(tensor):
    """Fills ``tensor`` with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fills ``tensor`` with 0."""
    _check_tensor(tensor, "zeros_")
    with no_grad():
        return tensor.zero_()


def eye_(tensor):
    """Fills the 2-D ``tensor`` with the identity matrix."""
    _check_tensor(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        return tensor.copy_(_C.eye(tensor.shape[0], tensor.shape[1], tensor.dtype, tensor.device))


def dirac_(tensor, groups=1):
    """Fills the 3/4/5-D conv weight with the Dirac delta (the identity convolution), per group."""
    import numpy as np
    _check_tensor(tensor, "dirac_")
    dimensions = tensor.ndim
    if dimensions not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tensor.shape
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_chans_per_grp = sizes[0] // groups
    min_dim = min(out_chans_per_grp, sizes[1])
    arr = np.zeros(sizes, dtype=tensor.detach().numpy().dtype)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min_dim):
            arr[(g * out_chans_per_grp + d, d) + centre] = 1
    with no_grad():
        return tensor.copy_(_C._from_numpy_copy(arr))


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_uniform_")
    _check_generator(generator, "xavier_uniform_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return _no_grad_uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor(tensor, "xavier_normal_")
    _check_generator(generator, "xavier_normal_")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return _no_grad_normal_(tensor, 0.0, std)


def _kaiming_std(tensor, a, mode, nonlinearity, generator, name):
    """He's std = gain / sqrt(fan_mode), or None for a zero-element tensor (a no-op, as PyTorch warns)."""
    _check_tensor(tensor, name)
    _check_generator(generator, name)
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan_mode), gain = calculate_gain(nonlinearity, a)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, generator, "kaiming_uniform_")
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _no_grad_uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He normal: N(0, std^2) with std = gain / sqrt(fan_mode), gain = calculate_gain(nonlinearity, a)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity, generator, "kaiming_normal_")
    return tensor if std is None else _no_grad_normal_(tensor, 0.0, std)


def orthogonal_(tensor, gain=1, generator=None):
    """A (semi-)orthogonal matrix (QR of a seeded normal draw), times ``gain``; trailing dims are flattened."""
    import numpy as np
    _check_tensor(tensor, "orthogonal_")
    _check_generator(generator, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _C.empty((rows, cols), _C.dtype.float64).normal_(0.0, 1.0).numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    arr = np.ascontiguousarray((q * gain).reshape(tuple(tensor.shape)))
    with no_grad():
        return tensor.copy_(_C._from_numpy_copy(arr))


# deprecated non-underscore aliases kept by torch
uniform = uniform_
normal = normal_
constant = constant_
xavier_uniform = xavier_uniform_
xavier_normal = xavier_normal_
kaiming_uniform = kaiming_uniform_
kaiming_normal = kaiming_normal_
orthogonal = orthogonal_
